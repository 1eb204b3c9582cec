"""Every page end to end in a real browser, on SQLite and PostgreSQL: a citizen's QR form →
the night → the department's reply through the link in its e-mail → the citizen's rating
through the survey's link → the representative's 回头看 → the figures; and the operator
console's actions, each leaving an AuditEvent with the operator's name."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from sqlalchemy import func, select

from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Lookback,
    LookbackKind,
    Rating,
    Reply,
    Submission,
    Upload,
)
from mail.sink import stored_messages
from minqing.extensions import is_deadline_day, next_deadline_day
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from web.testing import link_in, photo

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-" + "z" * 40
OPERATOR, PASSWORD = "操作员甲", "correct horse battery"
LAMP = (
    "惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。我的电话13900001111。"
)
PNG = photo("PNG")
GEOTAGGED = photo(location=True)  # a phone's JPEG: GPS position and camera in its EXIF


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 412, "height": 915})
    yield context.new_page()
    context.close()


def night(now=None) -> None:
    """The nightly stages in the flow's order, without Prefect."""
    ingest_inbox_now()
    import_returns_now()
    triage_now()
    dispatch_now(now)
    scan_now(now)
    surveys_now(now)
    deliver_now()
    time.sleep(0.2)  # the sink writes the last message


def mail_to(minq, address: str, subject_part: str):
    found = [
        m
        for m in stored_messages(minq.mail_dir)
        if address in str(m["To"]) and subject_part in str(m["Subject"])
    ]
    assert found, f"no message to {address} about {subject_part}"
    return found[-1]


def shot(page, artifacts, minq, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{minq.backend}-{name}.png"), full_page=True)


def submit_qr(page, url: str, content: str, **contact: str) -> str:
    page.goto(f"{url}/s/donghu-jia")
    page.fill("#content", content)
    for field, value in contact.items():
        page.fill(f"#{field}", value)
    if contact:
        page.check("input[name=consent]")
    page.click("button[type=submit]")
    assert "感谢您的反映" in page.inner_text("main")
    return page.inner_text(".receipt")


def login(page, url: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})  # the console is a desk's tool
    page.goto(f"{url}/console")
    page.fill("#name", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    assert "案件列表" in page.inner_text("header")


def test_a_citizens_qr_message_is_answered_rated_and_verified_through_the_links(
    minq, site, page, artifacts
):
    with minq.sink():
        page.goto(f"{site.url}/s/donghu-jia")
        assert "东湖社区人大代表之家" in page.inner_text("main")
        shot(page, artifacts, minq, "01-qr-form")
        receipt = submit_qr(
            page, site.url, LAMP, name="王芳", phone="13900001111", email="wangfang@example.cn"
        )
        shot(page, artifacts, minq, "02-qr-thanks")

        night()
        with Session() as s:
            sub = s.scalar(select(Submission).where(Submission.source_ref == receipt))
            assert (
                sub.channel == "qrform"
                and sub.recorded_by == "donghu-jia"
                and sub.area_code == "donghu"
            )
            case = s.get(Case, sub.case_id)
            assert case.status is CaseStatus.ASSIGNED and case.lead_department == "chengguan"
            number = case.number

        # 答复: the department opens the link in its assignment e-mail
        assignment = mail_to(minq, "chengguan", "交办")
        reply_link = link_in(assignment, "/r/")
        page.goto(reply_link)
        assert (
            number in page.inner_text("main") and "13900001111" not in page.content()
        )  # redacted as the mail
        page.check("input[name=outcome][value=solved]")
        page.fill("#text", "已于当天更换路灯灯泡，恢复照明。")
        page.fill("#handler", "刘工")
        page.set_input_files(
            "#attachment", files=[{"name": "现场.png", "mimeType": "image/png", "buffer": PNG}]
        )
        shot(page, artifacts, minq, "03-reply-form")
        page.click("button[type=submit]")
        assert "答复已提交" in page.inner_text("main")
        # a correction before the case is verified: a new reply, the newest counts
        page.goto(reply_link)
        assert "已于当天更换路灯灯泡" in page.inner_text("main")
        page.fill("#text", "已更换路灯灯泡并检修线路，恢复照明。")
        page.click("button[type=submit]")
        assert "答复已提交" in page.inner_text("main")
        with Session() as s:
            replies = s.scalars(
                select(Reply).where(Reply.case_id == case.id).order_by(Reply.id)
            ).all()
            assert [r.via for r in replies] == ["web", "web"] and replies[-1].text.startswith(
                "已更换路灯灯泡并检修"
            )
            assert s.get(Case, case.id).status is CaseStatus.REPLIED
            assert s.scalar(select(Upload.entity)) == "reply"

        # 评价: the survey goes to the citizen; the link shows the reply first, works once
        night()
        survey = mail_to(minq, "wangfang@example.cn", "满意度回访")
        rating_link = link_in(survey, "/p/")
        page.goto(rating_link)
        assert "检修线路" in page.inner_text("#reply-text")
        page.check("input[name=satisfaction][value=满意]")
        page.check("input[name=solved][value=yes]")
        page.fill("#comment", "修得很快，谢谢！")
        shot(page, artifacts, minq, "04-rating-form")
        page.click("button[type=submit]")
        assert "评价已提交" in page.inner_text("main")
        page.goto(rating_link)
        assert "您已评价" in page.inner_text("main")
        with Session() as s:
            rating = s.scalar(select(Rating))
            assert (rating.satisfaction.value, rating.solved, rating.channel) == (
                "满意",
                True,
                "web",
            )
            lb = s.scalar(
                select(Lookback).where(
                    Lookback.case_id == case.id, Lookback.kind == LookbackKind.VERIFICATION
                )
            )
            verify_due = lb.due_at

        # 回头看: the representative's link, a photo, and the case closes (verified + satisfied)
        scan_now(verify_due)
        deliver_now()
        time.sleep(0.2)
        request = mail_to(minq, "li.xiuying", "回头看")
        page.goto(link_in(request, "/v/"))
        page.check("input[name=result][value=verified]")
        page.fill("#note", "现场查看，路灯已亮。")
        page.set_input_files(
            "#photo", files=[{"name": "路灯.jpg", "mimeType": "image/jpeg", "buffer": GEOTAGGED}]
        )
        shot(page, artifacts, minq, "05-lookback-form")
        page.click("button[type=submit]")
        assert "回头看已记录" in page.inner_text("main")
        with Session() as s:
            assert s.get(Lookback, lb.id).result == "verified"
            assert s.get(Case, case.id).status is CaseStatus.CLOSED
            kept = s.scalars(select(Upload).where(Upload.original_name == "路灯.jpg")).one()
        with Image.open(minq.settings.uploads_dir / kept.stored_name) as stored:
            assert stored.format == "JPEG" and len(stored.getexif()) == 0  # no GPS, no camera
        with Image.open(io.BytesIO(GEOTAGGED)) as sent:
            assert sent.getexif().get_ifd(0x8825)  # the phone's photo had a position

    # the figures and the case's whole story in the console
    login(page, site.url)
    page.goto(f"{site.url}/console/figures")
    assert page.inner_text("#rated") == "1" and page.inner_text("#satisfied-rate") == "100%"
    shot(page, artifacts, minq, "06-figures")
    page.goto(f"{site.url}/console?q=139-0000-1111")  # operators find a case by the citizen's phone
    assert number in page.inner_text("#cases")
    page.goto(f"{site.url}/console?status=closed")
    page.click(f"text={number}")
    timeline = page.inner_text("#timeline")
    for action in ("立案", "交办", "答复", "群众评价", "记录回头看", "办结"):  # 办理轨迹 in words
        assert action in timeline
    assert "已发送" in page.inner_text("#handoffs") and "现场.png" in page.inner_text("main")
    shot(page, artifacts, minq, "07-case-page")


def test_operators_review_reroute_extend_split_merge_retry_and_reopen_from_the_console(
    minq, site, page, artifacts
):
    refuse = {"on": True}

    def behaviour(envelope):
        return (
            "550 mailbox unavailable"
            if refuse["on"] and any("jiaotong" in r for r in envelope.rcpt_tos)
            else None
        )

    with minq.sink(behaviour=behaviour):
        submit_qr(page, site.url, LAMP, email="a@example.cn")
        submit_qr(page, site.url, LAMP, email="b@example.cn")  # 一案多诉: the same lamp
        submit_qr(page, site.url, "我想问一下这个事情该找谁。")
        submit_qr(page, site.url, "西城路口公交站台的顶棚被风吹坏了，下雨没处躲。")
        night()
        with Session() as s:
            cases = {c.title[:4]: c for c in s.scalars(select(Case).order_by(Case.id))}
            lamp, unclear, bus = cases["惠民小区"], cases["我想问一"], cases["西城路口"]
            assert lamp.supporters == 2 and unclear.status is CaseStatus.NEEDS_REVIEW
            failed = s.scalar(
                select(Handoff).where(
                    Handoff.case_id == bus.id, Handoff.status == HandoffStatus.FAILED
                )
            )
            assert failed is not None
        login(page, site.url)

        # the review queue: confirm a category
        page.goto(f"{site.url}/console/review")
        row = page.locator("#review tr", has_text=unclear.title)
        row.locator("select[name=category]").select_option("市政设施")
        shot(page, artifacts, minq, "11-review")
        row.locator("button").click()
        assert "分类已确认" in page.inner_text("#notice")

        # re-route the lamp to 住建局: a new assignment is sent, 城管 is told to stop
        page.goto(f"{site.url}/console/cases/{lamp.id}")
        form = page.locator("form[action$='/route']")
        form.locator("select[name=department]").select_option("zhujian")
        form.locator("input[name=reason]").fill("路灯产权属住建部门")
        form.locator("button").click()
        assert "已改派" in page.inner_text("#notice")

        # extend its deadline by eight working days, with the reason and who approved it
        from tasks.context import context

        with Session() as s:
            due = s.get(Case, lamp.id).due_at
        calendar = context().calendar
        new_day = calendar.add_working_days(due.astimezone(minq_local()).date(), 8)
        if not is_deadline_day(new_day, calendar):  # 元旦 in a year counted Monday–Friday
            new_day = next_deadline_day(new_day, calendar)
        form = page.locator("form[action$='/extend']")
        form.locator("input[name=due]").fill(new_day.isoformat())
        form.locator("input[name=reason]").fill("需协调供电部门")
        form.locator("input[name=approver]").fill("刘芳")
        form.locator("button").click()
        assert "办理时限已延长" in page.inner_text("#notice")

        # split the second citizen's message into its own case, then merge it back
        page.locator("#submissions form button").last.click()
        assert "已拆分" in page.inner_text("#notice")
        with Session() as s:
            split_case = s.scalars(select(Case).order_by(Case.id.desc())).first()
            assert split_case.status is CaseStatus.NEEDS_REVIEW
        page.goto(f"{site.url}/console/cases/{split_case.id}")
        form = page.locator("form[action$='/merge']")
        form.locator("input[name=into]").fill(lamp.number)
        form.locator("button").click()
        assert "已合并" in page.inner_text("#notice")

        # the failed handoff: the server accepts again, the operator resends it
        refuse["on"] = False
        page.goto(f"{site.url}/console/handoffs")
        assert "发送失败" in page.inner_text("#failed")
        shot(page, artifacts, minq, "12-failed-handoffs")
        page.locator("#failed button").first.click()
        assert "已重新发送" in page.inner_text("#notice")

        # reopen an answered case
        with Session() as s, s.begin():
            s.add(Reply(case_id=bus.id, department_code="jiaotong", received_at=due, outcome="solved",
                        text="已修复。", handler="x", via="import", source_key="test:bus"))  # fmt: skip
            s.get(Case, bus.id).status = CaseStatus.REPLIED
        page.goto(f"{site.url}/console/cases/{bus.id}")
        form = page.locator("form[action$='/reopen']")
        form.locator("input[name=reason]").fill("群众反映顶棚仍未修好")
        form.locator("button").click()
        assert "已重办" in page.inner_text("#notice")

        # the case list: filters and search
        page.goto(f"{site.url}/console?dept=zhujian")
        assert lamp.number in page.inner_text("#cases") and bus.number not in page.inner_text(
            "#cases"
        )
        page.goto(f"{site.url}/console?q={bus.number}")
        assert bus.number in page.inner_text("#cases") and lamp.number not in page.inner_text(
            "#cases"
        )
        page.goto(f"{site.url}/console?review=1")
        assert "没有符合条件的案件" in page.inner_text("#cases")
        shot(page, artifacts, minq, "13-case-list")

    with Session() as s:
        lamp_now, bus_now = s.get(Case, lamp.id), s.get(Case, bus.id)
        assert lamp_now.lead_department == "zhujian" and lamp_now.due_at > due
        assert lamp_now.supporters == 2
        assert s.get(Case, split_case.id).status is CaseStatus.MERGED
        assert s.get(Case, unclear.id).status is CaseStatus.TRIAGED
        assert bus_now.status is CaseStatus.REOPENED and bus_now.reopen_count == 1
        assert s.get(Handoff, failed.id).status is HandoffStatus.SENT
        kinds = set(s.scalars(select(Handoff.kind).where(Handoff.case_id == lamp.id)))
        assert {HandoffKind.ASSIGNMENT, HandoffKind.WITHDRAWAL} <= kinds
        by_operator = set(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == OPERATOR)))
        assert {"category_confirmed", "rerouted", "deadline_extended", "split", "merged", "handoff_retry",
                "reopened"} <= by_operator  # fmt: skip
        assert (
            s.scalar(
                select(func.count()).select_from(Case).where(Case.status == CaseStatus.NEEDS_REVIEW)
            )
            == 0
        )
    to_zhujian = mail_to(minq, "zhujian", "交办")
    assert link_in(to_zhujian, "/r/") is not None
    mail_to(minq, "chengguan", "改派撤回")


def minq_local():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
