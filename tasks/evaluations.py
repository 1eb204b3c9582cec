"""代表集体评议 import: representatives' scores of departments from inbox/evaluations (CSV or
.xlsx: 代表, 部门, 评价, 期间) into RepresentativeEvaluation rows. Rows are immutable: a new score
by the same representative for the same department and period supersedes the old one."""

from __future__ import annotations

from typing import Any

from prefect import task
from sqlalchemy import select

from db.models import RepresentativeEvaluation
from db.queries import audit
from minqing.evaluations import EvaluationRow, parse_evaluations
from minqing.reasons import Reason, reason
from minqing.records import ALREADY_IMPORTED
from tasks.context import Context, context

ACTOR = "system:evaluations"
CHANNEL = "evaluations"


def store_evaluation(s: Any, ctx: Context, row: EvaluationRow) -> Reason | str | None:
    """Record one evaluation; None when taken, else why it was refused."""
    if s.scalar(
        select(RepresentativeEvaluation.id).where(
            RepresentativeEvaluation.source_key == row.source_key
        )
    ):
        return ALREADY_IMPORTED
    by_name = {d.name: d.code for d in ctx.ref.departments} | {
        d.code: d.code for d in ctx.ref.departments
    }
    code = by_name.get(row.department)
    if code is None:
        return reason("unknown_department", value=row.department)
    superseded = select(RepresentativeEvaluation.supersedes_id).where(
        RepresentativeEvaluation.supersedes_id.is_not(None)
    )
    previous = s.scalars(
        select(RepresentativeEvaluation).where(
            RepresentativeEvaluation.representative == row.representative,
            RepresentativeEvaluation.department_code == code,
            RepresentativeEvaluation.period_start == row.period_start,
            RepresentativeEvaluation.period_end == row.period_end,
            RepresentativeEvaluation.id.not_in(superseded),
        )
    ).first()
    evaluation = RepresentativeEvaluation(
        representative=row.representative,
        department_code=code,
        score=row.score,
        period=row.period,
        period_start=row.period_start,
        period_end=row.period_end,
        source_file=row.source_ref.rsplit(":", 1)[0],
        source_ref=row.source_ref,
        source_key=row.source_key,
        supersedes_id=previous.id if previous else None,
    )
    s.add(evaluation)
    s.flush()
    audit(
        s,
        ACTOR,
        "representative_evaluation",
        entity="evaluation",
        entity_id=evaluation.id,
        representative=row.representative,
        department=code,
        score=row.score,
        period=row.period,
        supersedes=previous.id if previous else None,
    )
    return None


def import_evaluations_now() -> dict[str, Any]:
    """Read every waiting evaluation file (the nightly import does the same)."""
    from tasks.imports import import_channel

    return import_channel(context(), CHANNEL, parse_evaluations, store_evaluation)


@task(name="import-evaluations")
def import_evaluations() -> dict[str, Any]:
    """代表集体评议: import the representatives' evaluation files."""
    return import_evaluations_now()
