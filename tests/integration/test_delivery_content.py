"""What an assignment carries, checked in the message the SMTP server stored: inert citizen
text in both parts, one-line subjects, the reply template, the photos, nothing else."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy import select

from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffKind, HandoffStatus, Submission
from mail.sink import count_messages, stored_messages
from minqing.delivery import REPLY_COLUMNS, reply_template_csv
from minqing.messages import Rendered
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from minqing.workdays import LOCAL_TZ
from tasks.actions import reroute
from tasks.context import context
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.outbox import queue_handoff
from web.testing import photo

HOSTILE = "\n".join(
    [
        "/etc/passwd",
        "<script>alert('x')</script>",
        "<b>粗体</b> <img src=x onerror=alert(1)>",
        "C:\\Windows\\win.ini",
        "{{ 7*7 }} {% raw %}",
        '=HYPERLINK("http://evil.example","点我")',
    ]
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 3
GEOTAGGED = photo(location=True)  # a phone's photo: GPS position and camera in its EXIF


def add_case(title: str, text: str, category: str = "交通运输", submissions=()) -> int:
    with Session() as s, s.begin():
        case = Case(
            title=title,
            text=text,
            text_key="k",
            area_code="xicheng",
            category=category,
            status=CaseStatus.TRIAGED,
        )
        s.add(case)
        s.flush()
        for i, (channel, attachments) in enumerate(submissions):
            s.add(
                Submission(
                    source_key=f"{channel}:{i}",
                    channel=channel,
                    source_ref=f"ref{i}",
                    received_at=datetime.now(UTC),
                    text=text,
                    text_key="k",
                    case_id=case.id,
                    attachments=list(attachments),
                )
            )
        return case.id


def deliver_to(minq) -> list:
    with minq.sink():
        result = deliver_now()
    assert result["failed"] == result["dead"] == result["retry_later"] == 0, result
    return stored_messages(minq.mail_dir)


def attachments_of(message) -> dict[str, tuple[str, bytes]]:
    return {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    }


def test_hostile_citizen_text_arrives_as_inert_text_in_both_parts(minq):
    case_id = add_case(
        "<i>路灯</i> /etc/passwd",
        HOSTILE,
        submissions=[("qrform", ["/etc/passwd", "../../../etc/hosts.jpg", "C:\\boot.ini"])],
    )
    dispatch_now()
    (message,) = deliver_to(minq)
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for line in HOSTILE.splitlines():
        assert line in plain, line
    assert "<script" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;粗体&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;" in html
    assert "/etc/passwd" in html and "C:\\Windows\\win.ini" in html
    assert "{{ 7*7 }}" in plain and "{{ 7*7 }}" in html and "49" not in plain + html
    number = f"MQ{datetime.now(UTC):%Y}-{case_id:06d}"
    assert list(attachments_of(message)) == [f"答复模板_{number}.csv"]  # no file was attached


def test_a_subject_with_line_breaks_cannot_add_headers_or_recipients(minq):
    add_case("路灯坏了\r\nBcc: attacker@evil.example\r\nX-Injected: yes", "路灯坏了一个星期。")
    dispatch_now()
    (message,) = deliver_to(minq)
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"].endswith("路灯坏了 Bcc: attacker@evil.example X-Injected: yes")
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["X-Original-To"] == "banli@jiaotong.example.gov.cn"

    # A row that bypassed rendering is refused by the mailer itself, not folded into headers.
    ctx = context()
    with Session() as s, s.begin():
        raw = queue_handoff(
            s,
            ctx.ref,
            key="test:raw-subject",
            kind=HandoffKind.REMINDER,
            recipient="banli@jiaotong.example.gov.cn",
            rendered=Rendered("提醒\r\nBcc: attacker@evil.example", "正文", "<p>正文</p>"),
        )
        assert raw is not None
        raw_id = raw.id
    with minq.sink():
        result = deliver_now()
    with Session() as s:
        row = s.get(Handoff, raw_id)
    assert result["failed"] == 1 and row.status is HandoffStatus.FAILED
    assert row.last_error.startswith("message cannot be built: Subject contains a line break")
    assert count_messages(minq.mail_dir) == 1


def test_every_assignment_carries_the_reply_template_and_the_photos_that_exist(minq, tmp_path):
    settings = minq.settings
    (settings.inbox_dir / "wechat" / "attachments").mkdir(parents=True)
    (settings.inbox_dir / "wechat" / "attachments" / "IMG_0001.jpg").write_bytes(GEOTAGGED)
    (settings.archive_dir / "qrform" / "photos").mkdir(parents=True)
    (settings.archive_dir / "qrform" / "photos" / "p2.png").write_bytes(PNG)
    secret = tmp_path / "secret.jpg"  # outside the channel folders, reached only by a symlink
    secret.write_bytes(b"\xff\xd8 not for departments")
    (settings.inbox_dir / "wechat" / "attachments" / "link.jpg").symlink_to(secret)
    case_id = add_case(
        "井盖缺失",
        "滨江路3号井盖丢了，晚上很危险。",
        category="城乡建设",  # lead zhujian, co chengguan: both get the photos
        submissions=[
            ("wechat", ["图片:IMG_0001.jpg", "图片:missing.jpg", "图片:link.jpg", "视频:v.mp4"]),
            ("qrform", ["photos/p2.png", "/etc/passwd", "../wechat/attachments/IMG_0001.jpg"]),
            ("wechat", ["图片:IMG_0001.jpg"]),  # the same photo again: attached once
        ],
    )
    dispatch_now()
    (settings.inbox_dir / "wechat" / "attachments" / "IMG_0001.jpg").unlink()  # kept copy
    messages = deliver_to(minq)
    number = f"MQ{datetime.now(UTC):%Y}-{case_id:06d}"
    template = f"答复模板_{number}.csv"
    assert sorted(m["X-Original-To"] for m in messages) == [
        "banli@chengguan.example.gov.cn",
        "banli@zhujian.example.gov.cn",
    ]
    for message in messages:
        files = attachments_of(message)
        kind, sent = files["IMG_0001.jpg"]
        with Image.open(io.BytesIO(sent)) as picture:  # the photo, without where it was taken
            assert kind == "image/jpeg" and picture.size == (64, 32)
            assert len(picture.getexif()) == 0
        assert files["p2.png"] == ("image/png", PNG)
        if message["X-Original-To"] == "banli@chengguan.example.gov.cn":  # co-handler
            assert list(files) == ["IMG_0001.jpg", "p2.png"]  # it answers the lead, not us
            continue
        assert list(files) == [template, "IMG_0001.jpg", "p2.png"]
        kind, data = files[template]
        assert kind == "text/csv" and data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows == [list(REPLY_COLUMNS), [number, "", "", "", ""]]
    with Session() as s:
        kept = {
            a["path"]
            for h in s.scalars(select(Handoff))
            for a in h.attachments
            if a.get("filename") == "IMG_0001.jpg"
        }
    assert kept and all(
        (settings.var_dir / k).read_bytes() == GEOTAGGED for k in kept
    )  # as it came

    # The department fills the template in and sends it back: the import takes it as is.
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()  # the day it was assigned
    rows[1][1:] = [f"{today} 10:00", "A", "已补装井盖并设置警示标志。", "王工"]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    (minq.inbox("replies") / template).write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode())
    imported = import_returns_now()
    assert imported["replies"] == 1 and imported["rejected"] == 0
    with Session() as s:
        assert s.get(Case, case_id).status is CaseStatus.REPLIED


def test_the_reply_template_cannot_carry_a_formula():
    text = reply_template_csv('=HYPERLINK("http://evil.example","点我")')
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","点我")'
    assert text.startswith("\ufeff案件编号,答复时间,办理结果,答复内容,经办人\r\n")


def test_a_handoff_whose_kept_photo_vanished_fails_with_a_reason_and_sends_nothing(minq):
    (minq.inbox("wechat") / "attachments").mkdir()
    (minq.inbox("wechat") / "attachments" / "a.jpg").write_bytes(JPEG)
    add_case("路灯", "路灯坏了。", submissions=[("wechat", ["图片:a.jpg"])])
    dispatch_now()
    for kept in (minq.settings.var_dir / "attachments").rglob("*.jpg"):
        kept.unlink()
    with minq.sink():
        result = deliver_now()
    with Session() as s:
        (h,) = s.scalars(select(Handoff)).all()
    assert result["failed"] == 1 and h.status is HandoffStatus.FAILED
    assert h.last_error.startswith("attachment unreadable:")
    assert count_messages(minq.mail_dir) == 0


def test_the_co_handler_is_told_who_leads_and_what_it_owes_and_the_lead_who_assists(minq):
    case_id = add_case("违章搭建", "西城社区5栋楼顶有人违章搭建彩钢房。", category="城乡建设")
    dispatch_now()
    messages = {m["X-Original-To"]: m for m in deliver_to(minq)}
    lead, co = messages["banli@zhujian.example.gov.cn"], messages["banli@chengguan.example.gov.cn"]
    assert len(messages) == 2
    number = f"MQ{datetime.now(UTC):%Y}-{case_id:06d}"

    lead_text = lead.get_body(("plain",)).get_content()
    assert lead["Subject"].startswith(f"【交办·承办】{number}")
    assert "交由贵单位主办（首接负责）" in lead_text
    assert "协办单位：区城市管理局。" in lead_text and "请贵单位牵头协调" in lead_text
    assert "答复方式" in lead_text  # the lead answers the office
    assert list(attachments_of(lead)) == [f"答复模板_{number}.csv"]

    co_text = co.get_body(("plain",)).get_content()
    co_html = co.get_body(("html",)).get_content()
    assert co["Subject"].startswith(f"【交办·协办】{number}")
    assert "交由贵单位主办" not in co_text and "首接负责）" in co_text
    assert "交由区住房和城乡建设局主办（首接负责），贵单位为协办单位。" in co_text
    assert "配合主办单位办理" in co_text
    assert "反馈主办单位（区住房和城乡建设局，banli@zhujian.example.gov.cn）" in co_text
    assert "贵单位无需另行向本办答复" in co_text and "答复方式" not in co_text
    # its deadline is for its input to the lead, not for a reply it is told not to send
    with Session() as s:
        due = s.get(Case, case_id).due_at.astimezone(LOCAL_TZ)
    due_text = f"{due:%Y年%m月%d日}（星期{'一二三四五六日'[due.weekday()]}）23:59"
    assert f"办理时限：请于{due_text}前将协办意见送交主办单位\n" in co_text
    assert f"请于{due_text}前答复" not in co_text
    assert f"请于<strong>{due_text}</strong>前将协办意见送交主办单位" in co_html
    assert f"办理时限：请于{due_text}前答复\n" in lead_text
    # it is not listed as its own co-handler; there is no other co-handler to name
    assert "区城市管理局" not in co_text.replace("区城市管理局：", "", 1)
    assert "协办单位：" not in co_text and "其他协办单位" not in co_html
    assert "答复模板" not in co_text
    assert "区住房和城乡建设局主办" in co_html and "贵单位为协办单位" in co_html
    assert list(attachments_of(co)) == []  # the reply template is the lead's


def test_with_english_chosen_an_assignment_arrives_in_english_with_the_citizens_words_as_written(
    minq, monkeypatch
):
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    said = "西城社区5栋楼顶有人违章搭建彩钢房，\n物业不管。"
    case_id = add_case("违章搭建", said, category="城乡建设")
    dispatch_now()
    messages = {m["X-Original-To"]: m for m in deliver_to(minq)}
    lead, co = messages["banli@zhujian.example.gov.cn"], messages["banli@chengguan.example.gov.cn"]
    number = f"MQ{datetime.now(UTC):%Y}-{case_id:06d}"
    with Session() as s:
        due = s.get(Case, case_id).due_at.astimezone(LOCAL_TZ)

    assert lead["Subject"] == f"[Assignment · lead] {number} 违章搭建"
    assert co["Subject"] == f"[Assignment · co-handling] {number} 违章搭建"
    text = lead.get_body(("plain",)).get_content()
    html = lead.get_body(("html",)).get_content()
    assert text.startswith("Dear 区住房和城乡建设局,\n")
    assert "assigned to your department as the lead" in text
    assert "Co-handling departments: 区城市管理局." in text
    assert (
        f"Case number: {number}\nTitle: 违章搭建\nCommunity: 西城社区\nCategory: 城乡建设" in text
    )
    assert f"Deadline: reply by {due:%A %Y-%m-%d}, 23:59\n" in text
    assert f"What the citizen reported:\n{said}\n" in text  # as the citizen wrote it
    assert "How to reply:" in text
    assert '<html lang="en">' in html
    assert f"Reply by <strong>{due:%A %Y-%m-%d}, 23:59</strong>" in html
    assert "西城社区5栋楼顶有人违章搭建彩钢房，\n物业不管。" in html
    for part in (text, html):  # nothing Chinese but the case's own words and the office's names
        for data in (
            said,
            "违章搭建",
            "区住房和城乡建设局",
            "区城市管理局",
            "西城社区",
            "城乡建设",
        ):
            part = part.replace(data, "")
        part = part.replace(context().ref.office.name, "")
        part = part.replace(context().ref.office.contact or "", "")  # the office's own words
        assert not re.search(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", part), part
    co_text = co.get_body(("plain",)).get_content()
    assert "is assigned to 区住房和城乡建设局 as the lead department" in co_text
    assert "How to reply" not in co_text

    # The reply template is named in English; its columns are the ones read back.
    (template,) = attachments_of(lead)
    assert template == f"reply-template_{number}.csv"
    content = attachments_of(lead)[template][1].decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(content))) == list(REPLY_COLUMNS)


def test_the_lead_is_told_it_may_answer_online_or_by_sending_back_the_attached_template(
    minq, monkeypatch
):
    monkeypatch.setenv("MINQING_SECRET_KEY", "delivery-secret-" + "d" * 40)
    monkeypatch.setenv("MINQING_PUBLIC_URL", "https://minqing.example.gov.cn")
    reset_settings()
    case_id = add_case("路灯不亮", "东湖路的路灯坏了一个星期。", category="市政设施")
    dispatch_now()
    (message,) = deliver_to(minq)
    number = f"MQ{datetime.now(UTC):%Y}-{case_id:06d}"
    template = f"答复模板_{number}.csv"
    assert list(attachments_of(message)) == [template]
    for part in (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    ):
        assert "https://minqing.example.gov.cn/r/" in part  # the online reply…
        assert f"也可填写本邮件附件“{template}”" in part  # …or the attachment, filled in
        assert "发回本邮箱。两种方式任选其一即可。" in part
        assert part.index("https://minqing.example.gov.cn/r/") < part.index(f"附件“{template}”")


def test_a_case_made_urgent_by_a_later_report_says_why_in_its_assignment_and_after_a_reroute(minq):
    # its own words are calm; a later report of the same problem spoke of a gas smell
    case_id = add_case("楼道异味", "惠民小区2栋楼道里有异味，请物业处理。", category="城乡建设")
    with Session() as s, s.begin():
        s.get(Case, case_id).priority = "urgent"
        s.add(AuditEvent(actor="system:triage", case_id=case_id, entity="case",
                         action="marked_urgent", detail={"urgent": "政策词“燃气味”"}))  # fmt: skip
    dispatch_now()
    lead = next(m for m in deliver_to(minq) if "【交办·承办】" in str(m["Subject"]))
    assert str(lead["Subject"]).startswith("【紧急】【交办·承办】")
    assert (
        lead.get_body(("plain",)).get_content().startswith("【紧急件】紧急原因：政策词“燃气味”\n")
    )

    with Session() as s, s.begin():  # the operator re-routes it: still urgent, still why
        reroute(s, context(), case_id, "chengguan", "属城管职责", "操作员甲", datetime.now(UTC))
    with minq.sink():
        deliver_now()
    again = [
        m for m in stored_messages(minq.mail_dir)
        if m["X-Original-To"] == "banli@chengguan.example.gov.cn" and "承办" in str(m["Subject"])
    ]  # fmt: skip
    assert len(again) == 1 and str(again[0]["Subject"]).startswith("【紧急】【交办·承办】")
    text = again[0].get_body(("plain",)).get_content()
    assert text.startswith("【紧急件】紧急原因：政策词“燃气味”\n请立即处置并尽快答复")


def test_the_date_header_is_the_offices_time_so_a_raw_header_reads_as_beijing_time(minq):
    add_case("路灯坏了", "路灯坏了一个星期。")
    dispatch_now()
    before = datetime.now(UTC).replace(microsecond=0)
    (message,) = deliver_to(minq)
    after = datetime.now(UTC)
    raw = str(message["Date"])
    assert raw.endswith(" +0800"), raw  # not "GMT" / "+0000"
    sent = message["Date"].datetime
    assert sent.utcoffset() == LOCAL_TZ.utcoffset(sent.replace(tzinfo=None))
    assert before <= sent <= after  # the same instant, written in Beijing time
    beijing = sent.astimezone(LOCAL_TZ)
    assert f"{beijing:%d %b %Y %H:%M:%S}" in raw  # the clock a clerk in the office reads


def test_every_message_ends_saying_who_sent_it_and_how_to_reach_the_office(minq):
    """The footer of both parts: the office that sent it through 民情直通车, and its contact
    from config/office.yaml (`contact`), the phone number whole on a phone's screen."""
    add_case("路灯不亮", "东湖路的路灯坏了一个星期。")
    dispatch_now()
    (message,) = deliver_to(minq)
    ref = context().ref
    assert ref.office.contact == "电话 0731-12345678"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    sender = f"本邮件由{ref.office.name}通过“民情直通车”系统自动发送。"
    ask = f"如有疑问，请联系{ref.office.name}：{ref.office.contact}。"
    assert plain.rstrip().endswith(f"{sender}\n{ask}"), plain[-300:]
    assert sender in html and "请勿直接回复" not in plain + html
    assert f'<span style="white-space: nowrap;">{ref.office.contact}</span>' in html
