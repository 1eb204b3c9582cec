"""The progress page on a 390 px phone, with a deadline shown: the page is no wider than the
screen (only the date itself keeps to one line, not the whole 办理时限 sentence). A screenshot
goes to the artifacts folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.engine import Session
from db.models import Case, Person, Submission
from minqing.states import CaseStatus

pytestmark = pytest.mark.e2e

SECRET = "e2e-progress-phone-" + "p" * 40
OPERATOR, PASSWORD = "操作员甲", "correct horse battery"
PHONE = {"width": 390, "height": 844}
RECEIPT = "QR20261208-1e91a15a53b7"


def seed() -> None:
    now = datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    with Session() as s, s.begin():
        case = Case(title="小区门口路灯不亮", text="路灯坏了。", text_key="lamp",
                    status=CaseStatus.ASSIGNED, lead_department="chengguan", assigned_at=now,
                    due_at=now + timedelta(days=5), created_at=now)  # fmt: skip
        person = Person(identity_key="phone:13900001111", phone="13900001111")
        s.add_all([case, person])
        s.flush()
        s.add(Submission(source_key="qrform:" + RECEIPT, channel="qrform", source_ref=RECEIPT,
                         received_at=now, text="路灯坏了。", text_key="lamp",
                         person_id=person.id, case_id=case.id))  # fmt: skip


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)  # layout is the same on PostgreSQL
def test_the_progress_page_with_a_deadline_fits_a_phone(minq, site, browser, artifacts):
    seed()
    phone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    page.goto(f"{site.url}/progress")
    page.fill("#receipt", RECEIPT)
    page.fill("#phone4", "1111")
    page.click("button[type=submit]")
    page.wait_for_selector("#progress")
    page.screenshot(path=str(artifacts / "progress-phone-deadline.png"), full_page=True)
    assert "前答复" in page.inner_text("#progress")  # the deadline is shown
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    # the date itself stays on one line
    lines = page.evaluate(
        """() => { const el = document.querySelector('dd.deadline .nowrap');
                   return new Set([...el.getClientRects()].map(r => Math.round(r.top))).size; }"""
    )
    assert lines == 1
    phone.close()
