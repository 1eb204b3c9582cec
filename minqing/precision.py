"""Routing precision (自动分派准确率): when a model's category is trusted, and how well it does.

Two halves, both plain functions:

- Before routing: the review thresholds. A case whose confidence is below the threshold of
  its predicted category waits for an operator (待人工审核) instead of being routed. Categories
  differ — 教育文体 is rarely wrong at 0.8, 商贸旅游 often is at 0.9 — so each category may have
  its own threshold, chosen on held-out predictions (`choose_category_thresholds`).
- After routing: what the office's own outcomes say. A case the model routed by itself is
  *wrong* when its category was later changed by an operator, or when a department returned it
  as 不属职责 or an operator re-routed it (the department that bounced it and the citizen who
  waited paid for the route either way); it is *right* once a department answered it or an
  operator confirmed the category; otherwise it is still open. `weekly_precision` turns these
  verdicts into a running estimate per week and category, with an interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

import numpy as np

from minqing.i18n import _

# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class ReviewThresholds:
    """The confidence a model's category needs to be routed without an operator: one per
    category where configured, `default` for the others."""

    default: float
    per_category: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in {"default": self.default, **self.per_category}.items():
            if not 0 < value <= 1:
                raise ValueError(f"review threshold of {name} must lie in (0, 1], not {value}")

    def for_category(self, category: str | None) -> float:
        if category is None:
            return self.default
        return self.per_category.get(category, self.default)

    def as_dict(self) -> dict[str, float]:
        return {"default": self.default, **dict(sorted(self.per_category.items()))}


def needs_review(category: str | None, confidence: float, thresholds: ReviewThresholds) -> bool:
    """True when the case must wait for an operator: no category, or a confidence below the
    threshold of its category."""
    return category is None or confidence < thresholds.for_category(category)


@dataclass(frozen=True)
class RoutingScore:
    """Routing every case whose confidence reaches its category's threshold: how many were
    routed (`coverage`, the share of all cases) and how many of those were right."""

    precision: float | None  # None when nothing is routed
    coverage: float
    routed: int
    total: int


def routing_score(
    truth: Sequence[str] | np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    thresholds: ReviewThresholds,
) -> RoutingScore:
    truth_a, pred_a = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    routed = _routed_mask(pred_a, np.asarray(confidence, dtype=float), thresholds)
    n = int(routed.sum())
    precision = float((truth_a[routed] == pred_a[routed]).mean()) if n else None
    return RoutingScore(precision, n / len(truth_a) if len(truth_a) else 0.0, n, len(truth_a))


def _routed_mask(
    predicted: np.ndarray, confidence: np.ndarray, thresholds: ReviewThresholds
) -> np.ndarray:
    limit = np.array([thresholds.for_category(p) for p in predicted.tolist()], dtype=float)
    return confidence >= limit if len(limit) else np.zeros(0, dtype=bool)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class RoutingEstimate:
    """A routing score with 95% bootstrap intervals of its precision and coverage."""

    score: RoutingScore
    precision_95: Interval | None
    coverage_95: Interval


def bootstrap_routing(
    truth: Sequence[str] | np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    thresholds: ReviewThresholds,
    *,
    runs: int = 2000,
    seed: int = 0,
    groups: Sequence[int] | np.ndarray | None = None,
) -> RoutingEstimate:
    """The score and how far it can move on another sample of the same kind of messages:
    resampling messages with replacement (or whole `groups` of near-duplicates, which rise and
    fall together), the 2.5th and 97.5th percentiles."""
    truth_a, pred_a = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    routed = _routed_mask(pred_a, np.asarray(confidence, dtype=float), thresholds)
    right = routed & (truth_a == pred_a)
    score = routing_score(truth_a, pred_a, confidence, thresholds)
    if groups is None:
        groups = np.arange(len(truth_a))
    group_ids, member = np.unique(np.asarray(groups), return_inverse=True)
    # Per group: messages, routed, routed and right; a resample adds up whole groups.
    sums = np.zeros((len(group_ids), 3))
    np.add.at(sums, member, np.stack([np.ones(len(truth_a)), routed, right], axis=1))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(group_ids), size=(runs, len(group_ids)))
    totals = sums[picks].sum(axis=1)
    coverage = totals[:, 1] / np.maximum(totals[:, 0], 1)
    with_routed = totals[:, 1] > 0
    precision = totals[with_routed, 2] / totals[with_routed, 1]

    def interval(values: np.ndarray) -> Interval:
        low, high = np.percentile(values, [2.5, 97.5])
        return Interval(round(float(low), 4), round(float(high), 4))

    return RoutingEstimate(
        score, interval(precision) if len(precision) else None, interval(coverage)
    )


def choose_category_thresholds(
    truth: Sequence[str] | np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    *,
    min_precision: float,
    grid: Iterable[float],
    min_routed: int = 30,
    fallback: float = 0.99,
) -> dict[str, float]:
    """Per predicted category, the lowest threshold on `grid` at which the cases routed with
    that category reach `min_precision` (measured on held-out predictions), so each category
    routes as much as it can at the same precision. A category with fewer than `min_routed`
    routed cases at a threshold cannot show its precision there; one that never reaches the
    target gets `fallback` (the most confident only)."""
    steps = sorted(grid)

    def lowest(ok: np.ndarray, c: np.ndarray) -> float:
        for t in steps:
            routed = c >= t
            if int(routed.sum()) >= min_routed and ok[routed].mean() >= min_precision:
                return round(float(t), 4)
        return fallback

    return _per_category(truth, predicted, confidence, lowest)


def _per_category(
    truth: Sequence[str] | np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    choose: Callable[[np.ndarray, np.ndarray], float],
) -> dict[str, float]:
    """`choose(right, confidence)` over the cases predicted as each category."""
    truth_a, pred_a = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    conf = np.asarray(confidence, dtype=float)
    chosen = {}
    for category in sorted(set(pred_a.tolist())):
        mine = pred_a == category
        chosen[category] = choose(truth_a[mine] == category, conf[mine])
    return chosen


def choose_marginal_thresholds(
    truth: Sequence[str] | np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    *,
    min_marginal_precision: float,
    grid: Iterable[float],
    window: float = 0.05,
    min_window: int = 10,
    fallback: float = 0.99,
) -> dict[str, float]:
    """Per predicted category, how far down its threshold may go: from the top of `grid`
    down, as long as the cases each step adds — those with confidence in [t, t + window) —
    are right at least `min_marginal_precision` of the time (a window with fewer than
    `min_window` cases cannot say, and does not stop the descent).

    Unlike one precision target per category, this routes a case when cases *like it* (its
    category, its confidence) are right often enough, so the coverage goes where the model is
    reliable; measured on held-out predictions, it routes a little more than one global
    threshold at the same overall precision (bench/results/classifier.md)."""
    steps = sorted(grid, reverse=True)

    def descend(ok: np.ndarray, c: np.ndarray) -> float:
        chosen = fallback
        for t in steps:
            inside = (c >= t) & (c < t + window)
            if inside.sum() >= min_window and ok[inside].mean() < min_marginal_precision:
                break
            chosen = round(float(t), 4)
        return chosen

    return _per_category(truth, predicted, confidence, descend)


# --------------------------------------------------------------------------- outcomes


class Verdict(StrEnum):
    """What the office's outcomes say about a model's category for one case."""

    RIGHT = "right"  # answered by the department, or confirmed by an operator
    WRONG = "wrong"  # category changed by an operator, 不属职责, or re-routed
    OPEN = "open"  # no outcome yet


# Audit actions that carry a verdict on the category a case was routed with.
WRONG_ACTIONS = frozenset({"not_responsible", "rerouted"})
RIGHT_ACTIONS = frozenset({"replied"})
CATEGORY_ACTIONS = frozenset({"category_confirmed", "category_corrected"})


def verdict(model_category: str, later: Iterable[tuple[str, str | None]]) -> Verdict:
    """The verdict on a routed case from what happened to it afterwards, oldest first: pairs
    (audit action, first-level category an operator gave, or None). The first telling event
    decides: a department's answer or an operator's confirmation of the same category says
    right; a 不属职责 return, a re-route or an operator's other category says wrong."""
    for action, category in later:
        if action in WRONG_ACTIONS:
            return Verdict.WRONG
        if action in CATEGORY_ACTIONS and category is not None:
            return Verdict.RIGHT if category == model_category else Verdict.WRONG
        if action in RIGHT_ACTIONS:
            return Verdict.RIGHT
    return Verdict.OPEN


@dataclass(frozen=True)
class ClassifiedCase:
    """A case the model classified: when, with which first-level category, whether it was
    routed without an operator, and (for those) the verdict of its outcomes."""

    classified_at: datetime
    category: str
    auto_routed: bool
    verdict: Verdict = Verdict.OPEN


@dataclass(frozen=True)
class PrecisionEstimate:
    """One week (Monday) and category (None: all of them): cases classified, routed without
    an operator, and of those judged right / wrong / still open; the precision among the
    judged with a 95% Wilson interval."""

    week: date
    category: str | None
    classified: int
    auto_routed: int
    right: int
    wrong: int
    open: int

    @property
    def coverage(self) -> float | None:
        return self.auto_routed / self.classified if self.classified else None

    @property
    def judged(self) -> int:
        return self.right + self.wrong

    @property
    def precision(self) -> float | None:
        return self.right / self.judged if self.judged else None

    @property
    def interval(self) -> Interval | None:
        return wilson_interval(self.right, self.judged)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> Interval | None:
    """95% Wilson score interval of a proportion (sound for small n and p near 1)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def week_of(moment: datetime | date) -> date:
    """The Monday of the week (in the time zone `moment` carries)."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def weekly_precision(cases: Iterable[ClassifiedCase]) -> list[PrecisionEstimate]:
    """Per week of classification: every category and all of them together (category None),
    newest week first, categories by name."""
    counts: dict[tuple[date, str | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for case in cases:
        week = week_of(case.classified_at)
        for key in ((week, case.category), (week, None)):
            row = counts[key]
            row[0] += 1
            if case.auto_routed:
                row[1] += 1
                row[2 + list(Verdict).index(case.verdict)] += 1
    estimates = [
        PrecisionEstimate(week, category, *row) for (week, category), row in counts.items()
    ]
    return sorted(estimates, key=lambda e: (-e.week.toordinal(), e.category is not None,
                                            e.category or ""))  # fmt: skip


@dataclass(frozen=True)
class PrecisionAlert:
    """An estimate below the target: its week, category (None: all) and figures."""

    estimate: PrecisionEstimate
    target: float


def precision_alerts(
    estimates: Iterable[PrecisionEstimate], target: float, min_judged: int = 30
) -> list[PrecisionAlert]:
    """Estimates whose precision is below `target`, once at least `min_judged` of their routed
    cases have an outcome (fewer say too little: one bounce in ten is 0.90)."""
    return [
        PrecisionAlert(e, target)
        for e in estimates
        if e.judged >= min_judged and e.precision is not None and e.precision < target
    ]


# --------------------------------------------------------------------------- in the office's words


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def estimate_row(e: PrecisionEstimate) -> dict[str, str | int]:
    """One row of the 自动分派准确率 table (night's summary artifact and the report)."""
    interval = e.interval
    return {
        "周": _("%(date)s 起") % {"date": f"{e.week:%Y-%m-%d}"},
        "分类": e.category or _("全部"),
        "模型分类": e.classified,
        "自动分派": e.auto_routed,
        "自动分派率": _rate(e.coverage),
        "已有结果": e.judged,
        "分错": e.wrong,
        "准确率": _rate(e.precision),
        "95%区间": "—" if interval is None else f"{_rate(interval.low)}–{_rate(interval.high)}",
        "尚无结果": e.open,
    }


def summary_text(e: PrecisionEstimate | None) -> str:
    """The night's summary line: this week's precision and coverage of automatic routing."""
    if e is None or e.classified == 0:
        return _("本周暂无模型分类的案件")
    routed = {"routed": e.auto_routed, "classified": e.classified, "share": _rate(e.coverage)}
    if not e.judged:
        return (
            _(
                "自动分派 %(routed)d/%(classified)d 件（%(share)s），准确率 —（自动分派的案件尚无结果）"
            )
            % routed
        )
    interval = e.interval
    assert interval is not None
    return _(
        "自动分派 %(routed)d/%(classified)d 件（%(share)s），准确率 %(precision)s"
        "（%(right)d/%(judged)d 件已有结果，95%%区间 %(low)s–%(high)s）；"
        "分错 = 部门退回不属职责、改派或人工改分类"
    ) % {
        **routed,
        "precision": _rate(e.precision),
        "right": e.right,
        "judged": e.judged,
        "low": _rate(interval.low),
        "high": _rate(interval.high),
    }


def alert_text(alert: PrecisionAlert) -> str:
    """The warning in the night's summary (and the text of the operations alert)."""
    e = alert.estimate
    values = {
        "week": f"{e.week:%Y-%m-%d}",
        "category": e.category,
        "precision": _rate(e.precision),
        "right": e.right,
        "judged": e.judged,
        "target": _rate(alert.target),
    }
    if e.category is None:
        return (
            _(
                "%(week)s 起一周全部自动分派准确率 %(precision)s（%(right)d/%(judged)d），低于目标 "
                "%(target)s：请检查分类模型，必要时提高 config/classifier.yaml 的审核阈值或重新训练"
            )
            % values
        )
    return (
        _(
            "%(week)s 起一周“%(category)s”类自动分派准确率 %(precision)s（%(right)d/%(judged)d），"
            "低于目标 %(target)s：请检查分类模型，必要时提高 config/classifier.yaml 中该类的审核阈值或重新训练"
        )
        % values
    )


# --------------------------------------------------------------------------- retraining


@dataclass(frozen=True)
class ModelComparison:
    """The current and a candidate model on the same confirmed cases, neither trained on them:
    accuracy, and precision / coverage of what each would have routed by itself."""

    cases: int
    current: RoutingScore
    candidate: RoutingScore
    current_accuracy: float | None
    candidate_accuracy: float | None

    @property
    def candidate_is_worse(self) -> bool:
        """Worse when it would have routed less precisely or been right less often. Routing
        nothing counts as no wrong routes; no cases at all say nothing."""
        if self.cases == 0:
            return False
        precision_new = 1.0 if self.candidate.precision is None else self.candidate.precision
        precision_old = 1.0 if self.current.precision is None else self.current.precision
        return precision_new < precision_old or (self.candidate_accuracy or 0.0) < (
            self.current_accuracy or 0.0
        )


def compare_models(
    truth: Sequence[str],
    current: tuple[Sequence[str], Sequence[float]],
    candidate: tuple[Sequence[str], Sequence[float]],
    thresholds: ReviewThresholds,
) -> ModelComparison:
    """Score both models' (predicted, confidence) on the confirmed categories `truth`."""

    def accuracy(predicted: Sequence[str]) -> float | None:
        if not truth:
            return None
        return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))

    return ModelComparison(
        len(truth),
        routing_score(truth, current[0], current[1], thresholds),
        routing_score(truth, candidate[0], candidate[1], thresholds),
        accuracy(current[0]),
        accuracy(candidate[0]),
    )
