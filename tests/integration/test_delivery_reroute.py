"""An operator re-routes (改派) and extends (延期) a case; a department answers 不属职责.

Checked at the SMTP sink (who got which message) and in the rows and audit trail an operator
would look at.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import select
from typer.testing import CliRunner

from cli.cases_cmds import register
from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffKind, Lookback, LookbackKind
from mail.sink import stored_messages
from minqing.i18n import using
from minqing.routing import deadline
from minqing.states import CaseStatus
from minqing.workdays import LOCAL_TZ, due_at
from tasks.context import context
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.lookback import scan_now
from tasks.reroute import ActionError, reroute_case

JIAOTONG, CHENGGUAN, SHICHANG = (
    "banli@jiaotong.example.gov.cn",
    "banli@chengguan.example.gov.cn",
    "banli@shichang.example.gov.cn",
)


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def assigned_case(now: datetime, category: str = "交通运输") -> tuple[int, str]:
    """A case dispatched at `now` to jiaotong (交通运输), its assignment already delivered."""
    with Session() as s, s.begin():
        case = Case(
            title="信号灯故障",
            text="滨江路口信号灯坏了三天，早晚高峰很堵。",
            text_key="k",
            area_code="xicheng",
            category=category,
            status=CaseStatus.TRIAGED,
        )
        s.add(case)
        s.flush()
        case_id = case.id
    dispatch_now(now)
    deliver_now(now)
    with Session() as s:
        return case_id, s.get(Case, case_id).number


def open_lookbacks(case_id: int) -> dict[LookbackKind, datetime]:
    with Session() as s:
        rows = s.scalars(
            select(Lookback).where(Lookback.case_id == case_id, Lookback.done_at.is_(None))
        )
        return {lb.kind: lb.due_at for lb in rows}


def test_rerouting_gives_the_new_department_the_case_and_the_old_one_a_withdrawal(minq):
    assigned = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    moved = assigned + timedelta(days=1, hours=6)
    with minq.sink():
        case_id, number = assigned_case(assigned)
        result = reroute_case(
            number, "chengguan", reason="信号灯由城管局路灯所维护", operator="张三", now=moved
        )
        delivery = deliver_now(moved)
    assert result["from"] == "jiaotong" and result["to"] == "chengguan"
    assert [h["kind"] for h in result["handoffs"]] == ["withdrawal", "assignment"]
    assert delivery["sent"] == 2

    messages = stored_messages(minq.mail_dir)
    assert Counter(m["Message-ID"] for m in messages).most_common(1)[0][1] == 1
    assert [m["X-Original-To"] for m in messages] == [JIAOTONG, JIAOTONG, CHENGGUAN]
    withdrawal, assignment = messages[1], messages[2]
    assert withdrawal["Subject"].startswith(f"【改派撤回】{number}")
    text = withdrawal.get_body(("plain",)).get_content()
    assert "区城市管理局" in text and "信号灯由城管局路灯所维护" in text
    # a withdrawal says stop, and nothing about answering by a date (text and HTML alike)
    html = withdrawal.get_body(("html",)).get_content()
    for body in (text, html):
        assert "请贵单位停止办理，无需答复" in body
        assert "办理时限" not in body and "前答复" not in body and "暂定" not in body
    body = assignment.get_body(("plain",)).get_content()
    assert f"【交办·承办】{number}" in assignment["Subject"]
    assert f"【交办·承办】{number} 信号灯故障（区交通运输局）" in body  # the earlier handoff
    assert [p.get_filename() for p in assignment.iter_attachments()] == [f"答复模板_{number}.csv"]

    ctx = context()
    with Session() as s:
        case = s.get(Case, case_id)
        assert (case.status, case.lead_department, case.assigned_at) == (
            CaseStatus.ASSIGNED,
            "chengguan",
            moved,
        )
        assert case.due_at == deadline(moved, "交通运输", False, ctx.ref, ctx.calendar)
        kinds = {h.kind for h in s.scalars(select(Handoff).where(Handoff.case_id == case_id))}
        assert kinds == {HandoffKind.ASSIGNMENT, HandoffKind.WITHDRAWAL}
        events = s.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.case_id == case_id, AuditEvent.actor == "张三")
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == ["rerouted", "handoff_queued", "handoff_queued"]
    assert events[0].detail["previous"] == "jiaotong" and events[0].detail["lead"] == "chengguan"
    assert {e.detail["kind"] for e in events[1:]} == {"assignment", "withdrawal"}
    assert open_lookbacks(case_id)[LookbackKind.ESCALATION] == case.due_at + timedelta(seconds=1)


def test_a_not_responsible_reply_goes_to_review_and_the_operator_reroutes_it(minq):
    now = datetime.now(UTC)
    with minq.sink():
        case_id, number = assigned_case(now)
        (minq.inbox("replies") / "答复.csv").write_text(
            "案件编号,答复时间,办理结果,答复内容,经办人\n"
            f"{number},{now.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M},不属职责,信号灯采购属市场监管局招标项目。,刘工\n",
            encoding="utf-8-sig",
        )
        assert import_returns_now()["replies"] == 1
        with Session() as s:
            case = s.get(Case, case_id)
            assert case.status is CaseStatus.NEEDS_REVIEW
            assert case.review_reason_code == "not_responsible"
            assert str(case.review).startswith("区交通运输局答复不属职责：信号灯采购")
            with using("en"):
                assert str(case.review).startswith(
                    "区交通运输局 replied that this is not their responsibility: 信号灯采购"
                )
        assert open_lookbacks(case_id) == {}  # no reminder or escalation while in review
        assert dispatch_now()["assigned"] == 0  # review is a person's decision, not the night's

        result = reroute_case(number, "shichang", reason="按答复意见改派", operator="李四")
        deliver_now()
    # the department that declined is not sent a withdrawal; the new one gets the case
    assert [h["kind"] for h in result["handoffs"]] == ["assignment"]
    assert [m["X-Original-To"] for m in stored_messages(minq.mail_dir)] == [JIAOTONG, SHICHANG]
    with Session() as s:
        case = s.get(Case, case_id)
        assert (case.status, case.lead_department) == (CaseStatus.ASSIGNED, "shichang")
    assert set(open_lookbacks(case_id)) >= {LookbackKind.ESCALATION}


def test_the_reroute_command_sends_now_and_refuses_what_it_cannot_do(minq):
    runner = CliRunner()
    with minq.sink():
        case_id, number = assigned_case(datetime.now(UTC))
        same = runner.invoke(
            cli(),
            ["cases", "reroute", number, "--to", "jiaotong", "--reason", "x", "--operator", "王"],
        )
        assert same.exit_code == 2 and "案件已由该单位承办" in same.output
        unknown = runner.invoke(
            cli(),
            ["cases", "reroute", "MQ2026-999999", "--to", "chengguan", "--reason", "x"]
            + ["--operator", "王"],
        )
        assert unknown.exit_code == 2 and "找不到案件 MQ2026-999999" in unknown.output
        done = runner.invoke(
            cli(),
            ["cases", "reroute", number, "--to", "chengguan", "--reason", "属城管职责"]
            + ["--operator", "王五", "--send-now"],
        )
        assert done.exit_code == 0, done.output
        assert "区交通运输局 → 区城市管理局" in done.output
        assert "通知 2 封：已发送 2，未送达 0" in done.output
    assert [m["X-Original-To"] for m in stored_messages(minq.mail_dir)] == [
        JIAOTONG,
        JIAOTONG,
        CHENGGUAN,
    ]


def test_an_extension_moves_the_deadline_and_the_escalation_and_is_audited(minq):
    runner = CliRunner()
    with minq.sink():
        case_id, number = assigned_case(datetime.now(UTC))
    with Session() as s:
        old_due = s.get(Case, case_id).due_at
    refused = runner.invoke(
        cli(), ["cases", "extend", number, "--days", "0", "--reason", "x", "--approver", "王"]
    )
    assert refused.exit_code == 2 and "延期天数" in refused.output
    done = runner.invoke(
        cli(),
        ["cases", "extend", number, "--days", "5", "--reason", "需协调管线单位"]
        + ["--approver", "王建国"],
    )
    assert done.exit_code == 0, done.output
    new_due = due_at(old_due, 5, context().calendar)
    with Session() as s:
        assert s.get(Case, case_id).due_at == new_due
        (event,) = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "deadline_extended")
        ).all()
    assert event.actor == "王建国" and event.detail["reason"] == "需协调管线单位"
    assert event.detail["previous"] == old_due.isoformat()
    assert open_lookbacks(case_id)[LookbackKind.ESCALATION] == new_due + timedelta(seconds=1)
    # the old deadline passes without an escalation; the new one brings it
    assert scan_now(old_due + timedelta(hours=1))["escalations"] == 0
    assert scan_now(new_due + timedelta(hours=1))["escalations"] == 1


def test_rerouting_a_replied_case_is_refused(minq):
    with minq.sink():
        _, number = assigned_case(datetime.now(UTC))
    with Session() as s, s.begin():
        case = s.scalars(select(Case)).one()
        case.status = CaseStatus.REPLIED
    try:
        reroute_case(number, "chengguan", reason="x", operator="王")
    except ActionError as exc:
        assert "不能改派" in str(exc)
    else:
        raise AssertionError("a replied case was re-routed")


def test_reroute_send_now_with_the_mail_server_down_counts_both_messages_and_exits_1(minq):
    with minq.sink():
        case_id, number = assigned_case(datetime.now(UTC))
    # no sink now: the SMTP port refuses connections
    done = CliRunner().invoke(
        cli(),
        ["cases", "reroute", number, "--to", "chengguan", "--reason", "属城管职责"]
        + ["--operator", "王五", "--send-now"],
    )
    assert done.exit_code == 1, done.output
    output = " ".join(done.output.split())
    assert "通知 2 封：已发送 0，未送达 2（待发送 2，发送中 0，发送失败 0，已放弃 0）" in output
    assert "改派撤回 → banli@jiaotong.example.gov.cn）：待发送" in output
    assert "交办 → banli@chengguan.example.gov.cn）：待发送，等待邮件服务器恢复后发送" in output
    with Session() as s:
        statuses = s.scalars(
            select(Handoff.status).where(Handoff.case_id == case_id, Handoff.sent_at.is_(None))
        ).all()
    assert len(statuses) == 2


def test_a_message_that_cannot_be_built_is_said_in_chinese_naming_the_address(minq, console):
    """An address config would refuse now, on a message queued before (or typed elsewhere):
    the send fails for good, and every place that shows it says why in Chinese."""
    bad = "banli@jiedao，example.gov.cn"
    with minq.sink():
        case_id, number = assigned_case(datetime.now(UTC))
        result = reroute_case(number, "chengguan", reason="属城管职责", operator="王五")
        ids = [h["id"] for h in result["handoffs"]]
        with Session() as s, s.begin():
            s.get(Handoff, ids[1]).recipient = bad
        from tasks.handoffs import send_now

        rows = send_now(ids)
    from minqing.handoffs import undelivered_lines

    words = f"收件地址“{bad}”不是可用的邮箱地址，邮件无法生成"
    (line,) = undelivered_lines(rows)
    assert line.startswith(f"消息 {ids[1]}（交办 → {bad}）：发送失败，{words}")
    for page in (
        console.get(f"/console/cases/{case_id}").text,
        console.get("/console/handoffs").text,
    ):
        assert words in page and "message cannot be built" not in page
    listed = CliRunner().invoke(handoffs_cli(), ["handoffs", "list"], env={"COLUMNS": "200"})
    assert words in " ".join(listed.output.split()).replace(" ", "")
    assert "message cannot be built" not in listed.output


def handoffs_cli() -> typer.Typer:
    from cli.handoffs_cmds import register as register_handoffs

    app = typer.Typer()
    register_handoffs(app)
    app.command("noop")(lambda: None)
    return app


def test_a_reroute_from_the_console_sends_the_reply_template_as_the_command_does(minq, console):
    from web.testing import hidden_fields

    with minq.sink():
        case_id, number = assigned_case(datetime.now(UTC))
        fields = hidden_fields(console.get(f"/console/cases/{case_id}").text)
        done = console.post(
            f"/console/cases/{case_id}/route",
            data={**fields, "department": "chengguan", "reason": "属城管职责"},
        )
    assert done.status_code == 200 and "已改派，交办单已发出" in done.text
    assignment = stored_messages(minq.mail_dir)[-1]
    assert assignment["X-Original-To"] == CHENGGUAN
    assert [p.get_filename() for p in assignment.iter_attachments()] == [f"答复模板_{number}.csv"]
    with Session() as s:
        queued = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.action == "handoff_queued", AuditEvent.actor == "操作员乙"
            )
        ).all()
    assert sorted(d["kind"] for d in queued) == ["assignment", "withdrawal"]


def test_the_night_s_reference_load_refuses_an_address_the_mailer_cannot_use(
    minq, tmp_path, monkeypatch
):
    import shutil
    from pathlib import Path

    import pytest

    from minqing.reference import ConfigError
    from minqing.settings import reset_settings
    from tasks.reference import sync_reference_now

    config = tmp_path / "bad-config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    path = config / "departments.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(JIAOTONG, "banli@jiedao，example.gov.cn", 1),
        encoding="utf-8",
    )
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()
    with pytest.raises(ConfigError) as refused:
        sync_reference_now()
    line = path.read_text(encoding="utf-8").split("banli@jiedao")[0].count("\n") + 1
    assert (
        f"departments.yaml 第 {line} 行，departments 第 4 个.email："
        "“banli@jiedao，example.gov.cn”中有“，”" in str(refused.value)
    )
