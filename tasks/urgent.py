"""白天随到随办 — the daytime intake's own stages (flows/intake.py), between the intake and
triage it shares with the night:

- `dispatch_day`: 交办 of the urgent cases at once (of every confident case when
  config/policy.yaml `daytime.dispatch_all` says so; otherwise ordinary cases wait for the night);
- `deliver_queued`: sends exactly the messages this run queued, now;
- `tell_duty`: the duty contacts (值班) hear of urgent cases — at once of every one that no
  department could be chosen for (it must not wait in the review queue overnight), and, when
  `urgent.tell_duty`, of those dispatched (whom to, by when); one e-mail per run, and as
  many group-robot messages as it takes to keep each case whole;
- `record_day_run`: the run's figures, which the night's summary shows as the day's work
  (tasks/metrics.py `day_since_last_night`), so nothing is counted twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from sqlalchemy import case as when_then
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import aliased

from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffKind, HandoffStatus, Submission, utcnow
from db.queries import audit
from minqing.duty import ROBOT_MAX_BYTES, alert_text
from minqing.i18n import _
from minqing.labels import channel_label
from minqing.messages import deadline_text, listing
from minqing.runstate import duty_advice, run_warning
from minqing.states import CaseStatus
from minqing.urgency import UrgentCase, duty_message, waiting_reason
from tasks.context import Context, context
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now, urgent_reason
from tasks.duty import send_duty_alert
from tasks.outbox import local_text

ACTOR = "system:intake"
NIGHT_ACTOR = "system:nightly"  # the night run (flows/nightly.py), when it tells the duty
# Audit action: the duty contacts heard of this case while it was in `from_state` (not a
# change of state: `to_state` stays empty, so counts of assignments never see it).
TOLD = "duty_alerted"
DAY_RUN = "intake_run"  # audit action (entity "run"): one daytime run's figures
NIGHT_COUNTED = "night_summary"  # audit action (entity "run"): the night counted the day so far
# Dispatched urgent cases are told about for this long after their assignment (so a run that
# could not reach anyone tells them later); older ones are not news.
TELL_ASSIGNED_WITHIN = timedelta(hours=24)
# Cases listed in one group robot's message — as many as a robot takes whole (it cuts at
# minqing.duty.ROBOT_MAX_BYTES, about four cases), at most MAX_LISTED — and robot messages in
# one run: the last counts the cases beyond them and points to the console; those stay untold,
# so the next run's alert lists them. The duty mailbox gets one e-mail with the same cases.
MAX_LISTED = 10
MAX_MESSAGES = 5
EXCERPT = 120


def dispatch_day_now(now: datetime | None = None) -> dict[str, Any]:
    """交办 during the day: the urgent cases, or every confident case (`daytime.dispatch_all`)."""
    everything = context().ref.policy.daytime.dispatch_all
    return dispatch_now(now, urgent_only=not everything)


@task(name="dispatch-day")
def dispatch_day() -> dict[str, Any]:
    """交办（白天）: urgent cases at once; ordinary ones too when the office says so."""
    return dispatch_day_now()


@task(name="deliver-queued")
def deliver_queued(handoff_ids: list[int]) -> dict[str, Any]:
    """发送: exactly the messages this run queued, now (the rest keep their schedule)."""
    if not handoff_ids:
        return {"sent": 0, "retry_later": 0, "failed": 0, "dead": 0, "interrupted": 0}
    return deliver_now(ids=handoff_ids)


# --- telling the duty operator ------------------------------------------------------------------


def cases_to_tell(s: Any, ctx: Context, now: datetime) -> list[Case]:
    """Urgent cases waiting for a person, and (if `urgent.tell_duty`) urgent cases assigned in
    the last day, that the duty contacts have not heard of since the case took that status —
    all of them, those waiting for a person first (`tell_duty_now` puts them in its order)."""
    statuses = [CaseStatus.NEEDS_REVIEW]
    if ctx.ref.policy.urgent.tell_duty:
        statuses.append(CaseStatus.ASSIGNED)
    change, alert = aliased(AuditEvent), aliased(AuditEvent)
    entered = (  # when the case last took its present status
        select(func.max(change.at))
        .where(change.case_id == Case.id, change.to_state == Case.status)
        .correlate(Case)
        .scalar_subquery()
    )
    told = (
        exists()
        .where(
            alert.case_id == Case.id,
            alert.action == TOLD,
            alert.from_state == Case.status,
            alert.at >= func.coalesce(entered, datetime(2000, 1, 1)),
        )
        .correlate(Case)
    )
    query = (
        select(Case)
        .where(Case.priority == "urgent", Case.status.in_(statuses), ~told)
        .where(
            or_(
                Case.status == CaseStatus.NEEDS_REVIEW,
                Case.assigned_at >= now - TELL_ASSIGNED_WITHIN,
            )
        )
        .order_by(when_then((Case.status == CaseStatus.NEEDS_REVIEW, 0), else_=1), Case.id)
    )
    return list(s.scalars(query))


def urgent_case(s: Any, ctx: Context, case: Case) -> UrgentCase:
    """What the duty operator reads about one case."""
    ref = ctx.ref
    first = s.execute(
        select(Submission.channel, Submission.received_at)
        .where(Submission.case_id == case.id)
        .order_by(Submission.received_at, Submission.id)
        .limit(1)
    ).first()
    area = next((a.name for a in ref.areas if a.code == case.area_code), None)
    source = " · ".join(
        part
        for part in (
            channel_label(first.channel) if first else None,
            area,
            local_text(first.received_at if first else case.created_at, with_time=True),
        )
        if part
    )
    reason = urgent_reason(s, case, ref)  # the words the case's assignment uses
    text = " ".join(case.text.split())
    waiting = case.status is CaseStatus.NEEDS_REVIEW
    assignment = _assignment_status(s, case)
    return UrgentCase(
        number=case.number,
        title=case.title or text[:30],
        excerpt=text if len(text) <= EXCERPT else text[:EXCERPT] + "……",
        reason=reason or _("已标为紧急件"),
        source=source,
        link=console_link(ctx, f"/console/cases/{case.id}"),
        waiting_for=waiting_reason(case.review) if waiting else None,
        departments=None if waiting else _departments(ctx, case),
        due=None if waiting else deadline_text(case.due_at),
        sent=not waiting and assignment is HandoffStatus.SENT,
        refused=not waiting and assignment in (HandoffStatus.FAILED, HandoffStatus.DEAD),
    )


def _departments(ctx: Context, case: Case) -> str:
    names = ctx.ref.department_by_code
    lead = names[case.lead_department].name if case.lead_department in names else ""
    parts = [_("%(name)s（承办）") % {"name": lead}]
    parts += [
        _("%(name)s（协办）") % {"name": names[c].name} for c in case.co_departments if c in names
    ]
    return listing(parts)


def _assignment_status(s: Any, case: Case) -> HandoffStatus | None:
    """Where the lead department's newest assignment message stands."""
    return s.scalar(
        select(Handoff.status)
        .where(
            Handoff.case_id == case.id,
            Handoff.kind == HandoffKind.ASSIGNMENT,
            Handoff.department_code == case.lead_department,
        )
        .order_by(Handoff.id.desc())
        .limit(1)
    )


def console_link(ctx: Context, path: str) -> str:
    return ctx.settings.public_url.rstrip("/") + path


def tell_duty_now(now: datetime | None = None, actor: str = ACTOR) -> dict[str, Any]:
    """The duty alert about the urgent cases to tell: to the group robots in up to
    `MAX_MESSAGES` messages, each as long as a robot takes whole (`_fits`), and to the duty
    mailbox in one e-mail listing the same cases in the same order (a mailbox has no size
    limit: a run's urgent cases are not spread over several mails). Those that need a person
    now come first (no department chosen, then assignments that have not left). Each listed
    case is recorded as told (by `actor`, the run that sent it) once a channel took it — the
    e-mail, or its robot message — so the next run does not repeat it and a run whose alert
    reached nobody tries again. Cases beyond the robot messages are counted at the end of the
    last one and of the e-mail (`later`) but not told: the next run lists them. A dry run
    tells nobody and records nothing (`rehearsed`: the cases it would have told)."""
    ctx = context()
    now = now or datetime.now(UTC)
    with Session() as s, s.begin():
        pending = [
            (c.id, c.status.value, urgent_case(s, ctx, c)) for c in cases_to_tell(s, ctx, now)
        ]
    pending.sort(key=lambda p: _telling_order(p[2]))  # stable: by number within each kind
    parts = _parts(pending, lambda views: _fits(ctx, views))
    shown = sum(len(part) for part in parts)
    rest = [view for _id, _status, view in pending[shown:]]
    result: dict[str, Any] = {
        "told": 0, "waiting": 0, "later": 0, "untold": 0, "emails_sent": 0, "delivery": {},
        "warnings": [], "rehearsed": 0,
    }  # fmt: skip
    if not parts:
        return result
    duty = ctx.ref.office.duty
    emailed: dict[str, Any] = {"emails_queued": 0, "robots": []}
    if duty.contacts or ctx.settings.mail_mode == "dry-run":
        listed = [view for _id, _status, view in pending[:shown]]
        emailed = send_duty_alert(
            *_message(ctx, listed, rest), link=console_link(ctx, _where(listed)), kind="urgent",
            robots=False,
        )  # fmt: skip
        if emailed.get("rehearsed"):
            result["rehearsed"] = shown
            return result
        result["emails_sent"] = emailed["emails_sent"]  # the night's 发送邮件 counts these
        result["delivery"] = emailed["delivery"]  # …and its 未送达, when they could not go
    for number, part in enumerate(parts, 1):
        views = [view for _id, _status, view in part]
        last = number == len(parts)
        robots: list[dict[str, Any]] = []
        if duty.robots:
            posted = send_duty_alert(
                *_message(ctx, views, rest if last else [], (number, len(parts))),
                link=console_link(ctx, _where(views)), kind="urgent", email=False,
            )  # fmt: skip
            robots = [r for r in posted["robots"] if r["ok"]]
        if not robots and not emailed["emails_queued"]:
            result["untold"] = len(pending) - result["told"]
            result["warnings"].append(
                _(
                    "%(n)d 件紧急件未能告知值班人员（未配置值班联系人，或群机器人均未送达），下次运行重试"
                )
                % {"n": result["untold"]}
            )
            break
        with Session() as s, s.begin():
            for case_id, status, _view in part:
                audit(
                    s, actor, TOLD, case_id=case_id, from_state=status,
                    robots=[r["name"] for r in robots], emails=emailed["emails_queued"],
                )  # fmt: skip
        result["told"] += len(views)
        result["waiting"] += sum(1 for v in views if v.needs_person)
        result["later"] = len(rest) if last else 0  # counted in the alert, listed by the next run
    return result


def _message(
    ctx: Context,
    views: list[UrgentCase],
    more: list[UrgentCase],
    part: tuple[int, int] | None = None,
) -> tuple[str, str]:
    """One duty message's title and text: `views` listed, `more` counted after them; a robot
    message of several gets its `part` (number, of how many) in the title."""
    return duty_message(
        views,
        more_waiting=sum(1 for v in more if v.needs_person),
        more_assigned=sum(1 for v in more if not v.needs_person),
        more_link=console_link(ctx, _where(more)),
        part=part if part and part[1] > 1 else None,
    )


def _parts(pending: list[Any], fits: Any) -> list[list[Any]]:
    """The messages' cases, in order: as many as `fits` one message (at most `MAX_LISTED`),
    in at most `MAX_MESSAGES` messages."""
    parts: list[list[Any]] = []
    for item in pending:
        if parts and len(parts[-1]) < MAX_LISTED and fits([p[2] for p in [*parts[-1], item]]):
            parts[-1].append(item)
        elif len(parts) < MAX_MESSAGES:
            parts.append([item])
        else:
            break
    return parts


def _fits(ctx: Context, views: list[UrgentCase]) -> bool:
    """Whether a group robot takes these cases' message whole (it cuts at ROBOT_MAX_BYTES):
    measured with the longest title and note the message may get, so every case keeps its
    last line — where to act, or to phone the department."""
    title, text = duty_message(
        views, more_waiting=99, more_assigned=99, more_link=console_link(ctx, "/console/review"),
        part=(MAX_MESSAGES, MAX_MESSAGES),
    )  # fmt: skip
    whole = alert_text(title, text, console_link(ctx, "/console/review"), ctx.ref.office.name)
    keyword = max((len((r.keyword or "").encode("utf-8")) + 1 for r in ctx.ref.office.duty.robots),
                  default=0)  # fmt: skip  # a 钉钉 robot's keyword leads the message
    return len(whole.encode("utf-8")) + keyword <= ROBOT_MAX_BYTES


def _telling_order(view: UrgentCase) -> int:
    """Who must act first: a case no department could be chosen for, then one whose assignment
    has not left (the department must be phoned), then one the department has."""
    return 0 if view.needs_person else (2 if view.sent else 1)


def _where(views: Sequence[UrgentCase]) -> str:
    """The console page for these cases: the review queue when every one waits there, else the
    console's front page, which lists the week's urgent cases first."""
    return "/console/review" if views and all(v.needs_person for v in views) else "/console"


def duty_warnings(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`tell_duty`'s warnings with what to do about them (for the run's verdict), and in a dry
    run the note that the duty contacts were not told."""
    found = [run_warning(w, duty_advice()) for w in result.get("warnings", [])]
    if result.get("rehearsed"):
        text = _("演练：未告知值班 %(n)d 件紧急件（正式运行时告知）") % {"n": result["rehearsed"]}
        found.append(run_warning(text, partial=False))
    return found


@task(name="tell-duty")
def tell_duty(actor: str = ACTOR) -> dict[str, Any]:
    """告知值班: urgent cases nobody could be chosen for at once; dispatched ones as configured
    (`actor`: the run telling them, the daytime intake's or the night's)."""
    return tell_duty_now(actor=actor)


# --- the day's figures, counted by the night ---------------------------------------------------

DAY_FIGURES = ("runs", "taken", "new_cases", "linked", "needs_review", "assigned", "urgent",
               "sent", "duty_told")  # fmt: skip


def day_run_figures(stages: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One run's figures from what its stages returned."""
    ingest, triage, dispatch = stages["ingest"], stages["triage"], stages["dispatch"]
    return {
        "runs": 1,
        "taken": ingest["taken"],
        "by_channel": dict(ingest["by_channel"]),
        "new_cases": triage["new_cases"],
        "linked": triage["linked"],
        "needs_review": triage["needs_review"] + dispatch["needs_review"],
        "assigned": dispatch["assigned"],
        "urgent": dispatch["urgent"],
        "sent": stages["deliver"]["sent"] + int(stages["duty"].get("emails_sent") or 0),
        "duty_told": stages["duty"]["told"],
    }


def record_day_run_now(stages: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    figures = day_run_figures(stages)
    if any(figures[k] for k in DAY_FIGURES if k != "runs"):  # a run that found nothing: no row
        with Session() as s, s.begin():
            audit(s, ACTOR, DAY_RUN, entity="run", **figures)
    return figures


@task(name="day-figures")
def record_day_run(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """统计（白天）: keep this run's figures for the night's summary."""
    return record_day_run_now(stages)


def last_night(s: Any) -> AuditEvent | None:
    """The last night's 'counted' mark (its time, and in `detail["through"]` the last row of
    each table it counted), or None before the first night."""
    return s.scalar(
        select(AuditEvent)
        .where(AuditEvent.entity == "run", AuditEvent.action == NIGHT_COUNTED)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def day_since_last_night(s: Any) -> dict[str, Any]:
    """The daytime runs' figures added up since the last night counted them (zeros: none)."""
    last = s.scalar(
        select(func.max(AuditEvent.id)).where(
            AuditEvent.entity == "run", AuditEvent.action == NIGHT_COUNTED
        )
    )
    rows = s.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.entity == "run", AuditEvent.action == DAY_RUN, AuditEvent.id > (last or 0)
        )
    )
    total: dict[str, Any] = dict.fromkeys(DAY_FIGURES, 0)
    by_channel: Counter[str] = Counter()
    for detail in rows:
        for key in DAY_FIGURES:
            total[key] += int(detail.get(key) or 0)
        by_channel.update(detail.get("by_channel") or {})
    total["by_channel"] = dict(by_channel)
    return total


def night_counted_day(
    s: Any,
    day: Mapping[str, Any],
    at: datetime | None = None,
    through: Mapping[str, int] | None = None,
    rehearsal: bool = False,
    figures: Mapping[str, Any] | None = None,
) -> None:
    """The night has shown the day's work (and everything up to `through`, the last row of each
    table it counted: tasks/metrics.py `arrivals_since_last_night`): the next night counts
    from here. `rehearsal`: a dry run's night, which sent nothing and stands for no night; it
    keeps its `figures` (minqing/rehearsals.py) for the next real night to add to its own."""
    extra: dict[str, Any] = {"through": dict(through)} if through is not None else {}
    if rehearsal:
        extra["rehearsal"] = True
        if figures is not None:
            extra["figures"] = dict(figures)
    audit(s, "system:metrics", NIGHT_COUNTED, entity="run", at=at or utcnow(), **dict(day), **extra)


def rehearsals_since_last_night(s: Any) -> list[tuple[datetime, dict[str, Any]]]:
    """The dry runs' nights since the last real night, oldest first: when each counted, and the
    figures it kept for the real night (none from a dry run before they were kept)."""
    found: list[tuple[datetime, dict[str, Any]]] = []
    marks = s.execute(
        select(AuditEvent.at, AuditEvent.detail)
        .where(AuditEvent.entity == "run", AuditEvent.action == NIGHT_COUNTED)
        .order_by(AuditEvent.id.desc())
    )
    for at, detail in marks:
        if not (detail or {}).get("rehearsal"):
            break
        if "figures" in detail:
            found.append((at, detail["figures"]))
    return found[::-1]


def night_done_since(since: datetime) -> datetime | None:
    """When a night (not a dry run's) finished its summary after `since`, or None: a night that
    waited for another night to end finds the night's work already done."""
    with Session() as s:
        rows = s.execute(
            select(AuditEvent.at, AuditEvent.detail).where(
                AuditEvent.entity == "run",
                AuditEvent.action == NIGHT_COUNTED,
                AuditEvent.at >= since,
            )
        ).all()
    return next((at for at, detail in rows if not (detail or {}).get("rehearsal")), None)
