"""Query helpers shared by tasks and the web app. They take a session and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import (
    Area,
    AuditEvent,
    Case,
    Category,
    Department,
    case_id_from_number,
    utcnow,
)
from minqing.reference import Reference
from minqing.states import CaseStatus, check_transition


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> int:
    """Bulk INSERT that skips rows whose `conflict` columns already exist; returns rows added.

    One executemany (every row needs the same keys): the statement is compiled once, where a
    multi-row VALUES statement built per batch cost more than the database's work.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).on_conflict_do_nothing(index_elements=conflict)
    # The drivers sum the rows each execution inserted; preserve_rowcount keeps that number
    # (SQLAlchemy reports -1 for an executemany on psycopg otherwise).
    result = session.execute(stmt.execution_options(preserve_rowcount=True), list(rows))
    return result.rowcount


def sync_reference(session: Session, ref: Reference) -> None:
    """Upsert departments, areas and categories from config (by code); nothing is deleted."""
    _upsert(
        session,
        Department,
        {
            d.code: {
                "name": d.name,
                "email": d.email,
                "head_name": d.head.name,
                "head_email": d.head.email,
                "active": True,
            }
            for d in ref.departments
        },
    )
    _upsert(
        session,
        Area,
        {
            a.code: {
                "name": a.name,
                "representative_name": a.representative.name,
                "representative_email": a.representative.email,
            }
            for a in ref.areas
        },
    )
    _upsert(
        session,
        Category,
        {
            c.code: {
                "name": c.name,
                "top": c.top,
                "parent": c.parent,
                "deadline_days": c.deadline_days,
            }
            for c in ref.flat_categories
        },
    )
    configured = {d.code for d in ref.departments}
    for dept in session.scalars(select(Department)):
        dept.active = dept.code in configured


def _upsert(session: Session, model: type, values_by_code: dict[str, dict[str, Any]]) -> None:
    existing = {row.code: row for row in session.scalars(select(model))}
    for code, values in values_by_code.items():
        row = existing.get(code)
        if row is None:
            session.add(model(code=code, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
    session.flush()


def audit(
    session: Session,
    actor: str,
    action: str,
    *,
    case_id: int | None = None,
    entity: str = "case",
    entity_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> None:
    event = AuditEvent(
        actor=actor,
        action=action,
        case_id=case_id,
        entity=entity,
        entity_id=entity_id if entity_id is not None else case_id,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )
    if at is not None:
        event.at = at
    session.add(event)


def audit_row(
    actor: str,
    action: str,
    *,
    case_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """The row `audit` would add for a case, for `insert_rows` when a stage records thousands
    of events at once (triage)."""
    return {
        "at": at or utcnow(),
        "actor": actor,
        "action": action,
        "case_id": case_id,
        "entity": "case",
        "entity_id": case_id,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail,
    }


def set_status(
    session: Session, case: Case, target: CaseStatus, actor: str, action: str, **detail: Any
) -> None:
    """Move a case through the state machine and record it; refused moves raise."""
    previous = case.status
    case.status = check_transition(previous, target)
    audit(
        session,
        actor,
        action,
        case_id=case.id,
        from_state=previous.value,
        to_state=target.value,
        **detail,
    )


def find_case(session: Session, reference: str) -> Case | None:
    """A case by its number (MQ2026-000123) or by a channel's own reference (ticket number)."""
    from db.models import Submission

    reference = reference.strip()
    if not reference:
        return None
    case_id = case_id_from_number(reference)
    if case_id is not None:
        return session.get(Case, case_id)
    sub = session.scalars(
        select(Submission).where(
            Submission.source_ref == reference, Submission.case_id.is_not(None)
        )
    ).first()
    if sub is None or sub.case_id is None:
        return None
    case = session.get(Case, sub.case_id)
    # A duplicate folded into another case answers as the case it was merged into.
    while case is not None and case.merged_into_id is not None:
        case = session.get(Case, case.merged_into_id)
    return case


def truncate_all(session: Session, tables: Iterable[Table]) -> None:
    """Empty tables (children first). For tests and the demo's --fresh."""
    for table in tables:
        session.execute(delete(table))


def write_first(session: Session) -> None:
    """Begin a claiming transaction: on SQLite take the database's write lock before reading,
    so a second run reads only after the first committed (instead of failing, once it wants to
    write, on a snapshot that is no longer the newest). PostgreSQL needs nothing: its claims
    wait for the row, then look again."""
    if session.get_bind().dialect.name != "postgresql":
        from db.bulk import take_write_lock

        take_write_lock(session)


def claim_case(session: Session, case: Case) -> bool:
    """Claim a case in the status it was read in: one conditional UPDATE, held until commit.

    Of two runs that read the same case, one claims it; the other's UPDATE waits for that
    transaction, finds the status changed and matches no row — so it leaves the case alone.
    """
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == case.status)
        .values(status=case.status)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def assignment_rounds(session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """How often each case was assigned so far (dispatched or re-routed, from the audit
    trail): the round of its next assignment. Message keys name the round, never the clock, so
    two runs that assign the same case compute the same key and the outbox takes it once."""
    counts: dict[int, int] = dict.fromkeys(case_ids, 0)
    for start in range(0, len(case_ids), 500):
        rows = session.execute(
            select(AuditEvent.case_id, func.count())
            .where(
                AuditEvent.case_id.in_(case_ids[start : start + 500]),
                AuditEvent.entity == "case",
                AuditEvent.to_state == CaseStatus.ASSIGNED.value,
            )
            .group_by(AuditEvent.case_id)
        )
        counts.update({case_id: n for case_id, n in rows if case_id is not None})
    return counts
