"""Provisional deadlines (暂定办理时限): a deadline counted Monday–Friday because a year's
holidays were not configured is flagged on the case; when config/calendar.yaml gains the year,
the next reference load (every night, `minqing db upgrade`) counts it again — and the 回头看
requests (verification after the reply) counted into such a year too.

A recounted deadline that moves later is the department's new deadline: the case, its reminder
and escalation move, the change is audited (`deadline_recounted`) and the lead department is
told (a `deadline` handoff, 办理时限调整) while it is still handling the case. A deadline never
moves earlier than the date the department was told (minqing.workdays.revised_deadline).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select

from db.engine import Session
from db.models import Case, HandoffKind, Lookback, LookbackKind, Reply
from db.queries import audit
from minqing.followups import at_due_hour, local_day
from minqing.i18n import _
from minqing.messages import deadline_text
from minqing.states import CaseStatus
from minqing.workdays import LOCAL_TZ, is_provisional_deadline, revised_deadline
from tasks.actions import _reschedule_followups
from tasks.context import Context, context
from tasks.outbox import case_view, queue_handoff, render_for

ACTOR = "system:calendar"


def recount_provisional_now(now: datetime | None = None) -> dict[str, int]:
    """Recount the flagged deadlines whose years are configured now; flag the open cases whose
    deadline runs into a year that is still unconfigured (cases from before the flag existed)."""
    ctx = context()
    now = now or datetime.now(UTC)
    totals = {"recounted": 0, "moved": 0, "notified": 0, "flagged": 0, "verifications": 0}
    with Session() as s, s.begin():
        for case in s.scalars(select(Case).where(Case.due_provisional.is_(True)).order_by(Case.id)):
            _recount(s, ctx, case, now, totals)
        first_day = datetime.combine(now.astimezone(LOCAL_TZ).date().replace(month=1, day=1),
                                     time(0), LOCAL_TZ)  # fmt: skip
        totals["verifications"] = _recount_verifications(s, ctx)
        for case in s.scalars(
            select(Case).where(
                Case.status == CaseStatus.ASSIGNED,
                Case.due_provisional.is_(False),
                Case.assigned_at.is_not(None),
                Case.due_at >= first_day,
            )
        ):
            if is_provisional_deadline(case.assigned_at, case.due_at, ctx.calendar):
                case.due_provisional = True
                totals["flagged"] += 1
    return totals


def _recount_verifications(s: Any, ctx: Context) -> int:
    """回头看 requests not yet sent whose day was counted Monday–Friday into a year that is
    configured now: counted again from the reply (`verify_after_reply_days` working days), as
    tasks/imports.py scheduled them. One counted on the holidays already is left as it is."""
    days = ctx.ref.policy.lookback.verify_after_reply_days
    moved = 0
    for lb in s.scalars(
        select(Lookback).where(
            Lookback.kind == LookbackKind.VERIFICATION,
            Lookback.done_at.is_(None),
        )
    ):
        day = local_day(lb.due_at)
        if ctx.calendar.year_source(day.year) != "config":
            continue  # only a year the config added can have been counted Monday–Friday
        replied = s.scalar(
            select(Reply.received_at)
            .where(Reply.case_id == lb.case_id, Reply.received_at <= lb.due_at)
            .order_by(Reply.received_at.desc())
            .limit(1)
        )
        if replied is None:
            continue
        start = local_day(replied)
        counted_then = ctx.calendar.configured_since(start, day).add_working_days(start, days)
        now_day = ctx.calendar.add_working_days(start, days)
        if counted_then != day or now_day == day:
            continue
        previous = lb.due_at
        lb.due_at = at_due_hour(now_day)
        audit(s, ACTOR, "verification_recounted", case_id=lb.case_id,
              previous=previous.isoformat(), due_at=lb.due_at.isoformat())  # fmt: skip
        moved += 1
    return moved


def _recount(s: Any, ctx: Context, case: Case, now: datetime, totals: dict[str, int]) -> None:
    if case.assigned_at is None or case.due_at is None:
        case.due_provisional = False
        return
    if is_provisional_deadline(case.assigned_at, case.due_at, ctx.calendar):
        return  # the year is still not configured
    previous = case.due_at
    case.due_at = revised_deadline(case.assigned_at, previous, ctx.calendar)
    case.due_provisional = is_provisional_deadline(case.assigned_at, case.due_at, ctx.calendar)
    moved = case.due_at != previous
    audit(s, ACTOR, "deadline_recounted", case_id=case.id, previous=previous.isoformat(),
          due_at=case.due_at.isoformat(), moved=moved)  # fmt: skip
    totals["recounted"] += 1
    if not moved:
        return
    totals["moved"] += 1
    if case.status is not CaseStatus.ASSIGNED:
        return  # answered already: the date only matters for the figures
    _reschedule_followups(s, ctx, case, now, "cancelled: deadline recounted")
    if _notify(s, ctx, case, previous):
        totals["notified"] += 1


def _notify(s: Any, ctx: Context, case: Case, previous: datetime) -> bool:
    ref = ctx.ref
    dept = ref.department_by_code.get(case.lead_department or "")
    if dept is None:
        return False
    view = case_view(s, case, ref)
    message = _(
        "本案办理时限曾因当年法定节假日安排尚未公布，暂按周一至周五计算为%(previous)s。"
        "节假日安排现已公布，按工作日重新计算，办理时限调整为%(due)s，请在新时限内答复。"
    ) % {"previous": deadline_text(previous), "due": deadline_text(case.due_at)}
    subject = _("【办理时限调整】%(number)s %(title)s") % {
        "number": view["number"],
        "title": case.title,
    }
    rendered = render_for(
        ref, "followup", subject, _("办理时限调整"),
        recipient=dept.name, message=message, case=view,
    )  # fmt: skip
    return (
        queue_handoff(
            s,
            ref,
            key=f"deadline:{case.id}:{case.reopen_count}:{case.due_at.isoformat()}",
            kind=HandoffKind.DEADLINE,
            recipient=dept.email,
            recipient_name=dept.name,
            department_code=dept.code,
            case_id=case.id,
            rendered=rendered,
        )  # fmt: skip
        is not None
    )
