"""The README's first command on a fresh home, with no Prefect configured anywhere and the CPU
loaded by another process: the embedded Prefect (its first start migrates a new database) still
comes up in time, under var/prefect, and the demo's two nights run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINQING = str(Path(sys.executable).parent / "minqing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_demo_runs_on_a_fresh_home_while_another_process_keeps_a_core_busy(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MINQING_"))}
    env.update(
        HOME=str(tmp_path),  # no ~/.prefect of the machine's user
        MINQING_HOME=str(tmp_path),
        MINQING_CONFIG_DIR=str(REPO / "config"),
        MINQING_SINK_PORT=str(free_port()),
    )
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        done = subprocess.run(
            [MINQING, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200
        )
    finally:
        busy.kill()
        busy.wait()
    output = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    received = int(output.split("本次本机 SMTP 收件箱收到 ")[1].split()[0])
    assert received > 100
    assert (tmp_path / "var" / "prefect").is_dir(), "the embedded Prefect lives under var/"
    assert not (tmp_path / ".prefect").exists(), "the user's own Prefect home is untouched"
    for noise in ("Error logging to API", "Failed to create the Prefect home", "Traceback"):
        assert noise not in done.stdout + done.stderr, noise


def test_a_night_on_the_local_server_of_minqing_prefect_port_ends_without_log_errors(tmp_path):
    """With MINQING_PREFECT_PORT minqing runs the local server for the command and stops it at
    the end: the runs' last log lines reach it first (Prefect printed "--- Error logging to
    API --- All connection attempts failed" after 完成)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MINQING_"))}
    env.update(
        HOME=str(tmp_path),
        MINQING_HOME=str(tmp_path),
        MINQING_CONFIG_DIR=str(REPO / "config"),
        MINQING_PREFECT_PORT=str(free_port()),
        MINQING_MAIL_MODE="dry-run",
    )
    subprocess.run([MINQING, "db", "upgrade"], env=env, cwd=tmp_path, check=True, timeout=300)
    done = subprocess.run(
        [MINQING, "nightly"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "夜间运行" in done.stdout + done.stderr  # the night ran, and logged
    assert "Error logging to API" not in done.stdout + done.stderr, done.stderr[-3000:]
