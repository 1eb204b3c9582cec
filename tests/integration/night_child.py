"""One night's stages in their own process, without Prefect and without the run lease, for
tests/integration/test_concurrent_nights.py: several of these run on the same database, inbox
and SMTP sink, each stage starting in all of them at the same moment, so that only the stages'
own claims keep them apart.

    python -m tests.integration.night_child FOLDER NAME PEERS

Before each stage a child writes FOLDER/<stage>.<NAME> and waits until PEERS such files exist
(a barrier between processes). At the end it prints "DONE <json of the figures>" and, on
stderr, when each stage ran. Settings come from the environment (MINQING_*), like a worker's.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now

STAGES = (
    ("ingest", ingest_inbox_now),
    ("imports", import_returns_now),
    ("triage", triage_now),
    ("dispatch", dispatch_now),
    ("lookback", scan_now),
    ("surveys", surveys_now),
    ("deliver", deliver_now),
)


def barrier(folder: Path, stage: str, name: str, peers: int) -> None:
    (folder / f"{stage}.{name}").touch()
    deadline = time.monotonic() + 600
    while len(list(folder.glob(f"{stage}.*"))) < peers:
        if time.monotonic() > deadline:
            raise SystemExit(f"the other night never reached {stage}")
        time.sleep(0.01)


def main(folder: Path, name: str, peers: int) -> None:
    results = {}
    for stage, run in STAGES:
        barrier(folder, stage, name, peers)
        started = time.time()
        results[stage] = run()
        print(f"{stage} {started:.2f}-{time.time():.2f}", file=sys.stderr, flush=True)
    figures = {
        "taken": results["ingest"]["taken"],
        "files": len(results["ingest"]["files"]),
        "assigned": results["dispatch"]["assigned"],
        "sent": results["deliver"]["sent"],
    }
    print(f"DONE {json.dumps(figures)}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
