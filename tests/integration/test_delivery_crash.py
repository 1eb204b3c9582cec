"""Crash points of delivery, with a real deliverer process and a real SIGKILL.

The deliverer (tests/integration/delivery_child.py) runs against this test's database and
SMTP sink and pauses at a chosen point; the test kills it there, runs delivery again and counts
at the server, by Message-ID, what arrived.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select as sql_select
from sqlalchemy import text
from typer.testing import CliRunner

from db.engine import Session
from db.lease import DELIVER, lease_key
from db.models import AuditEvent, Case, Handoff, HandoffStatus
from mail.sink import stored_messages
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.handoffs import retry_now
from tests.integration.children import start_child


def queue(n: int) -> list[int]:
    """n assignments committed in the outbox (one per case, 交通运输 → jiaotong), in id order."""
    with Session() as s, s.begin():
        s.add_all(
            Case(
                title=f"来信{i}",
                text=f"第{i}件问题。",
                text_key=f"k{i}",
                area_code="xicheng",
                category="交通运输",
                status=CaseStatus.TRIAGED,
            )
            for i in range(n)
        )
    dispatch_now()
    with Session() as s:
        return list(s.scalars(sql_select(Handoff.id).order_by(Handoff.id)))


def start_paused(minq, point: str, k: int) -> tuple[subprocess.Popen[str], int]:
    """Start a deliverer process and wait until it pauses at `point` for the k-th handoff."""
    proc, line = start_child(
        minq, "tests.integration.delivery_child", point, str(k), ready="PAUSED"
    )
    return proc, int(line.split()[1])


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stdout.close()
    proc.stderr.close()
    # PostgreSQL releases the dead deliverer's lease when its server process sees the closed
    # connection, a moment after the client died (the flock of SQLite goes with the process).
    deadline = time.monotonic() + 10
    while lease_held() and time.monotonic() < deadline:
        time.sleep(0.02)


def lease_held() -> bool:
    """Whether some session holds the delivery lease (PostgreSQL's advisory lock)."""
    with Session() as s:
        if s.get_bind().dialect.name != "postgresql":
            return False
        return bool(
            s.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": lease_key(DELIVER)},
            )
        )


def arrived(minq) -> Counter[str]:
    return Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir))


def rows(ids: list[int]) -> list[Handoff]:
    with Session() as s:
        return [s.get(Handoff, i) for i in ids]


def test_killed_after_the_rows_were_committed_before_their_send_each_arrives_exactly_once(minq):
    ids = queue(4)
    with minq.sink():
        proc, paused_at = start_paused(minq, "before-claim", 3)
        kill(proc)
        assert paused_at == ids[2]
        assert [h.status for h in rows(ids)] == ["sent", "sent", "pending", "pending"]
        assert sum(arrived(minq).values()) == 2
        result = deliver_now()
    assert (result["sent"], result["interrupted"]) == (2, 0)
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}
    assert all(h.status is HandoffStatus.SENT for h in rows(ids))


def test_killed_after_the_server_accepted_it_is_never_resent_blindly_but_failed_for_an_operator(
    minq, monkeypatch
):
    ids = queue(3)
    with minq.sink():
        proc, paused_at = start_paused(minq, "after-accept", 1)
        assert paused_at == ids[0]
        # While that deliverer is alive (it holds the delivery lease), a second one shares the
        # queue but leaves its in-flight row alone: it cannot know that the first one is stuck.
        alongside = deliver_now()
        assert (alongside["sent"], alongside["interrupted"]) == (2, 0)
        assert rows(ids)[0].status is HandoffStatus.SENDING
        kill(proc)
        after = deliver_now()  # the lease is free now: the stale row is recognised at once
    assert after["interrupted"] == 1 and after["sent"] == 0
    uncertain = rows(ids)[0]
    assert uncertain.status is HandoffStatus.FAILED
    assert uncertain.last_error.startswith("interrupted during sending")
    assert uncertain.message_id in uncertain.last_error
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}, "a message arrived twice"
    with Session() as s:
        assert s.scalar(
            sql_select(AuditEvent.action).where(
                AuditEvent.entity_id == uncertain.id, AuditEvent.action == "handoff_interrupted"
            )
        )
    from cli.main import app

    monkeypatch.setenv("PREFECT_HOME", str(minq.home / "var" / "prefect"))
    listed = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["handoffs", "list"])
    assert listed.exit_code == 0 and "interrupted during sending" in listed.output


def test_a_crash_after_the_claim_before_the_handover_needs_the_operator_whose_retry_sends_once(
    minq,
):
    """The other side of the window (in-process: the crash is an exception where the kill
    would be): nothing reached the server, yet the row must wait for an operator."""
    ids = queue(2)

    class Crash(BaseException):
        pass

    def crash(handoff_id: int) -> None:
        raise Crash

    with minq.sink():
        with pytest.raises(Crash):
            deliver_now(before_send=crash)
        assert rows(ids)[0].status is HandoffStatus.SENDING and arrived(minq) == {}
        after = deliver_now()
        first = rows(ids)[0]
        assert first.status is HandoffStatus.FAILED and after["interrupted"] == 1
        assert retry_now(ids=[ids[0]], operator="值班员")["delivery"]["sent"] == 1
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}
