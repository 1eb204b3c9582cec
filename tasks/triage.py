"""整理 triage: link new submissions to cases (duplicates join, never deleted) and classify
the new cases; confident ones are ready to route, the rest wait in the review queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Reply, Submission
from db.queries import audit, set_status
from minqing.classify import Classification, classify_by_keywords
from minqing.linking import NewSubmission, plan_exact_links
from minqing.states import OPEN_STATUSES, CaseStatus, Outcome
from minqing.triage import triage_status
from tasks.context import Context, context

CHUNK = 5000
ACTOR = "system:triage"
WINDOW = timedelta(days=90)


def classifier_for(ctx: Context) -> tuple[Callable[[list[str]], list[Classification]], float]:
    """The keyword rules from config; (the learned model takes over once one is trained)."""
    cats = ctx.ref.flat_categories

    def by_rules(texts: list[str]) -> list[Classification]:
        return [classify_by_keywords(t, cats) for t in texts]

    return by_rules, 1.0


def triage_now(now: datetime | None = None) -> dict[str, int]:
    ctx = context()
    now = now or datetime.now(UTC)
    classify, threshold = classifier_for(ctx)
    totals = {"new_cases": 0, "linked": 0, "needs_review": 0, "on_the_spot": 0}
    while True:
        with Session() as s, s.begin():
            subs = s.scalars(
                select(Submission)
                .where(Submission.case_id.is_(None))
                .order_by(Submission.received_at, Submission.id)
                .limit(CHUNK)
            ).all()
            if not subs:
                break
            _triage_chunk(s, subs, classify, threshold, now, totals)
    return totals


def _triage_chunk(
    s: Any,
    subs: list[Submission],
    classify: Callable[[list[str]], list[Classification]],
    threshold: float,
    now: datetime,
    totals: dict[str, int],
) -> None:
    keys = list({sub.text_key for sub in subs})
    open_cases = dict(
        s.execute(
            select(Case.text_key, Case.id)
            .where(
                Case.text_key.in_(keys),
                Case.status.in_(OPEN_STATUSES),
                Case.created_at >= now - WINDOW,
            )
            .order_by(Case.id)
        ).all()
    )
    plans = plan_exact_links([NewSubmission(sub.id, sub.text_key) for sub in subs], open_cases)
    by_id = {sub.id: sub for sub in subs}
    leaders = [by_id[p.submission_id] for p in plans if p.method == "new"]
    classes = classify([f"{sub.title}\n{sub.text}" for sub in leaders])
    case_of: dict[int, Case] = {}
    for sub, c in zip(leaders, classes, strict=True):
        case = Case(
            title=sub.title,
            text=sub.text,
            text_key=sub.text_key,
            area_code=sub.area_code,
            category=c.category,
            category_confidence=c.confidence,
            category_source=c.source,
            category_top3=[list(t) for t in c.top3],
            status=CaseStatus.NEW,
            supporters=1,
            created_at=now,
        )
        s.add(case)
        case_of[sub.id] = case
    s.flush()
    for sub, c in zip(leaders, classes, strict=True):
        case = case_of[sub.id]
        sub.case_id, sub.link_method, sub.similarity = case.id, "new", None
        audit(
            s,
            ACTOR,
            "created",
            case_id=case.id,
            to_state="new",
            submission=sub.id,
            channel=sub.channel,
        )
        totals["new_cases"] += 1
        if sub.answered_on_spot:
            _close_on_the_spot(s, case, sub, now)
            totals["on_the_spot"] += 1
            continue
        status, reason = triage_status(c, threshold)
        case.review_reason = reason
        set_status(
            s, case, status, ACTOR, "classified", category=c.category, confidence=c.confidence
        )
        if status is CaseStatus.NEEDS_REVIEW:
            totals["needs_review"] += 1
    for plan in plans:
        if plan.method == "new":
            continue
        sub = by_id[plan.submission_id]
        case = s.get(Case, plan.case_id) if plan.case_id else case_of[plan.leader_id]
        sub.case_id, sub.link_method, sub.similarity = case.id, plan.method, plan.similarity
        case.supporters += 1
        audit(
            s,
            ACTOR,
            "linked_duplicate",
            case_id=case.id,
            submission=sub.id,
            method=plan.method,
            similarity=plan.similarity,
        )
        totals["linked"] += 1


def _close_on_the_spot(s: Any, case: Case, sub: Submission, now: datetime) -> None:
    """现场答复: answered at reception; counted in the figures, never dispatched."""
    s.add(
        Reply(
            case_id=case.id,
            received_at=sub.received_at,
            outcome=Outcome.ON_THE_SPOT,
            text=sub.on_spot_reply or "现场答复",
            handler=sub.recorded_by,
            via="on_the_spot",
            source_key=f"on_the_spot:{sub.source_key}",
        )
    )
    case.outcome = Outcome.ON_THE_SPOT
    case.replied_at = case.closed_at = sub.received_at
    set_status(s, case, CaseStatus.CLOSED, ACTOR, "answered_on_the_spot")


@task(name="triage")
def triage_submissions() -> dict[str, int]:
    """整理: link duplicates and classify new cases."""
    return triage_now()
