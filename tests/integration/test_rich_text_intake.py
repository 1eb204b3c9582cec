"""A QR-code form submission written in a rich-text editor (HTML: <p>, <b>, <br>, &nbsp;)
reaches the department as the text it shows: stored without markup, and the clerk's 交办
e-mail, both its parts, shows the paragraphs as lines, no tag and no entity."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select

from db.engine import Session
from db.models import Case, Handoff, HandoffKind, Submission
from mail.sink import stored_messages
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now

SAMPLE = Path(__file__).resolve().parents[2] / "sample" / "night1" / "inbox" / "qrform"
RICH_TEXT_ID = "qr-20261124-0005"
PARAGRAPHS = [
    "尊敬的代表：",
    "新华社区健身广场的健身器材 多处损坏，单杠扶手断裂，存在安全隐患，孩子在上面玩很危险。",
    "希望尽快维修更换。",
]
LEFTOVERS = ("<p>", "</p>", "<b>", "<br>", "&nbsp", "nbsp", "；多处")


def test_a_rich_text_submission_reaches_the_clerk_as_plain_paragraphs(minq) -> None:
    sample = next(SAMPLE.glob("*.jsonl")).read_text(encoding="utf-8").splitlines()
    (line,) = [ln for ln in sample if f'"id": "{RICH_TEXT_ID}"' in ln]
    assert "<p>" in line and "&nbsp;" in line
    (minq.inbox("qrform") / "扫码留言_20261127.jsonl").write_text(line + "\n", encoding="utf-8")
    with minq.sink():
        ingest_inbox_now()
        triage_now()
        dispatch_now()
        deliver_now()
        time.sleep(0.1)
    with Session() as s:
        submission = s.scalar(select(Submission).where(Submission.source_ref == RICH_TEXT_ID))
        case = s.get(Case, submission.case_id)
        assert submission.text == case.text == "\n".join(PARAGRAPHS)
        assert json.loads(line)["content"] in json.dumps(submission.raw, ensure_ascii=False)
        sent = set(
            s.scalars(
                select(Handoff.message_id).where(
                    Handoff.case_id == case.id, Handoff.kind == HandoffKind.ASSIGNMENT
                )
            )
        )
    mails = [m for m in stored_messages(minq.mail_dir) if m["Message-ID"] in sent]
    assert mails and len(mails) == len(sent)  # the lead department's, and any co-handler's
    for mail in mails:
        clerk_reads(mail)


def clerk_reads(mail) -> None:
    assert "交办" in mail["Subject"]
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "\n".join(PARAGRAPHS) in plain.replace("\r\n", "\n")
    for paragraph in PARAGRAPHS:
        assert paragraph in html
    for leftover in LEFTOVERS:
        assert leftover not in plain, leftover
    # the HTML part is the template's markup around the citizen's text, escaped: no tag or
    # entity of the submission shows as text
    for shown_as_text in ("&lt;p&gt;", "&lt;b&gt;", "&lt;br&gt;", "&amp;nbsp", "nbsp"):
        assert shown_as_text not in html, shown_as_text
