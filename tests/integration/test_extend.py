"""延期 from the console and from `minqing cases extend`: the same rules (a 批准人, a working
day), the lead department told of its new deadline through the outbox (who approved it and
why), the extension on the case's trail, and the reminder and escalation moved with it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from cli.cases_cmds import register
from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffKind, HandoffStatus, Lookback, LookbackKind
from mail.sink import stored_messages
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from web.testing import hidden_fields

BJ = ZoneInfo("Asia/Shanghai")
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
CALENDAR_2027 = """years:
  2027:
    holidays: [2027-01-01, 2027-02-06..2027-02-13]
    workdays: [2027-02-14]
"""
JIAOTONG = "banli@jiaotong.example.gov.cn"


@pytest.fixture
def calendar_2027(minq, tmp_path, monkeypatch) -> None:
    """The shipped config with 2027's holidays added, as an office adds them in December."""
    config = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, config)
    (config / "calendar.yaml").write_text(CALENDAR_2027, encoding="utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()


def assigned_case(minq) -> int:
    """A 交通运输 case assigned to jiaotong on Monday 14 December 2026 (due Wednesday 23rd), its
    assignment delivered."""
    with Session() as s, s.begin():
        case = Case(title="信号灯故障", text="西城路口信号灯不亮。", text_key="k",
                    area_code="xicheng", category="交通运输", status=CaseStatus.TRIAGED)  # fmt: skip
        s.add(case)
        s.flush()
        case_id = case.id
    with minq.sink():
        dispatch_now(now=datetime(2026, 12, 14, 10, tzinfo=BJ).astimezone(UTC))
        deliver_now()
    with Session() as s:
        assert s.get(Case, case_id).due_at.astimezone(BJ).date().isoformat() == "2026-12-23"
    return case_id


def open_lookbacks(case_id: int) -> dict[LookbackKind, datetime]:
    with Session() as s:
        rows = s.scalars(
            select(Lookback).where(Lookback.case_id == case_id, Lookback.done_at.is_(None))
        )
        return {lb.kind: lb.due_at for lb in rows}


def told(minq) -> list:
    return [m for m in stored_messages(minq.mail_dir) if "办理时限调整" in m["Subject"]]


def test_the_console_asks_for_an_approver_and_a_working_day_and_tells_the_department(
    minq, calendar_2027, console
):
    case_id = assigned_case(minq)
    before = open_lookbacks(case_id)
    page = console.get(f"/console/cases/{case_id}").text
    assert 'name="approver"' in page
    fields = hidden_fields(page)
    url = f"/console/cases/{case_id}/extend"
    reason = "需协调供电公司迁移电缆"

    no_approver = console.post(url, data={**fields, "due": "2027-01-04", "reason": reason})
    assert no_approver.status_code == 409
    assert "请填写批准人（记入办理轨迹，并告知承办单位）" in no_approver.text
    holiday = console.post(
        url, data={**fields, "due": "2027-01-01", "reason": reason, "approver": "刘芳"}
    )
    assert holiday.status_code == 409
    assert (
        "2027年01月01日（星期五）不是工作日（周末或法定节假日），办理时限须是工作日；"
        "其后第一个工作日是2027年01月04日（星期一）" in holiday.text
    )
    with Session() as s:
        assert s.get(Case, case_id).due_at.astimezone(BJ).date().isoformat() == "2026-12-23"

    with minq.sink():
        done = console.post(
            url, data={**fields, "due": "2027-01-04", "reason": reason, "approver": "刘芳"}
        )
    assert done.status_code == 200 and "办理时限已延长，已告知承办单位" in done.text
    (message,) = told(minq)
    assert message["X-Original-To"] == JIAOTONG
    assert message["Subject"].startswith("【办理时限调整】")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert (
            "本案办理时限已延期：由2026年12月23日（星期三）23:59延至2027年01月04日（星期一）23:59"
            "（批准人：刘芳）。延期理由：需协调供电公司迁移电缆。" in body
        )
    assert "办理时限：请于2027年01月04日（星期一）23:59前答复" in text

    with Session() as s:
        case = s.get(Case, case_id)
        assert case.due_at.astimezone(BJ).date().isoformat() == "2027-01-04"
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "deadline_extended"))
        assert (event.actor, event.detail["approver"], event.detail["reason"]) == (
            "操作员乙", "刘芳", reason,
        )  # fmt: skip
        (notice,) = s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.DEADLINE))
        assert notice.status is HandoffStatus.SENT
    page = console.get(f"/console/cases/{case_id}").text
    assert "（批准人：刘芳）" in page and "办理时限调整发给区交通运输局" in page
    # the reminder and the escalation follow the new deadline
    after = open_lookbacks(case_id)
    assert after[LookbackKind.ESCALATION] == case.due_at + timedelta(seconds=1)
    assert after[LookbackKind.REMINDER] > before[LookbackKind.REMINDER]
    assert after[LookbackKind.REMINDER].astimezone(BJ).date().isoformat() == "2026-12-30"


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_the_command_tells_the_department_too_and_says_when_it_could_not(minq, calendar_2027):
    case_id = assigned_case(minq)
    # 5 working days after Wednesday 23 December: 24, 25, 28, 29, 30 (31st and New Year after)
    args = ["cases", "extend", str(case_id), "--days", "5", "--reason", "需协调管线单位"]
    refused = CliRunner().invoke(cli(), [*args, "--approver", " "])
    assert refused.exit_code == 2 and "请填写批准人" in refused.output
    with Session() as s:
        number = s.get(Case, case_id).number
    args[2] = number
    queued = CliRunner().invoke(cli(), [*args, "--approver", "王建国"])
    assert queued.exit_code == 0, queued.output
    assert "已排队：今晚的发送环节会把新的办理时限告知承办单位" in queued.output
    with minq.sink():
        deliver_now()
    (message,) = told(minq)
    assert (
        "延至2026年12月30日（星期三）23:59（批准人：王建国）"
        in message.get_body(("plain",)).get_content()
    )

    # the mail server down: the notice waits, and the command says so and exits 1
    again = CliRunner().invoke(cli(), [*args, "--approver", "王建国", "--send-now"])
    assert again.exit_code == 1, again.output
    output = " ".join(again.output.split())
    assert "通知 1 封：已发送 0，未送达 1（待发送 1" in output
    assert "办理时限调整 → banli@jiaotong.example.gov.cn）：待发送" in output
