"""The case page on a 390 px phone: every date and every phone number stays on one line, in the
facts, the trail, the replies' heading lines and inside what departments and citizens wrote
("2026｜年12月08日" or "0731-｜12345678" broken over two lines reads as two things) — and so
on the department's reply page, where the case and its answer are quoted. A screenshot goes to
the artifacts folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.engine import Session
from db.models import Case, Reply
from minqing.settings import get_settings
from minqing.states import CaseStatus, Outcome
from web.tokens import reply_link

pytestmark = pytest.mark.e2e

SECRET = "e2e-case-phone-" + "p" * 40
OPERATOR, PASSWORD = "操作员甲", "correct horse battery"
PHONE = {"width": 390, "height": 844}
VARIANTS = 16  # each at a different place in its line, so some would fall on a line's end

# Each date, phone number and a deadline's weekday in the page's text: [text, the lines it
# takes, how many client rects the element around it has].
SPANS = r"""
() => {
  const patterns = {date: /\d{4}年\d{2}月\d{2}日(?: \d{2}:\d{2})?/g,
                    phone: /0\d{3}-\d{8}|1\d{2}-\d{4}-\d{4}/g,
                    weekday: /(?<=（|^)星期[一二三四五六日](?=）|$)/g};
  const found = {date: [], phone: [], weekday: []};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("script, style, option, textarea")) continue;
    if (!parent.getClientRects().length) continue;
    for (const [kind, re] of Object.entries(patterns)) {
      re.lastIndex = 0;
      for (let m = re.exec(node.textContent); m; m = re.exec(node.textContent)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                          .map(r => Math.round(r.top)));
        const whole = node.textContent.trim() === m[0] ? parent.getClientRects().length : 0;
        found[kind].push([m[0], lines.size, whole]);
      }
    }
  }
  return found;
}
"""


def seed() -> int:
    now = datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    with Session() as s, s.begin():
        case = Case(title="小区门口路灯不亮", text="路灯坏了，联系电话 0731-12345678。",
                    text_key="lamp", status=CaseStatus.REPLIED, lead_department="chengguan",
                    assigned_at=now, due_at=now + timedelta(days=5), created_at=now)  # fmt: skip
        s.add(case)
        s.flush()
        for k in range(VARIANTS):
            s.add(Reply(
                case_id=case.id, department_code="chengguan", outcome=Outcome.SOLVED,
                received_at=now + timedelta(hours=k), handler="刘" + "工" * k, via="import",
                text="已修复" + "。" * k + "如有疑问请致电 0731-12345678 或 138-1234-5602，"
                     "我局将于 2026年12月10日 前回访。",
                source_key=f"reply-{k}",
            ))  # fmt: skip
        return case.id


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)  # layout is the same on PostgreSQL
def test_dates_and_phone_numbers_stay_whole_on_a_phone(minq, site, browser, artifacts):
    case_id = seed()
    phone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    page.goto(f"{site.url}/console/login")
    page.fill("#name", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{site.url}/console/cases/{case_id}")
    page.screenshot(path=str(artifacts / "case-phone-dates.png"), full_page=True)
    found = page.evaluate(SPANS)
    dates, phones = found["date"], found["phone"]
    # the facts, each reply's heading line and its text; two numbers in each reply and the case
    assert len(dates) >= 2 * VARIANTS + 2 and len(phones) >= 2 * VARIANTS + 1, found
    assert [d for d in dates if d[1] != 1] == [], dates
    assert [p for p in phones if p[1] != 1] == [], phones
    # each in an element of its own that the browser lays out as one box (one client rect)
    assert all(d[2] == 1 for d in dates) and all(p[2] == 1 for p in phones), found
    phone.close()


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)
def test_the_department_reply_page_keeps_the_quoted_numbers_whole_on_a_phone(
    minq, site, browser, artifacts
):
    """What the citizen and the department wrote is quoted on the public pages (reply, rating,
    progress, verification) through the same filter; the reply page shows both."""
    now = datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    with Session() as s, s.begin():
        cases = [
            Case(title="小区门口路灯不亮", text="路灯" + "坏" * k + "了，联系电话 0731-12345678，"
                 "2026年12月07日 晚上发现。", text_key=f"lamp{k}", status=CaseStatus.REPLIED,
                 lead_department="chengguan", assigned_at=now,
                 due_at=now + timedelta(days=5 + k), created_at=now)  # every weekday, twice
            for k in range(VARIANTS)
        ]  # fmt: skip
        s.add_all(cases)
        s.flush()
        for k, case in enumerate(cases):
            s.add(Reply(
                case_id=case.id, department_code="chengguan", outcome=Outcome.SOLVED,
                received_at=now + timedelta(hours=1), handler="刘工", via="import",
                text="已修复" + "。" * k + "如有疑问请致电 0731-12345678 或 138-1234-5602。",
                source_key=f"reply-{k}",
            ))  # fmt: skip
        ids = [c.id for c in cases]
    phone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    broken, seen, weekdays = [], 0, 0
    for k, case_id in enumerate(ids):
        page.goto(reply_link(get_settings(), case_id, 0, "chengguan"))
        if k == 0:
            page.screenshot(path=str(artifacts / "reply-phone-numbers.png"), full_page=True)
        found = page.evaluate(SPANS)
        seen += len(found["phone"])
        weekdays += len(found["weekday"])  # the deadline's: "请于…（星期二）23:59前答复"
        broken += [(k, d) for d in found["date"] + found["phone"] + found["weekday"] if d[1] != 1]
    phone.close()
    assert seen >= 3 * VARIANTS  # the case's number and the answer's two, on every page
    assert weekdays >= VARIANTS
    assert broken == [], broken
