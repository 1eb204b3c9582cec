"""A deliverer in its own process, for tests/integration/test_delivery_crash.py: it runs the
real `deliver_now` and pauses at one point so that the test can SIGKILL it exactly there.

    python -m tests.integration.delivery_child POINT K

Settings come from the environment (MINQING_*), like a worker's. At the K-th handoff it prints
"PAUSED <handoff id>" and sleeps; without a pause it prints "DONE <sent>". POINT is one of

- before-claim: the rows are committed `pending`, this one is not claimed yet;
- after-claim:  the row is `sending`, nothing was handed to the SMTP server yet;
- after-accept: the server answered 250, the row is not marked `sent` yet.
"""

from __future__ import annotations

import sys
import time

from tasks import deliver


def main(point: str, k: int) -> None:
    seen = {"n": 0}

    def pause_at_kth(handoff_id: int) -> None:
        seen["n"] += 1
        if seen["n"] == k:
            print(f"PAUSED {handoff_id}", flush=True)
            time.sleep(120)

    hooks = {}
    if point == "before-claim":
        claim = deliver._claim

        def pausing_claim(handoff_id, now):  # type: ignore[no-untyped-def]
            pause_at_kth(handoff_id)
            return claim(handoff_id, now)

        deliver._claim = pausing_claim  # type: ignore[assignment]
    elif point == "after-claim":
        hooks["before_send"] = pause_at_kth
    elif point == "after-accept":
        hooks["after_send"] = pause_at_kth
    else:
        raise SystemExit(f"unknown point {point!r}")
    result = deliver.deliver_now(**hooks)
    print(f"DONE {result['sent']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
