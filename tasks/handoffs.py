"""Operators' work on the outbox, as plain service functions (no Prefect): list what is not
delivered, resend it, or confirm that a message did arrive. `minqing handoffs …`, the console
and the `retry-handoffs` deployment (tasks/retry.py) all call these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case as when_then
from sqlalchemy import func, select, update

from db.engine import Session
from db.models import Case, Handoff, HandoffKind, HandoffStatus, case_number
from db.queries import audit
from minqing.handoffs import (
    RETRYABLE,
    UNDELIVERED,
    confirm_refusal,
    retry_refusal,
    waiting_for_server,
)
from minqing.i18n import _
from minqing.reference import Reference
from minqing.workdays import LOCAL_TZ
from tasks.context import context
from tasks.deliver import STALE_SENDING, deliver_now
from tasks.outbox import local_text

# Handoffs addressed to a department's inbox; escalations go to its head.
TO_DEPARTMENT = (HandoffKind.ASSIGNMENT, HandoffKind.REMINDER, HandoffKind.REOPEN,
                 HandoffKind.WITHDRAWAL, HandoffKind.DEADLINE)  # fmt: skip


class HandoffRefused(ValueError):
    """An operator's request on the outbox that cannot be done (message in Chinese)."""


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


def _matching(
    query: Any,
    *,
    ids: Sequence[int] | None = None,
    department: str | None = None,
    statuses: Sequence[str] = UNDELIVERED,
    since: datetime | None = None,
    kind: str | None = None,
) -> Any:
    """`query` narrowed to an operator's filters (the list and its counts use the same)."""
    query = query.where(Handoff.status.in_([HandoffStatus(x) for x in statuses]))
    if ids:
        query = query.where(Handoff.id.in_(list(ids)))
    if department:
        query = query.where(Handoff.department_code == department)
    if kind:
        query = query.where(Handoff.kind == HandoffKind(kind))
    if since:
        # An operator's date without a zone means Beijing time (the stored times are UTC).
        aware = since if since.tzinfo else since.replace(tzinfo=LOCAL_TZ)
        query = query.where(Handoff.created_at >= aware)
    return query


# What an operator reads first in a list of undelivered messages (`minqing handoffs list`, the
# console's 未送达 page): the duty alerts and the messages of urgent cases, then the newest.
_URGENT = when_then((Handoff.kind == HandoffKind.DUTY, 0), (Case.priority == "urgent", 0), else_=1)
WHAT_MATTERS_FIRST = (_URGENT, Handoff.id.desc())
# The order they were queued in (a resend's preview and result).
AS_QUEUED = (Handoff.id,)


def select_handoffs(
    s: Any,
    *,
    limit: int | None = None,
    order: tuple[Any, ...] = AS_QUEUED,
    **filters: Any,
) -> list[tuple[Handoff, datetime | None, bool]]:
    """Handoffs matching an operator's filters (`_matching`) in `order` (as queued, or
    WHAT_MATTERS_FIRST), with their case's opening time (for the case number) and whether the
    case is urgent."""
    query = _matching(
        select(Handoff, Case.created_at, Case.priority).outerjoin(Case, Case.id == Handoff.case_id),
        **filters,
    )
    query = query.order_by(*order)
    if limit:
        query = query.limit(limit)
    return [(h, opened, priority == "urgent") for h, opened, priority in s.execute(query).all()]


def count_handoffs(*, statuses: Sequence[str] = UNDELIVERED, **filters: Any) -> dict[str, int]:
    """How many handoffs match the filters, by status (zeros included): a list's true totals,
    however many rows it shows."""
    with Session() as s:
        query = _matching(
            select(Handoff.status, func.count()), statuses=statuses, **filters
        ).group_by(Handoff.status)
        found = {status.value: n for status, n in s.execute(query).all()}
    return {status: found.get(status, 0) for status in statuses}


def send_now(ids: Sequence[int]) -> list[dict[str, Any]]:
    """Send the messages an operator's action has just queued, at once (`--send-now`); each
    as it stands afterwards (`describe`), so what is said adds up to what was queued."""
    deliver_now(ids=list(ids))
    ref = context().ref
    with Session() as s:
        rows = select_handoffs(s, ids=list(ids), statuses=[x.value for x in HandoffStatus])
        return [describe(h, opened, ref, urgent) for h, opened, urgent in rows]


def describe(
    h: Handoff, opened: datetime | None, ref: Reference, urgent: bool = False
) -> dict[str, Any]:
    """A handoff as plain data for tables: ids, names and addresses, no ORM object; `urgent`:
    its case is urgent (shown as 急 beside the case number)."""
    dept = ref.department_by_code.get(h.department_code or "")
    return {
        "id": h.id,
        "case_id": h.case_id,
        "case_number": case_number(h.case_id, opened) if h.case_id and opened else "",
        "urgent": urgent,
        "kind": h.kind.value,
        "department": h.department_code,
        "department_name": dept.name if dept else (h.department_code or ""),
        "to": h.recipient,
        "status": h.status.value,
        "attempts": h.attempts,
        "next_attempt": local_text(h.next_attempt_at, with_time=True),
        "error": h.last_error,
        # never tried since the SMTP server proved unreachable: it waits, it did not fail
        "waiting": waiting_for_server(h.status.value, h.attempts, h.last_error),
        "subject": h.subject,
    }


def list_handoffs(
    *,
    statuses: Sequence[str] = UNDELIVERED,
    department: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    order: tuple[Any, ...] = WHAT_MATTERS_FIRST,
) -> list[dict[str, Any]]:
    """What is not delivered (or any chosen statuses), for `minqing handoffs list`, the
    console's 未送达 page (both: duty alerts and urgent cases' messages first, then the newest,
    so a limit never cuts those off) and the failed-handoffs table (as queued)."""
    ref = context().ref
    with Session() as s:
        rows = select_handoffs(s, statuses=statuses, department=department, kind=kind,
                               since=since, limit=limit, order=order)  # fmt: skip
        return [describe(h, opened, ref, urgent) for h, opened, urgent in rows]


def outstanding_counts(s: Any) -> dict[str, int]:
    """Every undelivered handoff now, by status (zeros included)."""
    found = dict(
        s.execute(
            select(Handoff.status, func.count())
            .where(Handoff.status.in_([HandoffStatus(x) for x in UNDELIVERED]))
            .group_by(Handoff.status)
        ).all()
    )
    return {status: found.get(HandoffStatus(status), 0) for status in UNDELIVERED}


def retry_now(
    *,
    ids: Sequence[int] | None = None,
    department: str | None = None,
    statuses: Sequence[str] = RETRYABLE,
    since: datetime | None = None,
    dry_run: bool = False,
    operator: str = "",
) -> dict[str, Any]:
    """Put the matching undelivered handoffs (pending, failed, dead) back to pending and send
    them now — a department's to the address config gives it now — or, as a dry run, only list
    exactly what would be sent. A real run needs the operator's name for the audit trail; a
    message number that does not exist is refused by name."""
    refusal = retry_refusal(list(statuses), dry_run=dry_run, operator=operator)
    if refusal:
        raise HandoffRefused(refusal)
    ref = context().ref
    with Session() as s, s.begin():
        known = set(s.scalars(select(Handoff.id).where(Handoff.id.in_(ids)))) if ids else set()
        unknown = [str(i) for i in ids or () if i not in known]
        if unknown:
            raise HandoffRefused(_("没有编号为 %(ids)s 的消息。") % {"ids": _("、").join(unknown)})
        rows = select_handoffs(s, ids=ids, department=department, statuses=statuses, since=since)
        chosen = []
        for h, opened, urgent in rows:
            row = describe(h, opened, ref, urgent)
            row["to"] = current_address(h, ref) or h.recipient
            chosen.append(row)
        if not dry_run:
            for h, *_rest in rows:
                _back_to_pending(s, h, ref, operator.strip())
    if dry_run or not chosen:
        return {"dry_run": dry_run, "selected": chosen, "delivery": None}
    delivery = deliver_now(ids=[row["id"] for row in chosen])
    with Session() as s:
        now = {
            h.id: (h.status.value, h.last_error, h.attempts)
            for h in s.scalars(select(Handoff).where(Handoff.id.in_([r["id"] for r in chosen])))
        }
    for row in chosen:
        row["outcome"], row["new_error"], row["new_attempts"] = now[row["id"]]
    return {"dry_run": False, "selected": chosen, "delivery": delivery}


def _back_to_pending(s: Any, h: Handoff, ref: Reference, operator: str) -> None:
    audit(s, operator, "handoff_retry", case_id=h.case_id, entity="handoff", entity_id=h.id,
          from_state=h.status.value, to_state="pending", previous_error=h.last_error)  # fmt: skip
    h.status, h.attempts, h.next_attempt_at = HandoffStatus.PENDING, 0, None
    address = current_address(h, ref)
    if address and address != h.recipient:
        audit(s, operator, "handoff_readdressed", case_id=h.case_id, entity="handoff",
              entity_id=h.id, previous=h.recipient, recipient=address)  # fmt: skip
        h.recipient = address


def confirm_delivered_now(
    handoff_id: int, *, reason: str, operator: str, now: datetime | None = None
) -> dict[str, Any]:
    """确认送达: the recipient confirms an undelivered message did arrive (typically one
    interrupted mid-send), so it counts as sent and is never sent again. Audited with who and
    why; refused for a message already sent or one a deliverer is sending right now."""
    now = now or datetime.now(UTC)
    with Session() as s, s.begin():
        h = s.get(Handoff, handoff_id)
        if h is None:
            raise HandoffRefused(_("没有编号为 %(id)d 的消息。") % {"id": handoff_id})
        refusal = confirm_refusal(h.status.value, h.sending_at, now, STALE_SENDING,
                                  reason=reason, operator=operator)  # fmt: skip
        if refusal:
            raise HandoffRefused(refusal)
        before, error = h.status, h.last_error
        # Conditional, like the deliverer's claim: if a deliverer took the row meanwhile, the
        # confirmation loses and says so, instead of both "sending" and "sent" winning.
        changed = s.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == before)
            .values(status=HandoffStatus.SENT, sent_at=now, next_attempt_at=None, last_error=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise HandoffRefused(_("该消息的状态刚刚发生了变化，请刷新后再确认。"))
        audit(s, operator.strip(), "handoff_confirmed_delivered", case_id=h.case_id,
              entity="handoff", entity_id=h.id, from_state=before.value, to_state="sent",
              reason=reason.strip(), previous_error=error)  # fmt: skip
        return {"id": h.id, "case_id": h.case_id, "previous": before.value}
