"""Routing (交办): (category[, sub-category], area) → lead and co-handling departments, and the
deadline in working days. The table is config (config/routing.yaml), not code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from minqing.reference import Reference
from minqing.workdays import WorkCalendar, due_at


@dataclass(frozen=True)
class Route:
    lead: str
    co: tuple[str, ...]
    rule: str  # which rule matched, for the audit trail


def route(category: str | None, area: str | None, ref: Reference) -> Route | None:
    """The most specific matching rule: sub-category over category, named area over "*".

    Returns None when nothing matches; such a case goes to review, never to a default inbox.
    """
    if category is None or category not in ref.category_by_name:
        return None
    chain = _category_chain(category, ref)
    best: tuple[tuple[int, int], Route] | None = None
    for i, rule in enumerate(ref.rules):
        if rule.category not in chain or rule.area not in ("*", area):
            continue
        specificity = (len(chain) - chain.index(rule.category), 1 if rule.area != "*" else 0)
        if best is None or specificity > best[0]:
            best = (specificity, Route(rule.lead, tuple(rule.co), f"rules[{i}]"))
    return best[1] if best else None


def _category_chain(category: str, ref: Reference) -> list[str]:
    """The category, its parent, ..., its first-level category (most specific first)."""
    chain = [category]
    while (parent := ref.category_by_name[chain[-1]].parent) is not None:
        chain.append(parent)
    return chain


def deadline_days(category: str, urgent: bool, ref: Reference) -> int:
    if urgent:
        return ref.policy.deadlines.urgent_days
    return ref.category_by_name[category].deadline_days


def deadline(
    assigned_at: datetime, category: str, urgent: bool, ref: Reference, calendar: WorkCalendar
) -> datetime:
    """When the department's answer is due: end of the Nth working day (Asia/Shanghai)."""
    return due_at(assigned_at, deadline_days(category, urgent, ref), calendar)
