"""Import what came back during the day: department replies (答复), citizen ratings (评价,
also the filled-in 回访清单 workbook), the representatives' 回头看 results (inbox/verifications)
and their collective evaluation of departments (inbox/evaluations). Rows are matched to cases,
validated, idempotent."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
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
    Submission,
    Survey,
)
from db.queries import audit, find_case, set_status
from minqing.channels import file_checksum
from minqing.channels.tabular import cell_text, iter_rows, sniff
from minqing.evaluations import parse_evaluations
from minqing.followups import at_due_hour, is_complaint, local_day, parse_verifications
from minqing.labels import channel_label
from minqing.reasons import Reason, reason
from minqing.reasons import columns as reason_columns
from minqing.records import ALREADY_IMPORTED, Rejected, UnreadableFile, unknown_case_reason
from minqing.returns import (
    RatingRow,
    ReplyRow,
    parse_ratings,
    parse_replies,
    reply_time_problem,
)
from minqing.states import CaseStatus, Outcome, can_transition
from tasks.context import Context, context
from tasks.evaluations import store_evaluation
from tasks.inbox import archive, claim, move_to_failed, waiting_files
from tasks.lookback import reopen_or_escalate
from tasks.verifications import close_if_complete, store_verification

ACTOR = "system:import"


def import_returns_now(now: datetime | None = None) -> dict[str, Any]:
    """Import every waiting return file; `now` (default: the clock) is when they arrive, the
    latest day a reply may be dated."""
    ctx = context()
    out: dict[str, Any] = {
        "replies": 0,
        "ratings": 0,
        "verifications": 0,
        "evaluations": 0,
        "rejected": 0,
        "rejections": [],
    }
    for channel, parse, store in (
        ("replies", parse_reply_file, partial(store_reply, now=now)),
        ("ratings", parse_rating_file, store_rating),
        ("verifications", parse_verifications, store_verification),
        ("evaluations", parse_evaluations, store_evaluation),
    ):
        for path in waiting_files(ctx.settings, channel):
            _import_claimed(ctx, channel, path, parse, store, out)
    return out


def import_channel(ctx: Context, channel: str, parse: Any, store: Any) -> dict[str, Any]:
    """Import the waiting files of one return channel: {channel: taken, rejected, rejections}."""
    out: dict[str, Any] = {channel: 0, "rejected": 0, "rejections": []}
    for path in waiting_files(ctx.settings, channel):
        _import_claimed(ctx, channel, path, parse, store, out)
    return out


def parse_reply_file(path: Path, checksum: str) -> Iterator[ReplyRow | Rejected]:
    """A reply file as CSV, or the reply template (答复模板) filled in and saved as a workbook."""
    if sniff(path) != "xlsx":
        yield from parse_replies(path, checksum)
        return
    rows = iter_rows(path)
    with tempfile.TemporaryDirectory() as tmp:
        twin = Path(tmp) / path.name
        with twin.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            for row in rows:
                writer.writerow([cell_text(v) for v in row.values])
        yield from parse_replies(twin, checksum)


def import_mailed_reply(
    ctx: Context,
    name: str,
    content: bytes,
    *,
    actor: str,
    check: Callable[[Any, Case], Reason | None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A reply template that came back attached to an e-mail answering an assignment: put in
    inbox/replies/ and imported at once, as the night imports a file dropped there — the same
    checks, records and audit — the replies recorded as come by e-mail (`via`) from `actor`.
    `check(session, case)`: why a row's case is not this e-mail's to answer (refused as such).
    Returns the import's figures (replies, rejected, rejections, files)."""
    folder = ctx.settings.inbox_dir / "replies"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _safe_name(name, content)
    if path.exists() and path.read_bytes() != content:
        path = path.with_name(f"{path.stem}-{hashlib.sha256(content).hexdigest()[:8]}{path.suffix}")
    partial_path = path.with_name(f".{path.name}.partial")
    partial_path.write_bytes(content)
    os.replace(partial_path, path)
    out: dict[str, Any] = {"replies": 0, "rejected": 0, "rejections": []}

    def store(s: Any, ctx: Context, row: ReplyRow) -> Reason | str | None:
        case = find_case(s, row.case_ref)
        problem = check(s, case) if check is not None and case is not None else None
        return problem or store_reply(s, ctx, row, via="email", actor=actor, now=now)

    _import_claimed(ctx, "replies", path, parse_reply_file, store, out)
    return out


def _safe_name(name: str, content: bytes) -> str:
    """The attachment's own name without any folder or odd character, ending in what the file
    is (a workbook or a CSV file)."""
    stem = re.sub(r"[^\w\-（）()]+", "_", Path(name.replace("\\", "/")).stem).strip("_")
    return f"{stem or 'reply'}{'.xlsx' if content.startswith(b'PK') else '.csv'}"


def parse_rating_file(path: Path, checksum: str) -> Iterator[RatingRow | Rejected]:
    """A rating file as CSV, or the 回访清单 workbook with the callers' answers filled in.

    Rows of the workbook whose 满意度 is still empty were not reached (yet): they are not
    answers, so they are neither taken nor refused.
    """
    if sniff(path) != "xlsx":
        yield from parse_ratings(path, checksum)
        return
    rows = iter_rows(path)
    first = next(rows, None)
    header = [cell_text(v) for v in first.values] if first else []
    answer = header.index("满意度") if "满意度" in header else None
    with tempfile.TemporaryDirectory() as tmp:
        twin = Path(tmp) / path.name
        with twin.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                cells = [cell_text(v) for v in row.values]
                if answer is not None and not (cells[answer] if answer < len(cells) else ""):
                    writer.writerow([])  # keeps the workbook's row numbers in the references
                    continue
                writer.writerow(cells)
        yield from parse_ratings(twin, checksum)


def _import_claimed(
    ctx: Context, channel: str, path: Path, parse: Any, store: Any, out: dict[str, Any]
) -> None:
    """Import a file unless another run is reading it (or has just archived it)."""
    with claim(path) as ours:
        if ours:
            _import_file(ctx, channel, path, parse, store, out)


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
            _report_file(out, channel, path, "already_taken")
            return
        taken = rejected = known = 0
        try:
            for row in parse(path, checksum):
                why = row.reason if isinstance(row, Rejected) else store(s, ctx, row)
                if why is None:
                    taken += 1
                    continue
                if isinstance(why, str):  # ALREADY_IMPORTED
                    known += 1
                    continue
                rej = (
                    row
                    if isinstance(row, Rejected)
                    else Rejected(channel, row.source_key, row.source_ref, why, path.name)
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
                            **reason_columns(rej.reason),
                            excerpt=rej.excerpt,
                        )
                    )
                rejected += 1
                out["rejections"].append(
                    {
                        "渠道": channel_label(channel),
                        "文件": path.name,
                        "来源": rej.source_ref,
                        "原因": str(rej.reason),
                    }
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
                        **reason_columns(exc.reason),
                    )
                )
            _report_file(out, channel, path, "failed", reason=str(exc))
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
    _report_file(out, channel, path, "taken", taken=taken, known=known, rejected=rejected)
    out[channel] += taken
    out["rejected"] += rejected


def _report_file(out: dict[str, Any], channel: str, path: Path, status: str, **counts: Any) -> None:
    """The file's line in the night's 文件 section (the same fields as intake's FileReport)."""
    row = {"channel": channel, "name": path.name, "status": status, "taken": 0, "known": 0,
           "rejected": 0, "reason": None}  # fmt: skip
    out.setdefault("files", []).append(row | counts)


def store_reply(
    s: Any,
    ctx: Context,
    row: ReplyRow,
    *,
    via: str = "import",
    actor: str = ACTOR,
    now: datetime | None = None,
) -> Reason | str | None:
    """Record a reply; returns None when taken, else the reason it was refused.

    The one rule for every way a reply comes in (import file, web form): a correction while
    the case waits for verification is a new Reply row; the newest one counts."""
    if s.scalar(select(Reply.id).where(Reply.source_key == row.source_key)):
        return ALREADY_IMPORTED
    case = find_case(s, row.case_ref)
    if case is None:
        return unknown_case_reason(row.case_ref)
    if case.status not in (CaseStatus.ASSIGNED, CaseStatus.REPLIED):
        return reason("not_awaiting_reply", case=case.number, status=case.status.value)
    if problem := reply_time_problem(row.received_at, case.assigned_at, now or datetime.now(UTC)):
        return problem
    s.add(
        Reply(
            case_id=case.id,
            department_code=case.lead_department,
            received_at=row.received_at,
            outcome=row.outcome,
            text=row.text,
            handler=row.handler,
            via=via,
            source_key=row.source_key,
        )
    )
    if row.outcome is Outcome.NOT_RESPONSIBLE:
        case.review = reason(
            "not_responsible",
            department=ctx.ref.department_name(case.lead_department),
            text=row.text[:200],
        )
        set_status(
            s,
            case,
            CaseStatus.NEEDS_REVIEW,
            actor,
            "not_responsible",
            department=case.lead_department,
        )
    else:
        case.outcome, case.replied_at = row.outcome, row.received_at
        set_status(
            s,
            case,
            CaseStatus.REPLIED,
            actor,
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
    due = at_due_hour(ctx.calendar.add_working_days(local_day(replied_at), days))
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


def store_rating(
    s: Any,
    ctx: Context,
    row: RatingRow,
    *,
    person: Person | None = None,
    survey: Survey | None = None,
    actor: str = ACTOR,
) -> Reason | str | None:
    """Record a rating (returns None, or the reason it was refused). A file row finds its
    citizen by phone; the web link knows the citizen and the survey and passes them.

    Ratings are immutable: a newer answer of the same citizen supersedes, the old row stays.
    An answer about the case's current round acts on it: 不满意 or 未办成 reopens the case
    (with the comment sent to the department) up to `surveys.max_reopen` times, then goes to
    the leaders; a good answer closes the case once its 回头看 is verified.
    """
    if s.scalar(select(Rating.id).where(Rating.source_key == row.source_key)):
        return ALREADY_IMPORTED
    case = find_case(s, row.case_ref)
    if case is None:
        return unknown_case_reason(row.case_ref)
    if case.replied_at is None:
        return reason("not_yet_replied", case=case.number, status=case.status.value)
    person = person or _rating_person(s, case.id, row.phone)
    person_id = person.id if person else None
    previous = (
        s.scalars(
            select(Rating)
            .where(Rating.case_id == case.id, Rating.person_id == person_id)
            .order_by(Rating.rated_at.desc(), Rating.id.desc())
        ).first()
        if person
        else None
    )
    survey = survey or (
        s.scalars(
            select(Survey)
            .where(
                Survey.case_id == case.id,
                Survey.person_id == person_id,
                Survey.answered_at.is_(None),
            )
            .order_by(Survey.round.desc())
        ).first()
        if person
        else None
    )
    rating = Rating(
        case_id=case.id,
        person_id=person_id,
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
    s.flush()
    if survey:
        survey.answered_at = row.rated_at
    current_round = survey is None or survey.round == case.reopen_count
    detail = {"rating": rating.id, "satisfaction": row.satisfaction, "solved": row.solved}
    if current_round and can_transition(case.status, CaseStatus.RATED):
        set_status(s, case, CaseStatus.RATED, actor, "rated", **detail)
    else:  # an answer about an earlier round, or the case is being redone: kept, not acted on
        audit(s, actor, "rated", case_id=case.id, status=case.status.value, **detail)
    if not current_round or case.status not in AFTER_REPLY:
        return None
    if is_complaint(row.satisfaction, row.solved):
        reopen_or_escalate(
            s, ctx, case, source="rating", note=row.comment, by=None, actor=actor, when=row.rated_at
        )
    else:
        close_if_complete(s, case, row.rated_at)
    return None


# Statuses in which an answer about the current round can reopen or close the case.
AFTER_REPLY = (CaseStatus.REPLIED, CaseStatus.VERIFIED, CaseStatus.RATED, CaseStatus.CLOSED)


def _rating_person(s: Any, case_id: int, phone: str | None) -> Person | None:
    """The citizen who answered, by phone: one linked to this case first."""
    if not phone:
        return None
    linked = s.scalars(
        select(Person)
        .join(Submission, Submission.person_id == Person.id)
        .where(Submission.case_id == case_id, Person.phone == phone)
    ).first()
    return linked or s.scalar(select(Person).where(Person.identity_key == f"phone:{phone}"))


@task(name="import-replies-and-ratings")
def import_replies_and_ratings() -> dict[str, Any]:
    """答复与评价: import the day's replies, ratings, 回头看 results and 代表评议 files."""
    return import_returns_now()
