"""评议 surveys: ask every citizen linked to a replied case how it went. Citizens with an
e-mail get a survey message; phone-only citizens go on the callback list (回访清单)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Department, HandoffKind, Person, Reply, Submission, Survey
from db.queries import audit
from minqing.states import CaseStatus, Outcome
from tasks.context import context
from tasks.outbox import case_view, queue_handoff, render_for

ACTOR = "system:surveys"


def surveys_now(now: datetime | None = None) -> dict[str, int]:
    ctx = context()
    policy = ctx.ref.policy.surveys
    statuses = [CaseStatus.REPLIED] if policy.after == "reply" else [CaseStatus.VERIFIED]
    if policy.on_the_spot:
        statuses.append(CaseStatus.CLOSED)
    totals = {"emailed": 0, "callback": 0}
    with Session() as s, s.begin():
        cases = s.scalars(select(Case).where(Case.status.in_(statuses))).all()
        for case in cases:
            if case.status is CaseStatus.CLOSED and case.outcome is not Outcome.ON_THE_SPOT:
                continue
            _survey_case(s, ctx, case, totals)
    return totals


def _survey_case(s: Any, ctx: Any, case: Case, totals: dict[str, int]) -> None:
    people = s.scalars(
        select(Person)
        .join(Submission, Submission.person_id == Person.id)
        .where(Submission.case_id == case.id)
        .distinct()
    ).all()
    reply = s.scalars(
        select(Reply)
        .where(Reply.case_id == case.id)
        .order_by(Reply.received_at.desc(), Reply.id.desc())
    ).first()
    dept = (
        s.scalar(select(Department.name).where(Department.code == case.lead_department))
        or "承办单位"
    )
    view = None
    for person in people:
        if not person.contact_ok:
            continue
        if s.scalar(
            select(Survey.id).where(
                Survey.case_id == case.id,
                Survey.person_id == person.id,
                Survey.round == case.reopen_count,
            )
        ):
            continue
        channel = "email" if person.email else "phone" if person.phone else None
        if channel is None:
            continue
        survey = Survey(
            case_id=case.id, person_id=person.id, round=case.reopen_count, channel=channel
        )
        s.add(survey)
        s.flush()
        if channel == "email":
            view = view or case_view(s, case, ctx.ref)
            rendered = render_for(
                ctx.ref,
                "survey",
                f"【满意度回访】您反映的问题已答复（{view['number']}）",
                "办理结果回访",
                citizen=person.name or "市民",
                case=view,
                department=dept,
                reply=reply.text if reply else "",
                rating_link=None,
            )
            handoff = queue_handoff(
                s,
                ctx.ref,
                key=f"survey:{survey.id}",
                kind=HandoffKind.SURVEY,
                recipient=person.email,
                recipient_name=person.name,
                case_id=case.id,
                rendered=rendered,
            )
            survey.handoff_id = handoff.id if handoff else None
            totals["emailed"] += 1
        else:
            totals["callback"] += 1
        audit(
            s,
            ACTOR,
            "survey_created",
            case_id=case.id,
            entity="survey",
            entity_id=survey.id,
            channel=channel,
        )


@task(name="surveys")
def send_surveys() -> dict[str, int]:
    """评议: queue satisfaction surveys for replied cases."""
    return surveys_now()
