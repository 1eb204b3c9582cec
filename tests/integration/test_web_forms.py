"""The public forms as citizens and clerks fill them on a phone: the QR form's phone check
accepts what a Chinese citizen gives (a mobile or a landline with its area code, with spaces or
hyphens) and says at the field what it expects; a QR message or a department's reply sent again
— the same form twice, or Back and 提交 — is recorded once and answered with the first result.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from db.engine import Session
from db.models import FormReceipt, Handoff, HandoffKind, Reply, Submission
from minqing.settings import reset_settings
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now
from tests.integration.test_web_progress import LAMP
from web.app import create_app
from web.testing import hidden_fields

NOISE = "南苑社区工地夜间施工噪音扰民，凌晨两点还在打桩，严重影响休息，请有关部门处理。"
EXPECTED = "请填写 11 位手机号或带区号的座机号"


def post_qr(client, **fields):
    form = hidden_fields(client.get("/s/donghu-jia").text)
    return client.post(
        "/s/donghu-jia", data={**form, "content": LAMP, "area": "东湖社区", **fields}
    )


@pytest.mark.parametrize(
    "phone",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "0731-12345678",
     "0731 8888123", "010-12345678", "(0731)88881234", "０７３１－８８８８１２３４"],
)  # fmt: skip
def test_the_qr_form_accepts_a_mobile_or_a_landline_with_its_area_code(client, phone):
    page = post_qr(client, phone=phone)
    assert page.status_code == 200, page.text
    assert re.search(r'<p class="receipt">QR\d{8}-[0-9a-f]{12}</p>', page.text)


@pytest.mark.parametrize("phone", ["12345", "1381234567", "138123456789", "23812345678", "8888123"])
def test_the_qr_form_refuses_other_numbers_and_says_at_the_field_what_it_expects(client, phone):
    page = post_qr(client, phone=phone)
    assert page.status_code == 400
    assert "只能包含数字" not in page.text
    # the message right under the phone field, as every field's own message is
    at_field = re.search(
        r'<input type="tel" id="phone"[^>]*>\s*<p class="error" id="err-phone">(.*?)</p>',
        page.text,
    )
    said = re.sub(r"<[^>]+>", "", at_field.group(1)) if at_field else ""  # numbers kept whole
    assert EXPECTED in said, page.text
    assert f'value="{phone}"' in page.text  # what they typed stays for them to correct


# --- Back, then 提交 again: recorded once --------------------------------------------------


def receipt_of(page) -> str:
    return re.search(r'<p class="receipt">([^<]+)</p>', page.text).group(1)


def night() -> None:
    ingest_inbox_now()
    triage_now()
    dispatch_now()


def test_the_qr_form_sent_again_gets_its_first_receipt_and_is_recorded_once(client):
    message = {"content": LAMP, "area": "东湖社区", "phone": "13900001111", "consent": "yes"}
    first = hidden_fields(client.get("/s/donghu-jia").text)
    one = client.post("/s/donghu-jia", data={**first, **message})
    twice = client.post("/s/donghu-jia", data={**first, **message})  # the same rendered form
    # Back re-renders the form (no-store) with a new token; the browser puts the text back
    again = hidden_fields(client.get("/s/donghu-jia").text)
    assert again["form_id"] != first["form_id"]
    back = client.post("/s/donghu-jia", data={**again, **message})
    assert one.status_code == twice.status_code == back.status_code == 200
    receipt = receipt_of(one)
    assert receipt_of(twice) == receipt_of(back) == receipt
    assert 'id="again"' not in one.text and 'id="again"' in back.text
    assert f'href="/progress?receipt={receipt}"' in back.text  # the first page, as it was
    with Session() as s:
        assert s.scalar(select(func.count(FormReceipt.id))) == 1

    # another message from the same phone, and the same words from another citizen's phone,
    # are new submissions
    other = hidden_fields(client.get("/s/donghu-jia").text)
    noise = client.post("/s/donghu-jia", data={**other, **message, "content": NOISE})
    with TestClient(create_app()) as neighbour:
        theirs = hidden_fields(neighbour.get("/s/donghu-jia").text)
        same_words = neighbour.post(
            "/s/donghu-jia", data={**theirs, **message, "phone": "13900002222"}
        )
    receipts = {receipt, receipt_of(noise), receipt_of(same_words)}
    assert len(receipts) == 3

    night()
    with Session() as s:
        refs = s.scalars(select(Submission.source_ref).order_by(Submission.id)).all()
        assert sorted(refs) == sorted(receipts)  # once each
        case = s.scalar(select(Submission).where(Submission.source_ref == receipt)).case
        people = s.scalar(
            select(func.count(func.distinct(Submission.person_id))).where(
                Submission.case_id == case.id
            )
        )
        on_case = s.scalar(select(func.count(Submission.id)).where(Submission.case_id == case.id))
    assert on_case == people == 2  # the lamp: this citizen once, the neighbour once


def reply_link() -> str:
    with Session() as s:
        h = s.scalars(
            select(Handoff).where(Handoff.kind == HandoffKind.ASSIGNMENT).order_by(Handoff.id)
        ).first()
        return re.search(r"http://testserver(/r/[A-Za-z0-9_.\-]+)", h.body_text).group(1)


def test_a_department_reply_sent_again_is_stored_once_and_says_it_was_received(client):
    form = hidden_fields(client.get("/s/donghu-jia").text)
    client.post("/s/donghu-jia", data={**form, "content": LAMP, "area": "东湖社区"})
    night()
    reply = reply_link()
    answer = {"outcome": "solved", "text": "已更换路灯灯泡，恢复照明。", "handler": "刘工"}
    first = hidden_fields(client.get(reply).text)
    one = client.post(reply, data={**first, **answer})
    assert one.status_code == 200 and "答复已提交" in one.text
    twice = client.post(reply, data={**first, **answer})  # the same rendered form
    back = client.post(reply, data={**hidden_fields(client.get(reply).text), **answer})  # Back
    for page in (twice, back):
        assert page.status_code == 200 and "已收到您的答复" in page.text
        assert "答复已提交" not in page.text
    with Session() as s:
        assert s.scalar(select(func.count(Reply.id))) == 1

    # a changed answer is still a change
    changed = {**answer, "text": "已更换路灯灯泡，恢复照明，并加装了一盏。"}
    edit = client.post(reply, data={**hidden_fields(client.get(reply).text), **changed})
    assert "答复已提交" in edit.text
    with Session() as s:
        texts = s.scalars(select(Reply.text).order_by(Reply.id)).all()
    assert texts[-1] == changed["text"] and texts.count(answer["text"]) == 1


def test_with_the_database_down_the_qr_form_still_takes_the_message_into_its_spool(
    client, minq, monkeypatch
):
    """The spool, not the database, is what keeps a citizen's message: the check for a second
    sending is skipped while the database cannot be reached (a port nothing listens on)."""
    from db.engine import reset_engine
    from web import spool

    form = hidden_fields(client.get("/s/donghu-jia").text)
    monkeypatch.setenv("MINQING_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_settings()
    reset_engine()
    page = client.post("/s/donghu-jia", data={**form, "content": LAMP, "area": "东湖社区"})
    assert page.status_code == 200, page.text
    (receipt,) = re.findall(r'<p class="receipt">(QR\d{8}-[0-9a-f]{12})</p>', page.text)
    spooled = [
        line for path in spool.spool_folder(minq.settings).glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]  # fmt: skip
    assert any(receipt in line for line in spooled)
