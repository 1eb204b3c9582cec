"""What an operator reads about undelivered messages, on both databases: the case page's trail
says a resend in words (待发送, not `pending`; the office's words for the error, the server's
own text folded away); a message never tried while the SMTP server was down says it waits,
not that it failed; and the lists put the duty alerts and urgent cases' messages first, then
the newest, so a limit never cuts them off."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import insert, select
from typer.testing import CliRunner

from db.engine import Session
from db.models import Case, Handoff, HandoffKind, HandoffStatus, case_number
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.handoffs import retry_now
from tests.integration.test_handoffs_operator import assign, cli

RAW = "ConnectionRefusedError"


def run(*args: str, columns: str = "240") -> object:
    result = CliRunner(env={"COLUMNS": columns}).invoke(cli(), ["handoffs", *args])
    assert result.exit_code == 0, result.output
    return result


def without_details(html: str) -> str:
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def test_a_resend_on_the_case_page_reads_in_words_with_the_servers_text_folded(minq, console):
    (hid,) = assign("jiaotong")
    assert deliver_now()["retry_later"] == 1  # nothing listens on the sink's port
    retry_now(ids=[hid], operator="李工")  # the server is still down: tried again, fails again
    with Session() as s:
        case_id = s.get(Handoff, hid).case_id
    page = console.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    timeline = re.search(r'<table class="list stack" id="timeline">(.*?)</table>', page.text, re.S)
    assert timeline, page.text
    rows = re.findall(r"<tr>(.*?)</tr>", timeline.group(1), re.S)
    (resend,) = [r for r in rows if "重新发送（" in r]
    assert "待发送 → 待发送" in resend and "pending" not in resend
    assert "重新发送（上次错误：无法连接邮件服务器）" in resend
    # the server's own words are kept for the engineer, folded beneath the sentence
    assert RAW not in without_details(resend)
    assert re.search(r'<details class="error-detail"><summary>服务器原文</summary><span>[^<]*'
                     + RAW, resend)  # fmt: skip
    failures = [r for r in rows if "次发送未成功" in r]
    assert len(failures) == 2, rows
    for row in failures:
        assert "发送未成功：无法连接邮件服务器" in row and RAW not in without_details(row)
        assert "邮件服务器答复" not in row


def test_a_message_never_tried_while_the_server_was_down_says_it_waits(minq, console):
    tried, *held = assign("jiaotong", "renshe", "jiaotong")
    night = deliver_now()  # connection refused: the first is tried, the other two are not
    assert (night["retry_later"], night["postponed"]) == (1, 2)
    with Session() as s:
        attempts = {h.id: h.attempts for h in s.scalars(select(Handoff))}
    assert attempts == {tried: 1, **{h: 0 for h in held}}

    for columns in ("80", "240"):  # blocks on a narrow terminal, a table on a wide one
        out = run("list", columns=columns).output
        assert out.count("等待邮件服务器恢复后发送") == 2, out
        assert out.count("无法连接邮件服务器") == 1 and out.count(RAW) == 1, out
    blocks = run("list", columns="80").output.split("\n#")[1:]
    by_id = {int(b.split()[0]): b for b in blocks}
    assert "原因：无法连接邮件服务器（connection: " + RAW in by_id[tried]
    for h in held:
        assert "原因：等待邮件服务器恢复后发送" in by_id[h] and RAW not in by_id[h]

    page = console.get("/console/handoffs").text
    for h in held:
        row = re.search(rf'<tr id="handoff-{h}">(.*?)</tr>', page, re.S).group(1)
        assert "等待邮件服务器恢复后发送" in row and "无法连接邮件服务器" not in row
    row = re.search(rf'<tr id="handoff-{tried}">(.*?)</tr>', page, re.S).group(1)
    assert "无法连接邮件服务器" in row and RAW in row
    with Session() as s:
        case_of = {h.id: h.case_id for h in s.scalars(select(Handoff))}
    case_page = console.get(f"/console/cases/{case_of[held[0]]}").text
    table = re.search(r'id="handoffs">(.*?)</table>', case_page, re.S).group(1)
    assert "等待邮件服务器恢复后发送" in table and "无法连接邮件服务器" not in table

    preview = run("retry", "--status", "pending", "--dry-run", columns="80").output
    assert preview.count("上次错误：等待邮件服务器恢复后发送") == 2, preview
    assert preview.count("上次错误：无法连接邮件服务器") == 1, preview


def seed_outbox(n: int) -> dict[str, int]:
    """`n` pending messages queued over time; among the oldest a duty alert and an urgent
    case's assignment, each the kind a long list used to cut off."""
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        urgent = Case(title="燃气泄漏", text="燃气泄漏", text_key="gas", status=CaseStatus.ASSIGNED,
                      priority="urgent", created_at=now)  # fmt: skip
        ordinary = Case(title="路灯不亮", text="路灯不亮", text_key="lamp",
                        status=CaseStatus.ASSIGNED, created_at=now)  # fmt: skip
        s.add_all([urgent, ordinary])
        s.flush()

        def message(i: int, kind: HandoffKind, case_id: int | None) -> dict:
            return {"case_id": case_id, "kind": kind, "department_code": "jiaotong",
                    "recipient": "banli@jiaotong.example.gov.cn", "subject": f"消息{i}",
                    "body_text": "正文", "body_html": "<p>正文</p>", "attachments": [],
                    "idempotency_key": f"seed-{i}", "status": HandoffStatus.PENDING,
                    "attempts": 0, "message_id": f"<seed-{i}@minqing.test>",
                    "created_at": now}  # fmt: skip

        s.execute(insert(Handoff), [message(0, HandoffKind.DUTY, None)])
        s.execute(insert(Handoff), [message(1, HandoffKind.ASSIGNMENT, urgent.id)])
        s.execute(
            insert(Handoff),
            [message(i, HandoffKind.ASSIGNMENT, ordinary.id) for i in range(2, n)],
        )
        ids = dict(s.execute(select(Handoff.subject, Handoff.id)).all())
        return {
            "duty": ids["消息0"],
            "urgent": ids["消息1"],
            "urgent_number": case_number(urgent.id, urgent.created_at),
            "newest": ids[f"消息{n - 1}"],
            "oldest_ordinary": ids["消息2"],
        }


def test_both_lists_put_duty_alerts_and_urgent_cases_first_then_the_newest(minq, console):
    seeded = seed_outbox(505)  # more than the command's 200 and the console's 500
    with Session() as s:
        ordinary = sorted(
            s.scalars(select(Handoff.id).where(Handoff.id.not_in([seeded["duty"],
                                                                   seeded["urgent"]]))),
            reverse=True,
        )  # fmt: skip
    expected = [seeded["urgent"], seeded["duty"], *ordinary]  # each group newest first

    out = run("list").output  # the default limit, 200
    assert "505 封（待发送 505" in out and "仅显示前 200 封" in out
    listed = [int(n) for n in re.findall(r"^│\s*(\d+)\s*│", out, re.M)]
    assert listed == expected[:200], listed[:5]
    assert f"{seeded['urgent_number']}  急" in out
    narrow = run("list", "--limit", "3", columns="80").output
    assert [int(n) for n in re.findall(r"^#(\d+)", narrow, re.M)] == expected[:3]

    page = console.get("/console/handoffs").text
    shown = [int(n) for n in re.findall(r'<tr id="handoff-(\d+)">', page)]
    assert shown == expected[:500], shown[:5]
    assert seeded["oldest_ordinary"] not in shown  # the limit cuts the oldest ordinary one
    urgent_row = re.search(rf'<tr id="handoff-{seeded["urgent"]}">(.*?)</tr>', page, re.S)
    assert ">急</span>" in urgent_row.group(1)
