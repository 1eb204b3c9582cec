"""What an operator can do to a case, as plain functions over a session: the one set of rules
behind the console's buttons (web/console.py) and `minqing cases|review ...` (tasks/casework.py,
tasks/reroute.py).

Each checks what it is allowed to do (the state machine, the reference data), changes the
case, and records an AuditEvent with the operator's name; none commits, nothing is deleted. A
refused action raises ActionError with a message for the operator. Messages that an action
decides to send (re-routing) are queued in the outbox like every other stage's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select

from db.models import Case, Handoff, HandoffKind, Lookback, LookbackKind, Submission
from db.queries import assignment_rounds, audit, find_case, set_status
from minqing import reasons
from minqing.extensions import extension_notice, extension_refusal
from minqing.i18n import _
from minqing.labels import status_label
from minqing.messages import case_subject, deadline_text
from minqing.routing import deadline
from minqing.states import CaseStatus, TransitionError, can_transition
from minqing.urgency import assess_case
from minqing.workdays import LOCAL_TZ, is_provisional_deadline
from tasks.context import Context
from tasks.dispatch import (
    assignment_attachments,
    assignment_key,
    case_history,
    render_assignment,
    reopen_reason,
    schedule_lookbacks,
    urgent_reason,
)
from tasks.outbox import case_view, queue_handoff, render_for

OPEN_FOLLOWUPS = (LookbackKind.REMINDER, LookbackKind.ESCALATION, LookbackKind.LEADER)
ROUTABLE = (CaseStatus.NEEDS_REVIEW, CaseStatus.TRIAGED, CaseStatus.ASSIGNED, CaseStatus.REOPENED)


class ActionError(ValueError):
    """An action the operator cannot take on this case now (message in Chinese)."""


def _case(s: Any, case_id: int) -> Case:
    case = s.get(Case, case_id, with_for_update=True)
    if case is None:
        raise ActionError(_("案件不存在"))
    return case


def confirm_category(s: Any, ctx: Context, case_id: int, category: str, operator: str) -> None:
    """确认/更正分类. A case waiting for review becomes ready to route at the next night.

    The operator's category is stored (category_source "operator"); the AuditEvent keeps the
    suggestion it replaced and whether it was a correction, so corrections can be found later
    (e.g. to retrain the classifier). No category chosen is refused: the case keeps waiting
    rather than going to whichever category happened to be first in the list."""
    if not category.strip():
        raise ActionError(_("请先选择分类再确认；案件未作任何更改。"))
    if category not in ctx.ref.category_by_name:
        raise ActionError(_("未知分类：%(category)s") % {"category": category})
    case = _case(s, case_id)
    if case.status is CaseStatus.MERGED:
        raise ActionError(_("已合并的案件不能更改分类；请处理其合并到的案件"))
    previous, suggested = case.category, case.category_source
    case.category, case.category_source, case.category_confidence = category, "operator", 1.0
    detail = {
        "category": category,
        "previous": previous,
        "previous_source": suggested,
        "corrected": previous != category,
    }
    if case.status in (CaseStatus.NEW, CaseStatus.NEEDS_REVIEW):
        case.review = None
        set_status(s, case, CaseStatus.TRIAGED, operator, "category_confirmed", **detail)
    else:
        audit(s, operator, "category_corrected", case_id=case.id, **detail)


def reroute(
    s: Any, ctx: Context, case_id: int, department: str, reason: str, operator: str, now: datetime
) -> list[int]:
    """改派: hand the case to `department` now, with a new deadline; the previous department
    is told to stop (撤回). Returns the ids of the queued messages."""
    ref = ctx.ref
    dept = ref.department_by_code.get(department)
    if dept is None:
        raise ActionError(_("未知单位：%(department)s") % {"department": department})
    if not reason:
        raise ActionError(_("请填写改派理由"))
    case = _case(s, case_id)
    if case.status not in ROUTABLE:
        raise ActionError(
            _("案件当前为“%(status)s”，不能改派") % {"status": status_label(case.status)}
        )
    if case.category is None or case.category not in ref.category_by_name:
        raise ActionError(_("请先确认分类，再改派"))
    previous = case.lead_department
    was_assigned = case.status is CaseStatus.ASSIGNED
    if was_assigned and previous == department:
        raise ActionError(_("案件已由该单位承办"))
    queued: list[int] = []
    round_ = assignment_rounds(s, [case.id])[case.id]  # this re-route's assignment round
    view = case_view(s, case, ref)
    if was_assigned and previous in ref.department_by_code:
        old = ref.department_by_code[previous]
        message = _(
            "案件 %(number)s 已改派至%(department)s办理，请贵单位停止办理，无需答复。"
            "改派理由：%(reason)s"
        ) % {"number": view["number"], "department": dept.name, "reason": reason}
        heading = _("改派撤回")
        # The old department is to stop: no deadline, nothing to answer by (_case.* shows the
        # deadline only for a case that has one).
        withdrawn = dict(view, due="", due_provisional=False)
        rendered = render_for(
            ref, "followup", case_subject(heading, view["number"], case.title), heading,
            recipient=old.name, message=message, case=withdrawn,
        )  # fmt: skip
        h = queue_handoff(
            s, ref, key=f"withdrawal:{case.id}:{round_}:{previous}",
            kind=HandoffKind.WITHDRAWAL, recipient=old.email, recipient_name=old.name,
            department_code=previous, case_id=case.id, rendered=rendered,
        )  # fmt: skip
        queued += [h.id] if h else []
    case.lead_department = department
    case.co_departments = [c for c in case.co_departments if c != department]
    if assess_case(f"{case.title}\n{case.text}", case.category, case.area_code, ref).urgent:
        case.priority = "urgent"  # once urgent, a case stays urgent
    case.assigned_at = now
    case.due_at = deadline(now, case.category, case.priority == "urgent", ref, ctx.calendar)
    case.due_provisional = is_provisional_deadline(now, case.due_at, ctx.calendar)
    set_status(s, case, CaseStatus.ASSIGNED, operator, "rerouted", previous=previous, lead=department,
               reason=reason, due_at=case.due_at.isoformat())  # fmt: skip
    _reschedule_followups(s, ctx, case, now, "cancelled: rerouted")
    view = case_view(s, case, ref)
    rendered = render_assignment(
        ctx, case, view, department, lead=department, co=case.co_departments,
        history=case_history(s, case.id, ref), urgent=urgent_reason(s, case, ref),
        reopened=reopen_reason(s, case),
    )  # fmt: skip
    h = queue_handoff(
        s, ref, key=assignment_key(case.id, round_, department),
        kind=HandoffKind.ASSIGNMENT, recipient=dept.email, recipient_name=dept.name,
        department_code=department, case_id=case.id, rendered=rendered,
        attachments=assignment_attachments(s, ctx.settings, case),  # reply template, photos
    )  # fmt: skip
    queued += [h.id] if h else []
    for handoff_id in queued:
        queued_handoff = s.get(Handoff, handoff_id)
        audit(s, operator, "handoff_queued", case_id=case.id, entity="handoff",
              entity_id=handoff_id, kind=queued_handoff.kind.value,
              to=queued_handoff.recipient, reason=reason)  # fmt: skip
    return queued


def _cancel_followups(s: Any, case_id: int, now: datetime, result: str) -> None:
    for lb in s.scalars(
        select(Lookback).where(
            Lookback.case_id == case_id,
            Lookback.done_at.is_(None),
            Lookback.kind.in_(OPEN_FOLLOWUPS),
        )
    ):
        lb.done_at, lb.result = now, result


def _reschedule_followups(s: Any, ctx: Context, case: Case, now: datetime, why: str) -> None:
    """Replace the open reminder and escalation with those for the case's new deadline (the
    schedule dispatch makes); a reminder that would already be due is not sent late."""
    _cancel_followups(s, case.id, now, why)
    s.flush()
    schedule_lookbacks(s, ctx, case)
    s.flush()
    for lb in s.scalars(
        select(Lookback).where(
            Lookback.case_id == case.id,
            Lookback.kind == LookbackKind.REMINDER,
            Lookback.done_at.is_(None),
            Lookback.due_at <= now,
        )
    ):
        lb.done_at, lb.result = now, "cancelled: deadline too close"


def merge(
    s: Any, case_id: int, into: str, operator: str, now: datetime, reason: str | None = None
) -> int:
    """合并: fold this case into another (一案多诉). Its submissions join the other case, so
    every citizen still gets that case's reply and survey; nothing is deleted."""
    case = _case(s, case_id)
    target = find_case(s, into)
    if target is None:
        raise ActionError(_("找不到案件 %(case)s") % {"case": into})
    if target.id == case.id:
        raise ActionError(_("不能合并到本案自身"))
    if target.status is CaseStatus.MERGED:
        raise ActionError(_("目标案件本身已被合并"))
    if not can_transition(case.status, CaseStatus.MERGED):
        raise ActionError(
            _("案件当前为“%(status)s”，不能合并") % {"status": status_label(case.status)}
        )
    subs = list(s.scalars(select(Submission).where(Submission.case_id == case.id)))
    for sub in subs:
        sub.case_id, sub.link_method, sub.similarity = target.id, "operator", None
    target.supporters += len(subs)
    case.merged_into_id = target.id
    _cancel_followups(s, case.id, now, "cancelled: merged")
    set_status(
        s,
        case,
        CaseStatus.MERGED,
        operator,
        "merged",
        into=target.id,
        submissions=[x.id for x in subs],
        reason=reason or None,
    )
    audit(
        s,
        operator,
        "merged_in",
        case_id=target.id,
        source=case.id,
        submissions=[x.id for x in subs],
        reason=reason or None,
    )
    return target.id


def split(
    s: Any,
    case_id: int,
    submission_id: int,
    operator: str,
    now: datetime,
    reason: str | None = None,
) -> int:
    """拆分: take one submission out of a case into a new case of its own, which waits for an
    operator to confirm its category (the old case's category is kept as the suggestion)."""
    case = _case(s, case_id)
    sub = s.get(Submission, submission_id)
    if sub is None or sub.case_id != case.id:
        raise ActionError(_("该留言不属于本案"))
    count = s.scalar(
        select(func.count()).select_from(Submission).where(Submission.case_id == case.id)
    )
    if count < 2:
        raise ActionError(_("本案只有这一条留言，无需拆分"))
    new = Case(
        title=sub.title, text=sub.text, text_key=sub.text_key, area_code=sub.area_code,
        category=case.category, category_source="operator", category_confidence=None,
        category_top3=case.category_top3, status=CaseStatus.NEW, supporters=1, created_at=now,
        review=reasons.reason("split_from", number=case.number),
    )  # fmt: skip
    s.add(new)
    s.flush()
    sub.case_id, sub.link_method, sub.similarity = new.id, "operator", None
    case.supporters = max(1, case.supporters - 1)
    audit(
        s,
        operator,
        "created",
        case_id=new.id,
        to_state="new",
        submission=sub.id,
        split_from=case.id,
    )
    set_status(
        s, new, CaseStatus.NEEDS_REVIEW, operator, "split_out", split_from=case.id,
        reason=reason or None,
    )  # fmt: skip
    audit(
        s, operator, "split", case_id=case.id, submission=sub.id, new_case=new.id,
        reason=reason or None,
    )  # fmt: skip
    return new.id


def extend_deadline(
    s: Any,
    ctx: Context,
    case_id: int,
    new_day: date,
    reason: str,
    operator: str,
    now: datetime,
    *,
    approver: str,
) -> list[int]:
    """延期: a later deadline (end of `new_day`, Beijing time, a working day), approved by
    `approver`, with the reason on record; the reminder and the overdue escalation move with
    it, and the lead department is told (a 办理时限调整 notice in the outbox). Returns the id of
    the queued notice (none when the department has no address in config)."""
    reason, approver = reason.strip(), approver.strip()
    case = _case(s, case_id)
    if case.status not in (CaseStatus.ASSIGNED,) or case.due_at is None:
        raise ActionError(_("只有已交办、未答复的案件可以延期"))
    current = case.due_at.astimezone(LOCAL_TZ).date()
    refusal = extension_refusal(current, new_day, ctx.calendar, reason=reason, approver=approver)
    if refusal:
        raise ActionError(refusal)
    previous = case.due_at
    case.due_at = datetime.combine(new_day, time(23, 59, 59), LOCAL_TZ).astimezone(UTC)
    assert case.assigned_at is not None
    case.due_provisional = is_provisional_deadline(case.assigned_at, case.due_at, ctx.calendar)
    _reschedule_followups(s, ctx, case, now, "cancelled: deadline extended")
    audit(s, operator, "deadline_extended", case_id=case.id, previous=previous.isoformat(),
          due_at=case.due_at.isoformat(), reason=reason, approver=approver)  # fmt: skip
    dept = ctx.ref.department_by_code.get(case.lead_department or "")
    if dept is None:
        return []
    view = case_view(s, case, ctx.ref)
    message = extension_notice(
        deadline_text(previous), view["due"], approver=approver, reason=reason
    )
    heading = _("办理时限调整")
    rendered = render_for(
        ctx.ref, "followup", case_subject(heading, view["number"], case.title), heading,
        recipient=dept.name, message=message, case=view,
    )  # fmt: skip
    h = queue_handoff(
        s, ctx.ref, key=f"extended:{case.id}:{case.reopen_count}:{case.due_at.isoformat()}",
        kind=HandoffKind.DEADLINE, recipient=dept.email, recipient_name=dept.name,
        department_code=dept.code, case_id=case.id, rendered=rendered,
    )  # fmt: skip
    if h is None:
        return []
    audit(s, operator, "handoff_queued", case_id=case.id, entity="handoff", entity_id=h.id,
          kind=h.kind.value, to=dept.code, reason=reason)  # fmt: skip
    return [h.id]


def reopen(s: Any, case_id: int, reason: str, operator: str, now: datetime) -> None:
    """重办: send an answered or closed case back for handling; the next night assigns it
    again (a new round: new reply link, new survey)."""
    if not reason:
        raise ActionError(_("请填写重办理由"))
    case = _case(s, case_id)
    if case.status is CaseStatus.MERGED:
        raise ActionError(_("已合并的案件不能重办；请重办其合并到的案件"))
    try:
        set_status(
            s,
            case,
            CaseStatus.REOPENED,
            operator,
            "reopened",
            reason=reason,
            round=case.reopen_count + 1,
        )
    except TransitionError:
        raise ActionError(
            _("案件当前为“%(status)s”，不能重办") % {"status": status_label(case.status)}
        ) from None
    case.reopen_count += 1
    case.review = reasons.reason("reopened", reason=reason)
    case.closed_at = None
    _cancel_followups(s, case.id, now, "cancelled: reopened")
