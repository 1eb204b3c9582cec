"""An operator's morning after a bad night, on both databases, against a real SMTP server on
loopback: the messages the closed SMTP port left pending are listed by default and resent on
purpose (each arrives once); a message that did arrive although its send was interrupted is
confirmed as delivered from the command line or the console — audited, never sent again."""

from __future__ import annotations

import time
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import typer
from rich.cells import cell_len
from sqlalchemy import select
from typer.testing import CliRunner

from cli import handoffs_cmds
from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffStatus, case_number
from mail.sink import stored_messages
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.handoffs import HandoffRefused, confirm_delivered_now, retry_now
from web.testing import hidden_fields

CATEGORY = {"jiaotong": "交通运输", "renshe": "劳动和社会保障"}


def cli() -> typer.Typer:
    app = typer.Typer()
    handoffs_cmds.register(app)
    app.command("noop")(lambda: None)  # a group needs two commands to keep its names
    return app


def run(*args: str) -> object:
    return CliRunner(env={"COLUMNS": "240"}).invoke(cli(), ["handoffs", *args])


def assign(*departments: str) -> list[int]:
    """One dispatched case per department code; the assignment handoffs' ids in that order."""
    with Session() as s, s.begin():
        cases = [
            Case(title=f"来信{i}", text=f"第{i}件群众反映的问题。", text_key=f"key{i}",
                 area_code="xicheng", category=CATEGORY[code], status=CaseStatus.TRIAGED)
            for i, code in enumerate(departments)
        ]  # fmt: skip
        s.add_all(cases)
        s.flush()
        case_ids = [c.id for c in cases]
    dispatch_now()
    with Session() as s:
        by_case = {h.case_id: h.id for h in s.scalars(select(Handoff))}
    return [by_case[c] for c in case_ids]


def rows(ids: list[int]) -> list[Handoff]:
    with Session() as s:
        found = {h.id: h for h in s.scalars(select(Handoff).where(Handoff.id.in_(ids)))}
        s.expunge_all()
    return [found[i] for i in ids]


def arrived(minq) -> Counter[str]:
    time.sleep(0.1)  # the sink writes each message just after its "250"
    return Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir))


def audit_of(handoff_id: int, action: str) -> list[AuditEvent]:
    with Session() as s:
        events = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.entity == "handoff",
                    AuditEvent.entity_id == handoff_id,
                    AuditEvent.action == action,
                )
            )
        )
        s.expunge_all()
    return events


def test_messages_left_pending_by_a_closed_smtp_port_are_listed_and_resent_once_on_purpose(minq):
    ids = assign("jiaotong", "renshe", "jiaotong")
    night = deliver_now()  # nothing listens on the sink's port: connection refused
    # The first send finds the server down; the other two are not tried in that pass.
    assert (night["retry_later"], night["postponed"]) == (1, 2)
    assert {h.status for h in rows(ids)} == {HandoffStatus.PENDING}
    assert [h.attempts for h in rows(ids)] == [1, 0, 0]
    assert rows(ids)[0].next_attempt_at is not None  # waiting for the backoff
    assert all("ConnectionRefusedError" in h.last_error for h in rows(ids))  # all say why

    listed = run("list")  # the default: everything not delivered
    assert listed.exit_code == 0, listed.output
    assert "3 封（待发送 3，发送中 0，发送失败 0，已放弃 0）" in listed.output
    assert "ConnectionRefusedError" in listed.output  # the server's own words, for the engineer…
    assert "无法连接邮件服务器" in listed.output  # …after the office's
    only = run("list", "--department", "renshe")
    assert "1 封（待发送 1" in only.output and "区人力资源和社会保障局" in only.output
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(cli(), ["handoffs", "list"])
    with Session() as s:
        numbers_of = {c.id: case_number(c.id, c.created_at) for c in s.scalars(select(Case))}
    numbers = set(numbers_of.values())
    assert numbers and all(n in narrow.output for n in numbers)  # whole on an 80-column terminal
    assert "待发送" in narrow.output and "…" not in narrow.output
    # one block per message, each line whole, instead of nine columns a few characters wide
    lines = narrow.output.splitlines()
    assert sum(1 for line in lines if line.startswith("#")) == 3
    assert any(line.strip().startswith("原因：无法连接邮件服务器") for line in lines)
    assert any("区人力资源和社会保障局" in line for line in lines)
    wide = CliRunner(env={"COLUMNS": "200"}).invoke(cli(), ["handoffs", "list"])
    assert "收件地址" in wide.output  # a terminal wide enough gets the table
    for output in (listed.output, narrow.output, wide.output):  # the office's words come first
        assert output.index("无法连接邮件服务器") < output.index("ConnectionRefusedError"), output
    first = run("list", "--limit", "1")  # the title counts all of them, not the rows shown
    assert "3 封（待发送 3" in first.output and "仅显示前 1 封" in first.output

    with minq.sink():
        preview = run("retry", "--status", "pending", "--dry-run")
        assert preview.exit_code == 0, preview.output
        assert (
            "预览：符合条件的消息 3 封（待发送 3，发送失败 0，已放弃 0），未发送" in preview.output
        )
        # the next step in the operator's own terms: the command's flags, not the form's box
        assert "--operator" in preview.output and "仅预览" not in preview.output
        assert arrived(minq) == {} and {h.status for h in rows(ids)} == {HandoffStatus.PENDING}
        # README's preview columns: 编号, 案件编号, 类型, 承办单位, 收件地址, 上次错误
        assert "承办单位" in preview.output and "上次错误" in preview.output
        assert all(h.recipient in preview.output for h in rows(ids))
        narrow = CliRunner(env={"COLUMNS": "80"}).invoke(
            cli(), ["handoffs", "retry", "--status", "pending", "--dry-run"]
        )
        assert narrow.exit_code == 0 and "预览：符合条件的消息 3 封" in narrow.output
        assert max(cell_len(line) for line in narrow.output.splitlines()) <= 80
        assert "…" not in narrow.output and "┃" not in narrow.output
        # one block per message: number, whole case number and kind first, then the rest whole
        lines = [line.rstrip() for line in narrow.output.splitlines()]
        assert [line for line in lines if line.startswith("#")] == [
            f"#{h.id}  {numbers_of[h.case_id]}  交办" for h in rows(ids)
        ]
        assert {f"    收件地址：{h.recipient}" for h in rows(ids)} <= set(lines)
        assert "    承办单位：区人力资源和社会保障局" in lines
        assert any(line.startswith("    上次错误：无法连接邮件服务器") for line in lines)

        refused = run("retry", "--status", "pending", "--operator", "")
        assert refused.exit_code == 2 and "真实重发必须填写操作人姓名" in refused.output

        done = run("retry", "--status", "待发送", "--operator", "李工")
        assert done.exit_code == 0, done.output
        assert "重发 3 封：已发送 3，再次失败 0" in done.output
        assert deliver_now()["sent"] == 0  # the backoff retry finds nothing left to send
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}
    assert {h.status for h in rows(ids)} == {HandoffStatus.SENT}
    assert [e.actor for i in ids for e in audit_of(i, "handoff_retry")] == ["李工"] * 3
    assert audit_of(ids[0], "handoff_retry")[0].from_state == "pending"
    assert "0 封（待发送 0，发送中 0，发送失败 0，已放弃 0）" in run("list").output


def test_messages_of_an_urgent_case_are_marked_urgent_in_the_list_and_the_resend_preview(minq):
    ids = assign("jiaotong", "renshe")
    urgent, ordinary = rows(ids)
    with Session() as s, s.begin():
        s.get(Case, urgent.case_id).priority = "urgent"
        numbers_of = {c.id: case_number(c.id, c.created_at) for c in s.scalars(select(Case))}
    marked, plain = numbers_of[urgent.case_id], numbers_of[ordinary.case_id]
    for columns in ("80", "200"):  # blocks on a narrow terminal, a table on a wide one
        for command in (["list"], ["retry", "--dry-run"]):
            out = CliRunner(env={"COLUMNS": columns}).invoke(cli(), ["handoffs", *command])
            assert out.exit_code == 0, out.output
            lines = out.output.splitlines()
            # 急 beside the urgent case's number, as `minqing review list` and the console mark it
            assert any(f"{marked}  急" in line for line in lines), (columns, command, out.output)
            (line,) = [line for line in lines if plain in line]
            assert "急" not in line, (columns, command, out.output)


def interrupted_after_the_server_took_it(minq, ids: list[int]) -> int:
    """The first message reaches the server, then the deliverer dies before marking it sent;
    the next delivery finds it `sending` and marks it failed (uncertain)."""

    class Crash(BaseException):
        pass

    def crash(handoff_id: int) -> None:
        raise Crash

    with minq.sink():
        with pytest.raises(Crash):
            deliver_now(after_send=crash)
        after = deliver_now()
    assert after["interrupted"] == 1
    first = rows(ids)[0]
    assert first.status is HandoffStatus.FAILED
    assert first.last_error.startswith("interrupted during sending")
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}
    return first.id


def test_an_interrupted_message_that_did_arrive_is_confirmed_from_the_command_line(minq):
    ids = assign("jiaotong", "renshe")
    hid = interrupted_after_the_server_took_it(minq, ids)

    no_reason = run("mark-delivered", str(hid), "--operator", "李工")
    assert no_reason.exit_code == 2  # typer: --reason is required
    blank = run("mark-delivered", str(hid), "--reason", " ", "--operator", "李工")
    assert blank.exit_code == 2 and "确认送达的依据" in blank.output

    done = run("mark-delivered", str(hid), "--reason", "交通局电话确认已收到", "--operator", "李工")
    assert done.exit_code == 0, done.output
    assert f"消息 {hid} 已确认送达（原为发送失败），不会再发送" in done.output
    h = rows([hid])[0]
    assert (h.status, h.next_attempt_at, h.last_error) == (HandoffStatus.SENT, None, None)
    (event,) = audit_of(hid, "handoff_confirmed_delivered")
    assert (event.actor, event.from_state, event.to_state) == ("李工", "failed", "sent")
    assert event.detail["reason"] == "交通局电话确认已收到"
    assert event.detail["previous_error"].startswith("interrupted during sending")

    again = run("mark-delivered", str(hid), "--reason", "再次确认", "--operator", "李工")
    assert again.exit_code == 2 and "已发送成功，无需确认送达" in again.output
    with minq.sink():
        assert deliver_now()["sent"] == 0
        assert retry_now(operator="李工")["selected"] == []  # nothing undelivered is left
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}  # still exactly once each


def test_a_message_being_sent_right_now_cannot_be_confirmed_and_a_stale_one_can(minq):
    (hid,) = assign("jiaotong")
    with Session() as s, s.begin():
        h = s.get(Handoff, hid)
        h.status, h.sending_at = HandoffStatus.SENDING, h.created_at
    with pytest.raises(HandoffRefused, match="正在发送中"):
        confirm_delivered_now(hid, reason="已收到", operator="李工", now=h.created_at)
    done = confirm_delivered_now(
        hid, reason="已收到", operator="李工", now=h.created_at.replace(year=2100)
    )
    assert done["previous"] == "sending" and rows([hid])[0].status is HandoffStatus.SENT


def test_the_console_confirms_an_arrived_message_with_the_operators_name_and_reason(minq, console):
    ids = assign("jiaotong", "renshe")
    hid = interrupted_after_the_server_took_it(minq, ids)
    page = console.get("/console/handoffs")
    assert page.status_code == 200
    assert f'action="/console/handoffs/{hid}/delivered"' in page.text and "确认送达" in page.text
    assert "发送结果不明（邮件服务器可能已收到）" in page.text
    assert "interrupted during sending" in page.text  # the raw error stays beside it
    case_id = rows([hid])[0].case_id
    case_page = console.get(f"/console/cases/{case_id}")
    assert f'action="/console/handoffs/{hid}/delivered"' in case_page.text
    csrf = hidden_fields(page.text)["csrf"]

    empty = console.post(
        f"/console/handoffs/{hid}/delivered",
        data={"csrf": csrf, "reason": "", "next": "/console/handoffs"},
    )
    assert empty.status_code == 409 and "确认送达的依据" in empty.text
    # shown above the list it was asked from, the message still there to confirm
    assert 'id="refusal"' in empty.text and 'id="failed"' in empty.text
    assert f'action="/console/handoffs/{hid}/delivered"' in empty.text
    assert rows([hid])[0].status is HandoffStatus.FAILED

    done = console.post(
        f"/console/handoffs/{hid}/delivered",
        data={"csrf": csrf, "reason": "交通局回电：已收到", "next": f"/console/cases/{case_id}"},
    )
    assert done.status_code == 200 and "已确认送达，不会再发送" in done.text
    assert rows([hid])[0].status is HandoffStatus.SENT
    (event,) = audit_of(hid, "handoff_confirmed_delivered")
    assert (event.actor, event.detail["reason"]) == ("操作员乙", "交通局回电：已收到")
    assert (
        f'action="/console/handoffs/{hid}/delivered"' not in console.get("/console/handoffs").text
    )

    twice = console.post(
        f"/console/handoffs/{hid}/delivered",
        data={"csrf": csrf, "reason": "再点一次", "next": "/console/handoffs"},
    )
    assert twice.status_code == 409 and "已发送成功" in twice.text
    resent = console.post(
        f"/console/handoffs/{hid}/retry", data={"csrf": csrf, "next": f"/console/cases/{case_id}"}
    )
    assert resent.status_code == 409 and "该消息已发送或正在发送，无需重发。" in resent.text
    assert 'id="refusal"' in resent.text and "办理轨迹" in resent.text  # the case page
    with minq.sink():
        assert deliver_now()["sent"] == 0
    assert arrived(minq) == {h.message_id: 1 for h in rows(ids)}


def test_the_mail_list_reads_in_beijing_time_with_whole_case_numbers_on_80_columns(minq):
    from cli.main import app

    assign("jiaotong")
    with minq.sink():
        assert deliver_now()["sent"] == 1
    listed = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["mail", "list"])
    assert listed.exit_code == 0, listed.output
    with Session() as s:
        (number,) = {case_number(c.id, c.created_at) for c in s.scalars(select(Case))}
    assert number in listed.output and "…" not in listed.output  # not "MQ2026-000…"
    (sent,) = stored_messages(minq.mail_dir)
    beijing = sent["Date"].datetime.astimezone(ZoneInfo("Asia/Shanghai"))
    assert beijing.strftime("%Y年%m月%d日 %H:%M") in listed.output and "+0000" not in listed.output


def test_the_mail_list_says_how_many_of_the_messages_it_shows_and_how_to_see_the_rest(minq):
    from cli.main import app

    assign("jiaotong", "renshe", "jiaotong")
    with minq.sink():
        assert deliver_now()["sent"] == 3
    some = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["mail", "list", "--limit", "2"])
    assert some.exit_code == 0, some.output
    assert "3 封邮件，显示最近 2 封" in some.output
    assert "仅显示最近 2 封；查看全部请用 minqing mail list --limit 3。" in some.output
    every = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["mail", "list"])
    assert "3 封邮件" in every.output and "显示最近" not in every.output


def test_once_the_server_answers_again_the_urgent_assignment_it_missed_goes_next(minq):
    """The mail server is down: the urgent case's assignment is tried first and waits out a
    backoff; the others are left untried. When a pass reaches the server again, the urgent one
    goes right after the message that found the server up, not behind the ordinary ones nor
    after its backoff; while the server was down it was not tried again."""
    ordinary, urgent, *later = assign("jiaotong", "renshe", "jiaotong", "renshe", "jiaotong")
    with Session() as s, s.begin():
        s.get(Case, rows([urgent])[0].case_id).priority = "urgent"
    down = deliver_now()  # connection refused
    assert (down["retry_later"], down["postponed"]) == (1, 4)
    assert rows([urgent])[0].attempts == 1 and rows([urgent])[0].next_attempt_at is not None
    still_down = deliver_now()  # the others are due: the first finds the server still down
    assert (still_down["retry_later"], still_down["postponed"]) == (1, 3)
    assert rows([urgent])[0].attempts == 1  # held, not tried again
    with minq.sink():
        back = deliver_now()
    assert back["sent"] == 5 and len(arrived(minq)) == 5
    order = [h.id for h in sorted(rows([ordinary, urgent, *later]), key=lambda h: h.sent_at)]
    assert order[1] == urgent and order[0] != urgent


def test_a_console_resend_that_does_not_get_through_says_so_and_one_that_does_says_sent(
    minq, console
):
    (hid,) = assign("jiaotong")
    assert deliver_now()["sent"] == 0  # no SMTP server: the message waits, 待发送
    page = console.get("/console/handoffs")
    csrf = hidden_fields(page.text)["csrf"]
    down = console.post(
        f"/console/handoffs/{hid}/retry", data={"csrf": csrf, "next": "/console/handoffs"}
    )
    # post/redirect/get: the result is a page of its own, which a refresh shows again
    # without sending the message again
    assert [r.status_code for r in down.history] == [303]
    assert down.request.method == "GET" and down.url.path == "/console/handoffs"
    assert down.status_code == 200 and 'id="notice"' not in down.text
    assert "重发未成功：暂未送达，稍后自动重试（无法连接邮件服务器）。" in down.text
    assert 'id="refusal"' in down.text and f'action="/console/handoffs/{hid}/retry"' in down.text
    assert rows([hid])[0].status is HandoffStatus.PENDING
    assert len(audit_of(hid, "handoff_retry")) == 1
    refreshed = console.get(str(down.url))
    assert "重发未成功：暂未送达，稍后自动重试（无法连接邮件服务器）。" in refreshed.text
    assert len(audit_of(hid, "handoff_retry")) == 1  # a refresh resent nothing
    with minq.sink():
        up = console.post(
            f"/console/handoffs/{hid}/retry", data={"csrf": csrf, "next": "/console/handoffs"}
        )
    assert up.status_code == 200 and "已重新发送" in up.text and 'id="refusal"' not in up.text
    assert up.request.method == "GET"
    # once it has gone, the earlier failure's page no longer reports it
    assert 'id="refusal"' not in console.get(str(down.url)).text
    assert rows([hid])[0].status is HandoffStatus.SENT and arrived(minq) == {
        rows([hid])[0].message_id: 1
    }


def test_the_cli_resend_names_what_it_could_not_resend_and_exits_1_while_mail_is_undelivered(
    minq,
):
    a, b = assign("jiaotong", "renshe")
    unknown = run("retry", "--id", "99999", "--operator", "李工")
    assert unknown.exit_code == 2 and "没有编号为 99999 的消息。" in unknown.output
    down = run("retry", "--id", str(a), "--operator", "李工")  # no SMTP server: stays 待发送
    assert down.exit_code == 1, down.output
    assert "重发 1 封：已发送 0" in down.output
    with minq.sink():
        up = run("retry", "--id", str(a), "--id", str(b), "--operator", "李工")
        assert up.exit_code == 0, up.output
        again = run("retry", "--id", str(a), "--operator", "李工")
    assert again.exit_code == 0
    assert f"编号 {a} 的消息已发送、正在发送或不符合筛选条件，未重发。" in again.output
    assert {h.status for h in rows([a, b])} == {HandoffStatus.SENT}
