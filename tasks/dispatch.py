"""交办 dispatch: route ready cases to their departments with a working-day deadline, queue the
assignment messages and schedule the look-backs — all in one transaction per chunk.

Every assignment carries the reply template (答复模板, 案件编号 prefilled), the photos the
citizens sent (when the files are in the channel's inbox/archive folder) and, in its body, the
case's earlier handoffs. `assignment_attachments` is shared with re-routing (tasks/actions.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import (
    DEPARTMENT_KINDS,
    Area,
    AuditEvent,
    Case,
    Handoff,
    HandoffKind,
    Lookback,
    LookbackKind,
    Submission,
    case_number,
)
from db.queries import assignment_rounds, claim_case, set_status, write_first
from minqing.delivery import (
    ATTACHMENTS_FOLDER,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    photo_mime_type,
    photo_path,
    reply_template_csv,
    reply_template_name,
)
from minqing.followups import FROM_OFFICE, complaint_note, reassignment_notice
from minqing.i18n import _
from minqing.messages import Rendered, assignment_subject, listing
from minqing.normalize import redact
from minqing.reasons import reason
from minqing.routing import deadline, route
from minqing.settings import Settings
from minqing.states import ASSIGNMENT_KINDS, CaseStatus, assignment_kind
from minqing.urgency import assess_case
from minqing.workdays import LOCAL_TZ, is_provisional_deadline
from tasks.context import Context, context
from tasks.outbox import case_view, local_text, queue_handoff, render_for
from web.tokens import reply_link

ACTOR = "system:dispatch"
CHUNK = 2000


def dispatch_now(now: datetime | None = None, *, urgent_only: bool = False) -> dict[str, Any]:
    """Dispatch every case ready to route (or only the urgent ones: the daytime intake).

    Returns the counts and the ids of the handoffs queued, so a caller can send exactly those.
    """
    ctx = context()
    now = now or datetime.now(UTC)
    totals: dict[str, Any] = {
        "assigned": 0, "urgent": 0, "needs_review": 0, "handoffs": 0, "handoff_ids": [],
        **dict.fromkeys(ASSIGNMENT_KINDS, 0),
    }  # fmt: skip
    last_id = 0
    while True:
        with Session() as s, s.begin():
            write_first(s)
            query = select(Case).where(
                Case.status.in_([CaseStatus.TRIAGED, CaseStatus.REOPENED]), Case.id > last_id
            )
            if urgent_only:
                query = query.where(Case.priority == "urgent")
            cases = s.scalars(query.order_by(Case.id).limit(CHUNK)).all()
            if not cases:
                break
            last_id = cases[-1].id
            area_names = dict(s.execute(select(Area.code, Area.name)).all())
            rounds = assignment_rounds(s, [c.id for c in cases])
            for case in cases:
                # Another run (the daytime intake, a second night) may have read it too.
                if claim_case(s, case):
                    area = area_names.get(case.area_code or "")
                    _dispatch_case(s, ctx, case, area, rounds[case.id], now, totals)
    return totals


def _dispatch_case(
    s: Any,
    ctx: Context,
    case: Case,
    area: str | None,
    round_: int,
    now: datetime,
    totals: dict[str, Any],
) -> None:
    ref = ctx.ref
    decision = route(case.category, area, ref)
    if decision is None:
        case.review = reason("no_route", category=case.category, area=area)
        set_status(
            s, case, CaseStatus.NEEDS_REVIEW, ACTOR, "no_route", category=case.category, area=area
        )
        totals["needs_review"] += 1
        return
    assert case.category is not None
    kind = assignment_kind(case.status, round_)
    urgency = assess_case(f"{case.title}\n{case.text}", case.category, case.area_code, ref)
    urgent = urgency.urgent or case.priority == "urgent"  # once urgent, a case stays urgent
    case.priority = "urgent" if urgent else "normal"
    case.lead_department = decision.lead
    case.co_departments = list(decision.co)
    case.assigned_at = now
    case.due_at = deadline(now, case.category, urgent, ref, ctx.calendar)
    case.due_provisional = is_provisional_deadline(now, case.due_at, ctx.calendar)
    set_status(
        s,
        case,
        CaseStatus.ASSIGNED,
        ACTOR,
        "assigned",
        lead=decision.lead,
        co=list(decision.co),
        rule=decision.rule,
        due_at=case.due_at.isoformat(),
        priority=case.priority,
        **({"urgent": urgency.reason} if urgency.urgent else {}),
    )
    view = case_view(s, case, ref)
    history = case_history(s, case.id, ref)
    attachments = assignment_attachments(s, ctx.settings, case)
    why = urgent_reason(s, case, ref)
    reopened = reopen_reason(s, case)
    for code in (decision.lead, *decision.co):
        dept = ref.department_by_code[code]
        leads = code == decision.lead
        rendered = render_assignment(
            ctx,
            case,
            view,
            code,
            lead=decision.lead,
            co=decision.co,
            history=history,
            urgent=why,
            reopened=reopened,
        )
        handoff = queue_handoff(
            s,
            ref,
            key=assignment_key(case.id, round_, code),
            kind=HandoffKind.ASSIGNMENT,
            recipient=dept.email,
            recipient_name=dept.name,
            department_code=code,
            case_id=case.id,
            rendered=rendered,
            attachments=attachments if leads else attachments[1:],  # no reply template
        )
        if handoff is not None:
            totals["handoffs"] += 1
            totals["handoff_ids"].append(handoff.id)
    schedule_lookbacks(s, ctx, case)
    totals["assigned"] += 1
    totals[kind] += 1
    totals["urgent"] += urgent


def render_assignment(
    ctx: Context,
    case: Case,
    view: dict[str, Any],
    department: str,
    *,
    lead: str,
    co: Sequence[str],
    history: list[dict[str, str]],
    urgent: str | None,
    reopened: str | None = None,
) -> Rendered:
    """The assignment (问题交办单) of `case` to `department`, the `lead` or one of the `co`
    handlers: an urgent case's (`urgent` is why, see `urgent_reason`) and a reopened case's
    (`reopened` is why, see `reopen_reason`) say so in their subject and at the top of the
    body; the lead's names the reply link and the attached reply template, either of which
    answers; a co-handler's names the lead and the other co-handlers. Shared with re-routing
    (tasks/actions.py)."""
    ref = ctx.ref
    dept, leader = ref.department_by_code[department], ref.department_by_code[lead]
    leads = department == lead
    known = [c for c in co if c in ref.department_by_code]
    return render_for(
        ref,
        "assignment",
        assignment_subject(
            view["number"],
            case.title,
            lead=leads,
            urgent=urgent is not None,
            reopened=reopened is not None,
        ),
        _("问题交办单"),
        department=dept.name,
        role="lead" if leads else "co",
        lead=leader.name,
        lead_email=leader.email,
        co=listing(ref.department_by_code[c].name for c in known),
        others=listing(ref.department_by_code[c].name for c in known if c != department),
        reopened=reopened,
        case=view,
        history=history,
        urgent=urgent,
        urgent_days=ref.policy.deadlines.urgent_days,
        reply_link=reply_link(ctx.settings, case.id, case.reopen_count, department)
        if leads
        else None,
        reply_template=reply_template_name(view["number"]) if leads else None,
    )


# Audit actions whose detail records why a case was found urgent ("urgent": the reason).
URGENT_RECORDED = ("classified", "marked_urgent", "assigned")


def urgent_reason(s: Any, case: Case, ref: Any) -> str | None:
    """Why `case` is urgent, in the office's words (政策词“燃气泄漏”), None when it is not: what
    its own words, category and area decide (minqing.urgency.assess_case), else the reason
    recorded when it was found urgent (e.g. a later report of the same problem that spoke of
    danger), else 已标为紧急件. The assignment and the duty operator's alert both say it."""
    urgency = assess_case(f"{case.title}\n{case.text}", case.category, case.area_code, ref)
    if urgency.urgent:
        return urgency.reason
    if case.priority != "urgent":
        return None
    recorded = s.scalars(
        select(AuditEvent.detail)
        .where(AuditEvent.case_id == case.id, AuditEvent.action.in_(URGENT_RECORDED))
        .order_by(AuditEvent.id.desc())
    )
    for detail in recorded:
        if isinstance(detail, dict) and detail.get("urgent"):
            return str(detail["urgent"])
    return _("已标为紧急件")


def reopen_reason(s: Any, case: Case) -> str | None:
    """What a reopened case's assignments say at the top (minqing.followups.reassignment_notice):
    its round and why, from the latest "reopened" record — the representative's or the
    citizen's comment or the office's reason, redacted, never who gave it. None for a case never
    reopened."""
    if not case.reopen_count:
        return None
    recorded = s.scalars(
        select(AuditEvent.detail)
        .where(AuditEvent.case_id == case.id, AuditEvent.action == "reopened")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    detail = recorded if isinstance(recorded, dict) else {}
    # A look-back or a rating records its source and note; an operator, a reason.
    source = str(detail.get("source") or FROM_OFFICE)
    said = detail.get("note") if "source" in detail else detail.get("reason")
    note = complaint_note(redact(str(said)).text if said else None)
    return reassignment_notice(source, case.reopen_count, note)


def assignment_key(case_id: int, round_: int, department: str) -> str:
    """The outbox key of a case's assignment to a department in its `round_`-th assignment
    (db.queries.assignment_rounds): the same in every run that assigns it, never the clock."""
    return f"assignment:{case_id}:{round_}:{department}"


def case_history(s: Any, case_id: int, ref: Any) -> list[dict[str, str]]:
    """The case's earlier messages to departments, for the next department's mail (never the
    citizen's survey or a representative's request: their names and addresses stay private)."""
    rows = s.scalars(
        select(Handoff)
        .where(Handoff.case_id == case_id, Handoff.kind.in_(sorted(DEPARTMENT_KINDS)))
        .order_by(Handoff.id)
    ).all()
    return [
        {"when": local_text(h.created_at), "what": h.subject, "to": h.recipient_name or h.recipient}
        for h in rows
    ]


def assignment_attachments(s: Any, settings: Settings, case: Case) -> list[dict[str, Any]]:
    """The reply template, then the case's photos (at most MAX_PHOTOS, each file once)."""
    found = [reply_template_attachment(case_number(case.id, case.created_at))]
    seen: set[str] = set()
    rows = s.execute(
        select(Submission.channel, Submission.attachments)
        .where(Submission.case_id == case.id)
        .order_by(Submission.id)
    ).all()
    for channel, references in rows:
        for reference in references or ():
            relative = photo_path(str(reference))
            photo = _keep_photo(settings, channel, relative) if relative else None
            if photo is None or photo["sha256"] in seen:
                continue
            seen.add(photo["sha256"])
            found.append(photo)
            if len(found) > MAX_PHOTOS:
                return found
    return found


def reply_template_attachment(number: str) -> dict[str, Any]:
    """The reply template (答复模板) of case `number` as an attachment: the assignment's first,
    and the 到期提醒's only one."""
    return {
        "filename": reply_template_name(number),
        "content": reply_template_csv(number),
        "mime_type": "text/csv",
    }


def _keep_photo(settings: Settings, channel: str, relative: PurePosixPath) -> dict[str, Any] | None:
    """Find a referenced photo in inbox/<channel>/ or archive/<channel>/ (the path itself, or
    its name in the attachments/ folder) and keep a copy under var/attachments/ named by its
    SHA-256, so the handoff's attachment cannot change or vanish before it is sent."""
    if Path(channel).name != channel:
        return None
    for base in (settings.inbox_dir, settings.archive_dir):
        folder = base / channel
        for candidate in (folder / relative, folder / ATTACHMENTS_FOLDER / relative.name):
            try:
                real = candidate.resolve(strict=True)
                if not real.is_relative_to(folder.resolve()) or not real.is_file():
                    continue  # a symlink or a name that leads out of the channel's folder
                if not 0 < real.stat().st_size <= MAX_PHOTO_BYTES:
                    continue
                data = real.read_bytes()
            except OSError:
                continue
            digest = hashlib.sha256(data).hexdigest()
            kept = PurePosixPath("attachments", digest[:2], digest + relative.suffix.lower())
            target = settings.var_dir / kept
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                partial.write_bytes(data)
                os.replace(partial, target)
            return {
                "filename": relative.name,
                "path": kept.as_posix(),
                "sha256": digest,
                "size": len(data),
                "mime_type": photo_mime_type(relative.name),
            }
    return None


def reminder_at(ctx: Context, due_at: datetime, assigned_at: datetime) -> datetime | None:
    """到期提醒: 09:00 Beijing time, N working days before the deadline's day, but not before
    the first working day after the assignment's: a short deadline (an urgent case's two
    working days) would otherwise bring the reminder in the same night as the assignment.
    None when that day is past the deadline's."""
    days = ctx.ref.policy.lookback.reminder_days_before_deadline
    due_day = due_at.astimezone(LOCAL_TZ).date()
    remind_day = max(
        ctx.calendar.subtract_working_days(due_day, days),
        ctx.calendar.next_working_day(assigned_at.astimezone(LOCAL_TZ).date()),
    )
    if remind_day > due_day:
        return None
    return datetime.combine(remind_day, time(9), LOCAL_TZ).astimezone(UTC)


def schedule_lookbacks(s: Any, ctx: Context, case: Case) -> None:
    """到期提醒 at 09:00 N working days before the deadline (after the assignment's day), 超期督办
    once it has passed."""
    assert case.due_at is not None and case.assigned_at is not None
    remind_at = reminder_at(ctx, case.due_at, case.assigned_at)
    if remind_at is not None:
        _schedule(s, case.id, LookbackKind.REMINDER, remind_at)
    _schedule(s, case.id, LookbackKind.ESCALATION, case.due_at + timedelta(seconds=1))


def _schedule(s: Any, case_id: int, kind: LookbackKind, due: datetime) -> None:
    """One look-back per (case, kind, time): a case reopened and re-assigned on the same day
    gets the same deadline again, so its earlier (cancelled) row is made live once more."""
    existing = s.scalar(
        select(Lookback).where(
            Lookback.case_id == case_id, Lookback.kind == kind, Lookback.due_at == due
        )
    )
    if existing is None:
        s.add(Lookback(case_id=case_id, kind=kind, due_at=due))
    else:
        existing.done_at = existing.result = None


@task(name="dispatch")
def dispatch_cases() -> dict[str, Any]:
    """交办: route, set deadlines, queue assignment messages, schedule look-backs."""
    totals = dispatch_now()
    del totals["handoff_ids"]  # the night sends everything due; a night's ids are many
    return totals
