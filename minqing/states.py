"""Case status state machine and outcome classes — states are data, checked in one table.

Statuses (案件状态)::

    new ─► triaged ─► assigned ─► replied ─► verified ─► rated ─► closed
     │        │          │  ▲         │          │          │        │
     └► needs_review ◄───┘  └─ reopened ◄────────┴──────────┴────────┘
    (any open status) ─► merged   (a duplicate case folded into another; never deleted)

`closed` never means "solved": the outcome says what happened.
"""

from __future__ import annotations

from enum import StrEnum

from minqing.i18n import N_


class CaseStatus(StrEnum):
    NEW = "new"  # 新立案: created from submissions, not yet classified
    TRIAGED = "triaged"  # 已分类: category decided, ready to route
    NEEDS_REVIEW = "needs_review"  # 待人工审核: low confidence, no routing rule, or 不属职责
    ASSIGNED = "assigned"  # 已交办
    REPLIED = "replied"  # 已答复
    VERIFIED = "verified"  # 已回头看核实
    RATED = "rated"  # 已评价
    CLOSED = "closed"  # 已办结 (see outcome)
    REOPENED = "reopened"  # 重办
    MERGED = "merged"  # 已合并 into another case


class Outcome(StrEnum):
    """办理结果: honest outcome classes; only SOLVED counts as 办成 (class A)."""

    SOLVED = "solved"  # A 已解决
    IN_PROGRESS = "in_progress"  # B 正在解决
    PLANNED = "planned"  # C 列入计划
    FOR_REFERENCE = "for_reference"  # D 留作参考
    NOT_RESPONSIBLE = "not_responsible"  # 不属职责
    ON_THE_SPOT = "on_the_spot"  # 现场答复


# The parts of 交办: a case's first assignment, 重办 (back after a 不满意 rating or a failed
# 回头看), and 改派 (assigned before, routed again: a department answered 不属职责 and an
# operator confirmed the category).
ASSIGNMENT_KINDS = ("assigned_new", "assigned_reopened", "assigned_rerouted")


def assignment_kind(status: CaseStatus, round_: int) -> str:
    """Which part of 交办 dispatching a case in `status` is, `round_` assignments before."""
    if status is CaseStatus.REOPENED:
        return "assigned_reopened"
    return "assigned_rerouted" if round_ else "assigned_new"


# Labels are message ids (minqing/i18n.py): show them with minqing.labels.outcome_label.
OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.SOLVED: N_("A 已解决"),
    Outcome.IN_PROGRESS: N_("B 正在解决"),
    Outcome.PLANNED: N_("C 列入计划"),
    Outcome.FOR_REFERENCE: N_("D 留作参考"),
    Outcome.NOT_RESPONSIBLE: N_("不属职责"),
    Outcome.ON_THE_SPOT: N_("现场答复"),
}

# What departments write in the 办理结果 column, mapped to outcome classes.
OUTCOME_ALIASES: dict[str, Outcome] = {
    "A": Outcome.SOLVED,
    "B": Outcome.IN_PROGRESS,
    "C": Outcome.PLANNED,
    "D": Outcome.FOR_REFERENCE,
    "已解决": Outcome.SOLVED,
    "正在解决": Outcome.IN_PROGRESS,
    "列入计划": Outcome.PLANNED,
    "留作参考": Outcome.FOR_REFERENCE,
    "不属职责": Outcome.NOT_RESPONSIBLE,
    "非本单位职责": Outcome.NOT_RESPONSIBLE,
    "现场答复": Outcome.ON_THE_SPOT,
}


def parse_outcome(value: str | None) -> Outcome | None:
    """The outcome class a department wrote, accepting A/B/C/D, Chinese labels and codes."""
    if value is None:
        return None
    text = value.strip().upper() if len(value.strip()) == 1 else value.strip()
    if text in OUTCOME_ALIASES:
        return OUTCOME_ALIASES[text]
    for outcome, label in OUTCOME_LABELS.items():
        if text in (outcome.value, label):
            return outcome
    return None


S = CaseStatus
OPEN_STATUSES = frozenset(set(S) - {S.CLOSED, S.MERGED})

TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.NEW: frozenset({S.TRIAGED, S.NEEDS_REVIEW, S.CLOSED, S.MERGED}),
    S.TRIAGED: frozenset({S.ASSIGNED, S.NEEDS_REVIEW, S.MERGED}),
    S.NEEDS_REVIEW: frozenset({S.TRIAGED, S.ASSIGNED, S.CLOSED, S.MERGED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.REPLIED, S.NEEDS_REVIEW, S.MERGED}),
    S.REPLIED: frozenset({S.REPLIED, S.VERIFIED, S.RATED, S.CLOSED, S.REOPENED, S.NEEDS_REVIEW}),
    S.VERIFIED: frozenset({S.RATED, S.CLOSED, S.REOPENED}),
    S.RATED: frozenset({S.RATED, S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.ASSIGNED, S.NEEDS_REVIEW, S.MERGED}),
    S.MERGED: frozenset({S.REOPENED}),
}


class TransitionError(ValueError):
    """A status change the state machine does not allow."""


def can_transition(current: CaseStatus, target: CaseStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: CaseStatus | str, target: CaseStatus | str) -> CaseStatus:
    """Return the target status, or raise TransitionError naming both states."""
    cur, tgt = CaseStatus(current), CaseStatus(target)
    if not can_transition(cur, tgt):
        raise TransitionError(f"case cannot go from {cur.value} to {tgt.value}")
    return tgt
