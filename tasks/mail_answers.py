"""邮件回复: e-mails that answer minqing's own messages, found by intake. The assignment asks the
department to send the reply template back by e-mail and the survey asks the citizen to answer
it: neither answer is a new opinion, so none opens a case.

An e-mail answers ours when its In-Reply-To / References name a message minqing sent (the
handoffs' deterministic Message-IDs), or else when its subject is a reply's or a forward's
naming a case number. Then (minqing.returns.answer_action):
  - a department's answer with the reply template attached is imported as a reply file
    dropped in inbox/replies would be (tasks/imports.import_mailed_reply), recorded as come
    by e-mail;
  - a citizen's answer to the survey becomes its rating when its first lines say 满意 /
    基本满意 / 不满意 (and 已办成 / 未办成), as a rating file's row would;
  - anything else (no template, words that say no rating or two) is kept for a clerk: a
    Rejection naming the case (the night's rejections table, the console's 拒收 page).
Each leaves a "mail_answer" event on the case's trail with who sent it: a colleague may answer
for the department, so the sender is recorded, never used to refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select

from db.engine import Session
from db.models import Case, Handoff, Person, Rejection, Survey, case_number
from db.queries import audit, find_case
from minqing.channels.base import safe_excerpt
from minqing.intake import PreparedBatch
from minqing.normalize import normalize_text, redact
from minqing.reasons import Reason, reason
from minqing.reasons import columns as reason_columns
from minqing.records import ALREADY_IMPORTED, MailAnswer
from minqing.returns import RatingRow, answer_action, rating_in_words
from minqing.trail import MAIL_ACTOR
from tasks.context import Context, context
from tasks.imports import import_mailed_reply, store_rating

MAX_COMMENT = 500


@dataclass(frozen=True)
class Answered:
    """The case (and survey) an e-mail answers, and the kind of our message it answers (None:
    only its subject named the case)."""

    case_id: int | None  # None: an answer to a message about no case (a duty alert)
    number: str
    kind: str | None
    survey_id: int | None = None
    person_id: int | None = None
    department: str | None = None  # the department the answered message went to


def take_answers(batch: PreparedBatch, report: Any) -> None:
    """Take the batch's answers to our own mail out of it, each handled in its own transaction;
    what is left is stored as opinions. `report` (tasks.ingest.FileReport) counts them."""
    ctx = context()
    left = [
        i
        for i, answer in enumerate(batch.answers)
        if answer is None or not take_answer(ctx, batch.rows[i], answer, report)
    ]
    if len(left) < len(batch.rows):
        batch.keep(left)


def take_answer(ctx: Context, row: dict[str, Any], answer: MailAnswer, report: Any) -> bool:
    """Handle one e-mail (its prepared Submission `row`) if it answers one of our messages
    about a case; False when it does not (it is an opinion then)."""
    actor = MAIL_ACTOR + (answer.sender or "?")
    with Session() as s, s.begin():
        found = answered(s, answer)
        if found is None:
            return False
        action = answer_action(found.kind, found.survey_id is not None, bool(answer.tables))
        report.answers += 1
        if found.case_id is None:  # e.g. a reply to a duty alert about several cases
            action = "kept"
            why = reason("mail_answer_no_case", kind=found.kind or "", sender=answer.sender)
            _keep(s, row, answer, found, why, actor, report)
        elif action == "rating":
            _rate(s, ctx, row, answer, found, actor, report)
        elif action != "reply_file":
            code = "mail_reply_no_template" if action == "no_template" else "mail_answer_kept"
            why = reason(code, case=found.number, sender=answer.sender, kind=found.kind or "")
            _keep(s, row, answer, found, why, actor, report)
    if action == "reply_file":
        for name, content in answer.tables:
            _import_table(ctx, name, content, found, answer, actor, report)
    return True


def answered(s: Any, answer: MailAnswer) -> Answered | None:
    """The case (and survey) `answer` answers: by the Message-IDs it refers to, else by the
    case number in its subject; None when it answers nothing of ours about a case."""
    handoff = (
        s.scalars(
            select(Handoff)
            .where(Handoff.message_id.in_(answer.references))
            .order_by(Handoff.case_id.is_(None), Handoff.id.desc())  # a case's message first
        ).first()
        if answer.references
        else None
    )
    if handoff is not None and handoff.case_id is None:
        return Answered(None, "", handoff.kind.value)
    department = None
    if handoff is not None:
        department = handoff.department_code
        case = s.get(Case, handoff.case_id)
        survey = s.scalar(select(Survey).where(Survey.handoff_id == handoff.id))
        kind: str | None = handoff.kind.value
    elif answer.case_ref:
        case, kind = find_case(s, answer.case_ref), None
        survey = (
            s.scalars(
                select(Survey)
                .join(Person, Person.id == Survey.person_id)
                .where(Survey.case_id == case.id, Person.email == answer.sender)
                .order_by(Survey.round.desc(), Survey.id.desc())
            ).first()
            if case is not None and answer.sender
            else None
        )
    else:
        return None
    while case is not None and case.merged_into_id is not None:
        case = s.get(Case, case.merged_into_id)
    if case is None:
        return None
    return Answered(
        case.id,
        case_number(case.id, case.created_at),
        kind,
        survey.id if survey else None,
        survey.person_id if survey else None,
        department,
    )


def _rate(
    s: Any,
    ctx: Context,
    row: dict[str, Any],
    answer: MailAnswer,
    found: Answered,
    actor: str,
    report: Any,
) -> None:
    """The survey's rating from the answer's words, as a rating file's row; kept for a clerk
    when the words say none (or two)."""
    words = rating_in_words(answer.text)
    if words is None:
        why = reason("mail_rating_unclear", case=found.number, sender=answer.sender)
        _keep(s, row, answer, found, why, actor, report)
        return
    satisfaction, solved = words
    comment = redact(normalize_text(answer.text)).text[:MAX_COMMENT] or None
    rating = RatingRow(
        source_key=row["source_key"],
        source_ref=row["source_ref"],
        case_ref=found.number,
        phone=None,
        satisfaction=satisfaction,
        solved=solved,
        comment=comment,
        rated_at=row["received_at"],
        channel="email",
    )
    result = store_rating(
        s,
        ctx,
        rating,
        person=s.get(Person, found.person_id),
        survey=s.get(Survey, found.survey_id),
        actor=actor,
    )
    if result == ALREADY_IMPORTED:
        report.known += 1
    elif isinstance(result, Reason):  # e.g. the case is not answered (any more)
        _keep(s, row, answer, found, result, actor, report)
    else:
        _trail(s, actor, found, answer, row, "rating", satisfaction=satisfaction, solved=solved)


def _trail(
    s: Any,
    actor: str,
    found: Answered,
    answer: MailAnswer,
    row: dict[str, Any],
    result: str,
    **detail: Any,
) -> None:
    """The case's trail: an answer by e-mail, who sent it and what became of it."""
    audit(s, actor, "mail_answer", case_id=found.case_id, result=result, answered=found.kind,
          sender=answer.sender, message=row["source_ref"], **detail)  # fmt: skip


def _keep(
    s: Any,
    row: dict[str, Any],
    answer: MailAnswer,
    found: Answered,
    why: Reason,
    actor: str,
    report: Any,
) -> None:
    """Keep the answer for a clerk: a Rejection naming the case, and the case's trail says so."""
    if s.scalar(select(Rejection.id).where(Rejection.source_key == row["source_key"])) is None:
        s.add(
            Rejection(
                source_key=row["source_key"],
                channel=row["channel"],
                source_file=row["source_file"],
                source_ref=row["source_ref"],
                **reason_columns(why),
                excerpt=safe_excerpt(f"{answer.sender} {row['title']} {row['text']}")[:500],
            )
        )
        _trail(s, actor, found, answer, row, "kept", reason_code=why.code,
               reason_params=dict(why.params))  # fmt: skip
    report.rejected += 1
    report.rejections.append({"来源": row["source_ref"], "原因": str(why)})


def _answers_found(found: Answered, sender: str | None, s: Any, case: Case) -> Reason | None:
    """Why a row of a mailed reply template is not this e-mail's to give: a row about another
    case than the message answered, or an answer from a department that no longer leads the
    case (re-routed away) or never did (co-handling). None: it is."""
    target = case
    while target.merged_into_id is not None:
        target = s.get(Case, target.merged_into_id)
    number = case_number(case.id, case.created_at)
    if target.id != found.case_id:
        return reason("mail_reply_other_case", answered=found.number, case=number, sender=sender)
    if found.department and target.lead_department != found.department:
        names = context().ref.department_by_code
        return reason(
            "mail_reply_not_lead",
            case=number,
            sender=sender,
            department=getattr(names.get(found.department), "name", found.department),
            lead=getattr(names.get(target.lead_department or ""), "name", "—"),
        )
    return None


def _import_table(
    ctx: Context,
    name: str,
    content: bytes,
    found: Answered,
    answer: MailAnswer,
    actor: str,
    report: Any,
) -> None:
    """One attached table imported as a reply file; its file line and refused rows join the
    e-mail's in the night's summary."""
    out = import_mailed_reply(
        ctx, name, content, actor=actor, check=partial(_answers_found, found, answer.sender)
    )
    files = out.get("files") or []
    report.returned.extend(files)
    report.rejections.extend(out["rejections"])
    report.rejected += out["rejected"]
    done = files[0] if files else {}
    if done.get("status") in (None, "already_taken"):
        return
    with Session() as s, s.begin():
        audit(
            s,
            actor,
            "mail_answer",
            case_id=found.case_id,
            result="reply_file",
            answered=found.kind,
            sender=answer.sender,
            file=done.get("name"),
            status=done.get("status"),
            taken=done.get("taken", 0),
            rejected=done.get("rejected", 0),
            reason=done.get("reason"),
        )
