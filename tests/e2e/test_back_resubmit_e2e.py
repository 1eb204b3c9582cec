"""Back, then 提交 again, in a real browser (a 390 px phone): the QR form and the department's
reply form are re-rendered (the pages are no-store, so with a new form token) while chromium
puts back what was typed. The citizen gets the first 留言编号 and is counted once; the clerk is
told 已收到您的答复 and the case has one answer."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from db.engine import Session
from db.models import Handoff, HandoffKind, Reply, Submission
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now

pytestmark = pytest.mark.e2e

SECRET = "e2e-back-resubmit-" + "b" * 40
OPERATOR, PASSWORD = "操作员甲", "correct horse battery"
PHONE = {"width": 390, "height": 844}
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)  # the database side: integration
def test_back_and_submit_again_records_once(minq, site, browser, artifacts):
    phone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    page.goto(f"{site.url}/s/donghu-jia")
    page.fill("#content", LAMP)
    page.fill("#phone", "139 0000 1111")
    page.click("button[type=submit]")
    first = page.inner_text(".receipt")
    page.go_back()
    assert page.input_value("#content") == LAMP  # the browser put the text back
    page.click("button[type=submit]")
    assert page.inner_text(".receipt") == first and page.is_visible("#again")
    page.screenshot(path=str(artifacts / "back-resubmit-qr.png"), full_page=True)

    ingest_inbox_now()
    triage_now()
    dispatch_now()
    with Session() as s:
        assert s.scalars(select(Submission.source_ref)).all() == [first]
        body = s.scalars(
            select(Handoff.body_text).where(Handoff.kind == HandoffKind.ASSIGNMENT)
        ).one()
    reply = re.search(r"http://127\.0\.0\.1:\d+(/r/[A-Za-z0-9_.\-]+)", body).group(1)

    page.goto(f"{site.url}{reply}")
    page.check("input[name=outcome][value=solved]")
    page.fill("#text", "已更换路灯灯泡，恢复照明。")
    page.fill("#handler", "刘工")
    page.click("button[type=submit]")
    assert "答复已提交" in page.inner_text("main")
    page.go_back()
    page.click("button[type=submit]")
    assert "已收到您的答复" in page.inner_text("main")
    with Session() as s:
        assert s.scalar(select(func.count(Reply.id))) == 1
    phone.close()
