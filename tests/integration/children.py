"""Test helpers for code that must be seen from another process (leases, claims, crashes): start
a child module against this test's settings and wait until it says it is ready."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def start_child(minq, module: str, *args: str, ready: str) -> tuple[subprocess.Popen[str], str]:
    """Run `python -m module args…` with this test's MINQING_* settings and wait (up to a
    minute) for its first line, which must start with `ready`; returns it with the process."""
    env = {**os.environ, "PREFECT_HOME": str(minq.home / "var" / "prefect")}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    found, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if found else ""
    if not line.startswith(ready):
        proc.kill()
        raise AssertionError(f"{module} did not say {ready!r}: {line!r} {proc.stderr.read()}")
    return proc, line
