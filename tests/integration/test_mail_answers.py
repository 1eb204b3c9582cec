"""Answers to minqing's own mail, on a real database (SQLite and PostgreSQL) with a real SMTP
sink: the assignment and the survey the sink received are answered as a mail client would
(In-Reply-To, References, 回复： in the subject), and the answer goes through `minqing ingest`
or the night's inbox. None becomes a new case: a reply template is imported as a reply, a
survey answer becomes its rating, anything else is kept for a clerk, naming the case."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Handoff,
    HandoffKind,
    Person,
    Rating,
    Rejection,
    Reply,
    Submission,
    Survey,
)
from mail.sink import stored_messages
from minqing.reasons import render
from minqing.states import CaseStatus, Outcome
from minqing.trail import Names, actor_label, event_text
from minqing.workdays import LOCAL_TZ
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.metrics import arrivals_since_last_night
from tasks.surveys import surveys_now
from tasks.triage import triage_now

OFFICE = "minqing@street.example.gov.cn"
XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def add_case(title: str = "红绿灯坏了", text: str = "西城路口红绿灯不亮，车辆乱行。") -> int:
    with Session() as s, s.begin():
        case = Case(
            title=title,
            text=text,
            text_key="k",
            area_code="xicheng",
            category="交通运输",
            status=CaseStatus.TRIAGED,
        )
        s.add(case)
        s.flush()
        return case.id


def sent(minq) -> list[EmailMessage]:
    with minq.sink():
        result = deliver_now()
    assert result["failed"] == result["dead"] == result["retry_later"] == 0, result
    return stored_messages(minq.mail_dir)


def answer_to(
    original: EmailMessage,
    sender: str,
    body: str,
    *,
    threaded: bool = True,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    """What a mail client sends when `sender` presses 回复 on `original` (quoting it below)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = original["From"] or OFFICE
    msg["Subject"] = f"回复：{original['Subject']}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<answer-{abs(hash((sender, body))) % 10**9}@client.example>"
    if threaded:
        msg["In-Reply-To"] = original["Message-ID"]
        msg["References"] = original["Message-ID"]
    quoted = original.get_body(("plain",)).get_content()
    msg.set_content(
        f"{body}\n\n-----原始邮件-----\n发件人：{original['From']}\n"
        + "\n".join("> " + line for line in quoted.splitlines())
    )
    if attachment:
        name, content = attachment
        kind = ("text", "csv") if name.endswith(".csv") else ("application", XLSX)
        msg.add_attachment(content, maintype=kind[0], subtype=kind[1], filename=name)
    return bytes(msg)


def filled_template(template: bytes, outcome: str = "A", text: str = "已修复红绿灯。") -> bytes:
    rows = list(csv.reader(io.StringIO(template.decode("utf-8-sig"))))
    today = datetime.now(UTC).astimezone(LOCAL_TZ)
    rows[1][1:] = [f"{today:%Y-%m-%d %H:%M}", outcome, text, "李工"]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def night() -> dict:
    """The night's stages up to dispatch, in the night's order."""
    ingest = ingest_inbox_now()
    imports = import_returns_now()
    triage_now()
    dispatch_now()
    return {"ingest": ingest, "imports": imports}


def count(model, *where) -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def trail(case_id: int) -> list[tuple[str, str]]:
    with Session() as s:
        events = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.action == "mail_answer")
            .order_by(AuditEvent.id)
        ).all()
        return [(actor_label(e.actor), event_text(e.action, e.detail, Names())) for e in events]


def assigned_case(minq) -> tuple[int, str, EmailMessage]:
    case_id = add_case()
    dispatch_now()
    messages = sent(minq)
    lead = next(m for m in messages if "【交办·承办】" in m["Subject"])
    with Session() as s:
        number = s.get(Case, case_id).number
    return case_id, number, lead


def template_of(message: EmailMessage) -> tuple[str, bytes]:
    part = next(p for p in message.iter_attachments() if p.get_filename().endswith(".csv"))
    return part.get_filename(), part.get_payload(decode=True)


def test_a_departments_mailed_reply_template_is_recorded_as_its_reply_not_a_new_case(
    minq, tmp_path
):
    case_id, number, lead = assigned_case(minq)
    assignments = count(Handoff, Handoff.kind == HandoffKind.ASSIGNMENT)
    name, template = template_of(lead)
    # a colleague of the department answers, from an address that is not the department's
    colleague = "li.gong@jiaotong.example.gov.cn"
    eml = tmp_path / "dept_reply.eml"
    eml.write_bytes(
        answer_to(
            lead, colleague, "已处理，答复见附件。", attachment=(name, filled_template(template))
        )
    )

    result = CliRunner().invoke(app, ["ingest", str(eml), "--channel", "email"])
    assert result.exit_code == 0, result.output
    assert "未立案" in result.output
    night()

    assert count(Case) == 1 and count(Submission, Submission.channel == "email") == 0
    assert count(Handoff, Handoff.kind == HandoffKind.ASSIGNMENT) == assignments
    with Session() as s:
        (reply,) = s.scalars(select(Reply).where(Reply.case_id == case_id)).all()
        assert (reply.via, reply.outcome, reply.handler) == ("email", Outcome.SOLVED, "李工")
        assert reply.text == "已修复红绿灯。"
        assert s.get(Case, case_id).status is CaseStatus.REPLIED
        replied = s.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == "replied")
        ).one()
        assert replied.actor == f"email:{colleague}"  # who sent it is recorded
    (line,) = trail(case_id)
    assert line[0] == f"邮件 {colleague}"
    assert f"附件“{name.removesuffix('.csv')}" in line[1] and "收录 1 条" in line[1]
    assert not list((minq.settings.inbox_dir / "replies").glob("*"))  # imported and archived


def test_a_reply_template_in_the_nights_inbox_is_imported_the_same_night(minq):
    case_id, number, lead = assigned_case(minq)
    name, template = template_of(lead)
    raw = answer_to(
        lead,
        "banli@jiaotong.example.gov.cn",
        "见附件",
        attachment=(name, filled_template(template)),
    )
    (minq.inbox("email") / "reply.eml").write_bytes(raw)
    figures = night()
    assert count(Case) == 1
    assert count(Reply, Reply.case_id == case_id, Reply.via == "email") == 1
    files = figures["ingest"]["files"]
    assert [f["channel"] for f in files] == ["email", "replies"]
    assert files[1]["status"] == "taken" and files[1]["taken"] == 1
    with Session() as s:  # the night's 收到答复 counts it by its way in: 邮件
        assert arrivals_since_last_night(s)["replies_by_way"] == {"email": 1}


def test_a_reply_template_saved_as_a_workbook_is_read_too(minq):
    case_id, number, lead = assigned_case(minq)
    name, template = template_of(lead)
    rows = list(csv.reader(io.StringIO(filled_template(template).decode("utf-8-sig"))))
    book = Workbook()
    for row in rows:
        book.active.append(row)
    saved = io.BytesIO()
    book.save(saved)
    raw = answer_to(
        lead,
        "banli@jiaotong.example.gov.cn",
        "答复见附件（用 WPS 另存为了 Excel）",
        attachment=(name.replace(".csv", ".xlsx"), saved.getvalue()),
    )
    (minq.inbox("email") / "reply.eml").write_bytes(raw)
    night()
    assert count(Case) == 1
    assert count(Reply, Reply.case_id == case_id, Reply.via == "email") == 1


def test_a_departments_prose_answer_without_the_template_is_kept_for_a_clerk(minq):
    case_id, number, lead = assigned_case(minq)
    raw = answer_to(lead, "banli@jiaotong.example.gov.cn", "我们已经派人去修了，明天修好。")
    (minq.inbox("email") / "prose.eml").write_bytes(raw)
    figures = night()

    assert count(Case) == 1 and count(Reply) == 0
    with Session() as s:
        (rejection,) = s.scalars(select(Rejection)).all()
        assert rejection.reason_code == "mail_reply_no_template"
    why = render(rejection.why)
    assert f"对案件 {number} 交办单的邮件回复" in why and "未附答复模板" in why
    assert [r["原因"] for r in figures["ingest"]["rejections"]] == [why]
    assert why in trail(case_id)[0][1]


def test_an_answer_found_by_the_case_number_in_its_subject_is_no_new_case_either(minq):
    case_id, number, lead = assigned_case(minq)
    raw = answer_to(lead, "someone@jiaotong.example.gov.cn", "这件事在办了。", threaded=False)
    (minq.inbox("email") / "unthreaded.eml").write_bytes(raw)
    night()
    assert count(Case) == 1
    with Session() as s:
        assert s.scalars(select(Rejection.reason_code)).all() == ["mail_answer_kept"]
    assert number in render(s.scalars(select(Rejection)).one().why)


def test_mail_answering_nothing_of_ours_is_still_an_opinion(minq):
    add_case()
    dispatch_now()
    lead = next(m for m in sent(minq) if "【交办·承办】" in m["Subject"])
    del lead["Message-ID"]
    lead["Message-ID"] = "<someone-else@elsewhere.example>"
    del lead["Subject"]
    lead["Subject"] = "小区门口垃圾没人清运"
    raw = answer_to(lead, "citizen@example.com", "小区门口的垃圾已经三天没人清运了，味道很大。")
    (minq.inbox("email") / "opinion.eml").write_bytes(raw)
    night()
    assert count(Submission, Submission.channel == "email") == 1
    assert count(Case) == 2


def surveyed_case(minq, email: str = "wang@example.com") -> tuple[int, str, EmailMessage]:
    """A replied case whose citizen (with an e-mail address) got the survey."""
    case_id = add_case()
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        case = s.get(Case, case_id)
        person = Person(identity_key=f"email:{email}", name="王先生", email=email)
        s.add(person)
        s.flush()
        s.add(
            Submission(
                source_key="hotline:1",
                channel="hotline",
                source_ref="GD001",
                received_at=now - timedelta(days=3),
                text=case.text,
                text_key="k",
                person_id=person.id,
                case_id=case_id,
            )
        )
        case.status, case.outcome = CaseStatus.REPLIED, Outcome.SOLVED
        case.lead_department = "jiaotong"
        case.assigned_at = case.replied_at = now - timedelta(days=1)
        s.add(
            Reply(
                case_id=case_id,
                department_code="jiaotong",
                received_at=case.replied_at,
                outcome=Outcome.SOLVED,
                text="已修复。",
                via="import",
                source_key="reply:1",
            )
        )
        number = case.number
    surveys_now()
    (survey_mail,) = [m for m in sent(minq) if "满意度回访" in m["Subject"]]
    assert "请直接回复本邮件" in survey_mail.get_body(("plain",)).get_content()
    return case_id, number, survey_mail


def test_a_citizens_mailed_survey_answer_becomes_the_surveys_rating(minq):
    case_id, number, survey_mail = surveyed_case(minq)
    raw = answer_to(survey_mail, "王先生 <wang@example.com>", "满意，已办成\n谢谢你们！")
    (minq.inbox("email") / "survey_answer.eml").write_bytes(raw)
    night()

    assert count(Case) == 1 and count(Submission, Submission.channel == "email") == 0
    with Session() as s:
        (rating,) = s.scalars(select(Rating)).all()
        survey = s.scalars(select(Survey)).one()
        assert (rating.satisfaction.value, rating.solved, rating.channel) == ("满意", True, "email")
        assert rating.survey_id == survey.id and rating.person_id == survey.person_id
        assert survey.answered_at is not None
        assert s.get(Case, case_id).status is CaseStatus.RATED
    assert "记为评价：满意，已办成" in trail(case_id)[0][1]


def test_a_dissatisfied_answer_by_mail_reopens_the_case_as_a_rating_file_row_would(minq):
    case_id, number, survey_mail = surveyed_case(minq)
    raw = answer_to(survey_mail, "wang@example.com", "不满意，未办成。路灯晚上还是不亮。")
    (minq.inbox("email") / "survey_answer.eml").write_bytes(raw)
    night()
    with Session() as s:
        rating = s.scalars(select(Rating)).one()
        assert (rating.satisfaction.value, rating.solved) == ("不满意", False)
        assert s.get(Case, case_id).reopen_count == 1
    assert count(Case) == 1


def test_an_unclear_survey_answer_guesses_no_rating_and_is_kept_for_a_clerk(minq):
    case_id, number, survey_mail = surveyed_case(minq)
    raw = answer_to(survey_mail, "wang@example.com", "说满意吧也不满意，你们自己看着办。")
    (minq.inbox("email") / "unclear.eml").write_bytes(raw)
    figures = night()
    assert count(Rating) == 0 and count(Case) == 1
    (row,) = figures["ingest"]["rejections"]
    assert f"对案件 {number} 满意度回访的邮件回复" in row["原因"]
    with Session() as s:
        assert s.scalars(select(Rejection.reason_code)).all() == ["mail_rating_unclear"]


def test_the_same_answer_read_twice_records_one_reply(minq, tmp_path: Path):
    case_id, number, lead = assigned_case(minq)
    name, template = template_of(lead)
    raw = answer_to(
        lead,
        "banli@jiaotong.example.gov.cn",
        "见附件",
        attachment=(name, filled_template(template)),
    )
    for n in (1, 2):  # the same message, fetched again into a second file of another name
        (minq.inbox("email") / f"copy{n}.eml").write_bytes(raw + b"\n" * n)
        night()
    assert count(Reply) == 1 and count(Case) == 1


def test_a_mailed_template_answers_only_the_case_and_department_its_message_was_about(
    minq, tmp_path
):
    """A template row naming another case, or sent back by a department that no longer leads
    the case (re-routed away, or a co-handler), is no reply of the lead: kept for a clerk."""
    case_id, number, lead = assigned_case(minq)
    other_id = add_case("路灯不亮", "东湖路路灯不亮。")
    dispatch_now()
    with Session() as s:
        other = s.get(Case, other_id).number
    name, template = template_of(lead)
    wrong_case = template.decode("utf-8-sig").replace(number, other).encode("utf-8")
    first = tmp_path / "wrong_case.eml"
    first.write_bytes(
        answer_to(lead, "banli@jiaotong.example.gov.cn", "见附件。",
                  attachment=(name, filled_template(wrong_case)))
    )  # fmt: skip
    assert CliRunner().invoke(app, ["ingest", str(first), "--channel", "email"]).exit_code == 0
    assert count(Reply) == 0
    with Session() as s:
        assert s.get(Case, other_id).status is CaseStatus.ASSIGNED
        reasons = [render(r.why) for r in s.scalars(select(Rejection))]
    assert any(
        f"回复的是案件 {number} 的消息，附件答复模板中却是案件 {other}" in r for r in reasons
    )

    with Session() as s, s.begin():  # the case was re-routed to 城管 meanwhile
        s.get(Case, case_id).lead_department = "chengguan"
    second = tmp_path / "old_department.eml"
    second.write_bytes(
        answer_to(lead, "banli@jiaotong.example.gov.cn", "已处理。",
                  attachment=(name, filled_template(template, text="已修好。")))
    )  # fmt: skip
    assert CliRunner().invoke(app, ["ingest", str(second), "--channel", "email"]).exit_code == 0
    assert count(Reply) == 0 and count(Case) == 2
    with Session() as s:
        reasons = [render(r.why) for r in s.scalars(select(Rejection))]
    assert any(f"但案件 {number} 现由区城市管理局承办" in r for r in reasons), reasons


def test_a_reply_to_a_duty_alert_opens_no_case(minq, tmp_path, monkeypatch):
    from minqing.settings import reset_settings
    from tasks.duty import send_duty_alert
    from tests.integration.test_duty_alert import duty_config

    monkeypatch.setenv("MINQING_CONFIG_DIR", str(duty_config(tmp_path, "http://127.0.0.1:9")))
    reset_settings()
    with minq.sink():
        send_duty_alert("紧急件 3 件", "三件紧急件待处理。", kind="urgent", robots=False)
    (alert,) = stored_messages(minq.mail_dir)
    eml = tmp_path / "duty_reply.eml"
    eml.write_bytes(answer_to(alert, "duty@street.example.gov.cn", "收到，已电话通知各单位。"))
    result = CliRunner().invoke(app, ["ingest", str(eml), "--channel", "email"])
    assert result.exit_code == 0, result.output
    night()
    assert count(Case) == 0 and count(Submission) == 0
    with Session() as s:
        (kept,) = s.scalars(select(Rejection)).all()
        assert "对值班提醒邮件的回复" in render(kept.why)
