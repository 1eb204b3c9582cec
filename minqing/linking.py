"""Exact-duplicate linking (一案多诉): submissions with the same normalised text join one case.

Duplicates are linked, never deleted: every linked citizen still gets the reply and the survey.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NewSubmission:
    id: int
    text_key: str


@dataclass(frozen=True)
class LinkPlan:
    submission_id: int
    case_id: int | None  # join this existing case ...
    leader_id: int | None  # ... or the case opened tonight by this submission
    method: str  # new | exact | near
    similarity: float


def plan_exact_links(new: list[NewSubmission], open_case_by_key: dict[str, int]) -> list[LinkPlan]:
    """Link each new submission to an open case with the same key, or to the first submission
    of tonight with that key, or open a new case. Input order decides who leads (oldest first)."""
    plans: list[LinkPlan] = []
    leaders: dict[str, int] = {}
    for sub in new:
        if (case_id := open_case_by_key.get(sub.text_key)) is not None:
            plans.append(LinkPlan(sub.id, case_id, None, "exact", 1.0))
        elif (leader := leaders.get(sub.text_key)) is not None:
            plans.append(LinkPlan(sub.id, None, leader, "exact", 1.0))
        else:
            leaders[sub.text_key] = sub.id
            plans.append(LinkPlan(sub.id, None, None, "new", 1.0))
    return plans
