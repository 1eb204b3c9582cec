"""An operator's decisions from the command line — merge (合并), split (拆分), the review queue
(待人工审核) and confirming or correcting a category — one transaction each.

The rules are tasks/actions.py's, shared with the operator console, so `minqing cases ...`,
`minqing review ...` and the console's buttons cannot drift apart. This module finds cases by
their number (or a channel's own reference), checks that an operator is named, and returns
plain data for the CLI to print.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case as when_then
from sqlalchemy import func, select

from db.engine import Session
from db.models import Case, Submission
from db.queries import find_case
from minqing.i18n import _
from minqing.reasons import render as render_reason
from minqing.states import CaseStatus
from tasks.actions import ActionError, confirm_category, merge, split
from tasks.context import context

__all__ = [
    "ActionError",
    "confirm_case",
    "correct_case",
    "merge_cases",
    "review_queue",
    "split_submission",
]


def merge_cases(
    source: str,
    into: str,
    *,
    operator: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """合并 case `source` into case `into`: its submissions join `into`; the source case stays,
    marked merged."""
    operator = _operator(operator)
    with Session() as s, s.begin():
        case = _find(s, source)
        moved = _submission_ids(s, case.id)
        target_id = merge(s, case.id, into, operator, now or datetime.now(UTC), _clean(reason))
        target = s.get(Case, target_id)
        return {
            "case": case.number,
            "into": target.number,
            "submissions": moved,
            "supporters": target.supporters,
        }


def split_submission(
    submission_id: int,
    *,
    operator: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """拆分: submission `submission_id` leaves its case for a new case of its own, which waits
    in the review queue for its category."""
    operator = _operator(operator)
    with Session() as s, s.begin():
        sub = s.get(Submission, submission_id)
        if sub is None or sub.case_id is None:
            raise ActionError(_("找不到已立案的留言 %(id)s") % {"id": submission_id})
        old = s.get(Case, sub.case_id)
        new_id = split(s, old.id, sub.id, operator, now or datetime.now(UTC), _clean(reason))
        return {
            "submission": sub.id,
            "from": old.number,
            "case": s.get(Case, new_id).number,
        }


def review_queue(limit: int = 50) -> dict[str, Any]:
    """The cases waiting for an operator (待人工审核), urgent ones first (as in the console),
    then oldest first: why, the suggested category with its confidence, and the classifier's
    top three."""
    with Session() as s:
        waiting = Case.status == CaseStatus.NEEDS_REVIEW
        total = s.scalar(select(func.count()).select_from(Case).where(waiting))
        urgent_first = when_then((Case.priority == "urgent", 0), else_=1)
        cases = s.scalars(
            select(Case).where(waiting).order_by(urgent_first, Case.id).limit(limit)
        ).all()
        rows = [
            {
                "case": c.number,
                "urgent": c.priority == "urgent",
                "title": c.title,
                "reason": render_reason(c.review),
                "category": c.category,
                "confidence": c.category_confidence,
                "source": c.category_source,
                "top3": [(str(name), float(p)) for name, p in (c.category_top3 or [])[:3]],
                "supporters": c.supporters,
                "created_at": c.created_at,
            }
            for c in cases
        ]
    return {"total": total or 0, "rows": rows}


def confirm_case(reference: str, *, operator: str) -> dict[str, Any]:
    """确认分类: the suggested category stands; the case is routed by the next dispatch."""
    operator = _operator(operator)
    ctx = context()
    with Session() as s, s.begin():
        case = _find(s, reference)
        if case.category is None:
            raise ActionError(_("本案没有建议分类，请用 review correct --category 指定分类"))
        confirm_category(s, ctx, case.id, case.category, operator)
        return _category_result(case)


def correct_case(reference: str, category: str, *, operator: str) -> dict[str, Any]:
    """更正分类: the operator's category replaces the suggestion (stored as the operator's,
    audited with the suggestion it replaced); the case is routed by the next dispatch."""
    operator = _operator(operator)
    ctx = context()
    with Session() as s, s.begin():
        case = _find(s, reference)
        confirm_category(s, ctx, case.id, category.strip(), operator)
        return _category_result(case)


def _category_result(case: Case) -> dict[str, Any]:
    return {"case": case.number, "category": case.category, "status": case.status.value}


def _submission_ids(s: Any, case_id: int) -> list[int]:
    return list(
        s.scalars(
            select(Submission.id).where(Submission.case_id == case_id).order_by(Submission.id)
        )
    )


def _find(s: Any, reference: str) -> Case:
    case = find_case(s, reference)
    if case is None:
        raise ActionError(_("找不到案件 %(case)s") % {"case": reference})
    return case


def _operator(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ActionError(_("请填写操作人（--operator）"))
    return name


def _clean(reason: str | None) -> str | None:
    return (reason or "").strip() or None
