"""Triage decisions (整理): which status a new case gets from its classification."""

from __future__ import annotations

from minqing.classify import Classification
from minqing.precision import ReviewThresholds
from minqing.reasons import Reason, reason
from minqing.states import CaseStatus

RULE_THRESHOLD = 0.6  # keyword rules: the winner must hold this share of all keyword hits


def triage_status(
    c: Classification, model_thresholds: ReviewThresholds | float
) -> tuple[CaseStatus, Reason | None]:
    """TRIAGED when the category is confident enough to route, else NEEDS_REVIEW with why. A
    model's category must reach the review threshold of its first-level category."""
    if c.category is None:
        return CaseStatus.NEEDS_REVIEW, reason("no_category")
    if c.source == "rule":
        threshold = RULE_THRESHOLD
    elif isinstance(model_thresholds, ReviewThresholds):
        threshold = model_thresholds.for_category(c.top)
    else:
        threshold = float(model_thresholds)
    if c.confidence < threshold:
        why = reason(
            "low_confidence", source=c.source, confidence=c.confidence, threshold=threshold
        )
        return CaseStatus.NEEDS_REVIEW, why
    return CaseStatus.TRIAGED, None
