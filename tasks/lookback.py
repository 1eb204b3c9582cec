"""回头督办 look-back scan: act on every look-back due today — remind before the deadline,
escalate to the department head the working day after it and again every few working days,
bring long-overdue cases to the leaders (领导领衔督办), and ask the area's representative for
the 回头看 after the reply. Each row is acted on once: its done_at is set in the same
transaction that queues the message, and the message's key names the row.

Also here: what a complaint does to a case (`reopen_or_escalate`), used by the 回头看 results
and the citizens' ratings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import Area, Case, Handoff, HandoffKind, Lookback, LookbackKind, case_number
from db.queries import audit, set_status, write_first
from minqing.delivery import reply_template_name
from minqing.followups import (
    COMPLAINT_SOURCES,
    NO_REPRESENTATIVE,
    Complaint,
    after_complaint,
    complaint_leaders_notice,
    complaint_note,
    deferred_until,
    end_of_local_day,
    escalation_notice,
    leader_escalation_due,
    next_escalation_due,
    overdue_leaders_notice,
    overdue_working_days,
    reminder_notice,
    reopen_notice,
    verification_request,
)
from minqing.i18n import _
from minqing.messages import case_subject, deadline_text
from minqing.normalize import redact
from minqing.states import CaseStatus
from tasks.context import Context, context
from tasks.dispatch import reply_template_attachment
from tasks.outbox import case_view, queue_handoff, render_for
from web.tokens import reply_link, verify_link

ACTOR = "system:lookback"
# Statuses in which a case waits for its 回头看 (after the reply, maybe already rated).
AWAITING_VERIFICATION = (CaseStatus.REPLIED, CaseStatus.RATED)


def scan_now(now: datetime | None = None) -> dict[str, Any]:
    """Act on the look-backs due by the end of today (Beijing); safe to run any number of times.

    Returns the counts, and under "overdue" the cases escalated now (number, department, level)."""
    ctx = context()
    now = now or datetime.now(UTC)
    totals: dict[str, Any] = {
        "reminders": 0,
        "escalations": 0,
        "leaders": 0,
        "verifications": 0,
        "cancelled": 0,
        "deferred": 0,
        "overdue": [],
    }
    wait_until = deferred_until(now, ctx.calendar)
    with Session() as s, s.begin():
        write_first(s)  # SQLite: a concurrent scan waits, then sees these rows done
        due = s.scalars(
            select(Lookback)
            .where(Lookback.done_at.is_(None), Lookback.due_at <= end_of_local_day(now))
            .order_by(Lookback.due_at, Lookback.id)
            .with_for_update(skip_locked=True)  # PostgreSQL: a concurrent scan skips these rows
        ).all()
        for lb in due:
            if wait_until is not None:
                _defer(s, lb, wait_until, now, totals)
                continue
            case = s.get(Case, lb.case_id)
            assert case is not None
            _act(s, ctx, lb, case, now, totals)
    return totals


def _defer(s: Any, lb: Lookback, until: datetime, now: datetime, totals: dict[str, int]) -> None:
    """Not on a rest day: move the row to the next working day (or drop it as a duplicate)."""
    twin = s.scalar(
        select(Lookback.id).where(
            Lookback.case_id == lb.case_id, Lookback.kind == lb.kind, Lookback.due_at == until
        )
    )
    if twin is None:
        lb.due_at = until
        totals["deferred"] += 1
    else:
        lb.done_at, lb.result = now, f"cancelled: duplicate of {twin}"
        totals["cancelled"] += 1


def _act(
    s: Any, ctx: Context, lb: Lookback, case: Case, now: datetime, totals: dict[str, Any]
) -> None:
    lb.done_at = now
    reason = _why_not(lb, case, now)
    if reason:
        lb.result = f"cancelled: {reason}"[:40]  # the column holds 40 characters
        totals["cancelled"] += 1
        return
    if lb.kind is LookbackKind.REMINDER:
        handoffs = _remind(s, ctx, lb, case)
        totals["reminders"] += 1
    elif lb.kind is LookbackKind.ESCALATION:
        handoffs = _escalate(s, ctx, lb, case, now)
        totals["escalations"] += 1
        totals["overdue"].append(_overdue(case, "escalation"))
    elif lb.kind is LookbackKind.LEADER:
        handoffs = _to_leaders_overdue(s, ctx, lb, case, now)
        if not handoffs:
            lb.result = "failed: no leader e-mail"
            totals["cancelled"] += 1
            audit(
                s,
                ACTOR,
                "lookback_leader_failed",
                case_id=case.id,
                lookback=lb.id,
                reason="no leader with an e-mail in config/office.yaml",
            )
            return
        totals["leaders"] += 1
        totals["overdue"].append(_overdue(case, "leader"))
    else:
        handoffs = _ask_representative(s, ctx, lb, case)
        if not handoffs:
            lb.result = NO_REPRESENTATIVE
            totals["cancelled"] += 1
            return
        totals["verifications"] += 1
    lb.result = "sent"
    lb.handoff_id = handoffs[0].id if handoffs and handoffs[0] is not None else None
    audit(
        s,
        ACTOR,
        f"lookback_{lb.kind.value}",
        case_id=case.id,
        lookback=lb.id,
        handoffs=[h.id for h in handoffs if h is not None],
    )


def _why_not(lb: Lookback, case: Case, now: datetime) -> str | None:
    """Why this look-back no longer applies (the case moved on), or None."""
    if lb.kind is LookbackKind.VERIFICATION:
        return None if case.status in AWAITING_VERIFICATION else f"case is {case.status.value}"
    if case.status is not CaseStatus.ASSIGNED:
        return f"case is {case.status.value}"
    if case.due_at is None:
        return "no deadline"
    if lb.kind is LookbackKind.REMINDER and case.due_at <= now:
        return "deadline passed"
    if lb.kind is not LookbackKind.REMINDER and case.due_at > now:
        return "deadline moved"
    return None


def _message(
    s: Any,
    ctx: Context,
    case: Case,
    *,
    key: str,
    kind: HandoffKind,
    to: str,
    name: str | None,
    heading: str,
    message: str,
    link: str | None = None,
    overdue_days: int | None = None,
    reply: bool = False,
    deadline: bool = True,
) -> Handoff | None:
    """Queue one follow-up message about `case`: its subject is 【`heading`】 and the case.
    `overdue_days`: the deadline has passed, by so many working days (its line says so);
    `reply`: the lead department may answer with it — the round's reply link, if any, and the
    reply template, attached as the assignment attached it; `deadline`: False leaves the
    deadline out (a reopened case gets its new one with the new assignment)."""
    view = case_view(s, case, ctx.ref)
    if not deadline:
        view = {**view, "due": None}
    reply_context: dict[str, Any] = {}
    attachments = None
    if reply:
        reply_context = {
            "reply_link": reply_link(
                ctx.settings, case.id, case.reopen_count, case.lead_department or ""
            ),
            "reply_template": reply_template_name(view["number"]),
        }
        attachments = [reply_template_attachment(view["number"])]
    rendered = render_for(
        ctx.ref,
        "followup",
        case_subject(heading, view["number"], case.title),
        heading,
        recipient=name or to,
        message=message,
        case=view,
        link=link,
        overdue_days=overdue_days,
        **reply_context,
    )
    return queue_handoff(
        s,
        ctx.ref,
        key=key,
        kind=kind,
        recipient=to,
        recipient_name=name,
        department_code=case.lead_department,
        case_id=case.id,
        rendered=rendered,
        attachments=attachments,
    )


def _remind(s: Any, ctx: Context, lb: Lookback, case: Case) -> list[Handoff | None]:
    dept = ctx.ref.department_by_code[case.lead_department or ""]
    message = reminder_notice(case.number, deadline_text(case.due_at))
    return [
        _message(
            s,
            ctx,
            case,
            key=f"lookback:{lb.id}",
            kind=HandoffKind.REMINDER,
            to=dept.email,
            name=dept.name,
            heading=_("到期提醒"),
            message=message,
            reply=True,
        )
    ]


def _escalate(
    s: Any, ctx: Context, lb: Lookback, case: Case, now: datetime
) -> list[Handoff | None]:
    """超期督办 to the department head; schedule the next one and the leaders' turn."""
    policy, calendar = ctx.ref.policy.lookback, ctx.calendar
    assert case.due_at is not None
    dept = ctx.ref.department_by_code[case.lead_department or ""]
    days = overdue_working_days(case.due_at, now, calendar)
    message = escalation_notice(dept.name, case.number, deadline_text(case.due_at), days)
    handoff = _message(
        s,
        ctx,
        case,
        key=f"lookback:{lb.id}",
        kind=HandoffKind.ESCALATION,
        to=dept.escalation_email,
        name=dept.head.name,
        heading=_("超期督办"),
        message=message,
        overdue_days=days,
    )
    case.escalation_level = max(case.escalation_level, 1)
    _schedule(
        s,
        case.id,
        LookbackKind.ESCALATION,
        next_escalation_due(now, calendar, policy.escalate_repeat_days),
    )
    _schedule(
        s,
        case.id,
        LookbackKind.LEADER,
        leader_escalation_due(case.due_at, calendar, policy.leader_after_overdue_days),
    )
    return [handoff]


def _schedule(s: Any, case_id: int, kind: LookbackKind, due: datetime) -> None:
    exists = s.scalar(
        select(Lookback.id).where(
            Lookback.case_id == case_id, Lookback.kind == kind, Lookback.due_at == due
        )
    )
    if exists is None:
        s.add(Lookback(case_id=case_id, kind=kind, due_at=due))


def _to_leaders_overdue(
    s: Any, ctx: Context, lb: Lookback, case: Case, now: datetime
) -> list[Handoff | None]:
    assert case.due_at is not None
    dept = ctx.ref.department_by_code[case.lead_department or ""]
    days = overdue_working_days(case.due_at, now, ctx.calendar)
    message = overdue_leaders_notice(dept.name, case.number, deadline_text(case.due_at), days)
    handoffs = notify_leaders(
        s, ctx, case, key=f"lookback:{lb.id}", message=message, overdue_days=days
    )
    if handoffs:
        case.escalation_level = 2
    return handoffs


def notify_leaders(
    s: Any, ctx: Context, case: Case, *, key: str, message: str, overdue_days: int | None = None
) -> list[Handoff | None]:
    """领导领衔督办: one message to each leader of config/office.yaml that has an e-mail."""
    leaders = [p for p in ctx.ref.office.leaders if p.email]
    return [
        _message(
            s,
            ctx,
            case,
            key=f"{key}:{p.email}",
            kind=HandoffKind.LEADER,
            to=p.email or "",
            name=p.name,
            heading=_("领导领衔督办"),
            message=message,
            overdue_days=overdue_days,
        )
        for p in leaders
    ]


def _ask_representative(s: Any, ctx: Context, lb: Lookback, case: Case) -> list[Handoff | None]:
    area = s.scalar(select(Area).where(Area.code == case.area_code)) if case.area_code else None
    if area is None or not area.representative_email:
        return []
    message = verification_request(case.number)
    return [
        _message(
            s,
            ctx,
            case,
            key=f"lookback:{lb.id}",
            kind=HandoffKind.VERIFICATION,
            to=area.representative_email,
            name=area.representative_name,
            heading=_("回头看"),
            link=verify_link(ctx.settings, case.id, lb.id, area.representative_email),
            message=message,
        )
    ]


# --- complaints: 重办 or 领导领衔督办 ------------------------------------------------------------


def reopen_or_escalate(
    s: Any,
    ctx: Context,
    case: Case,
    *,
    source: str,
    note: str | None,
    by: str | None,
    actor: str,
    when: datetime | None = None,
) -> Complaint:
    """A failed 回头看 or a 不满意 / 未办成 answer: reopen the case with the reason sent to the
    department (重办), or — once it was reopened `surveys.max_reopen` times — bring it to the
    leaders. Idempotent per round: the messages' keys name the case and its reopen count."""
    if source not in COMPLAINT_SOURCES:
        raise ValueError(f"unknown complaint source {source!r}")
    # A citizen's comment may hold a phone number.
    said = complaint_note(redact(note).text if note else None)
    decision = after_complaint(case.reopen_count, ctx.ref.policy.surveys.max_reopen)
    if decision is Complaint.LEADERS:
        message = complaint_leaders_notice(source, case.number, case.reopen_count, said)
        sent = notify_leaders(
            s, ctx, case, key=f"leader:{case.id}:{case.reopen_count}", message=message
        )
        if any(h is not None for h in sent):
            case.escalation_level = 2
            audit(
                s,
                actor,
                "escalated_to_leaders",
                case_id=case.id,
                source=source,
                by=by,
                note=note,
                reopen_count=case.reopen_count,
            )
        return decision
    case.reopen_count += 1
    set_status(
        s,
        case,
        CaseStatus.REOPENED,
        actor,
        "reopened",
        source=source,
        by=by,
        note=note,
        reopen_count=case.reopen_count,
    )
    # Nothing pending of the old round stays open: reminders, and a 回头看 not yet recorded
    # (one already asked for is cancelled now: its done_at says when, no longer when it was sent).
    for lb in s.scalars(select(Lookback).where(Lookback.case_id == case.id)):
        if lb.done_at is None or (lb.kind is LookbackKind.VERIFICATION and lb.result == "sent"):
            lb.done_at, lb.result = when or datetime.now(UTC), "cancelled: reopened"
    dept = ctx.ref.department_by_code.get(case.lead_department or "")
    if dept is not None:
        message = reopen_notice(source, case.number, case.reopen_count, said)
        _message(
            s,
            ctx,
            case,
            key=f"reopen:{case.id}:{case.reopen_count}",
            kind=HandoffKind.REOPEN,
            to=dept.email,
            name=dept.name,
            heading=_("重办通知"),
            message=message,
            deadline=False,
        )
    return decision


def _overdue(case: Case, level: str) -> dict[str, str | None]:
    return {
        "case": case_number(case.id, case.created_at),
        "department": case.lead_department,
        "level": level,
    }


@task(name="lookback-scan")
def scan_lookbacks() -> dict[str, Any]:
    """回头督办: reminders, escalations, 领导领衔督办 and 回头看 requests that are due; each
    department's newly escalated cases are announced as minqing.case.overdue."""
    from tasks.events import CASE_OVERDUE, emit

    result = scan_now()
    by_department: dict[str | None, list[dict[str, str | None]]] = {}
    for item in result["overdue"]:
        by_department.setdefault(item["department"], []).append(item)
    for dept, items in by_department.items():
        emit(
            CASE_OVERDUE,
            payload={
                "count": len(items),
                "department": dept,
                "leaders": sum(1 for i in items if i["level"] == "leader"),
                "cases": [i["case"] for i in items],
            },
            department=(dept, None) if dept else None,
            cases=[str(i["case"]) for i in items],
        )
    return result
