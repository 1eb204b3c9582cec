"""The run lease (db/lease.py) with real processes: a run in another process holds it, a second
run learns who, waits or is refused, and a SIGKILLed holder never blocks the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest
from typer.testing import CliRunner

from cli.main import BUSY_EXIT, app
from db.lease import RUN, LeaseBusy, holder_of, lease, try_lease
from minqing.runs import busy_message
from tests.integration.children import start_child


def start_holder(minq, entry: str = "nightly", seconds: float = 120) -> subprocess.Popen[str]:
    """A process that takes the run lease as `entry` and keeps it until killed."""
    proc, _ = start_child(minq, "tests.integration.lease_child", entry, str(seconds), ready="HELD")
    return proc


def sigkill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stdout.close()
    proc.stderr.close()


def test_a_second_run_is_refused_and_told_which_run_holds_the_lease(minq):
    holder = start_holder(minq, "nightly")
    try:
        with pytest.raises(LeaseBusy) as busy, lease(RUN, entry="lookback"):
            pytest.fail("the lookback ran beside the night")
        who = busy.value.holder
        assert who is not None and (who.entry, who.pid) == ("nightly", holder.pid)
        assert holder_of(RUN) == who
        text = busy_message("lookback", who)
        assert text.startswith("另一个夜间运行正在进行（") and "开始" in text
        assert f"进程 {holder.pid}" in text and text.endswith("本次回头督办未执行")
    finally:
        sigkill(holder)


def test_a_sigkilled_holder_does_not_block_the_next_run(minq):
    holder = start_holder(minq, "nightly")
    with try_lease(RUN, entry="nightly") as (held, _):
        assert not held
    sigkill(holder)
    # PostgreSQL ends the dead client's session a moment after it died; SQLite's flock goes
    # with the process. Either way the next night gets the lease without anyone's help.
    with lease(RUN, entry="nightly", wait=10):
        assert holder_of(RUN).pid == os.getpid()
    assert holder_of(RUN) is None


def test_a_waiting_run_starts_when_the_holder_finishes(minq):
    holder = start_holder(minq, "lookback", seconds=2)
    told: list[object] = []
    with lease(RUN, entry="nightly", wait=60, on_wait=told.append):
        assert holder.wait(timeout=30) == 0
        assert holder.stdout.read().strip() == "RELEASED"
    holder.stdout.close()
    holder.stderr.close()
    assert len(told) == 1 and told[0].entry == "lookback"


def test_the_lease_is_taken_again_inside_its_holder_and_excludes_other_threads(minq):
    inside: list[bool] = []

    def other_thread() -> None:
        with try_lease(RUN, entry="intake") as (held, who):
            inside.append(held)

    # the nightly flow's triage-dask subflow runs inside the night's lease
    with lease(RUN, entry="nightly"), lease(RUN, entry="triage-dask"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert inside == [False]
    with lease(RUN, entry="intake"):
        pass


def test_minqing_nightly_beside_another_run_refuses_with_the_chinese_message(minq):
    holder = start_holder(minq, "lookback")
    try:
        result = CliRunner().invoke(app, ["nightly", "--wait", "0.02"])
        assert result.exit_code == BUSY_EXIT, result.output
        said = " ".join(result.output.split())
        assert "另一个回头督办正在进行（" in said and "本次夜间运行等待其结束" in said
        assert said.endswith("本次夜间运行未执行")
    finally:
        sigkill(holder)


@pytest.mark.parametrize(
    ("rehearsal", "entry", "skipped"),
    [(False, "nightly", True), (True, "nightly", False), (False, "lookback", False)],
    ids=["night after night", "night after a dry-run night", "lookback after night"],
)
def test_a_night_that_waited_while_another_night_finished_does_not_run_again(
    minq, rehearsal: bool, entry: str, skipped: bool
):
    """The first night holds the lease and publishes its summary while the second waits; a
    dry run's night (演练) finishing meanwhile does not count, and a lookback never skips."""
    from datetime import UTC, datetime

    from db.engine import Session
    from tasks.lease import DoneMeanwhile, run_lease_or_refusal
    from tasks.urgent import night_counted_day

    started, waiting = threading.Event(), threading.Event()

    def first_night() -> None:
        with lease(RUN, entry="nightly"):
            started.set()
            waiting.wait(30)  # finishes only once the second run waits
            with Session() as s, s.begin():
                night_counted_day(s, {}, at=datetime.now(UTC), rehearsal=rehearsal)

    thread = threading.Thread(target=first_night)
    thread.start()
    assert started.wait(30)
    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        waiting.set()

    with run_lease_or_refusal(entry, say, wait=60) as refusal:
        pass
    thread.join()
    assert len(said) == 1 and said[0].endswith("等待其结束")
    if skipped:
        assert isinstance(refusal, DoneMeanwhile)
        assert refusal.startswith("本次夜间运行等待期间，另一个夜间运行已于 ")
    else:
        assert refusal is None
