"""A run holding the run lease in its own process, for the lease tests: it takes the lease
as ENTRY, prints "HELD <pid>" and sleeps until the test kills it (or SECONDS have passed).

    python -m tests.integration.lease_child ENTRY [SECONDS]

Settings come from the environment (MINQING_*), like a worker's.
"""

from __future__ import annotations

import os
import sys
import time

from db.lease import RUN, lease


def main(entry: str, seconds: float) -> None:
    with lease(RUN, entry=entry, wait=60):
        print(f"HELD {os.getpid()}", flush=True)
        time.sleep(seconds)
    print("RELEASED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 120.0)
