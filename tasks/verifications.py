"""回头看 results: what the area's representative found when going back to check a replied case
(inbox/verifications: 案件编号, 核实结果 已核实/未核实, 说明, 核实人, 核实时间). Verified → the
case is verified (and closes once the citizens are content); not verified → reopened with the
representative's note sent to the department (or, after max_reopen, to the leaders).

`close_if_complete` is also called after each rating: a case closes when its loop is complete.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

from db.models import Case, Lookback, LookbackKind, Person, Rating, Submission
from db.queries import audit, find_case, set_status
from minqing.followups import (
    NO_REPRESENTATIVE,
    NOT_VERIFIED,
    RECORDED,
    VERIFIED,
    VerificationRow,
    ready_to_close,
)
from minqing.reasons import Reason, reason
from minqing.records import ALREADY_IMPORTED, unknown_case_reason
from minqing.states import CaseStatus
from tasks.context import Context
from tasks.lookback import AWAITING_VERIFICATION, reopen_or_escalate

ACTOR = "system:verification"


def store_verification(s: Any, ctx: Context, row: VerificationRow) -> Reason | str | None:
    """Record one 回头看 result; None when taken, else why it was refused."""
    case = find_case(s, row.case_ref)
    if case is None:
        return unknown_case_reason(row.case_ref)
    result = VERIFIED if row.verified else NOT_VERIFIED
    lb = _latest_verification(s, case.id)
    if lb is not None and lb.result in RECORDED:
        if (lb.result, lb.checked_by, lb.note) == (result, row.checker, row.note):
            return ALREADY_IMPORTED
        return reason(
            "verification_recorded",
            case=case.number,
            checker=lb.checked_by or "—",
            result=lb.result,
        )
    if case.status not in AWAITING_VERIFICATION:
        return reason("not_awaiting_verification", case=case.number, status=case.status.value)
    when = row.checked_at or datetime.now(UTC)
    if (
        lb is None
    ):  # recorded before it was scheduled (an old case, or a representative ahead of time)
        lb = Lookback(case_id=case.id, kind=LookbackKind.VERIFICATION, due_at=when)
        s.add(lb)
        s.flush()
    lb.done_at, lb.result, lb.checked_by, lb.note = when, result, row.checker, row.note
    audit(
        s,
        ACTOR,
        "verification_recorded",
        case_id=case.id,
        entity="lookback",
        entity_id=lb.id,
        result=result,
        by=row.checker,
        note=row.note,
        source=row.source_ref,
    )
    if row.verified:
        if case.status is CaseStatus.REPLIED:
            set_status(s, case, CaseStatus.VERIFIED, ACTOR, "verified", by=row.checker)
        close_if_complete(s, case, when)
    else:
        reopen_or_escalate(
            s,
            ctx,
            case,
            source="verification",
            note=row.note,
            by=row.checker,
            actor=ACTOR,
            when=when,
        )
    return None


def _latest_verification(s: Any, case_id: int) -> Lookback | None:
    return s.scalars(
        select(Lookback)
        .where(Lookback.case_id == case_id, Lookback.kind == LookbackKind.VERIFICATION)
        .order_by(Lookback.due_at.desc(), Lookback.id.desc())
    ).first()


def close_if_complete(s: Any, case: Case, when: datetime) -> bool:
    """办结: close a verified or rated case whose 回头看 and citizens' answers are all in order."""
    if case.status not in (CaseStatus.VERIFIED, CaseStatus.RATED):
        return False
    lb = _latest_verification(s, case.id)
    settled = lb is not None and lb.result in (VERIFIED, NO_REPRESENTATIVE)
    if not ready_to_close(settled, _current_answers(s, case), _contactable(s, case.id)):
        return False
    case.closed_at = when
    set_status(
        s,
        case,
        CaseStatus.CLOSED,
        ACTOR,
        "closed",
        outcome=case.outcome.value if case.outcome else None,
    )
    return True


def _current_answers(s: Any, case: Case) -> list[tuple[str, bool | None]]:
    """Each citizen's latest answer given since the latest reply (this round)."""
    superseded = select(Rating.supersedes_id).where(Rating.supersedes_id.is_not(None))
    query = select(Rating).where(Rating.case_id == case.id, Rating.id.not_in(superseded))
    if case.replied_at is not None:
        query = query.where(Rating.rated_at >= case.replied_at)
    latest: dict[Any, Rating] = {}
    for r in s.scalars(query.order_by(Rating.rated_at, Rating.id)):
        latest[r.person_id if r.person_id is not None else f"anon:{r.id}"] = r
    return [(r.satisfaction.value, r.solved) for r in latest.values()]


def _contactable(s: Any, case_id: int) -> int:
    return len(
        set(
            s.scalars(
                select(Person.id)
                .join(Submission, Submission.person_id == Person.id)
                .where(
                    Submission.case_id == case_id,
                    Person.contact_ok.is_(True),
                    or_(Person.email.is_not(None), Person.phone.is_not(None)),
                )
            )
        )
    )
