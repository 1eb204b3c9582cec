"""The web app refuses what it must, and then writes nothing: forged, expired or re-used links,
posts without a CSRF token, hostile text, oversized or disguised uploads, floods, and a
console without a login. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import itsdangerous
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffKind, Operator, Rating, Reply, Upload
from minqing.settings import get_settings, reset_settings
from minqing.states import CaseStatus
from tasks.actions import reroute
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from web.app import MissingSecret, create_app
from web.security import hash_password
from web.testing import hidden_fields, photo
from web.tokens import Role, make_token

SECRET = "test-secret-" + "k" * 40
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
SCRIPT = "<script>alert('x')</script>"
PNG = photo("PNG")


@pytest.fixture
def client(minq, monkeypatch):
    monkeypatch.setenv("MINQING_SECRET_KEY", SECRET)
    monkeypatch.setenv("MINQING_PUBLIC_URL", "http://testserver")
    monkeypatch.setenv("MINQING_UPLOAD_MAX_BYTES", str(64 * 1024))
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    reset_settings()
    with TestClient(create_app()) as c:
        yield c


def count(model) -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(model))


def submit_qr(client, **fields) -> object:
    page = client.get("/s/donghu-jia")
    data = {**hidden_fields(page.text), "content": LAMP, "area": "东湖社区", **fields}
    return client.post("/s/donghu-jia", data=data)


def spooled() -> list[dict]:
    folder = get_settings().spool_dir / "qrform"
    return [
        json.loads(line)
        for p in sorted(folder.glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]


def assigned_case(client) -> tuple[int, str]:
    """A citizen's QR submission taken by the night and assigned; returns (case id, reply path)."""
    assert (
        submit_qr(client, email="citizen@example.cn", consent="yes", name="王芳").status_code == 200
    )
    ingest_inbox_now()
    triage_now()
    dispatch_now()
    return case_and_link(HandoffKind.ASSIGNMENT, "/r/")


def case_and_link(kind: HandoffKind, path: str) -> tuple[int, str]:
    with Session() as s:
        h = s.scalars(
            select(Handoff).where(Handoff.kind == kind).order_by(Handoff.id.desc())
        ).first()
        assert h is not None, f"no {kind} handoff"
        link = re.search(r"http://testserver(" + path + r"[A-Za-z0-9_.\-]+)", h.body_text)
        assert link is not None, h.body_text
        return h.case_id, link.group(1)


def post_form(client, path: str, data: dict, files: dict | None = None) -> object:
    page = client.get(path)
    return client.post(path, data={**hidden_fields(page.text), **data}, files=files)


def reply_and_survey(client) -> tuple[int, str]:
    case_id, reply = assigned_case(client)
    r = post_form(client, reply, {"outcome": "solved", "text": "已更换灯泡。", "handler": "刘工"})
    assert r.status_code == 200
    surveys_now()
    _, rate = case_and_link(HandoffKind.SURVEY, "/p/")
    return case_id, rate


def status_of(case_id: int) -> CaseStatus:
    with Session() as s:
        return s.get(Case, case_id).status


def test_the_app_refuses_to_start_without_a_long_enough_secret(minq, monkeypatch):
    monkeypatch.delenv("MINQING_SECRET_KEY", raising=False)
    reset_settings()
    with pytest.raises(MissingSecret, match="未设置 MINQING_SECRET_KEY"):
        create_app()
    monkeypatch.setenv("MINQING_SECRET_KEY", "short")
    reset_settings()
    with pytest.raises(MissingSecret, match="MINQING_SECRET_KEY 太短：至少需要"):
        create_app()


def test_forged_and_tampered_reply_links_are_refused_and_change_nothing(client):
    case_id, reply = assigned_case(client)
    token = reply.removeprefix("/r/")
    settings = get_settings()
    forged = [
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),  # signature changed
        make_token(
            settings.model_copy(update={"secret_key": SecretStr("another-" + "s" * 40)}),
            Role.REPLY,
            case_id,
            0,
            "chengguan",
        ),
        make_token(settings, Role.RATE, case_id, 0, "chengguan"),  # a token of another role
        make_token(settings, Role.REPLY, case_id, 0, "zhujian"),  # bound to another department
        make_token(settings, Role.REPLY, case_id + 1, 0, "chengguan"),  # a case that does not exist
        "x" * 500,
    ]
    good_form = hidden_fields(client.get(reply).text)
    for bad in forged:
        page = client.get(f"/r/{bad}")
        assert page.status_code in (403, 410), bad
        assert "链接" in page.text and "您此前提交的内容不受影响" in page.text
        posted = client.post(
            f"/r/{bad}", data={**good_form, "outcome": "solved", "text": "伪造", "handler": "x"}
        )
        assert posted.status_code in (403, 410)
    assert count(Reply) == 0
    assert status_of(case_id) is CaseStatus.ASSIGNED


def test_an_expired_link_is_refused_and_changes_nothing(client, monkeypatch):
    case_id, reply = assigned_case(client)
    settings = get_settings()
    long_ago = int(time.time()) - (settings.reply_link_days + 1) * 86400
    with monkeypatch.context() as m:
        m.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: long_ago)
        old = make_token(settings, Role.REPLY, case_id, 0, "chengguan")
    form = hidden_fields(client.get(reply).text)
    page = client.get(f"/r/{old}")
    assert page.status_code == 410 and "链接已过期" in page.text
    posted = client.post(
        f"/r/{old}", data={**form, "outcome": "solved", "text": "迟到的答复", "handler": "x"}
    )
    assert posted.status_code == 410
    assert count(Reply) == 0 and status_of(case_id) is CaseStatus.ASSIGNED


def test_a_rating_link_works_once_and_a_replay_writes_nothing(client):
    case_id, rate = reply_and_survey(client)
    form = hidden_fields(client.get(rate).text)
    answer = {**form, "satisfaction": "满意", "solved": "yes", "comment": "谢谢"}
    assert client.post(rate, data=answer).status_code == 200
    events = count(AuditEvent)
    replay = client.post(rate, data={**answer, "satisfaction": "不满意"})
    assert replay.status_code == 409 and "只能使用一次" in replay.text
    assert client.get(rate).status_code == 409
    assert count(Rating) == 1 and count(AuditEvent) == events
    with Session() as s:
        assert s.scalar(select(Rating.satisfaction)).value == "满意"


def test_a_reply_link_stops_working_once_the_case_is_rerouted(client):
    case_id, reply = assigned_case(client)
    from tasks.context import context

    with Session() as s, s.begin():
        reroute(s, context(), case_id, "zhujian", "属住建局职责", "操作员甲", datetime.now(UTC))
    form = hidden_fields(client.get("/s/donghu-jia").text)
    page = client.get(reply)
    assert page.status_code == 410 and "链接已失效" in page.text
    assert (
        client.post(
            reply, data={**form, "outcome": "solved", "text": "x", "handler": "y"}
        ).status_code
        == 410
    )
    assert count(Reply) == 0


def test_every_form_refuses_a_post_without_a_valid_csrf_token(client):
    case_id, reply = assigned_case(client)
    before = len(spooled())
    qr = client.post("/s/donghu-jia", data={"content": LAMP})
    assert qr.status_code == 403 and "页面已失效" in qr.text
    forged = client.post("/s/donghu-jia", data={"content": LAMP, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert (
        client.post(
            reply, data={"outcome": "solved", "text": "x", "handler": "y", "form_id": "a" * 32}
        ).status_code
        == 403
    )
    login = client.post("/console/login", data={"name": "a", "password": "b"})
    assert login.status_code == 403
    # a token minted for another browser's cookie is refused too
    other = TestClient(client.app)
    other_form = hidden_fields(other.get("/s/donghu-jia").text)
    client.cookies.set("mq_csrf", "someone-else")
    assert client.post("/s/donghu-jia", data={**other_form, "content": LAMP}).status_code == 403
    assert len(spooled()) == before and count(Reply) == 0


def test_console_actions_need_a_login_and_the_session_csrf_token(client):
    case_id, _ = assigned_case(client)
    with Session() as s, s.begin():
        s.add(Operator(name="操作员甲", password_hash=hash_password("correct horse battery")))
    anonymous = client.post(
        f"/console/cases/{case_id}/reopen", data={"reason": "x"}, follow_redirects=False
    )
    assert anonymous.status_code == 303 and "/console/login" in anonymous.headers["location"]
    assert client.get(f"/console/cases/{case_id}", follow_redirects=False).status_code == 303
    wrong = post_form(client, "/console/login", {"name": "操作员甲", "password": "wrong"})
    assert wrong.status_code == 401 and "不正确" in wrong.text
    ok = post_form(
        client, "/console/login", {"name": "操作员甲", "password": "correct horse battery"}
    )
    assert ok.status_code == 200 and "案件列表" in ok.text
    cookie = client.cookies.get("mq_session")
    assert "httponly" in ok.history[0].headers["set-cookie"].lower()
    assert "samesite=lax" in ok.history[0].headers["set-cookie"].lower()
    no_token = client.post(
        f"/console/cases/{case_id}/extend", data={"due": "2030-01-01", "reason": "x"}
    )
    assert no_token.status_code == 403
    with Session() as s:
        assert s.get(Case, case_id).due_at.year < 2030
    page = client.get(f"/console/cases/{case_id}")
    logout = client.post("/console/logout", data=hidden_fields(page.text), follow_redirects=False)
    assert logout.status_code == 303
    client.cookies.set("mq_session", cookie, path="/console")  # the old cookie died at logout
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_script_in_free_text_is_stored_as_inert_text_and_refused_where_a_format_is_expected(client):
    for field, value in {"phone": SCRIPT, "email": SCRIPT, "area": SCRIPT}.items():
        page = submit_qr(client, **{field: value})
        assert page.status_code == 400 and "<script>alert" not in page.text
    assert spooled() == []
    page = submit_qr(
        client, content=LAMP + SCRIPT, name=SCRIPT, email="a@example.cn", consent="yes"
    )
    assert page.status_code == 200 and "<script>alert" not in page.text
    assert spooled()[0]["name"] == SCRIPT  # the raw record keeps what was sent, as data
    assert spooled()[0]["content_format"] == "plain"  # a text box: "<b>" typed there is text
    ingest_inbox_now()
    triage_now()
    dispatch_now()
    case_id, reply = case_and_link(HandoffKind.ASSIGNMENT, "/r/")
    with Session() as s:
        # plain text keeps what the citizen typed; every page and message escapes it
        assert s.get(Case, case_id).text == LAMP + SCRIPT
    r = post_form(
        client, reply, {"outcome": "solved", "text": "已修复" + SCRIPT, "handler": SCRIPT}
    )
    assert r.status_code == 200
    shown = client.get(reply).text
    assert "<script>alert" not in shown and "&lt;script&gt;" in shown  # the handler, escaped
    bad = post_form(client, reply, {"outcome": SCRIPT, "text": "x", "handler": "y"})
    assert bad.status_code == 400 and "<script>alert" not in bad.text
    assert count(Reply) == 1
    surveys_now()
    _, rate = case_and_link(HandoffKind.SURVEY, "/p/")
    assert "<script>alert" not in client.get(rate).text
    r = post_form(client, rate, {"satisfaction": "满意", "solved": "yes", "comment": SCRIPT})
    assert r.status_code == 200
    with Session() as s, s.begin():
        s.add(Operator(name="op", password_hash=hash_password("correct horse battery")))
    post_form(client, "/console/login", {"name": "op", "password": "correct horse battery"})
    console = client.get(f"/console/cases/{case_id}").text
    assert "<script>alert" not in console and "&lt;script&gt;" in console
    assert "<script>alert" not in client.get("/console?q=%3Cscript%3E").text


def test_oversized_and_disguised_uploads_are_refused_and_nothing_is_written(client):
    case_id, reply = assigned_case(client)
    answer = {"outcome": "solved", "text": "已修复", "handler": "刘工"}
    huge = {"attachment": ("photo.png", PNG + b"\x00" * (200 * 1024), "image/png")}
    r = post_form(client, reply, answer, files=huge)
    assert r.status_code == 413 and "内容太大" in r.text
    disguised = {
        "attachment": ("photo.png", b"<html><script>alert(1)</script></html>", "image/png")
    }
    r = post_form(client, reply, answer, files=disguised)
    assert r.status_code == 400 and "只接受" in r.text
    assert count(Reply) == 0 and count(Upload) == 0
    uploads = get_settings().uploads_dir
    assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*"))
    r = post_form(client, reply, answer, files={"attachment": ("现场.png", PNG, "image/png")})
    assert r.status_code == 200
    with Session() as s:
        up = s.scalar(select(Upload))
        assert up.content_type == "image/png" and up.original_name == "现场.png"
        assert (uploads / up.stored_name).read_bytes() == PNG
        assert not up.stored_name.startswith("/") and "现场" not in up.stored_name


def test_the_public_form_is_rate_limited_per_client(minq, monkeypatch):
    monkeypatch.setenv("MINQING_SECRET_KEY", SECRET)
    monkeypatch.setenv("MINQING_WEB_RATE_PER_MINUTE", "3")
    reset_settings()
    with TestClient(create_app()) as client:
        # four different messages (one message sent again is one submission, not a new one)
        answers = [submit_qr(client, content=f"{LAMP}第{i}次。") for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    # the refused one was not taken, the earlier ones stand
    assert "您提交得太快了，这次的内容未收到，请稍后再提交。" in answers[-1].text
    assert "您此前提交的内容不受影响。" in answers[-1].text
    assert len(spooled()) == 3


def test_links_and_pages_carry_no_guessable_ids_and_safe_headers(client):
    case_id, reply = assigned_case(client)
    page = client.get(reply)
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/s/no-such-station").status_code == 404
    assert client.get("/r/1").status_code == 403 and client.get(f"/p/{case_id}").status_code == 403
    assert client.get("/console/uploads/1", follow_redirects=False).status_code == 303
    # the recipient is bound by a keyed digest, never written into the link
    assert "chengguan" not in reply and "@" not in reply
