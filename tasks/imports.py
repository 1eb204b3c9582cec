"""Import what came back during the day: department replies (答复) and citizen ratings (评价)
from inbox/replies and inbox/ratings. Rows are matched to cases, validated, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import (
    Case,
    IngestedFile,
    Lookback,
    LookbackKind,
    Person,
    Rating,
    Rejection,
    Reply,
    Satisfaction,
    Survey,
)
from db.queries import find_case, set_status
from minqing.channels import file_checksum
from minqing.records import Rejected, UnreadableFile
from minqing.returns import RatingRow, ReplyRow, parse_ratings, parse_replies
from minqing.states import CaseStatus, Outcome, can_transition
from minqing.workdays import LOCAL_TZ
from tasks.context import Context, context
from tasks.inbox import archive, move_to_failed, waiting_files

ACTOR = "system:import"


def import_returns_now() -> dict[str, Any]:
    ctx = context()
    out: dict[str, Any] = {"replies": 0, "ratings": 0, "rejected": 0, "rejections": []}
    for channel, parse, store in (
        ("replies", parse_replies, _store_reply),
        ("ratings", parse_ratings, _store_rating),
    ):
        for path in waiting_files(ctx.settings, channel):
            _import_file(ctx, channel, path, parse, store, out)
    return out


def _import_file(
    ctx: Context, channel: str, path: Path, parse: Any, store: Any, out: dict[str, Any]
) -> None:
    checksum = file_checksum(path)
    with Session() as s, s.begin():
        if s.scalar(
            select(IngestedFile.id).where(
                IngestedFile.channel == channel, IngestedFile.checksum == checksum
            )
        ):
            archive(ctx.settings, channel, path, checksum)
            return
        taken = rejected = 0
        try:
            for row in parse(path, checksum):
                reason = row.reason if isinstance(row, Rejected) else store(s, ctx, row)
                if reason is None:
                    taken += 1
                    continue
                if reason == "already imported":
                    continue
                rej = (
                    row
                    if isinstance(row, Rejected)
                    else Rejected(channel, row.source_key, row.source_ref, reason, path.name)
                )
                if (
                    s.scalar(select(Rejection.id).where(Rejection.source_key == rej.source_key))
                    is None
                ):
                    s.add(
                        Rejection(
                            source_key=rej.source_key,
                            channel=channel,
                            source_file=path.name,
                            source_ref=rej.source_ref,
                            reason=rej.reason,
                            excerpt=rej.excerpt,
                        )
                    )
                rejected += 1
                out["rejections"].append(
                    {"渠道": channel, "文件": path.name, "来源": rej.source_ref, "原因": rej.reason}
                )
        except UnreadableFile as exc:
            s.rollback()
            move_to_failed(ctx.settings, channel, path, str(exc))
            with Session() as s2, s2.begin():
                s2.add(
                    IngestedFile(
                        channel=channel,
                        name=path.name,
                        checksum=checksum,
                        size=path.stat().st_size if path.exists() else 0,
                        status="failed",
                        reason=str(exc),
                    )
                )
            return
        s.add(
            IngestedFile(
                channel=channel,
                name=path.name,
                checksum=checksum,
                size=path.stat().st_size,
                status="taken",
                items=taken,
                rejected=rejected,
            )
        )
    archive(ctx.settings, channel, path, checksum)
    out[channel] += taken
    out["rejected"] += rejected


def _store_reply(s: Any, ctx: Context, row: ReplyRow) -> str | None:
    """Record a reply; returns None when taken, else the reason it was refused."""
    if s.scalar(select(Reply.id).where(Reply.source_key == row.source_key)):
        return "already imported"
    case = find_case(s, row.case_ref)
    if case is None:
        return f"unknown 案件编号 {row.case_ref!r}"
    if case.status not in (CaseStatus.ASSIGNED, CaseStatus.REPLIED):
        return f"case {row.case_ref} is {case.status.value}, not waiting for a reply"
    s.add(
        Reply(
            case_id=case.id,
            department_code=case.lead_department,
            received_at=row.received_at,
            outcome=row.outcome,
            text=row.text,
            handler=row.handler,
            via="import",
            source_key=row.source_key,
        )
    )
    if row.outcome is Outcome.NOT_RESPONSIBLE:
        case.review_reason = f"不属职责 ({case.lead_department}): {row.text[:200]}"
        set_status(
            s,
            case,
            CaseStatus.NEEDS_REVIEW,
            ACTOR,
            "not_responsible",
            department=case.lead_department,
        )
    else:
        case.outcome, case.replied_at = row.outcome, row.received_at
        set_status(
            s,
            case,
            CaseStatus.REPLIED,
            ACTOR,
            "replied",
            outcome=row.outcome.value,
            handler=row.handler,
        )
        _schedule_verification(s, ctx, case, row.received_at)
    _cancel_open_followups(s, case.id, row.received_at)
    return None


def _schedule_verification(s: Any, ctx: Context, case: Case, replied_at: datetime) -> None:
    """回头看: the area's representative checks M working days after the reply."""
    days = ctx.ref.policy.lookback.verify_after_reply_days
    day = ctx.calendar.add_working_days(replied_at.astimezone(LOCAL_TZ).date(), days)
    due = datetime.combine(day, time(9), LOCAL_TZ).astimezone(UTC)
    exists = s.scalar(
        select(Lookback.id).where(
            Lookback.case_id == case.id,
            Lookback.kind == LookbackKind.VERIFICATION,
            Lookback.done_at.is_(None),
        )
    )
    if not exists:
        s.add(Lookback(case_id=case.id, kind=LookbackKind.VERIFICATION, due_at=due))


def _cancel_open_followups(s: Any, case_id: int, when: datetime) -> None:
    for lb in s.scalars(
        select(Lookback).where(
            Lookback.case_id == case_id,
            Lookback.done_at.is_(None),
            Lookback.kind.in_(
                [LookbackKind.REMINDER, LookbackKind.ESCALATION, LookbackKind.LEADER]
            ),
        )
    ):
        lb.done_at, lb.result = when, "cancelled: replied"


def _store_rating(s: Any, ctx: Context, row: RatingRow) -> str | None:
    if s.scalar(select(Rating.id).where(Rating.source_key == row.source_key)):
        return "already imported"
    case = find_case(s, row.case_ref)
    if case is None:
        return f"unknown 案件编号 {row.case_ref!r}"
    if not can_transition(case.status, CaseStatus.RATED):
        return f"case {row.case_ref} is {case.status.value}, nothing to rate yet"
    person = (
        s.scalar(select(Person).where(Person.identity_key == f"phone:{row.phone}"))
        if row.phone
        else None
    )
    previous = s.scalars(
        select(Rating)
        .where(Rating.case_id == case.id, Rating.person_id == (person.id if person else None))
        .order_by(Rating.rated_at.desc(), Rating.id.desc())
    ).first()
    survey = (
        s.scalars(
            select(Survey).where(
                Survey.case_id == case.id,
                Survey.person_id == person.id,
                Survey.answered_at.is_(None),
            )
        ).first()
        if person
        else None
    )
    rating = Rating(
        case_id=case.id,
        person_id=person.id if person else None,
        survey_id=survey.id if survey else None,
        satisfaction=Satisfaction(row.satisfaction),
        solved=row.solved,
        comment=row.comment,
        channel=row.channel,
        rated_at=row.rated_at,
        source_key=row.source_key,
        supersedes_id=previous.id if previous else None,
    )
    s.add(rating)
    if survey:
        survey.answered_at = row.rated_at
    set_status(
        s, case, CaseStatus.RATED, ACTOR, "rated", satisfaction=row.satisfaction, solved=row.solved
    )
    return None


@task(name="import-replies-and-ratings")
def import_replies_and_ratings() -> dict[str, Any]:
    """答复与评价: import the day's reply and rating files."""
    return import_returns_now()
