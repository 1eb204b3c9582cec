"""The `smtp` rate limit (Prefect global concurrency limit with slot decay) under the session's
Prefect test harness: missing → delivery stops clearly before claiming anything; set up with
`minqing setup-limits` → delivery inside a flow waits for its slots."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from sqlalchemy import select
from typer.testing import CliRunner

from db.engine import Session
from db.models import Case, Handoff, HandoffStatus
from mail.sink import count_messages
from minqing.states import CaseStatus
from tasks.deliver import deliver_handoffs, deliver_now
from tasks.dispatch import dispatch_now
from tasks.limits import SMTP_LIMIT, SmtpRateLimitMissing

# The rate limit is Prefect's business, not the database's: SQLite is enough here (delivery
# itself runs on both backends in tests/integration/test_delivery*.py).
pytestmark = pytest.mark.parametrize("minq", ["sqlite"], indirect=True)


@flow(name="deliver-only")
def deliver_only() -> dict:
    """Only the delivery stage of the nightly flow."""
    return deliver_handoffs()


def queue(n: int) -> None:
    with Session() as s, s.begin():
        s.add_all(
            Case(
                title=f"来信{i}",
                text="问题",
                text_key=f"k{i}",
                area_code="xicheng",
                category="交通运输",
                status=CaseStatus.TRIAGED,
            )
            for i in range(n)
        )
    dispatch_now()


def drop_smtp_limit() -> None:
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectNotFound):
        client.delete_global_concurrency_limit_by_name(SMTP_LIMIT)


@pytest.fixture
def rate_limit_on(minq, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("MINQING_SMTP_RATE_LIMIT", "on")
    monkeypatch.setenv("PREFECT_HOME", str(minq.home / "var" / "prefect"))
    drop_smtp_limit()
    yield
    drop_smtp_limit()


def test_with_the_rate_limit_on_and_no_smtp_limit_delivery_stops_clearly_and_sends_nothing(
    minq, rate_limit_on
):
    queue(2)
    with minq.sink(), pytest.raises(SmtpRateLimitMissing, match="minqing setup-limits"):
        deliver_only()
    assert count_messages(minq.mail_dir) == 0
    with Session() as s:
        rows = s.execute(select(Handoff.status, Handoff.attempts)).all()
    assert rows == [(HandoffStatus.PENDING, 0)] * 2  # nothing was claimed, nothing burnt


def test_setup_limits_creates_the_limit_and_delivery_in_a_flow_keeps_to_its_rate(
    minq, rate_limit_on
):
    from cli.main import app

    runner = CliRunner()
    created = runner.invoke(app, ["setup-limits", "--per-second", "2", "--burst", "1"])
    assert created.exit_code == 0, created.output
    assert "已创建 Prefect 全局并发限制 smtp：每秒 2.0 封，一次至多 1 封" in created.output
    again = runner.invoke(app, ["setup-limits", "--per-second", "2", "--burst", "1"])
    assert again.exit_code == 0 and again.output.startswith("已更新")
    queue(3)
    with minq.sink():
        started = time.monotonic()
        result = deliver_only()
        elapsed = time.monotonic() - started
    assert result["sent"] == 3 and count_messages(minq.mail_dir) == 3
    assert elapsed >= 0.9, "3 messages at 2/s with a burst of 1 take at least a second"


def test_outside_a_prefect_run_the_rate_limit_is_not_consulted(minq, rate_limit_on):
    queue(1)
    with minq.sink():
        assert deliver_now()["sent"] == 1  # the CLI path: no run context, no server needed
