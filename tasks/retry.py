"""Operators' retry of failed handoffs (the `retry-handoffs` deployment and
`minqing handoffs retry` call the same function)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import Handoff, HandoffKind, HandoffStatus
from db.queries import audit
from minqing.reference import Reference
from minqing.workdays import LOCAL_TZ
from tasks.context import context
from tasks.deliver import deliver_now

RETRYABLE = (HandoffStatus.FAILED, HandoffStatus.DEAD)
# Handoffs addressed to a department's inbox; escalations go to its head.
TO_DEPARTMENT = (HandoffKind.ASSIGNMENT, HandoffKind.REMINDER, HandoffKind.REOPEN,
                 HandoffKind.WITHDRAWAL)  # fmt: skip


def current_address(handoff: Handoff, ref: Reference) -> str | None:
    """Where a department's handoff goes by today's config/departments.yaml (None: not a
    department's handoff, or the department is gone). A failure is often a wrong address: the
    office fixes it in config, and the retry must follow."""
    dept = ref.department_by_code.get(handoff.department_code or "")
    if dept is None:
        return None
    if handoff.kind in TO_DEPARTMENT:
        return dept.email
    if handoff.kind is HandoffKind.ESCALATION:
        return dept.escalation_email
    return None


def select_handoffs(
    s: Any,
    *,
    ids: Sequence[int] | None = None,
    department: str | None = None,
    statuses: Sequence[str] = ("failed", "dead"),
    since: datetime | None = None,
) -> list[Handoff]:
    query = select(Handoff).where(Handoff.status.in_([HandoffStatus(x) for x in statuses]))
    if ids:
        query = query.where(Handoff.id.in_(list(ids)))
    if department:
        query = query.where(Handoff.department_code == department)
    if since:
        # An operator's date without a zone means Beijing time (the stored times are UTC).
        aware = since if since.tzinfo else since.replace(tzinfo=LOCAL_TZ)
        query = query.where(Handoff.created_at >= aware)
    return list(s.scalars(query.order_by(Handoff.id)))


def retry_now(
    *,
    ids: Sequence[int] | None = None,
    department: str | None = None,
    statuses: Sequence[str] = ("failed", "dead"),
    since: datetime | None = None,
    dry_run: bool = False,
    operator: str = "operator",
) -> dict[str, Any]:
    """Put matching failed/dead handoffs back to pending and send them now (or only list them),
    a department's to the address config gives it now."""
    bad = [x for x in statuses if HandoffStatus(x) not in RETRYABLE]
    if bad:
        raise ValueError(f"only failed or dead handoffs can be retried, not {bad}")
    ref = context().ref
    with Session() as s, s.begin():
        rows = select_handoffs(s, ids=ids, department=department, statuses=statuses, since=since)
        chosen = [
            {
                "id": h.id,
                "to": current_address(h, ref) or h.recipient,
                "subject": h.subject,
                "status": h.status.value,
                "error": h.last_error,
            }
            for h in rows
        ]
        if not dry_run:
            for h in rows:
                audit(
                    s,
                    operator,
                    "handoff_retry",
                    case_id=h.case_id,
                    entity="handoff",
                    entity_id=h.id,
                    from_state=h.status.value,
                    to_state="pending",
                    previous_error=h.last_error,
                )
                h.status, h.attempts, h.next_attempt_at = HandoffStatus.PENDING, 0, None
                address = current_address(h, ref)
                if address and address != h.recipient:
                    audit(s, operator, "handoff_readdressed", case_id=h.case_id,
                          entity="handoff", entity_id=h.id, previous=h.recipient,
                          recipient=address)  # fmt: skip
                    h.recipient = address
    if dry_run or not chosen:
        return {"dry_run": dry_run, "selected": chosen, "delivery": None}
    delivery = deliver_now(ids=[h.id for h in rows])
    return {"dry_run": False, "selected": chosen, "delivery": delivery}


@task(name="retry-handoffs")
def retry_handoffs_task(**kwargs: Any) -> dict[str, Any]:
    return retry_now(**kwargs)
