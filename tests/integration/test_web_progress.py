"""查询办理进度: a citizen's receipt number and the last four digits of their phone show where
their matter stands — status, department, deadline, the department's answer — and nothing
personal; wrong digits and unknown numbers get one and the same answer; a real uvicorn server
blocks a guesser per receipt number and per address. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Handoff, HandoffKind, Rating, Submission
from minqing.settings import reset_settings
from minqing.states import CaseStatus, Outcome
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from web.app import create_app
from web.testing import ServerThread, hidden_fields

SECRET = "test-secret-" + "p" * 40
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
PHONE = "13900001111"
NOT_FOUND = "没有查到与留言编号和电话后四位都相符的记录"


def submit(client, **fields) -> str:
    """A QR submission; returns the receipt number the thank-you page shows."""
    form = hidden_fields(client.get("/s/donghu-jia").text)
    page = client.post(
        "/s/donghu-jia", data={**form, "content": LAMP, "area": "东湖社区", **fields}
    )
    assert page.status_code == 200
    receipt = re.search(r'<p class="receipt">([^<]+)</p>', page.text).group(1)
    linked = f'href="/progress?receipt={receipt}"' in page.text  # the thank-you page links here
    assert linked == bool(fields.get("phone"))  # …when the citizen can use it
    return receipt


def lookup(client, receipt: str, digits: str) -> httpx.Response:
    form = hidden_fields(client.get("/progress").text)
    return client.post("/progress", data={**form, "receipt": receipt, "phone4": digits})


def night() -> None:
    ingest_inbox_now()
    triage_now()
    dispatch_now()


def link(kind: HandoffKind, path: str) -> str:
    with Session() as s:
        h = s.scalars(
            select(Handoff).where(Handoff.kind == kind).order_by(Handoff.id.desc())
        ).first()
        return re.search(r"http://testserver(" + path + r"[A-Za-z0-9_.\-]+)", h.body_text).group(1)


def shown(page: httpx.Response) -> str:
    """The page's text without the per-visit CSRF token."""
    return re.sub(r'name="csrf" value="[^"]*"', "", page.text)


def test_a_citizen_follows_their_message_from_registration_to_the_answer_and_sees_nothing_personal(
    client,
):
    receipt = submit(client, name="王芳", phone=PHONE, email="wangfang@example.cn", consent="yes")
    assert client.get(f"/progress?receipt={receipt}").text.count(f'value="{receipt}"') == 1
    assert NOT_FOUND in lookup(client, receipt, "1111").text  # not registered before the night

    night()
    page = lookup(client, receipt, "1111")
    with Session() as s:
        sub = s.scalar(select(Submission).where(Submission.source_ref == receipt))
        case = s.get(Case, sub.case_id)
    assert page.status_code == 200 and case.number in page.text
    assert "已交办，承办单位正在办理" in page.text and "区城市管理局" in page.text
    assert "前答复" in page.text and NOT_FOUND not in page.text

    # the department answers through its link (with a phone number in the answer)
    reply = link(HandoffKind.ASSIGNMENT, "/r/")
    form = hidden_fields(client.get(reply).text)
    answer = (
        "已更换路灯灯泡，恢复照明。如仍有问题请致电维修班13800138000。咨询电话：0731-88881234。"
    )
    client.post(reply, data={**form, "outcome": "solved", "text": answer, "handler": "刘工"})
    page = lookup(client, receipt, "1111")
    assert "承办单位已答复" in page.text and "已更换路灯灯泡，恢复照明" in page.text
    assert "[电话已隐去]" in page.text
    for personal in ("王芳", PHONE, "wangfang", "13800138000", "刘工", "惠民小区", "老人出门"):
        assert personal not in page.text, personal

    # the case number works as well as the receipt; so does the rating e-mail's link
    assert "承办单位已答复" in lookup(client, case.number, "1111").text
    surveys_now()
    by_link = client.get(link(HandoffKind.SURVEY, "/p/") + "/progress")
    assert by_link.status_code == 200 and "承办单位已答复" in by_link.text
    assert "王芳" not in by_link.text and PHONE not in by_link.text

    # the survey e-mail and the rating page quote the answer as this page does
    with Session() as s:
        (survey,) = s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.SURVEY)).all()
    rating = client.get(link(HandoffKind.SURVEY, "/p/"))
    assert rating.status_code == 200
    # (the page keeps the number whole on a phone: markup around it is not what people read)
    page_text = re.sub(r'<span class="nowrap">([^<]*)</span>', r"\1", rating.text)
    for shown_to_citizen in (survey.body_text, survey.body_html, page_text):
        assert "已更换路灯灯泡，恢复照明" in shown_to_citizen
        assert "请致电维修班[电话已隐去]" in shown_to_citizen
        # the office's number (with its area code) is for the citizen to call: it stays
        assert "咨询电话：0731-88881234" in shown_to_citizen
        assert "13800138000" not in shown_to_citizen
    assert client.get("/p/forged-token/progress").status_code == 403


def test_wrong_digits_unknown_numbers_and_messages_without_a_phone_all_get_the_same_answer(client):
    receipt = submit(client, phone=PHONE)
    no_phone = submit(client, email="nophone@example.cn", consent="yes")
    night()
    with Session() as s:
        number = s.scalar(select(Case).order_by(Case.id)).number
    answers = []
    for typed, digits in [
        (receipt, "2222"),  # a real receipt, wrong digits
        ("QR20261201-0123456789ab", "1111"),  # no such receipt
        (no_phone, "1111"),  # a real receipt without a phone
        (number, "2222"),  # a real case number, wrong digits
        ("MQ2026-999999", "1111"),  # no such case
    ]:
        page = lookup(client, typed, digits)
        assert page.status_code == 200 and NOT_FOUND in page.text
        answers.append(shown(page).replace(typed, "<receipt>"))
    assert len(set(answers)) == 1
    assert lookup(client, receipt, "1111").status_code == 200
    assert NOT_FOUND not in lookup(client, receipt, "1111").text
    assert "后四位数字" in lookup(client, receipt, "11").text  # not four digits: says so


@pytest.fixture
def server(minq, monkeypatch):
    monkeypatch.setenv("MINQING_SECRET_KEY", SECRET)
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    monkeypatch.setenv("MINQING_PROGRESS_LIMIT_PER_RECEIPT", "3/day")
    monkeypatch.setenv("MINQING_PROGRESS_LIMIT_PER_IP", "8/hour")
    reset_settings()
    with ServerThread(create_app()) as running:
        yield running


def test_a_real_server_blocks_guessing_per_receipt_number_and_per_address(server):
    with httpx.Client(base_url=server.url) as web:
        receipt = submit(web, phone=PHONE)
        night()
        for digits in ("0000", "0001", "0002"):  # three wrong guesses at one receipt
            assert NOT_FOUND in lookup(web, receipt, digits).text
        blocked = lookup(web, receipt, "1111")  # the right digits come too late
        assert blocked.status_code == 429 and "查询过于频繁" in blocked.text
        # a lookup submits nothing: its page says the message stands, not "what you submitted"
        assert "查询不影响您的留言，留言照常办理。" in blocked.text
        assert "提交" not in blocked.text.split("<main", 1)[-1].split("</main>")[0]
        assert "区城市管理局" not in blocked.text
        # other receipts from the same address count against the address's limit
        answers = [lookup(web, f"QR20261201-00000000000{i}", "1111").status_code for i in range(5)]
        assert answers == [200, 200, 200, 200, 429]


def answered_and_surveyed(client, **fields) -> str:
    """A QR message answered by its department (with a phone number in the answer) and
    surveyed; returns the rating link."""
    submit(client, phone=PHONE, email="wangfang@example.cn", consent="yes", **fields)
    night()
    reply = link(HandoffKind.ASSIGNMENT, "/r/")
    form = hidden_fields(client.get(reply).text)
    answer = (
        "已更换路灯灯泡，恢复照明。如仍有问题请致电维修班13800138000。咨询电话：0731-88881234。"
    )
    client.post(reply, data={**form, "outcome": "solved", "text": answer, "handler": "刘工"})
    surveys_now()
    return link(HandoffKind.SURVEY, "/p/")


def choices(page: httpx.Response) -> list[tuple[str, str]]:
    """The rating page's satisfaction choices: (submitted value, label shown)."""
    return re.findall(r'name="satisfaction" value="([^"]+)"[^>]*> ([^<]+)</label>', page.text)


def test_the_rating_page_greets_and_labels_its_choices_in_the_reader_s_language(
    client, monkeypatch
):
    rating = answered_and_surveyed(client, name="王芳")

    page = client.get(rating)
    assert "<h2>王芳，您好</h2>" in page.text and '<html lang="zh-CN">' in page.text
    assert choices(page) == [("满意", "满意"), ("基本满意", "基本满意"), ("不满意", "不满意")]
    assert "请致电维修班[电话已隐去]" in page.text

    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    page = client.get(rating)
    assert "<h2>Hello, 王芳</h2>" in page.text and '<html lang="en">' in page.text
    assert choices(page) == [
        ("满意", "Satisfied"),
        ("基本满意", "Basically satisfied"),
        ("不满意", "Dissatisfied"),
    ]  # the submitted values stay the codes
    assert "请致电维修班[phone number removed]" in page.text
    assert "电话已隐去" not in page.text and "13800138000" not in page.text
    progress = client.get(rating + "/progress")
    assert "[phone number removed]" in progress.text and "电话已隐去" not in progress.text

    # an English reader's choice is stored as its code
    form = hidden_fields(page.text)
    done = client.post(rating, data={**form, "satisfaction": "基本满意", "solved": "yes"})
    assert done.status_code == 200
    with Session() as s:
        assert s.scalars(select(Rating.satisfaction)).all() == ["基本满意"]


def test_a_citizen_without_a_name_is_greeted_in_one_sentence(client, monkeypatch):
    rating = answered_and_surveyed(client)
    assert "<h2>市民朋友，您好</h2>" in client.get(rating).text
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    assert "<h2>Hello</h2>" in client.get(rating).text


def test_a_receipt_typed_in_capitals_or_lowercase_finds_the_message(client):
    """Phone keyboards capitalise: 留言编号 QR20261208-1e91a15a53b7 typed as
    QR20261208-1E91A15A53B7, a hotline ticket gd202611230040 typed as GD202611230040."""
    receipt = submit(client, phone=PHONE)
    night()
    stored = "QR20261208-1e91a15a53b7"  # letters in its hex part, whatever the random id was
    with Session() as s, s.begin():
        s.scalar(select(Submission).where(Submission.source_ref == receipt)).source_ref = stored
    for typed, now in [
        ("QR20261208-1E91A15A53B7", stored),
        ("qr20261208-1e91a15a53b7", stored),
        (stored, stored),
        # a 12345 ticket stored in lowercase, as the hotline exports it
        ("GD202611230040", "gd202611230040"),
        ("gd202611230040", "gd202611230040"),
        ("Gd202611230040", "gd202611230040"),
        # …or in capitals
        ("gd201", "GD201"),
    ]:
        with Session() as s, s.begin():
            s.scalar(select(Submission).where(Submission.person_id.is_not(None))).source_ref = now
        page = lookup(client, typed, "1111")
        assert NOT_FOUND not in page.text and "已交办，承办单位正在办理" in page.text, typed
    assert NOT_FOUND in lookup(client, "GD202611230041", "1111").text
    # the field no longer asks the keyboard for capitals
    assert 'autocapitalize="characters"' not in client.get("/progress").text


def test_a_reopened_case_shows_its_new_round_not_the_answer_the_citizen_rejected(client):
    rating = answered_and_surveyed(client)
    assert "A 已解决" in lookup(client, submitted_receipt(), "1111").text
    form = hidden_fields(client.get(rating).text)
    done = client.post(rating, data={**form, "satisfaction": "不满意", "solved": "no"})
    assert done.status_code == 200
    with Session() as s:
        case = s.scalar(select(Case))
        assert case.status == CaseStatus.REOPENED and case.outcome == Outcome.SOLVED

    for page in (lookup(client, submitted_receipt(), "1111"), client.get(rating + "/progress")):
        assert "重新交办，承办单位正在重新办理" in page.text
        for stale in ("A 已解决", "已更换路灯灯泡", "<dt>办理结果", "<dt>答复时间", "前答复"):
            assert stale not in page.text, stale

    night()  # assigned again: a new deadline, still no answer of this round
    page = lookup(client, submitted_receipt(), "1111")
    assert "已交办，承办单位正在办理" in page.text and "前答复" in page.text
    for stale in ("A 已解决", "已更换路灯灯泡", "<dt>办理结果"):
        assert stale not in page.text, stale


def submitted_receipt() -> str:
    with Session() as s:
        return s.scalar(select(Submission.source_ref).where(Submission.person_id.is_not(None)))
