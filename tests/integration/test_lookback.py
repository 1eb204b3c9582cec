"""回头督办 on a real database (SQLite and PostgreSQL): reminders, escalation to the head, weekly
repeats, 领导领衔督办, and the 回头看 results that verify or reopen a case."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Handoff,
    HandoffKind,
    Lookback,
    LookbackKind,
    Person,
    Rejection,
    Submission,
)
from mail.sink import stored_messages
from minqing.delivery import reply_template_csv
from minqing.settings import get_settings, reset_settings
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.lookback import scan_now
from web.tokens import Role, read_token

BJ = ZoneInfo("Asia/Shanghai")


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ).astimezone(UTC)


def new_case(
    title="路灯坏了",
    text="东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑。",
    area="donghu",
    email=None,
    category="市政设施",
) -> int:
    """A classified case (市政设施 → 区城市管理局, 10 working days) with one citizen."""
    with Session() as s, s.begin():
        phone = f"139{s.scalar(select(func.count()).select_from(Person)) + 1:08d}"
        person = Person(identity_key=f"phone:{phone}", name="张三", phone=phone, email=email)
        case = Case(
            title=title,
            text=text,
            text_key=title,
            area_code=area,
            category=category,
            status=CaseStatus.TRIAGED,
            created_at=bj(2026, 11, 6, 9),
        )
        s.add_all([person, case])
        s.flush()
        s.add(
            Submission(
                source_key=f"t:{case.id}",
                channel="hotline",
                source_ref=f"GD{case.id:03d}",
                received_at=bj(2026, 11, 6, 9),
                text=text,
                text_key=title,
                area_code=area,
                person_id=person.id,
                case_id=case.id,
            )
        )
        return case.id


def handoffs(kind: HandoffKind) -> list[Handoff]:
    with Session() as s:
        return list(s.scalars(select(Handoff).where(Handoff.kind == kind).order_by(Handoff.id)))


def case_row(case_id: int) -> Case:
    with Session() as s:
        return s.get(Case, case_id)


def drop(minq, channel: str, name: str, text: str) -> None:
    (minq.inbox(channel) / name).write_text(text, encoding="utf-8-sig")


def test_a_reminder_goes_out_on_its_day_once_however_often_the_scan_runs(minq):
    case_id = new_case()
    dispatch_now(now=bj(2026, 11, 6, 10))  # Friday; due Friday 20 Nov, reminder Wednesday 18th
    assert scan_now(now=bj(2026, 11, 17, 8, 30))["reminders"] == 0
    first = scan_now(now=bj(2026, 11, 18, 2))  # the night run sends the morning's reminders
    again = scan_now(now=bj(2026, 11, 18, 8, 30))
    assert first["reminders"] == 1 and again["reminders"] == 0
    [reminder] = handoffs(HandoffKind.REMINDER)
    assert reminder.recipient == "banli@chengguan.example.gov.cn" and reminder.case_id == case_id
    assert "2026年11月20日" in reminder.body_text and reminder.subject.startswith(
        "【到期提醒】MQ2026-"
    )
    # the day, its weekday and the hour it ends, as the assignment said it
    assert "将于 2026年11月20日（星期五）23:59 到期，请抓紧办理" in reminder.body_text
    assert "办理时限：请于2026年11月20日（星期五）23:59前答复" in reminder.body_text
    (assignment,) = handoffs(HandoffKind.ASSIGNMENT)
    assert "办理时限：请于2026年11月20日（星期五）23:59前答复" in assignment.body_text


def test_an_urgent_case_is_not_reminded_in_the_night_it_is_assigned(minq):
    """Two working days to answer and a reminder two working days before the deadline would
    fall on the assignment's own day: the department would get 【到期提醒】 right behind the
    assignment. It comes on the next working day's morning instead."""
    case_id = new_case(title="燃气泄漏", text="惠民小区3栋一楼闻到很重的燃气味，疑似燃气泄漏。")
    with Session() as s, s.begin():
        s.get(Case, case_id).priority = "urgent"
    dispatch_now(now=bj(2026, 11, 10, 2))  # Tuesday night; due Thursday 12th 23:59
    assert case_row(case_id).due_at == bj(2026, 11, 12, 23, 59, 59)
    assert scan_now(now=bj(2026, 11, 10, 2, 1))["reminders"] == 0  # the same night
    assert scan_now(now=bj(2026, 11, 10, 8, 30))["reminders"] == 0  # its morning
    assert scan_now(now=bj(2026, 11, 11, 8, 30))["reminders"] == 1  # Wednesday
    [reminder] = handoffs(HandoffKind.REMINDER)
    assert "将于 2026年11月12日（星期四）23:59 到期" in reminder.body_text


def test_a_reminder_says_how_to_reply_with_the_assignments_link_and_reply_template(
    minq, monkeypatch
):
    monkeypatch.setenv("MINQING_SECRET_KEY", "lookback-secret-" + "l" * 40)
    monkeypatch.setenv("MINQING_PUBLIC_URL", "https://minqing.example.gov.cn")
    reset_settings()
    case_id = new_case()
    dispatch_now(now=bj(2026, 11, 6, 10))
    with minq.sink():
        assert scan_now(now=bj(2026, 11, 18, 2))["reminders"] == 1
        assert deliver_now()["sent"] == 2
    mails = {m["Subject"].split("】")[0]: m for m in stored_messages(minq.mail_dir)}
    assignment, reminder = mails["【交办·承办"], mails["【到期提醒"]
    number = f"MQ2026-{case_id:06d}"
    template = f"答复模板_{number}.csv"

    def grants_in(text: str) -> list:
        """The grant of every reply link in `text` (a token is signed with its second, so the
        same round's links differ in their bytes when written a second apart)."""
        links = re.findall(r"https://minqing\.example\.gov\.cn/r/([^\s\"<]+)", text)
        return [read_token(get_settings(), Role.REPLY, token) for token in links]

    # the assignment's link and the reminder's: the same round's grant
    (grant,) = set(grants_in(assignment.get_body(("plain",)).get_content()))
    assert grant.case_id == case_id
    for part in (
        reminder.get_body(("plain",)).get_content(),
        reminder.get_body(("html",)).get_content(),
    ):
        assert "将于 2026年11月20日（星期五）23:59 到期" in part
        assert grants_in(part) and set(grants_in(part)) == {grant}
        assert f"也可填写本邮件附件“{template}”" in part
    (attached,) = reminder.iter_attachments()
    assert attached.get_filename() == template
    assert attached.get_payload(decode=True).decode("utf-8") == reply_template_csv(number)


def test_an_overdue_case_goes_to_the_head_on_the_next_working_day_then_weekly_then_to_the_leaders(
    minq,
):
    case_id = new_case()
    dispatch_now(now=bj(2026, 11, 6, 10))  # due end of Friday 20 Nov
    assert scan_now(now=bj(2026, 11, 21, 2))["escalations"] == 0  # Saturday: waits for Monday
    monday = scan_now(now=bj(2026, 11, 23, 2))
    assert monday["escalations"] == 1 and scan_now(now=bj(2026, 11, 23, 8, 30))["escalations"] == 0
    [first] = handoffs(HandoffKind.ESCALATION)
    assert (
        first.recipient == "zhao.lei@chengguan.example.gov.cn"
        and "已超期 1 个工作日" in first.body_text
    )
    assert "已于 2026年11月20日（星期五）23:59 超过办理时限" in first.body_text
    # the deadline line says it passed and asks for the reply at once, not "reply by" it
    assert (
        "办理时限：2026年11月20日（星期五）23:59，已超期 1 个工作日，请立即答复\n"
        in first.body_text
    )
    assert "请于2026年11月20日" not in first.body_text
    assert "已超期 1 个工作日，请立即答复" in first.body_html
    assert case_row(case_id).escalation_level == 1
    assert scan_now(now=bj(2026, 11, 27, 2))["escalations"] == 0
    assert scan_now(now=bj(2026, 11, 30, 2))["escalations"] == 1  # 5 working days later
    leaders = scan_now(now=bj(2026, 12, 4, 2))  # 10 working days overdue
    assert leaders["leaders"] == 1 and scan_now(now=bj(2026, 12, 4, 8, 30))["leaders"] == 0
    to_leaders = handoffs(HandoffKind.LEADER)
    assert sorted(h.recipient for h in to_leaders) == [
        "liu.fang@street.example.gov.cn",
        "wang.jianguo@street.example.gov.cn",
    ]
    assert all("已超期 10 个工作日" in h.body_text for h in to_leaders)
    assert all("办理期限为 2026年11月20日（星期五）23:59" in h.body_text for h in to_leaders)
    assert all("23:59，已超期 10 个工作日，请立即答复" in h.body_text for h in to_leaders)
    assert not any("请于2026年11月20日" in h.body_text for h in to_leaders)
    assert case_row(case_id).escalation_level == 2
    assert len(handoffs(HandoffKind.ESCALATION)) == 2
    with Session() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)))
    assert actions.count("lookback_escalation") == 2 and actions.count("lookback_leader") == 1


def test_a_reply_stops_the_reminders_and_the_representative_is_asked_to_verify_after_m_working_days(
    minq,
):
    case_id = new_case()
    dispatch_now(now=bj(2026, 11, 6, 10))
    drop(
        minq,
        "replies",
        "r.csv",
        "案件编号,答复时间,办理结果,答复内容,经办人\n"
        f"GD{case_id:03d},2026-11-10 15:00,A,已更换路灯。,刘工\n",
    )
    assert import_returns_now()["replies"] == 1
    quiet = scan_now(now=bj(2026, 11, 23, 2))
    assert quiet["reminders"] == quiet["escalations"] == 0
    assert scan_now(now=bj(2026, 12, 7, 8, 30))["verifications"] == 0
    with minq.sink():
        assert (
            scan_now(now=bj(2026, 12, 8, 2))["verifications"] == 1
        )  # 20 working days after the reply
        deliver_now()
    [ask] = handoffs(HandoffKind.VERIFICATION)
    assert ask.recipient == "li.xiuying@daibiao.example.cn" and "回头看" in ask.subject
    [mail] = [m for m in stored_messages(minq.mail_dir) if m["Message-ID"] == ask.message_id]
    assert "已核实" in mail.get_body(("plain",)).get_content()
    for part in ("plain", "html"):  # answered: the deadline is history, not a request
        body = mail.get_body((part,)).get_content()
        assert "已于 2026年11月10日 答复" in body and "前答复" not in body


def test_verified_closes_the_loop_and_not_verified_reopens_the_case_with_the_representatives_note(
    minq,
):
    good, bad = new_case(), new_case(title="井盖松动", text="东湖社区井盖松动，车辆经过响声很大。")
    dispatch_now(now=bj(2026, 11, 6, 10))
    drop(
        minq,
        "replies",
        "r.csv",
        "案件编号,答复时间,办理结果,答复内容,经办人\n"
        f"GD{good:03d},2026-11-10 15:00,A,已更换路灯。,刘工\nGD{bad:03d},2026-11-10 16:00,A,已加固井盖。,刘工\n",
    )
    import_returns_now()
    scan_now(now=bj(2026, 12, 8, 2))
    drop(
        minq,
        "verifications",
        "回头看_1208.csv",
        "案件编号,核实结果,说明,核实人,核实时间\n"
        f"MQ2026-{good:06d},已核实,路灯已亮。,李秀英,2026-12-08 10:00\n"
        f"GD{bad:03d},未核实,井盖仍然松动，夜里还有响声。,李秀英,2026-12-08 11:00\n",
    )
    result = import_returns_now()
    assert result["verifications"] == 2 and result["rejected"] == 0
    assert case_row(good).status is CaseStatus.VERIFIED
    drop(
        minq,
        "ratings",
        "评价.csv",
        "案件编号,联系电话,满意度,是否办成,评价意见,评价时间,回访方式\n"
        f"GD{good:03d},13900000001,满意,是,,2026-12-09 10:00,电话回访\n",
    )
    assert import_returns_now()["ratings"] == 1
    closed = case_row(good)
    assert closed.status is CaseStatus.CLOSED and closed.closed_at == bj(2026, 12, 9, 10)
    reopened = case_row(bad)
    assert reopened.status is CaseStatus.REOPENED and reopened.reopen_count == 1
    [notice] = handoffs(HandoffKind.REOPEN)
    assert notice.recipient == "banli@chengguan.example.gov.cn" and notice.case_id == bad
    assert "井盖仍然松动" in notice.body_text and "回头看核实未通过" in notice.body_text
    assert "夜里还有响声。请重新办理" in notice.body_text  # the note's own 。 is not doubled
    # the old deadline is over: the new one comes with the new assignment, not "请于…前答复"
    assert "办理时限" not in notice.body_text and "前答复" not in notice.body_text
    assert "系统将重新交办并设定新的办理期限" in notice.body_text
    with Session() as s:
        lb = s.scalars(
            select(Lookback).where(
                Lookback.case_id == bad, Lookback.kind == LookbackKind.VERIFICATION
            )
        ).one()
        assert (lb.result, lb.checked_by) == ("not_verified", "李秀英")
        events = {
            (e.action, e.to_state)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.case_id == bad))
        }
    assert {("verification_recorded", None), ("reopened", "reopened")} <= events
    # the next dispatch gives the reopened case back to its department with a new deadline
    assert dispatch_now(now=bj(2026, 12, 9, 9))["assigned"] == 1
    again = case_row(bad)
    assert again.status is CaseStatus.ASSIGNED and again.due_at > bj(2026, 12, 9, 9)


def test_bad_verification_rows_are_refused_with_reasons_and_a_file_read_twice_adds_nothing(minq):
    case_id = new_case()
    dispatch_now(now=bj(2026, 11, 6, 10))
    body = (
        "案件编号,核实结果,说明,核实人,核实时间\n"
        "MQ2026-999999,已核实,,李秀英,2026-12-08\n"
        f"GD{case_id:03d},差不多,,李秀英,2026-12-08\n"
        f"GD{case_id:03d},未核实,,李秀英,2026-12-08\n"
        f"GD{case_id:03d},已核实,,李秀英,2026-12-08\n"
    )
    drop(minq, "verifications", "v.csv", body)
    first = import_returns_now()
    reasons = sorted(r["原因"] for r in first["rejections"])
    assert first["verifications"] == 0 and len(reasons) == 4
    assert any(
        r.startswith("案件 MQ") and r.endswith("不在等待回头看") for r in reasons
    )  # not replied yet
    assert "核实结果“差不多”无法识别（应为 已核实 或 未核实）" in reasons
    assert "未核实须填写说明：要告诉承办部门为什么退回重办" in reasons
    assert "没有案件编号为“MQ2026-999999”的案件" in reasons
    drop(minq, "verifications", "v-again.csv", body)
    import_returns_now()
    with Session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(Rejection)
                .where(Rejection.channel == "verifications")
            )
            == 4
        )


def test_a_second_failed_verification_goes_to_the_leaders_instead_of_another_reopen(minq):
    case_id = new_case()
    dispatch_now(now=bj(2026, 11, 6, 10))
    for n, (replied, checked) in enumerate(
        [("2026-11-10", "2026-12-08"), ("2026-12-10", "2027-01-08")]
    ):
        drop(
            minq,
            "replies",
            f"r{n}.csv",
            "案件编号,答复时间,办理结果,答复内容,经办人\n"
            f"GD{case_id:03d},{replied} 15:00,A,已修好。,刘工\n",
        )
        drop(
            minq,
            "verifications",
            f"v{n}.csv",
            "案件编号,核实结果,说明,核实人,核实时间\n"
            f"GD{case_id:03d},未核实,路灯还是不亮（第{n + 1}次）。,李秀英,{checked} 10:00\n",
        )
        import_returns_now(now=bj(int(checked[:4]), int(checked[5:7]), int(checked[8:]), 12))
        dispatch_now(now=bj(2026, 12, 9, 9))
    case = case_row(case_id)
    assert case.reopen_count == 1 and case.escalation_level == 2
    assert case.status is CaseStatus.REPLIED  # not reopened a second time: the leaders take it
    assert len(handoffs(HandoffKind.REOPEN)) == 1
    leaders = handoffs(HandoffKind.LEADER)
    assert len(leaders) == 2 and all(
        "第2次" in h.body_text and "已重办 1 次" in h.body_text for h in leaders
    )


def test_a_reopened_case_is_assigned_again_as_reopened_to_the_lead_and_the_co_handler(minq):
    case_id = new_case(
        title="违章搭建", text="东湖社区5栋楼顶有人违章搭建彩钢房。", category="城乡建设"
    )
    dispatch_now(now=bj(2026, 11, 6, 10))  # 东湖社区: 街道办 leads, 住建局 assists
    drop(
        minq,
        "replies",
        "r.csv",
        "案件编号,答复时间,办理结果,答复内容,经办人\n"
        f"GD{case_id:03d},2026-11-10 15:00,A,已拆除。,刘工\n",
    )
    assert import_returns_now()["replies"] == 1
    drop(
        minq,
        "ratings",
        "评价.csv",
        "案件编号,联系电话,满意度,是否办成,评价意见,评价时间,回访方式\n"
        f"GD{case_id:03d},13900000001,不满意,否,彩钢房还在，有事打13912345678。,"
        "2026-11-12 10:00,电话回访\n",
    )
    assert import_returns_now()["ratings"] == 1
    assert case_row(case_id).status is CaseStatus.REOPENED
    with minq.sink():
        assert dispatch_now(now=bj(2026, 11, 13, 9))["assigned"] == 1
        deliver_now()
    number = f"MQ2026-{case_id:06d}"
    again = {
        m["X-Original-To"]: m
        for m in stored_messages(minq.mail_dir)
        if "交办" in m["Subject"] and "重办" in m["Subject"]
    }
    lead, co = again["banli@jiedao.example.gov.cn"], again["banli@zhujian.example.gov.cn"]
    assert lead["Subject"] == f"【重办】【交办·承办】{number} 违章搭建"
    assert co["Subject"] == f"【重办】【交办·协办】{number} 违章搭建"
    why = (
        "【重办】本案经群众评价不满意或未办成，退回重办（第 1 次）。"
        "群众评价意见：彩钢房还在，有事打"
    )
    for message in (lead, co):
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert text.startswith(why), text[:200]  # at the top, before the salutation
        assert why in html and html.index(why) < html.index("：</p>")
        for private in ("13912345678", "13900000001", "张三"):
            assert private not in text and private not in html
