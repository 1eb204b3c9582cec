"""Delivery against a real SMTP server on loopback that refuses, answers 421/550 or stalls.

Every outcome is checked where it matters — at the server: the sink's Maildir, counted by
Message-ID — and in the outbox row an operator would look at. Time is simulated by passing
`now` to deliver_now (the backoff is minutes), the SMTP timeout is real (0.3 s).
"""

from __future__ import annotations

import shutil
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffStatus
from mail.sink import stored_messages
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from tasks.context import context
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.handoffs import HandoffRefused, retry_now

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # a Monday night, Beijing time
JIAOTONG, RENSHE, WEIJIAN = (
    "banli@jiaotong.example.gov.cn",
    "banli@renshe.example.gov.cn",
    "banli@weijian.example.gov.cn",
)
CATEGORY = {"jiaotong": "交通运输", "renshe": "劳动和社会保障", "weijian": "卫生计生"}


def assign(*departments: str) -> list[int]:
    """One case per department code (categories routed to that department alone), dispatched:
    returns the assignment handoffs' ids in the same order."""
    with Session() as s, s.begin():
        cases = [
            Case(
                title=f"来信{i}",
                text=f"第{i}件群众反映的问题。",
                text_key=f"key{i}",
                area_code="xicheng",
                category=CATEGORY[code],
                status=CaseStatus.TRIAGED,
            )
            for i, code in enumerate(departments)
        ]
        s.add_all(cases)
        s.flush()
        case_ids = [c.id for c in cases]
    dispatch_now(T0 - timedelta(minutes=5))
    with Session() as s:
        by_case = {h.case_id: h.id for h in s.scalars(select(Handoff))}
    return [by_case[c] for c in case_ids]


def handoff(handoff_id: int) -> Handoff:
    with Session() as s:
        h = s.get(Handoff, handoff_id)
        assert h is not None
        return h


def arrived(minq, wait: float = 0.0) -> Counter[str]:
    """Message-IDs in the sink's Maildir (how many times each arrived)."""
    time.sleep(wait)
    return Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir))


def short_timeout(monkeypatch, seconds: float = 0.3) -> None:
    monkeypatch.setenv("MINQING_SMTP_TIMEOUT", str(seconds))
    reset_settings()


def test_a_421_is_retried_with_growing_backoff_and_then_arrives_exactly_once(minq):
    (hid,) = assign("jiaotong")
    answers = ["421 4.3.2 Service busy, try later", "451 4.3.0 Temporary failure"]
    with minq.sink(behaviour=lambda envelope: answers.pop(0) if answers else None):
        first = deliver_now(T0)
        h1 = handoff(hid)
        again = deliver_now(T0 + timedelta(seconds=20))  # not due yet: nothing happens
        second = deliver_now(h1.next_attempt_at)
        h2 = handoff(hid)
        third = deliver_now(h2.next_attempt_at)
    assert (first["retry_later"], again["sent"] + again["retry_later"], second["retry_later"]) == (
        1,
        0,
        1,
    )
    assert third["sent"] == 1
    # backoff (policy.yaml delivery.backoff_seconds) × 2^(attempt-1) × jitter in [0.5, 1.5)
    base = context().ref.policy.delivery.backoff_seconds
    assert base / 2 <= (h1.next_attempt_at - T0).total_seconds() < base * 1.5
    assert base <= (h2.next_attempt_at - h1.next_attempt_at).total_seconds() < base * 3
    assert h1.status is h2.status is HandoffStatus.PENDING and h2.attempts == 2
    assert h2.last_error == "451 4.3.0 Temporary failure"
    done = handoff(hid)
    assert (done.status, done.attempts, done.last_error) == (HandoffStatus.SENT, 3, None)
    assert arrived(minq) == {done.message_id: 1}


def test_a_closed_port_is_transient_and_the_message_arrives_once_the_server_is_up(minq):
    (hid,) = assign("jiaotong")
    result = deliver_now(T0)  # nothing listens on the port
    h = handoff(hid)
    assert result["retry_later"] == 1 and h.status is HandoffStatus.PENDING
    assert "ConnectionRefusedError" in h.last_error
    with minq.sink():
        assert deliver_now(h.next_attempt_at)["sent"] == 1
    assert arrived(minq) == {h.message_id: 1}


def test_a_server_that_cannot_be_reached_is_tried_once_per_pass_and_spends_no_other_attempts(
    minq, monkeypatch
):
    short_timeout(monkeypatch)
    ids = assign("jiaotong", "renshe", "weijian", "jiaotong")
    # Something holds the port but never greets (a hung or cut-off relay): every try would
    # wait out the timeout.
    with socket.create_server(("127.0.0.1", minq.sink_port)):
        night = deliver_now(T0)
    assert (night["retry_later"], night["postponed"], night["unreachable"]) == (1, 3, 1)
    rows = [handoff(i) for i in ids]
    assert [h.attempts for h in rows] == [1, 0, 0, 0]
    assert {h.status for h in rows} == {HandoffStatus.PENDING}
    with minq.sink():
        assert deliver_now(rows[0].next_attempt_at)["sent"] == 4
    assert arrived(minq) == {h.message_id: 1 for h in rows}


def test_a_server_stalling_before_it_has_the_message_times_out_and_the_retry_arrives_once(
    minq, monkeypatch
):
    short_timeout(monkeypatch)
    (hid,) = assign("jiaotong")
    with minq.sink() as sink:
        sink.handler.stall_seconds, sink.handler.stall_at = 1.0, "mail"
        started = time.monotonic()
        result = deliver_now(T0)
        assert time.monotonic() - started < 0.9, "the client must give up after its timeout"
        h = handoff(hid)
        assert result["retry_later"] == 1 and "timed out" in h.last_error
        sink.handler.stall_seconds = 0.0
        time.sleep(0.8)  # the stalled session ends without a message
        assert deliver_now(h.next_attempt_at)["sent"] == 1
    assert arrived(minq) == {h.message_id: 1}


def test_a_timeout_after_the_server_has_the_message_is_uncertain_and_never_resent_blindly(
    minq, monkeypatch
):
    short_timeout(monkeypatch)
    (hid,) = assign("jiaotong")
    with minq.sink() as sink:
        sink.handler.stall_seconds, sink.handler.stall_at = 1.0, "data"
        result = deliver_now(T0)
        sink.handler.stall_seconds = 0.0
        later = deliver_now(T0 + timedelta(days=1))
        h = handoff(hid)
        delivered = arrived(minq)
    assert result["failed"] == 1 and later["sent"] == 0
    assert h.status is HandoffStatus.FAILED and h.last_error.startswith("uncertain:")
    assert delivered == {h.message_id: 1}


def test_a_550_fails_at_once_with_the_servers_reason_and_is_not_retried(minq):
    (hid,) = assign("jiaotong")
    refusal = "550 5.7.1 Message rejected by content policy"
    with minq.sink(behaviour=lambda envelope: refusal):
        first = deliver_now(T0)
        later = deliver_now(T0 + timedelta(days=2))
    h = handoff(hid)
    assert first["failed"] == 1 and later == {**later, "sent": 0, "failed": 0}
    assert (h.status, h.attempts, h.next_attempt_at) == (HandoffStatus.FAILED, 1, None)
    assert h.last_error == refusal
    assert arrived(minq) == {}


def test_transient_failures_until_max_attempts_leave_the_handoff_dead(minq):
    (hid,) = assign("jiaotong")
    calls = []
    when = T0
    with minq.sink(behaviour=lambda envelope: calls.append(1) or "421 4.7.0 Try again later"):
        for _ in range(attempts := context().ref.policy.delivery.max_attempts):
            deliver_now(when)
            when = handoff(hid).next_attempt_at or when
        after = deliver_now(T0 + timedelta(days=30))
    h = handoff(hid)
    assert attempts == 8  # config/policy.yaml: about ten hours of retries
    assert (h.status, h.attempts, len(calls)) == (HandoffStatus.DEAD, attempts, attempts)
    assert h.last_error == "421 4.7.0 Try again later" and after["sent"] == 0
    assert arrived(minq) == {}
    with Session() as s:
        actions = list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity == "handoff")
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["handoff_pending"] * (attempts - 1) + ["handoff_dead"]


def test_one_departments_refused_address_never_blocks_the_others(minq):
    ids = assign("jiaotong", "renshe", "jiaotong", "weijian")
    refusal = f"550 5.1.1 <{JIAOTONG}>: Recipient address rejected: User unknown"
    with minq.sink() as sink:
        sink.handler.pipelining = False  # one command at a time (the other tests pipeline)
        sink.handler.rcpt_behaviour = lambda address: refusal if address == JIAOTONG else None
        result = deliver_now(T0)
    rows = [handoff(i) for i in ids]
    assert [h.status for h in rows] == [
        HandoffStatus.FAILED,
        HandoffStatus.SENT,
        HandoffStatus.FAILED,
        HandoffStatus.SENT,
    ]
    assert rows[0].last_error == refusal
    assert (result["sent"], result["failed"]) == (2, 2)
    messages = stored_messages(minq.mail_dir)
    assert Counter(m["Message-ID"] for m in messages) == {
        rows[1].message_id: 1,
        rows[3].message_id: 1,
    }
    assert sorted(m["X-Original-To"] for m in messages) == [RENSHE, WEIJIAN]


def test_a_retry_after_the_office_fixed_a_departments_address_goes_to_the_new_one(
    minq, monkeypatch
):
    refused, other = assign("jiaotong", "renshe")
    with minq.sink() as sink:
        sink.handler.rcpt_behaviour = lambda a: "550 5.1.1 User unknown" if a == JIAOTONG else None
        deliver_now(T0)
        assert handoff(refused).status is HandoffStatus.FAILED
        fixed = "xinxiang@jiaotong.example.gov.cn"
        config = minq.home / "config"
        shutil.copytree(REPO / "config", config, dirs_exist_ok=True)
        departments = config / "departments.yaml"
        departments.write_text(departments.read_text("utf-8").replace(JIAOTONG, fixed), "utf-8")
        monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
        reset_settings()

        dry = retry_now(dry_run=True)
        assert [(x["id"], x["to"]) for x in dry["selected"]] == [(refused, fixed)]
        assert handoff(refused).recipient == JIAOTONG  # a dry run changes nothing
        assert retry_now(operator="值班员")["delivery"]["sent"] == 1
    row = handoff(refused)
    assert (row.status, row.recipient) == (HandoffStatus.SENT, fixed)
    messages = stored_messages(minq.mail_dir)
    assert {m["Message-ID"]: m["X-Original-To"] for m in messages} == {
        row.message_id: fixed,
        handoff(other).message_id: RENSHE,
    }
    with Session() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "handoff_readdressed")
        ).one()
    assert event.detail == {"previous": JIAOTONG, "recipient": fixed}


def test_retry_now_resends_exactly_what_the_filters_choose_and_dry_run_sends_nothing(minq):
    failed_a, failed_b, dead, sent = assign("jiaotong", "jiaotong", "renshe", "weijian")
    with minq.sink() as sink:
        sink.handler.rcpt_behaviour = lambda address: {
            JIAOTONG: "550 5.1.1 User unknown",
            RENSHE: "452 4.2.2 Mailbox full",
        }.get(address)
        when = T0
        for _ in range(context().ref.policy.delivery.max_attempts):
            deliver_now(when)
            when = handoff(dead).next_attempt_at or when
        assert [handoff(i).status.value for i in (failed_a, failed_b, dead, sent)] == [
            "failed",
            "failed",
            "dead",
            "sent",
        ]
        with Session() as s, s.begin():  # failed_b was queued two days ago
            s.execute(
                update(Handoff)
                .where(Handoff.id == failed_b)
                .values(created_at=datetime.now(UTC) - timedelta(days=2))
            )
        sink.handler.rcpt_behaviour = None  # the mailboxes are fixed
        before = arrived(minq)

        dry = retry_now(dry_run=True)
        assert sorted(x["id"] for x in dry["selected"]) == [failed_a, failed_b, dead]
        assert dry["delivery"] is None and arrived(minq) == before
        assert handoff(failed_a).status is HandoffStatus.FAILED

        assert (
            retry_now(department="renshe", statuses=["failed"], operator="值班员")["selected"] == []
        )
        one = retry_now(ids=[failed_a], operator="值班员")
        assert [x["id"] for x in one["selected"]] == [failed_a] and one["delivery"]["sent"] == 1
        recent = retry_now(since=datetime.now(UTC) - timedelta(days=1), operator="值班员")
        assert [x["id"] for x in recent["selected"]] == [dead]
        old = retry_now(
            department="jiaotong", since=datetime.now(UTC) - timedelta(days=3), operator="值班员"
        )
        assert [x["id"] for x in old["selected"]] == [failed_b]
        with pytest.raises(HandoffRefused, match="不能重发：已发送"):
            retry_now(statuses=["sent"], operator="值班员")
    rows = {i: handoff(i) for i in (failed_a, failed_b, dead, sent)}
    assert all(h.status is HandoffStatus.SENT for h in rows.values())
    assert arrived(minq) == {h.message_id: 1 for h in rows.values()}


def test_the_retry_command_shows_first_and_sends_only_the_departments_failures(minq, monkeypatch):
    from cli.main import app

    monkeypatch.setenv("PREFECT_HOME", str(minq.home / "var" / "prefect"))
    mine, other = assign("jiaotong", "renshe")
    with minq.sink(behaviour=lambda envelope: "554 5.7.1 Service unavailable"):
        deliver_now(T0)
    runner = CliRunner()
    with minq.sink():
        shown = runner.invoke(
            app,
            ["handoffs", "retry", "--department", "jiaotong", "--dry-run", "--operator", "李工"],
        )
        assert shown.exit_code == 0, shown.output
        assert "预览：符合条件的消息 1 封" in shown.output and arrived(minq) == {}
        done = runner.invoke(
            app,
            ["handoffs", "retry", "--department", "jiaotong", "--since", "2020-01-01"]
            + ["--operator", "李工"],
        )
        assert done.exit_code == 0, done.output
        assert "重发 1 封：已发送 1，再次失败 0" in done.output
        refused = runner.invoke(app, ["handoffs", "retry", "--status", "sent"])
        assert refused.exit_code == 2 and "不能重发：已发送" in refused.output
    assert arrived(minq) == {handoff(mine).message_id: 1}
    assert handoff(other).status is HandoffStatus.FAILED
    with Session() as s:
        actors = list(
            s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "handoff_retry"))
        )
    assert actors == ["李工"]
