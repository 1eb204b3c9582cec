"""Every page as people see it, on the demo's data, in a real browser: the console at 1,280,
1,400 and 1,920 px (and its lists and case pages on a 390 px phone, where nothing may be lost)
and the public pages at 1,400 px and on a 390 px phone. A screenshot of each
goes to the artifacts folder; the checks are what a clerk or a citizen would notice — a case
number, receipt or date broken over two lines, a page wider than the screen."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.engine import Session
from db.models import Case, Submission
from mail.sink import stored_messages
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from web.testing import link_in

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
SECRET = "e2e-layout-" + "q" * 40
OPERATOR, PASSWORD = "操作员甲", "correct horse battery"
DESK_WIDTHS = (1280, 1400, 1920)
PHONE = {"width": 390, "height": 844}

# Numbers people read and quote, and dates (a deadline's weekday too): each must stay on one
# line wherever it is shown
# (text people wrote, in .quote blocks, wraps as it likes around its numbers and dates).
UNBROKEN = r"""
() => {
  const patterns = [/MQ\d{4}-\d{6}/g, /QR\d{8}-[0-9a-f]{12}/g, /qr-\d{8}-\d{4}/g, /GD\d{12}/g,
                    /\d{4}年\d{2}月\d{2}日(?: \d{2}:\d{2})?/g, /\d{3}\*{4}\d{4}/g,
                    /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, /0\d{2,3}-\d{7,8}/g, /1\d{2}-\d{4}-\d{4}/g,
                    /(?<=（|^)星期[一二三四五六日](?=）|$)/g];
  const found = [], broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("option, select, textarea, script, style")) continue;
    if (!parent.getClientRects().length) continue;
    for (const re of patterns) {
      re.lastIndex = 0;
      for (let m = re.exec(node.textContent); m; m = re.exec(node.textContent)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                          .map(r => Math.round(r.top)));
        found.push(m[0]);
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  // a button, a status badge or a table heading broken inside ("确/认") reads as two words
  for (const el of document.querySelectorAll("button, .button, .status, th")) {
    if (!el.getClientRects().length || !el.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                      .map(r => Math.round(r.top)));
    if (lines.size > 1) broken.push(el.textContent.trim());
  }
  return {found: found.length, broken};
}
"""
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# Tables that scroll sideways inside their card, e.g. [["cases", 1500, 1200]].
TABLES_WIDER_THAN_CARD = """
() => [...document.querySelectorAll(".card.scroll")]
  .filter(c => c.scrollWidth > c.clientWidth + 1)
  .map(c => [(c.querySelector("table") || {}).id, c.scrollWidth, c.clientWidth])
"""

# Table cells whose text lies (partly) outside the screen: [text, left, right].
OFF_SCREEN = """
(selector) => {
  const cells = [...document.querySelectorAll(selector)].filter(c => c.textContent.trim());
  const outside = cells.map(c => [c.textContent.trim().slice(0, 40), c.getBoundingClientRect()])
    .filter(([, r]) => r.left < 0 || r.right > window.innerWidth + 1)
    .map(([t, r]) => [t, Math.round(r.left), Math.round(r.right)]);
  return {shown: cells.length, outside};
}
"""
# Stacked table cells (a phone) with a line under their label instead of right of it, as an
# address under its department would be: [label, text].
UNDER_LABEL = """
(selector) => [...document.querySelectorAll(selector)].flatMap(td => {
  const range = document.createRange();
  range.selectNodeContents(td);
  const rects = [...range.getClientRects()].filter(r => r.width > 0);
  const start = rects.length ? Math.min(...rects.filter(r => r.top === rects[0].top)
                                                .map(r => r.left)) : 0;
  return rects.some(r => r.left < start - 1) ? [[td.dataset.label, td.textContent.trim()]] : [];
})
"""
# How many lines each cell's text takes: [text, lines].
LINES_OF = """
(selector) => [...document.querySelectorAll(selector)].filter(c => c.textContent.trim())
  .map(c => {
    const range = document.createRange();
    range.selectNodeContents(c);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                     .map(r => Math.round(r.top)));
    return [c.textContent.trim(), tops.size];
  })
"""


def run_night(minq, night: str, now: datetime) -> None:
    for folder in (SAMPLE / night / "inbox").iterdir():
        for f in folder.iterdir():
            shutil.copy(f, minq.inbox(folder.name) / f.name)
    ingest_inbox_now()
    import_returns_now()
    triage_now(now)
    dispatch_now(now)
    scan_now(now)
    surveys_now(now)
    deliver_now()
    time.sleep(0.2)  # the sink writes the last message


def first_link(minq, path: str) -> str:
    for message in stored_messages(minq.mail_dir):
        found = link_in(message, path)
        if found:
            return found
    raise AssertionError(f"no message with a {path} link")


def check(page, artifacts: Path, name: str, *, numbers: bool = True) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    seen = page.evaluate(UNBROKEN)
    assert seen["broken"] == [], f"{name}: broken over two lines: {seen['broken'][:5]}"
    if numbers:
        assert seen["found"] > 0, f"{name}: no case number or date on the page"
    scroll_width, width = page.evaluate(PAGE_WIDTH)
    assert scroll_width <= width, (
        f"{name}: the page is {scroll_width} px wide on a {width} px screen"
    )


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)  # layout is the same on PostgreSQL
def test_every_page_keeps_numbers_and_dates_whole_and_fits_the_screen(
    minq, site, browser, artifacts
):
    artifacts = artifacts / "layout"
    artifacts.mkdir(exist_ok=True)
    nov28 = datetime(2026, 11, 28, 1, tzinfo=UTC)
    with minq.sink(behaviour=lambda e: "550 mailbox unavailable" if any(
            "jiaotong" in r for r in e.rcpt_tos) else None):  # fmt: skip
        run_night(minq, "night1", nov28)
        run_night(minq, "night2", nov28 + timedelta(days=1))
        scan_now(nov28 + timedelta(days=40))  # the 回头看 requests after the replies
        deliver_now()
        time.sleep(0.2)
    with Session() as s:
        busiest = s.execute(
            select(Submission.case_id, func.count()).group_by(Submission.case_id)
            .order_by(func.count().desc(), Submission.case_id).limit(1)
        ).one()[0]  # fmt: skip
        assert s.scalar(select(func.count()).select_from(Case)) > 150

    desk = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = desk.new_page()
    page.goto(f"{site.url}/console/login")
    check(page, artifacts, "console-login-1400", numbers=False)
    page.fill("#name", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    console = {
        "cases": "/console",
        "case": f"/console/cases/{busiest}",
        "review": "/console/review",
        "failed": "/console/handoffs",
        "figures": "/console/figures",
    }
    for width in DESK_WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in console.items():
            page.goto(site.url + path)
            check(page, artifacts, f"console-{name}-{width}", numbers=name != "figures")
            if name in ("cases", "review", "failed"):  # the lists fit without sideways scrolling
                assert page.evaluate(TABLES_WIDER_THAN_CARD) == [], f"{name} at {width} px"
        page.goto(site.url + "/console/handoffs")
        assert (
            page.locator("#failed a[href^='/console/cases/']").first.inner_text().startswith("MQ")
        )
    desk.close()

    # On a phone the console is not at home, but loses nothing: the lists of cases, of the review
    # queue and of undelivered messages, the rejections' reasons and file names and the case's
    # trail stand row by row on the screen, not in a table scrolled sideways.
    phone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    page.goto(f"{site.url}/console/login")
    page.fill("#name", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    for name, path, cells in (
        ("cases", "/console", "#urgent td[data-label], #cases td[data-label]"),
        ("review", "/console/review", "#review td[data-label]"),
        ("failed", "/console/handoffs", "#failed td[data-label]"),
        ("rejections", "/console/rejections", "#rejections td[data-label], #failed-files td"),
        ("case", f"/console/cases/{busiest}", "#timeline td, #submissions td, #handoffs td"),
    ):
        page.goto(site.url + path)
        check(page, artifacts, f"console-{name}-phone", numbers=True)
        assert page.evaluate(TABLES_WIDER_THAN_CARD) == [], f"{name} on a phone"
        off_screen = page.evaluate(OFF_SCREEN, cells)
        assert off_screen["shown"] > 0 and off_screen["outside"] == [], (name, off_screen)
    page.goto(site.url + "/console/handoffs")  # the address, "尝试 0 次" right of their labels
    lines = "#failed td.lines"  # 收件人, 主题, 状态
    assert page.locator(lines).count() > 0 and page.evaluate(UNDER_LABEL, lines) == []
    page.goto(site.url + "/console/rejections")
    names = page.evaluate(LINES_OF, "#rejections td.file, #failed-files td.file")
    assert names and max(lines for _text, lines in names) <= 2, names  # not a character a line
    assert page.locator('#rejections td[data-label="原因"]').count() > 0  # named in each row
    phone.close()

    public = {
        "qr-form": "/s/donghu-jia",
        "reply": first_link(minq, "/r/"),
        "rating": first_link(minq, "/p/"),
        "lookback": first_link(minq, "/v/"),
        "progress": "/progress",
        "not-found": "/s/no-such-station",
    }
    for label, viewport in (("1400", {"width": 1400, "height": 900}), ("phone", PHONE)):
        context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=label == "phone")
        page = context.new_page()
        for name, path in public.items():
            page.goto(path if path.startswith("http") else site.url + path)
            check(
                page,
                artifacts,
                f"public-{name}-{label}",
                numbers=name in ("reply", "rating", "lookback"),
            )
        # a phone number it could not read: the hint's example (0731-12345678) stays whole
        page.goto(site.url + "/s/donghu-jia")
        page.fill("#content", "东湖花园北门的路灯不亮了，晚上很黑，请尽快修理。")
        page.fill("#phone", "12345")
        page.click("button[type=submit]")
        assert "0731-12345678" in page.inner_text("#err-phone")
        check(page, artifacts, f"public-qr-phone-error-{label}")
        # the thank-you page's receipt, and the progress it leads to
        page.goto(site.url + "/s/donghu-jia")
        page.fill("#content", "东湖花园北门的路灯不亮了，晚上很黑，请尽快修理。")
        page.fill("#phone", "13900001111")
        page.click("button[type=submit]")
        check(page, artifacts, f"public-qr-thanks-{label}")
        page.click("#progress-link")
        page.fill("#receipt", "qr-20261120-0001")  # a sample citizen's receipt; phone …4628
        page.fill("#phone4", "4628")
        page.click("button[type=submit]")
        assert "办理进度" in page.inner_text("#progress")
        check(page, artifacts, f"public-progress-result-{label}")
        context.close()
