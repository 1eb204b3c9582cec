"""E-mail: real .eml bytes, mbox and maildir through the stdlib `mailbox`, IMAP settings."""

from __future__ import annotations

import mailbox
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minqing.channels import file_checksum, get_parser
from minqing.channels.email import ImapSettings, message_body, parse_message
from minqing.records import Item, Rejected, UnreadableFile

SH = ZoneInfo("Asia/Shanghai")

# A message as Chinese webmail sends it: GBK body declared as gb2312, encoded subject and
# sender name, an HTML alternative, a photo, and the quoted earlier mail below the text.
PLAIN_GBK_EML = (
    b"Return-Path: <zhang.ayi@example.cn>\r\n"
    b"From: =?gb2312?B?1cWwotLM?= <Zhang.Ayi@Example.cn>\r\n"
    b"To: minqing@street.example.gov.cn\r\n"
    b"Subject: =?utf-8?B?5Lic5rmW6Iqx5Zut6Lev54Gv5Z2P5LqG?=\r\n"
    b"Date: Fri, 27 Nov 2026 08:15:32 +0800\r\n"
    b"Message-ID: <20261127081532.12345@mail.example.cn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="MIX"\r\n'
    b"\r\n"
    b"--MIX\r\n"
    b'Content-Type: multipart/alternative; boundary="ALT"\r\n'
    b"\r\n"
    b"--ALT\r\n"
    b"Content-Type: text/plain; charset=gb2312\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    + "东湖花园北门的路灯坏了一个多星期，请尽快修理。\r\n我的电话13800138000。\r\n\r\n------------------ 原始邮件 ------------------\r\n发件人: 民情直通车\r\n以前的内容\r\n".encode(
        "gbk"
    )
    + b"--ALT\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n" + "<p>东湖花园北门的路灯坏了</p>".encode() + b"\r\n--ALT--\r\n"
    b"--MIX\r\n"
    b"Content-Type: image/jpeg\r\n"
    b'Content-Disposition: attachment; filename="IMG_0815.jpg"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"/9j/4AAQSkZJRgABAQ==\r\n"
    b"--MIX--\r\n"
)


def make_message(**overrides: object) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = overrides.get("sender", "李师傅 <li@example.cn>")
    msg["To"] = "minqing@street.example.gov.cn"
    msg["Subject"] = overrides.get("subject", "噪音扰民")
    msg["Date"] = format_datetime(datetime(2026, 11, 27, 9, 0, tzinfo=SH))
    if overrides.get("message_id", True):
        msg["Message-ID"] = overrides.get("mid", "<m1@example.cn>")
    for name, value in overrides.get("headers", {}).items():  # type: ignore[union-attr]
        msg[name] = value
    body = overrides.get("body", "小区门口夜宵摊噪音扰民，凌晨两点还在营业。")
    html = overrides.get("html")
    if html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    return msg


def parse(path: Path, options=None) -> list[Item | Rejected]:
    checksum = "folder" if path.is_dir() else file_checksum(path)
    return list(get_parser("email", options).parse(path, checksum))


def test_a_real_chinese_webmail_message_becomes_an_item(tmp_path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(PLAIN_GBK_EML)
    [item] = parse(path)
    assert isinstance(item, Item)
    assert item.title == "东湖花园路灯坏了"
    assert (
        item.text == "东湖花园北门的路灯坏了一个多星期，请尽快修理。\n我的电话13800138000。"
    )  # quote cut
    assert item.contact.name == "张阿姨" and item.contact.email == "zhang.ayi@example.cn"
    assert item.source_ref == "<20261127081532.12345@mail.example.cn>"
    assert item.received_at.isoformat() == "2026-11-27T00:15:32+00:00"
    assert item.attachments == ("IMG_0815.jpg",)
    assert item.recorded_by == "minqing@street.example.gov.cn"
    assert item.raw["body_kind"] == "plain"


def test_message_id_is_the_key_across_files_and_mailboxes(tmp_path) -> None:
    (tmp_path / "a.eml").write_bytes(PLAIN_GBK_EML)
    box = mailbox.mbox(tmp_path / "export.mbox")
    box.add(mailbox.mboxMessage(PLAIN_GBK_EML))
    box.add(make_message())
    box.close()
    [single] = parse(tmp_path / "a.eml")
    from_mbox = parse(tmp_path / "export.mbox")
    assert len(from_mbox) == 2 and from_mbox[0].source_key == single.source_key
    assert [o.source_key for o in parse(tmp_path / "export.mbox")] == [
        o.source_key for o in from_mbox
    ]


def test_a_maildir_is_read(tmp_path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(make_message(mid="<a@x>"))
    box.add(make_message(mid="<b@x>", body="楼上装修太吵"))
    box.close()
    out = parse(tmp_path / "Maildir")
    assert sorted(o.text for o in out) == [
        "小区门口夜宵摊噪音扰民，凌晨两点还在营业。",
        "楼上装修太吵",
    ]


def test_html_only_mail_is_stripped_safely(tmp_path) -> None:
    html = "<html><head><style>p{}</style><script>alert('x')</script></head><body><p>路灯<b>坏了</b></p><img src=x onerror=alert(1)></body></html>"
    (tmp_path / "m.eml").write_bytes(bytes(make_message(html=html)))
    [item] = parse(tmp_path / "m.eml")
    assert item.text == "路灯坏了" and "html_body" in item.flags


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        (
            {"Auto-Submitted": "auto-replied"},
            "李师傅 <li@example.cn>",
            "自动发出的邮件（自动回复），不是群众来信",
        ),
        (
            {"X-Autoreply": "yes"},
            "李师傅 <li@example.cn>",
            "自动发出的邮件（自动回复），不是群众来信",
        ),
        (
            {"Precedence": "bulk"},
            "李师傅 <li@example.cn>",
            "自动发出的邮件（群发邮件），不是群众来信",
        ),
        (
            {},
            "MAILER-DAEMON@example.cn",
            "自动发出的邮件（系统发件人 mailer-daemon@example.cn），不是群众来信",
        ),
    ],
)
def test_automatic_mail_is_rejected(tmp_path, headers, sender, reason) -> None:
    (tmp_path / "m.eml").write_bytes(bytes(make_message(headers=headers, sender=sender)))
    [out] = parse(tmp_path / "m.eml")
    assert isinstance(out, Rejected) and str(out.reason) == reason


def test_a_subject_alone_is_the_text_and_nothing_at_all_is_rejected(tmp_path) -> None:
    (tmp_path / "a.eml").write_bytes(bytes(make_message(body="", subject="滨江路井盖丢了")))
    (tmp_path / "b.eml").write_bytes(bytes(make_message(body="  ", subject="")))
    assert parse(tmp_path / "a.eml")[0].text == "滨江路井盖丢了"
    assert parse(tmp_path / "b.eml")[0].reason.code == "empty_text"


def test_missing_message_id_and_date_still_give_a_stable_item(tmp_path) -> None:
    raw = b"From: someone@example.cn\r\nSubject: test\r\n\r\nlight broken\r\n"
    (tmp_path / "m.eml").write_bytes(raw)
    first, again = parse(tmp_path / "m.eml"), parse(tmp_path / "m.eml")
    assert first[0].source_key == again[0].source_key
    assert {"no_message_id", "date_missing"} <= set(first[0].flags)


def test_files_that_are_not_mail_are_unreadable(tmp_path) -> None:
    (tmp_path / "x.eml").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(UnreadableFile):
        parse(tmp_path / "x.eml")
    (tmp_path / "y.eml").write_text("just some words\nno headers\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="不是电子邮件"):
        parse(tmp_path / "y.eml")
    (tmp_path / "dir").mkdir()
    with pytest.raises(UnreadableFile, match="不是邮件目录"):
        parse(tmp_path / "dir")


def test_unknown_and_wrong_charsets_do_not_crash() -> None:
    raw = (
        b"From: a@b.cn\r\nMessage-ID: <x@y>\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
        + "路灯".encode()
    )
    assert message_body(parse_message(raw)) == ("路灯", "plain")
    raw = b"From: a@b.cn\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "路灯".encode("gbk")
    assert message_body(parse_message(raw)) == ("路灯", "plain")


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400), st.text(max_size=60))
def test_arbitrary_bytes_after_headers_never_crash(tmp_path, junk, subject) -> None:
    path = tmp_path / "p.eml"
    path.write_bytes(
        b"From: x@example.cn\r\nSubject: "
        + subject.encode("utf-8", "replace").replace(b"\n", b" ").replace(b"\r", b" ")
        + b"\r\n"
        + junk
    )
    out = parse(path)
    assert len(out) == 1 and isinstance(out[0], Item | Rejected)


def test_imap_settings_take_the_password_from_the_environment_only() -> None:
    options = {"host": "imap.example.cn", "user": "minqing", "move_to": "已收取"}
    settings_ = ImapSettings.from_options(options, {"MINQING_IMAP_PASSWORD": "s3cret"})
    assert (
        settings_.password == "s3cret" and settings_.port == 993 and settings_.move_to == "已收取"
    )
    with pytest.raises(ValueError, match="MINQING_IMAP_PASSWORD"):
        ImapSettings.from_options(options, {})
    with pytest.raises(ValueError, match="unknown imap option"):
        ImapSettings.from_options(
            {**options, "password": "in-a-file"}, {"MINQING_IMAP_PASSWORD": "x"}
        )
