"""回头督办 look-back scan: act on every look-back that is due — remind before the deadline,
escalate when overdue, ask the representative to verify after the reply. Each row is acted on
once (its done_at is set in the same transaction that queues the message)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import Area, Case, HandoffKind, Lookback, LookbackKind
from db.queries import audit
from minqing.states import CaseStatus
from tasks.context import Context, context
from tasks.outbox import case_view, local_text, queue_handoff, render_for

ACTOR = "system:lookback"


def scan_now(now: datetime | None = None) -> dict[str, int]:
    ctx = context()
    now = now or datetime.now(UTC)
    totals = {"reminders": 0, "escalations": 0, "verifications": 0, "cancelled": 0}
    with Session() as s, s.begin():
        due = s.scalars(
            select(Lookback)
            .where(Lookback.done_at.is_(None), Lookback.due_at <= now)
            .order_by(Lookback.due_at, Lookback.id)
        ).all()
        for lb in due:
            case = s.get(Case, lb.case_id)
            assert case is not None
            _act(s, ctx, lb, case, now, totals)
    return totals


def _act(
    s: Any, ctx: Context, lb: Lookback, case: Case, now: datetime, totals: dict[str, int]
) -> None:
    ref = ctx.ref
    view = case_view(s, case, ref)
    lb.done_at = now
    waiting_reply = case.status is CaseStatus.ASSIGNED
    if lb.kind in (LookbackKind.REMINDER, LookbackKind.ESCALATION) and not waiting_reply:
        lb.result = f"cancelled: case is {case.status.value}"
        totals["cancelled"] += 1
        return
    if lb.kind is LookbackKind.REMINDER:
        dept = ref.department_by_code[case.lead_department or ""]
        message = (
            f"案件 {view['number']} 将于 {local_text(case.due_at)} 到期，请抓紧办理并按时答复。"
        )
        to, name, kind, subject = (
            dept.email,
            dept.name,
            HandoffKind.REMINDER,
            f"【到期提醒】{view['number']} {case.title}",
        )
        totals["reminders"] += 1
    elif lb.kind is LookbackKind.ESCALATION:
        dept = ref.department_by_code[case.lead_department or ""]
        message = (
            f"{dept.name}承办的案件 {view['number']} 已于 {local_text(case.due_at)} 超过办理时限，"
            "至今未答复，请您督促办理。"
        )
        to, name, kind, subject = (
            dept.head.email or dept.email,
            dept.head.name,
            HandoffKind.ESCALATION,
            f"【超期督办】{view['number']} {case.title}",
        )
        case.escalation_level = max(case.escalation_level, 1)
        totals["escalations"] += 1
    else:
        area = s.scalar(select(Area).where(Area.code == case.area_code)) if case.area_code else None
        if area is None or not area.representative_email:
            lb.result = "cancelled: no representative for the area"
            totals["cancelled"] += 1
            return
        message = (
            f"案件 {view['number']} 已由承办单位答复，请您到现场回头看，核实问题是否真正解决，"
            "并记录“已核实”或“未核实”及说明。"
        )
        to, name, kind, subject = (
            area.representative_email,
            area.representative_name,
            HandoffKind.VERIFICATION,
            f"【回头看】{view['number']} {case.title}",
        )
        totals["verifications"] += 1
    rendered = render_for(
        ref,
        "followup",
        subject,
        subject.split("】")[0].strip("【"),
        recipient=name or to,
        message=message,
        case=view,
    )
    handoff = queue_handoff(
        s,
        ref,
        key=f"lookback:{lb.id}",
        kind=kind,
        recipient=to,
        recipient_name=name,
        department_code=case.lead_department,
        case_id=case.id,
        rendered=rendered,
    )
    lb.result = "sent"
    lb.handoff_id = handoff.id if handoff else None
    audit(s, ACTOR, f"lookback_{lb.kind.value}", case_id=case.id, lookback=lb.id)


@task(name="lookback-scan")
def scan_lookbacks() -> dict[str, int]:
    """回头督办: reminders, escalations and 回头看 requests that are due."""
    return scan_now()
