"""The nightly stages against a real database (SQLite and PostgreSQL) and a real SMTP sink."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Lookback,
    Person,
    Rating,
    Rejection,
    Reply,
    Submission,
    Survey,
)
from mail.sink import count_messages, stored_messages
from minqing.i18n import using
from minqing.reasons import render
from minqing.states import CaseStatus, Outcome
from minqing.workdays import LOCAL_TZ
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
ROWS = [
    f"GD001,张三,13912340001,路灯坏了,2026-11-27 09:32:10,{LAMP},东湖社区",
    f"GD002,李四,13912340002,路灯不亮,2026/11/27 10:05,{LAMP},东湖社区",
    "GD003,王五,13912340003,夜间施工,2026-11-26 22:05,南苑社区工地夜间施工噪音扰民，我的电话13700001111，严重影响休息。,南苑社区",
    "GD004,赵六,,,2026-11-27 09:00,,西城社区",
    "GD005,钱七,13912340005,欠薪,2026-13-45,公司拖欠工资三个月。,北塘社区",
    "GD006,孙八,13912340006,咨询,2026-11-27 11:00,我想问一下这个事情该找谁。,新华社区",
]


def write_hotline(minq, rows=ROWS, name="12345_20261127.csv"):
    path = minq.inbox("hotline") / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="gb18030")
    return path


def write_qr(minq, records, name="qr.jsonl"):
    path = minq.inbox("qrform") / name
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) if isinstance(r, dict) else r for r in records)
        + "\n",
        encoding="utf-8",
    )
    return path


def night():
    """The stages in the nightly flow's order, without Prefect."""
    out = {"ingest": ingest_inbox_now(), "imports": import_returns_now(), "triage": triage_now()}
    out["dispatch"] = dispatch_now()
    out["lookback"] = scan_now()
    out["surveys"] = surveys_now()
    out["deliver"] = deliver_now()
    time.sleep(0.1)
    return out


def count(model) -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_night_takes_every_good_row_and_lists_every_bad_one_with_its_reason(minq):
    write_hotline(minq)
    with minq.sink():
        result = night()
    assert result["ingest"]["taken"] == 4
    with Session() as s:
        rows = s.scalars(select(Rejection).order_by(Rejection.reason_code)).all()
        # stored as codes and values, worded in the reader's language when shown
        assert [(r.reason_code, r.reason_params, r.reason) for r in rows] == [
            ("empty_text", {}, None),
            ("unreadable_date", {"value": "2026-13-45"}, None),
        ]
        assert [render(r.why) for r in rows] == ["内容为空", "日期无法识别：“2026-13-45”"]
        with using("en"):
            assert [render(r.why) for r in rows] == ["Empty text", "Unreadable date: “2026-13-45”"]
        noise = s.scalar(select(Submission).where(Submission.source_ref == "GD003"))
        assert "13700001111" not in noise.text and "[电话已隐去]" in noise.text
        assert noise.raw["original_text"].count("13700001111") == 1
    assert not list(minq.inbox("hotline").iterdir()), "the taken file left the inbox"
    assert len(list((minq.settings.archive_dir / "hotline").iterdir())) == 1


def test_json_columns_hold_chinese_as_it_is(minq):
    write_hotline(minq, ROWS[:1])
    ingest_inbox_now()
    with Session() as s:
        stored = s.execute(text("SELECT CAST(raw AS TEXT) FROM submissions")).scalar_one()
    assert "东湖社区" in stored and "\\u" not in stored


def test_exact_duplicates_join_one_case_and_every_citizen_stays_linked(minq):
    write_hotline(minq)
    with minq.sink():
        night()
    with Session() as s:
        lamp = s.scalars(
            select(Submission).where(Submission.source_ref.in_(["GD001", "GD002"]))
        ).all()
        assert lamp[0].case_id == lamp[1].case_id
        case = s.get(Case, lamp[0].case_id)
        assert case.supporters == 2 and {x.link_method for x in lamp} == {"new", "exact"}
        assert s.scalar(select(func.count()).select_from(Person)) == 4
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "linked_duplicate")
            )
            == 1
        )


def test_cases_are_routed_by_the_table_with_a_deadline_and_mail_reaches_each_department_once(minq):
    write_hotline(minq)
    with minq.sink():
        result = night()
    with Session() as s:
        lamp = s.scalar(select(Case).join(Submission).where(Submission.source_ref == "GD001"))
        # 路灯 is 市政设施: its own rule beats the 东湖社区 rule of its parent 城乡建设
        assert lamp.status is CaseStatus.ASSIGNED and lamp.lead_department == "chengguan"
        assert lamp.due_at > lamp.assigned_at
        assert {
            lb.kind.value for lb in s.scalars(select(Lookback).where(Lookback.case_id == lamp.id))
        } >= {"escalation"}
        unknown = s.scalar(select(Case).join(Submission).where(Submission.source_ref == "GD006"))
        assert unknown.status is CaseStatus.NEEDS_REVIEW and unknown.review is not None
        assert unknown.review_reason_code in ("no_category", "low_confidence", "no_route")
        handoffs = s.scalars(select(Handoff)).all()
    assert result["deliver"]["sent"] == len(handoffs) > 0
    assert all(h.status is HandoffStatus.SENT and h.sent_at for h in handoffs)
    mail = stored_messages(minq.mail_dir)
    assert sorted(m["Message-ID"] for m in mail) == sorted(h.message_id for h in handoffs)
    assert any("路灯" in m["Subject"] for m in mail)


def test_the_same_night_run_again_adds_nothing_and_sends_nothing(minq):
    path = write_hotline(minq)
    content = path.read_bytes()
    with minq.sink():
        night()
        sent = count_messages(minq.mail_dir)
        counts = [count(m) for m in (Submission, Case, Handoff, Rejection, AuditEvent)]
        path.write_bytes(content)  # the operator drops the same export again
        again = night()
        assert count_messages(minq.mail_dir) == sent
    assert [count(m) for m in (Submission, Case, Handoff, Rejection, AuditEvent)] == counts
    assert again["ingest"]["taken"] == 0 and again["deliver"]["sent"] == 0


def test_an_overlapping_export_adds_only_the_new_rows(minq):
    write_hotline(minq, ROWS[:3], name="a.csv")
    with minq.sink():
        night()
        write_hotline(
            minq,
            [
                *ROWS[1:3],
                "GD007,周九,13912340007,垃圾,2026-11-28 08:00,滨江社区垃圾桶满了没人清运，臭味很大。,滨江社区",
            ],
            name="b.csv",
        )
        second = night()
    assert second["ingest"]["taken"] == 1
    assert count(Submission) == 4


def test_replies_and_ratings_close_the_loop_and_citizens_with_email_get_a_survey(minq):
    write_hotline(minq, ROWS[:1])
    write_qr(
        minq,
        [
            {
                "id": "qr-1",
                "station": "dh-station-01",
                "submitted_at": "2026-11-27T20:15:00+08:00",
                "content": "西城社区菜市场门口占道经营严重，消费者投诉价格欺诈。",
                "name": "周女士",
                "email": "zhou@example.com",
                "area": "西城社区",
                "consent": True,
            }
        ],
    )
    with minq.sink():
        night()
        replies = minq.inbox("replies") / "replies.csv"
        today = datetime.now(UTC).astimezone(LOCAL_TZ).date()  # the day the cases were assigned
        replies.write_text(
            "案件编号,答复时间,办理结果,答复内容,经办人\n"
            f"GD001,{today} 10:00,A,已更换路灯，恢复照明。,刘工\n"
            f"qr-1,{today} 11:00,B,已约谈经营户，正在整治。,王科长\n"
            f"NOPE-1,{today} 11:00,A,不存在的案件,王科长\n",
            encoding="utf-8-sig",
        )
        ratings = minq.inbox("ratings") / "ratings.csv"
        ratings.write_text(
            "案件编号,联系电话,满意度,是否办成,评价意见,评价时间,回访方式\n"
            "GD001,13912340001,满意,是,很快,2026-11-28 15:00,电话回访\n"
            "GD001,13912340001,还行,是,,2026-11-28 15:00,电话回访\n",
            encoding="utf-8-sig",
        )
        result = night()
    assert result["imports"]["replies"] == 2 and result["imports"]["ratings"] == 1
    assert [
        (f["channel"], f["name"], f["status"], f["taken"], f["rejected"])
        for f in result["imports"]["files"]
    ] == [("replies", "replies.csv", "taken", 2, 1), ("ratings", "ratings.csv", "taken", 1, 1)]
    reasons = {r["原因"] for r in result["imports"]["rejections"]}
    assert "没有案件编号为“NOPE-1”的案件" in reasons and any("满意度" in r for r in reasons)
    with Session() as s:
        lamp = s.scalar(select(Case).join(Submission).where(Submission.source_ref == "GD001"))
        assert lamp.status is CaseStatus.RATED and lamp.outcome is Outcome.SOLVED
        market = s.scalar(select(Case).join(Submission).where(Submission.source_ref == "qr-1"))
        assert market.status is CaseStatus.REPLIED
        survey = s.scalar(select(Survey).where(Survey.case_id == market.id))
        assert survey.channel == "email" and survey.handoff_id is not None
        handoff = s.get(Handoff, survey.handoff_id)
        assert handoff.kind is HandoffKind.SURVEY and handoff.status is HandoffStatus.SENT
        assert s.scalar(select(func.count()).select_from(Rating)) == 1
        assert s.scalar(select(func.count()).select_from(Reply)) == 2
    assert any(
        m["To"].addresses[0].addr_spec == "zhou@example.com" for m in stored_messages(minq.mail_dir)
    )


def test_a_near_duplicate_on_a_later_night_joins_the_case_through_the_stored_index(minq):
    write_hotline(minq, ROWS[:1], name="night1.csv")
    with minq.sink():
        night()
        reworded = "您好，东湖社区惠民小区3栋门口的路灯坏了一个多星期了，晚上很黑，老人出门不安全，请尽快维修！谢谢"
        write_hotline(
            minq,
            [f"GD900,周九,13912340009,路灯,2026-11-28 09:00,{reworded},东湖社区"],
            name="night2.csv",
        )
        second = night()
    assert second["triage"] == {
        "new_cases": 0,
        "linked": 1,
        "needs_review": 0,
        "on_the_spot": 0,
        "warnings": [],
    }
    with Session() as s:
        first = s.scalar(select(Submission).where(Submission.source_ref == "GD001"))
        later = s.scalar(select(Submission).where(Submission.source_ref == "GD900"))
        assert later.case_id == first.case_id and later.link_method == "near"
        assert 0.5 <= later.similarity < 1.0
        event = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "linked_duplicate", AuditEvent.case_id == first.case_id
            )
        ).one()
        assert event.detail["matched_submission"] == first.id
        assert s.get(Case, first.case_id).supporters == 2


def test_an_unrelated_opinion_opens_its_own_case(minq):
    write_hotline(minq, ROWS[:1], name="night1.csv")
    with minq.sink():
        night()
        write_hotline(
            minq,
            [
                "GD901,吴十,13912340010,学位,2026-11-28 09:00,孩子明年上小学，学区划片后学位不够，希望教育局说明入学政策。,西城社区"
            ],
            name="night2.csv",
        )
        second = night()
    assert second["triage"]["new_cases"] == 1 and second["triage"]["linked"] == 0


def test_a_reply_dated_before_its_assignment_or_after_today_is_refused_with_the_reason(minq):
    write_hotline(minq, ROWS[:1])
    with minq.sink():
        night()
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    (minq.inbox("replies") / "replies.csv").write_text(
        "案件编号,答复时间,办理结果,答复内容,经办人\n"
        "GD001,2026-11-20 10:00,A,已更换路灯。,刘工\n"  # a week before it was assigned
        f"GD001,{today.replace(year=today.year + 1)} 10:00,A,已更换路灯。,刘工\n",
        encoding="utf-8-sig",
    )
    result = import_returns_now()
    assert result["replies"] == 0 and result["rejected"] == 2
    early, future = (r["原因"] for r in result["rejections"])
    assert early.startswith("答复时间 2026-11-20 10:00 早于交办时间 ") and "请核对" in early
    assert future.startswith(f"答复时间 {today.year + 1}-") and f"晚于今天（{today}）" in future
    with Session() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        rows = s.scalars(select(Rejection)).all()
        assert {r.reason_code for r in rows} == {"reply_before_assignment", "reply_in_future"}
        assert {render(r.why) for r in rows} == {early, future}
        with using("en"):
            assert all(render(r.why).startswith("Reply time ") for r in rows)
        case = s.scalar(select(Case))
        assert case.status is CaseStatus.ASSIGNED and case.replied_at is None
