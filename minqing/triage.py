"""Triage decisions (整理): which status a new case gets from its classification."""

from __future__ import annotations

from minqing.classify import Classification
from minqing.i18n import _, label
from minqing.labels import CATEGORY_SOURCE_LABELS
from minqing.precision import ReviewThresholds
from minqing.states import CaseStatus

RULE_THRESHOLD = 0.6  # keyword rules: the winner must hold this share of all keyword hits


def triage_status(
    c: Classification, model_thresholds: ReviewThresholds | float
) -> tuple[CaseStatus, str | None]:
    """TRIAGED when the category is confident enough to route, else NEEDS_REVIEW with why. A
    model's category must reach the review threshold of its first-level category."""
    if c.category is None:
        return CaseStatus.NEEDS_REVIEW, _("未能识别分类，请人工确定")
    if c.source == "rule":
        threshold = RULE_THRESHOLD
    elif isinstance(model_thresholds, ReviewThresholds):
        threshold = model_thresholds.for_category(c.top)
    else:
        threshold = float(model_thresholds)
    if c.confidence < threshold:
        reason = _("分类把握不足：%(source)s的置信度 %(confidence).2f，低于 %(threshold).2f") % {
            "source": label(CATEGORY_SOURCE_LABELS, c.source),
            "confidence": c.confidence,
            "threshold": threshold,
        }
        return CaseStatus.NEEDS_REVIEW, reason
    return CaseStatus.TRIAGED, None
