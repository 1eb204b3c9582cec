"""The 未送达 page as the duty operator reads it at 07:30 after a night with the mail server
down: at 1,400 px each message's reason reads in a column wide enough for it (the office's
words first, the server's English error after, broken between words), rows stay a few lines
tall, and the 确认送达 box shows its whole hint; on a 390 px phone the page does not scroll
sideways. A screenshot of each goes to the artifacts folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.engine import Session
from db.models import Case, Handoff, HandoffKind, HandoffStatus
from minqing.states import CaseStatus

pytestmark = pytest.mark.e2e

SECRET = "e2e-handoffs-" + "h" * 40
OPERATOR, PASSWORD = "操作员甲", "correct horse battery"
# What the mailer stores when the SMTP server is down (mail/mailer.py CONNECTION_FAILED).
REFUSED = "connection: ConnectionRefusedError: [Errno 111] Connection refused"
LONG = (
    "connection: SMTPServerDisconnected: Connection unexpectedly closed while reading the "
    "response to STARTTLS from smtp.mail.example.gov.cn:587 (after 3 attempts)"
)
ROWS = 30

# Each row's height and its reason cell's width and height: [id, row h, reason w, reason h].
MEASURE = """
() => [...document.querySelectorAll("#failed tbody tr[id]")].map(tr => {
  const cell = tr.querySelector('td[data-label="原因"]').getBoundingClientRect();
  return [tr.id, Math.round(tr.getBoundingClientRect().height), Math.round(cell.width),
          Math.round(cell.height)];
})
"""
# Whether the 确认送达 box shows its whole placeholder.
PLACEHOLDER_FITS = """
() => [...document.querySelectorAll(".confirm-delivered input[name=reason]")].map(input => {
  const style = getComputedStyle(input);
  const canvas = document.createElement("canvas").getContext("2d");
  canvas.font = `${style.fontSize} ${style.fontFamily}`;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return canvas.measureText(input.placeholder).width <= room + 1;
})
"""
# Words of the unfolded server errors that are broken over two lines: [word, lines].
WORDS_BROKEN = """
() => [...document.querySelectorAll("#failed details.error-detail[open] span")].flatMap(el => {
  const node = el.firstChild, broken = [];
  for (const m of node.textContent.matchAll(/\\S+/g)) {
    const range = document.createRange();
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                      .map(r => Math.round(r.top)));
    if (lines.size > 1) broken.push([m[0], lines.size]);
  }
  return broken;
})
"""
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def seed() -> None:
    now = datetime.now(UTC)
    departments = [("zhujian", "banli@zhujian.example.gov.cn"),
                   ("chengguan", "banli@chengguan.example.gov.cn"),
                   ("shengtai", "banli@shengtai.example.gov.cn")]  # fmt: skip
    with Session() as s, s.begin():
        for i in range(ROWS):
            case = Case(title=f"惠民小区{i}栋门口路灯坏了一个星期", text="路灯坏了",
                        text_key=f"lamp{i}", status=CaseStatus.ASSIGNED, created_at=now)  # fmt: skip
            s.add(case)
            s.flush()
            code, address = departments[i % 3]
            s.add(Handoff(
                case_id=case.id, kind=HandoffKind.ASSIGNMENT, department_code=code,
                recipient=address, subject=f"【交办·承办】{case.number} {case.title}",
                body_text="…", body_html="…", idempotency_key=f"assignment:{case.id}",
                status=HandoffStatus.PENDING if i % 2 else HandoffStatus.FAILED,
                attempts=3, last_error=LONG if i % 5 == 0 else REFUSED,
                next_attempt_at=now + timedelta(hours=1) if i % 2 else None,
                message_id=f"<{i}@minqing.example>",
            ))  # fmt: skip


def login(page, url: str) -> None:
    page.goto(f"{url}/console/login")
    page.fill("#name", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)  # layout is the same on PostgreSQL
def test_the_undelivered_page_reads_at_a_desk_and_on_a_phone(minq, site, browser, artifacts):
    artifacts = artifacts / "handoffs"
    artifacts.mkdir(exist_ok=True)
    seed()

    for width in (1400, 1280):
        desk = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
        page = desk.new_page()
        login(page, site.url)
        page.goto(f"{site.url}/console/handoffs")
        page.screenshot(path=str(artifacts / f"handoffs-{width}.png"), full_page=True)
        rows = page.evaluate(MEASURE)
        assert len(rows) == ROWS
        narrow = [r for r in rows if r[2] < 200]
        assert not narrow, f"{width} px: reason column narrower than 200 px: {narrow[:3]}"
        tall = [r for r in rows if r[1] > 120]
        assert not tall, f"{width} px: rows taller than 120 px: {tall[:3]}"
        # the office's words come first, the server's error after them
        first = page.locator("#failed tbody tr[id]").first.locator('td[data-label="原因"]')
        text = first.text_content()
        assert text.index("无法连接邮件服务器") < text.index("ConnectionRefusedError"), text
        # unfolded, the server's error breaks between words, not inside them
        page.locator("#failed details.error-detail").first.locator("summary").click()
        page.locator("#failed details.error-detail").nth(4).locator("summary").click()
        assert page.evaluate(WORDS_BROKEN) == []
        page.screenshot(path=str(artifacts / f"handoffs-{width}-unfolded.png"))
        assert all(page.evaluate(PLACEHOLDER_FITS)), f"{width} px: placeholder cut off"
        scroll_width, inner = page.evaluate(PAGE_WIDTH)
        assert scroll_width <= inner, f"{width} px: page {scroll_width} px wide"
        overflowing = page.evaluate(
            """() => [...document.querySelectorAll(".card.scroll")]
                     .filter(c => c.scrollWidth > c.clientWidth + 1).length"""
        )
        assert overflowing == 0, f"{width} px: the table scrolls sideways in its card"
        desk.close()

    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                is_mobile=True)  # fmt: skip
    page = phone.new_page()
    login(page, site.url)
    page.goto(f"{site.url}/console/handoffs")
    page.screenshot(path=str(artifacts / "handoffs-phone.png"), full_page=True)
    scroll_width, inner = page.evaluate(PAGE_WIDTH)
    assert scroll_width <= 390 and inner == 390, (scroll_width, inner)
    outside = page.evaluate(
        """() => [...document.querySelectorAll("#failed td")]
                 .filter(c => c.getBoundingClientRect().right > window.innerWidth + 1).length"""
    )
    assert outside == 0
    phone.close()
