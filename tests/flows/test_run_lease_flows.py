"""Flows and the run lease: a flow run that finds another run in progress does nothing and
ends in the Completed state 已跳过 with the Chinese message; a dry run needs no lease."""

from __future__ import annotations

from prefect.states import StateType

from flows.lookback import lookback
from flows.retry_handoffs import retry_handoffs
from minqing.runs import SKIPPED
from minqing.settings import reset_settings
from tests.integration.test_run_lease import sigkill, start_holder


def test_a_lookback_beside_the_night_ends_skipped_and_says_why(minq, monkeypatch):
    monkeypatch.setenv("MINQING_RUN_WAIT_MINUTES", "0")
    reset_settings()
    holder = start_holder(minq, "nightly")
    try:
        state = lookback(return_state=True)
        retry_dry_run = retry_handoffs(dry_run=True, return_state=True)
    finally:
        sigkill(holder)
    assert (state.type, state.name) == (StateType.COMPLETED, SKIPPED)
    assert state.message.startswith("另一个夜间运行正在进行（")
    assert state.message.endswith("本次回头督办未执行")
    assert state.result() is None  # the body did not run
    assert retry_dry_run.name == "Completed"  # a dry run changes nothing: no lease needed
    assert retry_dry_run.result()["selected"] == []
    ran = lookback(return_state=True)  # the holder is gone: the next run does its work
    assert ran.name == "Completed" and "lookback" in ran.result()
