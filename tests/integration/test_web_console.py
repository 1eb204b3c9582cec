"""The console's case list pages by keyset and filters correctly on both databases; the
operators command stores argon2 hashes that the login accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from db.engine import Session
from db.models import AuditEvent, Case, Operator, Rejection
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from web.testing import hidden_fields

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
STATUSES = [CaseStatus.ASSIGNED, CaseStatus.NEEDS_REVIEW, CaseStatus.REPLIED, CaseStatus.CLOSED]


def seed(n: int) -> list[int]:
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        cases = [
            Case(
                title=f"第{i}号问题" + ("路灯" if i % 5 == 0 else ""),
                text="内容",
                text_key=f"k{i}",
                status=STATUSES[i % 4],
                lead_department=["chengguan", "zhujian"][i % 2],
                area_code=["donghu", "xicheng", "nanyuan"][i % 3],
                due_at=now + timedelta(days=(-1 if i % 8 == 0 else 5)),
                created_at=now,
            )
            for i in range(n)
        ]
        s.add_all(cases)
        s.flush()
        return [c.id for c in cases]


def numbers(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'href="/console/cases/(\d+)"', html)]


def test_the_case_list_pages_newest_first_by_keyset_both_ways(console):
    ids = seed(120)
    first = console.get("/console")
    assert numbers(first.text) == sorted(ids, reverse=True)[:50]
    nxt = re.search(r'href="(/console\?[^"]*after=\d+)"', first.text).group(1)
    second = console.get(nxt.replace("&amp;", "&"))
    assert numbers(second.text) == sorted(ids, reverse=True)[50:100]
    third = console.get(re.search(r'href="(/console\?[^"]*after=\d+)"', second.text).group(1))
    assert (
        numbers(third.text) == sorted(ids, reverse=True)[100:]
        and 'id="next-page"' not in third.text
    )
    back = console.get(re.search(r'href="(/console\?[^"]*before=\d+)"', third.text).group(1))
    assert numbers(back.text) == numbers(second.text)


def test_filters_combine_and_search_finds_numbers_and_titles(console):
    ids = seed(40)
    with Session() as s:
        cases = {c.id: c for c in s.scalars(select(Case))}
    now = datetime.now(UTC)

    def expect(query: str, keep) -> None:
        got = numbers(console.get(f"/console?{query}").text)
        assert got == sorted((i for i in ids if keep(cases[i])), reverse=True), query

    expect(
        "status=assigned&dept=chengguan",
        lambda c: c.status is CaseStatus.ASSIGNED and c.lead_department == "chengguan",
    )
    expect("area=xicheng", lambda c: c.area_code == "xicheng")
    expect("review=1", lambda c: c.status is CaseStatus.NEEDS_REVIEW)
    expect("overdue=1", lambda c: c.status is CaseStatus.ASSIGNED and c.due_at < now)
    expect("q=路灯", lambda c: "路灯" in c.title)
    target = cases[ids[7]]
    expect(f"q={target.number}", lambda c: c.id == target.id)
    expect("q=%25", lambda c: False)  # a literal %, not a wildcard
    expect("q=GD0001", lambda c: False)  # an identifier is matched exactly, never as a substring
    assert console.get("/console?status=bogus&after=x").status_code == 200


def test_the_operators_command_hashes_with_argon2_and_audits(console):
    with Session() as s:
        op = s.scalar(select(Operator).where(Operator.name == "操作员乙"))
        assert (
            op.password_hash.startswith("$argon2id$") and "long enough pw" not in op.password_hash
        )
        assert op.last_login_at is not None
        assert (
            s.scalar(select(AuditEvent.action).where(AuditEvent.actor == "cli")) == "operator_added"
        )


# A real message whose title in angle-bracket quotes used to be stripped as if it were HTML.
ANGLE_QUOTED = "我写过关于了篇贴子<A4区捞刀河镇白霞村梦之旅KTV噪音严重扰民>的投诉"
SCRIPT = "<script>alert('x')</script>"


def test_citizen_text_in_angle_brackets_survives_intake_and_arrives_inert(console, minq):
    from mail.sink import stored_messages
    from tasks.deliver import deliver_now
    from tasks.dispatch import dispatch_now
    from tasks.ingest import ingest_inbox_now
    from tasks.triage import triage_now

    text = f"{ANGLE_QUOTED}，至今KTV每晚唱到凌晨，噪音扰民。{SCRIPT}"
    (minq.inbox("hotline") / "12345_20261127.csv").write_text(
        "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域\n"
        f"GD22687,张三,13912340001,<梦之旅KTV>噪音,2026-11-27 09:32,{text},东湖社区\n",
        encoding="gb18030",
    )
    ingest_inbox_now()
    triage_now()
    dispatch_now()
    with minq.sink():
        deliver_now()
    with Session() as s:
        case = s.scalars(select(Case)).one()
    assert case.text == text and case.title == "<梦之旅KTV>噪音"
    assert case.status is CaseStatus.ASSIGNED, case.review

    messages = stored_messages(minq.mail_dir)
    assert messages
    for message in messages:
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert ANGLE_QUOTED in plain and SCRIPT in plain
        assert "<script" not in html and "<A4区" not in html
        assert "&lt;A4区捞刀河镇白霞村梦之旅KTV噪音严重扰民&gt;" in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
        assert message["Subject"].endswith("<梦之旅KTV>噪音")

    page = console.get(f"/console/cases/{case.id}").text
    assert "<script>alert" not in page and "<A4区" not in page
    assert page.count("&lt;A4区捞刀河镇白霞村梦之旅KTV噪音严重扰民&gt;") == 2  # case + submission
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


CALENDAR_2027 = """years:
  2027:
    holidays: [2027-01-01, 2027-02-06..2027-02-13]
    workdays: [2027-02-14]
"""


def test_a_deadline_counted_into_an_unconfigured_year_is_flagged_then_recounted(
    console, minq, tmp_path, monkeypatch
):
    import shutil
    from zoneinfo import ZoneInfo

    from db.models import Handoff, HandoffKind, Lookback, LookbackKind
    from mail.sink import stored_messages
    from tasks.deliver import deliver_now
    from tasks.dispatch import dispatch_now
    from tasks.reference import sync_reference_now

    bj = ZoneInfo("Asia/Shanghai")
    config = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, config)
    (config / "calendar.yaml").write_text("years: {}\n", encoding="utf-8")  # 2027 not known
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()
    with Session() as s, s.begin():
        case = Case(title="信号灯故障", text="西城路口信号灯不亮。", text_key="k", area_code="xicheng",
                    category="交通运输", status=CaseStatus.TRIAGED)  # fmt: skip
        s.add(case)
        s.flush()
        case_id = case.id
    # assigned on Monday 28 December 2026, 7 working days: into 2027, whose holidays are unknown
    dispatch_now(now=datetime(2026, 12, 28, 2, tzinfo=bj).astimezone(UTC))
    with Session() as s:
        case = s.get(Case, case_id)
        assert (
            case.due_provisional and case.due_at.astimezone(bj).date().isoformat() == "2027-01-06"
        )
    page = console.get(f"/console/cases/{case_id}").text
    assert 'id="due-provisional"' in page and "暂定" in page
    with minq.sink():
        deliver_now()
    (assignment,) = stored_messages(minq.mail_dir)
    body = assignment.get_body(("plain",)).get_content()
    assert (
        "办理时限：请于2027年01月06日（星期三）23:59前答复" in body
        and "暂按周一至周五计算，公布后可能调整" in body
    )

    sync_reference_now()  # a reference load before 2027 is configured changes nothing
    with Session() as s:
        assert s.get(Case, case_id).due_provisional
    # a later night that counts no deadline itself still says the year is missing
    from tasks.context import _calendar
    from tasks.metrics import figures
    from tests.integration.test_routing_precision import night_stages

    _calendar.cache_clear()  # as in the next night's process
    warned = [w["text"] for w in figures(night_stages())["run_warnings"]]
    assert "2027 年节假日安排未配置，按周一至周五计算" in warned, warned
    with Session() as s:
        assert not s.scalars(
            select(AuditEvent).where(AuditEvent.action == "deadline_recounted")
        ).all()

    (config / "calendar.yaml").write_text(CALENDAR_2027, encoding="utf-8")
    sync_reference_now()  # the next night or `minqing db upgrade` loads it
    sync_reference_now()  # and again: nothing more happens
    with Session() as s:
        case = s.get(Case, case_id)
        assert not case.due_provisional
        assert case.due_at.astimezone(bj).date().isoformat() == "2027-01-07"  # 元旦 is a holiday
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "deadline_recounted"))
        assert event.case_id == case_id and event.detail["moved"] is True
        assert event.detail["previous"].startswith("2027-01-06")
        escalation = s.scalar(
            select(Lookback).where(
                Lookback.case_id == case_id,
                Lookback.kind == LookbackKind.ESCALATION,
                Lookback.done_at.is_(None),
            )
        )
        assert escalation.due_at.astimezone(bj).date().isoformat() == "2027-01-08"
        (notice,) = s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.DEADLINE))
        assert notice.recipient == "banli@jiaotong.example.gov.cn"
    with minq.sink():
        deliver_now()
    told = [m for m in stored_messages(minq.mail_dir) if "办理时限调整" in m["Subject"]]
    assert len(told) == 1
    text = told[0].get_body(("plain",)).get_content()
    assert "暂按周一至周五计算为2027年01月06日（星期三）23:59" in text
    assert "调整为2027年01月07日（星期四）23:59" in text
    assert "暂定" not in text
    page = console.get(f"/console/cases/{case_id}").text
    assert 'id="due-provisional"' not in page


def test_urgent_cases_come_first_in_the_case_list_and_the_review_queue(console):
    ids = seed(60)
    urgent = {ids[1]: CaseStatus.NEEDS_REVIEW, ids[4]: CaseStatus.ASSIGNED,
              ids[8]: CaseStatus.ASSIGNED, ids[9]: CaseStatus.CLOSED}  # fmt: skip
    with Session() as s, s.begin():
        for case_id, status in urgent.items():
            case = s.get(Case, case_id)
            case.priority, case.status = "urgent", status
        s.get(Case, ids[3]).status = CaseStatus.NEEDS_REVIEW
        old = s.get(Case, ids[5])  # urgent but long ago: not news any more
        old.priority, old.status = "urgent", CaseStatus.ASSIGNED
        old.created_at = datetime.now(UTC) - timedelta(days=30)
    page = console.get("/console").text
    block = page[page.index('id="urgent"') : page.index('id="cases"')]
    # open urgent cases of the week, those waiting for a person first; a closed one is not news
    assert numbers(block) == [ids[1], ids[8], ids[4]]
    assert 'id="urgent"' not in console.get("/console?review=1").text  # filtered: the list only
    review = numbers(console.get("/console/review").text)
    assert review[0] == ids[1] and review.index(ids[1]) < review.index(ids[3])
    # the duty operator arriving from the alert's link sees it is urgent
    assert 'id="case-urgent"' in console.get(f"/console/cases/{ids[1]}").text
    assert 'id="case-urgent"' not in console.get(f"/console/cases/{ids[3]}").text


def test_a_kept_reason_is_read_in_the_console_s_language_not_the_night_s(
    console, minq, monkeypatch
):
    """A rejection and a review reason recorded in a Chinese run read English on an English
    console; one recorded in an English run reads Chinese on a Chinese console."""
    from tasks.ingest import ingest_inbox_now
    from tasks.triage import triage_now

    def night(name: str, received: str) -> None:
        (minq.inbox("hotline") / name).write_text(
            "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域\n"
            f"GD{name[:3]}1,张三,13912340001,问题,{received},请问这个事情怎么办,东湖社区\n",
            encoding="gb18030",
        )
        ingest_inbox_now()
        triage_now()

    def rejections_page() -> str:
        return console.get("/console/rejections").text

    def review_page() -> str:
        return console.get("/console/review").text

    night("101_zh.csv", "2026-13-45")  # the night runs in Chinese: the date is refused
    assert "日期无法识别：“2026-13-45”" in rejections_page()
    with Session() as s:
        (reason_code,) = s.scalars(select(Rejection.reason_code)).all()
    assert reason_code == "unreadable_date"

    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    page = rejections_page()
    assert "Unreadable date: “2026-13-45”" in page and "日期无法识别" not in page
    night("102_en.csv", "2026-11-27 09:32")  # an English run: no category found
    page = review_page()
    assert "No category recognised: decide it by hand" in page and "未能识别分类" not in page

    monkeypatch.setenv("MINQING_LANGUAGE", "zh_CN")
    reset_settings()
    page = review_page()  # back in Chinese: the English run's reason reads Chinese
    assert "未能识别分类，请人工确定" in page and "No category recognised" not in page
    assert "日期无法识别：“2026-13-45”" in rejections_page()


def test_the_case_page_and_the_list_read_english_without_chinese_brackets(console, monkeypatch):
    (ruled, manual) = seed(2)
    with Session() as s, s.begin():
        s.get(Case, ruled).category, s.get(Case, ruled).category_source = "市容环境", "rule"
        s.get(Case, ruled).category_confidence = 1.0
        s.get(Case, manual).category, s.get(Case, manual).category_source = "市容环境", "operator"
    assert "市容环境（关键词规则，置信度 1.00）" in console.get(f"/console/cases/{ruled}").text
    chinese = console.get(f"/console/cases/{manual}").text
    assert "市容环境（人工）" in chinese and "群众留言（0）" in chinese
    assert "尚无评价（已发回访 0 份）。" in chinese

    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    page = console.get(f"/console/cases/{ruled}").text
    assert "市容环境 (Keyword rule, confidence 1.00)" in page and "（" not in page
    assert "<dt>Community</dt>" in page
    for heading in ("Messages (0)", "Assignments and messages (0)", "Replies (0)"):
        assert heading in page
    assert "No rating yet (surveys sent: 0)." in page
    assert "市容环境 (Operator)" in console.get(f"/console/cases/{manual}").text
    cases = console.get("/console").text
    assert "<th>Community</th>" in cases and ">Community<select" in cases


def test_a_cancelled_look_back_says_it_was_cancelled_and_when_not_that_it_was_done(console):
    from db.models import Lookback, LookbackKind
    from tasks.outbox import local_text

    (case_id,) = seed(1)
    sent, rated = datetime(2026, 12, 1, 2, tzinfo=UTC), datetime(2026, 12, 3, 6, tzinfo=UTC)
    with Session() as s, s.begin():
        s.add_all([
            Lookback(case_id=case_id, kind=LookbackKind.REMINDER, due_at=sent, done_at=sent,
                     result="sent"),
            Lookback(case_id=case_id, kind=LookbackKind.VERIFICATION, due_at=sent,
                     done_at=rated, result="cancelled: reopened"),
        ])  # fmt: skip
    page = console.get(f"/console/cases/{case_id}").text
    table = page[page.index('id="lookbacks"') :]
    rows = re.findall(r"<tr><td[ >].*?</tr>", table[: table.index("</table>")])
    # each cell's text (a date is a span of its own, kept whole on a narrow screen)
    done_row, cancelled_row = (re.sub(r"<(?!/?td)[^>]+>", "", row) for row in rows)
    assert f"{local_text(rated, with_time=True)} 取消" in cancelled_row
    assert "已取消：案件已重办" in cancelled_row
    assert f"{local_text(sent, with_time=True)}</td>" in done_row and "取消" not in done_row


SELECTED = re.compile(r"<option value=\"([^\"]*)\" selected>")


def review_row(html: str, case_id: int) -> str:
    """The review queue's row of one case: from its link to the end of its form."""
    start = html.index(f'href="/console/cases/{case_id}"')
    return html[start : html.index("</form>", start)]


def test_a_case_without_a_suggested_category_is_not_confirmed_into_the_first_one(console):
    """树枝压电线 with no suggestion: the dropdown starts on 请选择分类 (not on 城乡建设, the
    first category, one click from routing it there) and a confirm without a choice is refused
    in words, the case staying in the review queue; a suggested category stays pre-selected."""
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        unknown = Case(title="树枝压电线", text="树枝压在电线上", text_key="branch",
                       status=CaseStatus.NEEDS_REVIEW, created_at=now)  # fmt: skip
        suggested = Case(title="路灯不亮", text="路灯坏了", text_key="lamp", category="市政设施",
                         category_confidence=0.4, category_source="model",
                         status=CaseStatus.NEEDS_REVIEW, created_at=now)  # fmt: skip
        s.add_all([unknown, suggested])
        s.flush()
        unknown_id, suggested_id = unknown.id, suggested.id

    page = console.get("/console/review").text
    assert SELECTED.findall(review_row(page, unknown_id)) == [""]
    assert SELECTED.findall(review_row(page, suggested_id)) == ["市政设施"]
    case_page = console.get(f"/console/cases/{unknown_id}").text
    assert SELECTED.findall(case_page[case_page.index('name="category"') :])[:1] == [""]

    fields = {**hidden_fields(page), "next": "/console/review"}
    for chosen in ({"category": ""}, {"category": "  "}, {}):  # nothing chosen, or no field
        r = console.post(f"/console/cases/{unknown_id}/category", data={**fields, **chosen},
                         follow_redirects=False)  # fmt: skip
        assert r.status_code == 409 and "请先选择分类再确认" in r.text, r.text
    with Session() as s:
        case = s.get(Case, unknown_id)
        assert case.status is CaseStatus.NEEDS_REVIEW and case.category is None
        assert not s.scalars(select(AuditEvent).where(AuditEvent.case_id == unknown_id)).all()
    assert unknown_id in numbers(console.get("/console/review").text)

    r = console.post(f"/console/cases/{suggested_id}/category",
                     data={**fields, "category": "市政设施"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    with Session() as s:
        assert s.get(Case, suggested_id).status is CaseStatus.TRIAGED


def test_a_refused_confirm_is_shown_on_the_page_the_form_was_on_with_the_case_still_there(console):
    """A confirm without a category is refused in words above the review queue (or the case
    page), with the console's navigation — not on a bare error page that leads nowhere."""
    with Session() as s, s.begin():
        case = Case(title="树枝压电线", text="树枝压在电线上", text_key="branch",
                    status=CaseStatus.NEEDS_REVIEW, created_at=datetime.now(UTC))  # fmt: skip
        s.add(case)
        s.flush()
        case_id = case.id
    fields = hidden_fields(console.get("/console/review").text)

    r = console.post(f"/console/cases/{case_id}/category",
                     data={**fields, "next": "/console/review", "category": ""})  # fmt: skip
    assert r.status_code == 409
    refusal = re.search(r'<p class="problem" id="refusal"[^>]*>(.*?)</p>', r.text)
    assert refusal and "请先选择分类再确认；案件未作任何更改。" in refusal.group(1), r.text
    assert f'action="/console/cases/{case_id}/category"' in r.text  # the queue, to choose again
    assert case_id in numbers(r.text) and 'href="/console/review"' in r.text  # and the navigation
    assert "您此前提交的内容不受影响" not in r.text

    # the case page's form, which has no `next`: refused on the case page
    csrf = {"csrf": fields["csrf"]}
    on_case = console.post(f"/console/cases/{case_id}/category", data={**csrf, "category": ""})
    assert on_case.status_code == 409 and 'id="refusal"' in on_case.text
    assert "请先选择分类再确认" in on_case.text and "树枝压在电线上" in on_case.text
    with Session() as s:
        assert s.get(Case, case_id).status is CaseStatus.NEEDS_REVIEW
    assert case_id in numbers(console.get("/console/review").text)


def test_confirming_an_urgent_cases_category_assigns_and_sends_it_at_once(minq, console):
    """The duty alert says 请立即在工作台确认分类并交办: at 02:00 no run would take the case
    before 08:00, so confirming an urgent case's category assigns it and sends the assignment
    now; an ordinary case waits for the night as before."""
    from db.models import Handoff, HandoffKind, HandoffStatus
    from mail.sink import stored_messages

    with Session() as s, s.begin():
        urgent, ordinary = (
            Case(title=title, text=f"{title}，请尽快处理。", text_key=title, area_code="xicheng",
                 status=CaseStatus.NEEDS_REVIEW, priority=priority)
            for title, priority in (("公交站台电线裸露", "urgent"), ("公交站台顶棚破损", "normal"))
        )  # fmt: skip
        s.add_all([urgent, ordinary])
    fields = hidden_fields(console.get("/console/review").text)
    with minq.sink():
        done = console.post(
            f"/console/cases/{urgent.id}/category",
            data={**fields, "category": "交通运输", "next": "/console/review"},
        )
        waits = console.post(
            f"/console/cases/{ordinary.id}/category",
            data={**fields, "category": "交通运输", "next": "/console/review"},
        )
    assert done.status_code == 200 and "分类已确认；紧急件已交办，交办单已发出" in done.text
    assert "分类已确认" in waits.text and "紧急件已交办" not in waits.text
    with Session() as s:
        statuses = {c.id: c.status for c in s.scalars(select(Case))}
        (sent,) = s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.ASSIGNMENT)).all()
    assert statuses == {urgent.id: CaseStatus.ASSIGNED, ordinary.id: CaseStatus.TRIAGED}
    assert (sent.case_id, sent.status) == (urgent.id, HandoffStatus.SENT)
    assert [m["Message-ID"] for m in stored_messages(minq.mail_dir)] == [sent.message_id]


def test_the_review_queue_names_a_suggested_sub_category_under_its_category(console):
    """A keyword rule may suggest a sub-category (市政设施) while the candidates are first-level
    categories: the suggestion and the list read as one tree."""
    (case_id,) = seed(1)
    with Session() as s, s.begin():
        case = s.get(Case, case_id)
        case.status, case.category = CaseStatus.NEEDS_REVIEW, "市政设施"
    page = console.get("/console/review").text
    row = page[page.index(f"/console/cases/{case_id}") :]
    assert "城乡建设 / 市政设施" in row[: row.index("</td>", row.index("建议分类"))]
    assert '<option value="市政设施" selected>城乡建设 / 市政设施</option>' in row
    assert '<option value="城乡建设">城乡建设</option>' in row


def test_a_look_back_counted_into_an_unconfigured_year_is_recounted_once_it_is_configured(
    console, tmp_path, monkeypatch
):
    import shutil
    from zoneinfo import ZoneInfo

    from db.models import Lookback, LookbackKind, Reply
    from minqing.states import Outcome
    from tasks.context import context
    from tasks.imports import _schedule_verification
    from tasks.reference import sync_reference_now

    bj = ZoneInfo("Asia/Shanghai")
    config = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, config)
    (config / "calendar.yaml").write_text("years: {}\n", encoding="utf-8")  # 2027 not known
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()
    replied = datetime(2026, 12, 21, 10, tzinfo=bj).astimezone(UTC)
    with Session() as s, s.begin():
        case = Case(title="路灯不亮", text="路灯不亮。", text_key="lamp", area_code="xicheng",
                    category="城乡建设", status=CaseStatus.REPLIED)  # fmt: skip
        s.add(case)
        s.flush()
        s.add(Reply(case_id=case.id, department_code="chengguan", outcome=Outcome.SOLVED,
                    received_at=replied, handler="刘工", via="import", text="已修复",
                    source_key="r1"))  # fmt: skip
        # 回头看 20 working days after the reply, counted Monday–Friday into 2027
        _schedule_verification(s, context(), case, replied)
        case_id = case.id

    def verification_day() -> str:
        with Session() as s:
            lb = s.scalar(select(Lookback).where(Lookback.kind == LookbackKind.VERIFICATION))
            return lb.due_at.astimezone(bj).date().isoformat()

    assert verification_day() == "2027-01-18"
    (config / "calendar.yaml").write_text(CALENDAR_2027, encoding="utf-8")
    sync_reference_now()
    sync_reference_now()  # and again: counted once
    assert verification_day() == "2027-01-19"  # 元旦 is a holiday
    page = console.get(f"/console/cases/{case_id}").text
    assert "按节假日重算回头看日期" in page
    assert "回头看日期由 2027-01-18 09:00 改为 2027-01-19 09:00" in page
    assert "verification_recounted" not in page
