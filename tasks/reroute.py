"""An operator's decisions on one case from the command line: re-route (改派) to another
department, extend the deadline (延期). One transaction each.

The rules themselves live in tasks/actions.py, shared with the operator console, so the console
and `minqing cases ...` cannot drift apart: re-routing queues the assignment for the new
department and a withdrawal (HandoffKind.WITHDRAWAL) for the old one, applies the deadline
policy again from now and replaces the reminder/escalation look-backs; an extension moves the
deadline and the look-backs with it. Both are recorded as AuditEvents with the operator's name.
This module finds the case by its number (or a channel's own reference) and counts working days
for `--days`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from db.engine import Session
from db.models import Handoff
from db.queries import find_case
from minqing.extensions import MAX_EXTENSION_DAYS, is_deadline_day, next_deadline_day
from minqing.i18n import _
from minqing.workdays import LOCAL_TZ, due_at
from tasks.actions import ActionError, extend_deadline, reroute
from tasks.context import context
from tasks.outbox import local_text


def reroute_case(
    reference: str,
    department: str,
    *,
    reason: str,
    operator: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """改派 `reference` to `department`; returns the case, old and new lead, new deadline and
    the queued handoffs. Raises ActionError (message for the operator) when it cannot."""
    ctx = context()
    now = now or datetime.now(UTC)
    reason, operator = reason.strip(), operator.strip()
    if not operator:
        raise ActionError(_("请填写操作人（--operator）"))
    with Session() as s, s.begin():
        case = _find(s, reference)
        previous = case.lead_department
        ids = reroute(s, ctx, case.id, department, reason, operator, now)
        handoffs = list(s.scalars(select(Handoff).where(Handoff.id.in_(ids)).order_by(Handoff.id)))
        return {
            "case": case.number,
            "from": previous,
            "to": case.lead_department,
            "due": local_text(case.due_at),
            "handoffs": [{"id": h.id, "kind": h.kind.value, "to": h.recipient} for h in handoffs],
        }


def extend_case(
    reference: str,
    days: int,
    *,
    reason: str,
    approver: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """延期 by `days` working days counted from the current deadline, approved by `approver`
    (recorded as the AuditEvent's actor); the reminder and the escalation move with it and the
    lead department's notice is queued (returned in `handoffs`)."""
    ctx = context()
    now = now or datetime.now(UTC)
    reason, approver = reason.strip(), approver.strip()
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ActionError(_("延期天数须在 1 到 %(max)d 个工作日之间") % {"max": MAX_EXTENSION_DAYS})
    if not approver:
        raise ActionError(_("请填写批准人（--approver）"))
    with Session() as s, s.begin():
        case = _find(s, reference)
        if case.due_at is None:
            raise ActionError(_("只有已交办、未答复的案件可以延期"))
        previous = case.due_at
        new_day = due_at(previous, days, ctx.calendar).astimezone(LOCAL_TZ).date()
        if not is_deadline_day(new_day, ctx.calendar):  # 元旦 in a year counted Monday–Friday
            new_day = next_deadline_day(new_day, ctx.calendar)
        ids = extend_deadline(s, ctx, case.id, new_day, reason, approver, now, approver=approver)
        handoffs = s.scalars(select(Handoff).where(Handoff.id.in_(ids)).order_by(Handoff.id))
        return {
            "case": case.number,
            "previous_due": local_text(previous),
            "due": local_text(case.due_at),
            "days": days,
            "approver": approver,
            "handoffs": [{"id": h.id, "kind": h.kind.value, "to": h.recipient} for h in handoffs],
        }


def _find(s: Any, reference: str) -> Any:
    case = find_case(s, reference)
    if case is None:
        raise ActionError(_("找不到案件 %(case)s") % {"case": reference})
    return case
