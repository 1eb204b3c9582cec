"""Review thresholds and the precision estimate from outcomes (minqing/precision.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from minqing.precision import (
    ClassifiedCase,
    PrecisionAlert,
    ReviewThresholds,
    Verdict,
    alert_text,
    bootstrap_routing,
    choose_category_thresholds,
    choose_marginal_thresholds,
    compare_models,
    needs_review,
    precision_alerts,
    routing_score,
    verdict,
    week_of,
    weekly_precision,
    wilson_interval,
)

THRESHOLDS = ReviewThresholds(0.9, {"教育文体": 0.8, "商贸旅游": 0.95})


@pytest.mark.parametrize(
    ("category", "confidence", "expected"),
    [
        ("教育文体", 0.80, False),  # its own threshold, reached exactly
        ("教育文体", 0.79, True),
        ("商贸旅游", 0.94, True),  # stricter than the default
        ("商贸旅游", 0.95, False),
        ("城乡建设", 0.90, False),  # no own threshold: the default
        ("城乡建设", 0.89, True),
        (None, 1.0, True),  # no category: always an operator
    ],
)
def test_a_case_needs_review_below_the_threshold_of_its_category(category, confidence, expected):
    assert needs_review(category, confidence, THRESHOLDS) is expected


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01])
def test_a_threshold_outside_zero_to_one_is_refused(bad):
    with pytest.raises(ValueError, match="商贸旅游"):
        ReviewThresholds(0.9, {"商贸旅游": bad})


def test_routing_score_counts_only_the_cases_over_their_categorys_threshold():
    truth = ["教育文体", "教育文体", "商贸旅游", "城乡建设", "城乡建设"]
    predicted = ["教育文体", "教育文体", "商贸旅游", "城乡建设", "教育文体"]
    confidence = [0.85, 0.70, 0.94, 0.99, 0.82]
    score = routing_score(truth, predicted, confidence, THRESHOLDS)
    # Routed: 0 (0.85 >= 0.8, right), 3 (0.99 >= 0.9, right), 4 (0.82 >= 0.8, wrong).
    assert (score.routed, score.total) == (3, 5)
    assert score.precision == pytest.approx(2 / 3)
    assert score.coverage == pytest.approx(3 / 5)


def test_nothing_routed_has_no_precision():
    score = routing_score(["城乡建设"], ["城乡建设"], [0.5], THRESHOLDS)
    assert (score.precision, score.coverage, score.routed) == (None, 0.0, 0)


def test_the_bootstrap_interval_holds_the_measured_precision_and_narrows_with_more_cases():
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 2000):
        truth = np.array(["城乡建设"] * n, dtype=object)
        predicted = np.where(rng.random(n) < 0.95, "城乡建设", "教育文体").astype(object)
        confidence = np.full(n, 0.99)
        estimate = bootstrap_routing(truth, predicted, confidence, ReviewThresholds(0.9))
        assert estimate.precision_95 is not None
        low, high = estimate.precision_95.low, estimate.precision_95.high
        assert low <= estimate.score.precision <= high
        assert estimate.coverage_95.low == estimate.coverage_95.high == 1.0
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_the_bootstrap_resamples_whole_groups_of_near_duplicates():
    # Ten copies of one wrong message and ten different right ones: grouped, the copies rise
    # and fall together, so the interval is wider than when each copy counts on its own.
    truth = ["城乡建设"] * 20
    predicted = ["教育文体"] * 10 + ["城乡建设"] * 10
    confidence = [0.99] * 20
    groups = [0] * 10 + list(range(1, 11))
    plain = bootstrap_routing(truth, predicted, confidence, ReviewThresholds(0.9))
    grouped = bootstrap_routing(truth, predicted, confidence, ReviewThresholds(0.9), groups=groups)
    assert plain.precision_95 and grouped.precision_95
    assert grouped.precision_95.low == 0.0 or grouped.precision_95.low < plain.precision_95.low
    assert grouped.precision_95.high == 1.0


@pytest.mark.parametrize(
    ("min_precision", "min_routed", "expected"),
    [
        # 教育文体: one wrong at 0.55, right from 0.6 -> the first grid step above 0.55.
        # 商贸旅游: wrong at 0.9, right above -> 0.91.
        (0.99, 1, {"教育文体": 0.56, "商贸旅游": 0.91}),
        # At 0.8 precision 商贸旅游 may keep its one wrong case among its five (all of them,
        # from the grid's lowest step); 教育文体 may not keep its one among four (0.75).
        (0.8, 1, {"教育文体": 0.56, "商贸旅游": 0.5}),
        # Asking for 6 routed cases: neither category ever has that many -> the fallback.
        (0.8, 6, {"教育文体": 0.99, "商贸旅游": 0.99}),
    ],
)
def test_each_category_gets_the_lowest_threshold_that_reaches_the_precision(
    min_precision, min_routed, expected
):
    truth = ["城乡建设", "教育文体", "教育文体", "教育文体"] + ["城乡建设"] + ["商贸旅游"] * 4
    predicted = ["教育文体"] * 4 + ["商贸旅游"] * 5
    confidence = [0.55, 0.6, 0.7, 0.9] + [0.9, 0.7, 0.92, 0.95, 0.97]
    grid = [round(0.5 + 0.01 * i, 2) for i in range(50)]
    chosen = choose_category_thresholds(
        truth, predicted, confidence, min_precision=min_precision, grid=grid, min_routed=min_routed
    )
    assert chosen == expected


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        ([], Verdict.OPEN),
        ([("assigned", None)], Verdict.OPEN),
        ([("assigned", None), ("replied", None)], Verdict.RIGHT),
        ([("not_responsible", None), ("category_confirmed", "城乡建设")], Verdict.WRONG),
        ([("rerouted", None), ("replied", None)], Verdict.WRONG),
        ([("category_corrected", "城乡建设")], Verdict.RIGHT),  # confirmed as it was
        ([("category_corrected", "教育文体")], Verdict.WRONG),
        ([("category_corrected", None), ("replied", None)], Verdict.RIGHT),  # unknown category
        ([("replied", None), ("category_corrected", "教育文体")], Verdict.RIGHT),  # first decides
    ],
)
def test_the_first_telling_outcome_decides_whether_a_routed_category_was_right(later, expected):
    assert verdict("城乡建设", later) is expected


def test_weeks_start_on_monday():
    assert week_of(datetime(2026, 12, 6, 23, 0, tzinfo=UTC)) == date(2026, 11, 30)  # a Sunday
    assert week_of(date(2026, 12, 7)) == date(2026, 12, 7)


def _cases(week_day: int, category: str, routed_right: int, routed_wrong: int, routed_open: int,
           held: int) -> list[ClassifiedCase]:  # fmt: skip
    at = datetime(2026, 11, week_day, 2, tzinfo=UTC)
    return (
        [ClassifiedCase(at, category, True, Verdict.RIGHT)] * routed_right
        + [ClassifiedCase(at, category, True, Verdict.WRONG)] * routed_wrong
        + [ClassifiedCase(at, category, True, Verdict.OPEN)] * routed_open
        + [ClassifiedCase(at, category, False)] * held
    )


def test_weekly_precision_per_category_and_overall_newest_week_first():
    cases = (
        _cases(23, "城乡建设", 18, 2, 5, 5)
        + _cases(24, "教育文体", 10, 0, 0, 0)
        + _cases(17, "城乡建设", 4, 0, 0, 1)
    )
    rows = weekly_precision(cases)
    keys = [(e.week, e.category) for e in rows]
    assert keys == [
        (date(2026, 11, 23), None),
        (date(2026, 11, 23), "城乡建设"),
        (date(2026, 11, 23), "教育文体"),
        (date(2026, 11, 16), None),
        (date(2026, 11, 16), "城乡建设"),
    ]
    week, city = rows[0], rows[1]
    assert (week.classified, week.auto_routed, week.right, week.wrong, week.open) == (
        40, 35, 28, 2, 5,
    )  # fmt: skip
    assert week.precision == pytest.approx(28 / 30)
    assert week.coverage == pytest.approx(35 / 40)
    assert city.precision == pytest.approx(18 / 20) and city.coverage == pytest.approx(25 / 30)


@pytest.mark.parametrize(
    ("right", "wrong", "target", "min_judged", "alerts"),
    [
        (28, 2, 0.97, 30, 1),  # 0.933 < 0.97 on 30 judged
        (28, 2, 0.97, 31, 0),  # too few judged to say
        (97, 3, 0.97, 30, 0),  # exactly the target
        (96, 4, 0.97, 30, 1),
        (0, 0, 0.97, 0, 0),  # nothing judged: no precision, no alert
    ],
)
def test_an_alert_only_when_enough_judged_cases_fall_below_the_target(
    right, wrong, target, min_judged, alerts
):
    at = datetime(2026, 11, 23, tzinfo=UTC)
    cases = [ClassifiedCase(at, "城乡建设", True, Verdict.RIGHT)] * right + [
        ClassifiedCase(at, "城乡建设", True, Verdict.WRONG)
    ] * wrong
    overall = [e for e in weekly_precision(cases) if e.category is None]
    assert len(precision_alerts(overall, target, min_judged)) == alerts


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(0, 0, None, None), (10, 10, 0.7225, 1.0), (95, 100, 0.8882, 0.9785), (0, 5, 0.0, 0.4345)],
)
def test_wilson_interval(successes, n, low, high):
    interval = wilson_interval(successes, n)
    if low is None:
        assert interval is None
    else:
        assert interval is not None
        assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-4)


TRUTH = ["城乡建设", "城乡建设", "教育文体", "教育文体"]


@pytest.mark.parametrize(
    ("current", "candidate", "worse"),
    [
        # Same predictions: not worse.
        ((TRUTH, [0.99] * 4), (TRUTH, [0.99] * 4), False),
        # The candidate routes one wrong case the current one got right.
        ((TRUTH, [0.99] * 4), (["城乡建设", "教育文体", "教育文体", "教育文体"], [0.99] * 4), True),
        # Both wrong once, but the candidate leaves its wrong one to an operator: better.
        (
            (["城乡建设", "教育文体", "教育文体", "教育文体"], [0.99] * 4),
            (["城乡建设", "教育文体", "教育文体", "教育文体"], [0.99, 0.5, 0.99, 0.99]),
            False,
        ),
        # The candidate routes nothing but is right as often: no wrong routes, not worse.
        ((TRUTH, [0.99] * 4), (TRUTH, [0.5] * 4), False),
        # Routes as precisely (nothing wrong routed) but is right less often overall: worse.
        ((TRUTH, [0.5] * 4), (["教育文体", "城乡建设", "教育文体", "教育文体"], [0.5] * 4), True),
    ],
)
def test_a_candidate_is_worse_when_it_routes_less_precisely_or_is_right_less_often(
    current, candidate, worse
):
    comparison = compare_models(TRUTH, current, candidate, ReviewThresholds(0.9))
    assert comparison.cases == 4
    assert comparison.candidate_is_worse is worse


def test_no_confirmed_cases_say_nothing_against_a_candidate():
    comparison = compare_models([], ([], []), ([], []), ReviewThresholds(0.9))
    assert comparison.candidate_is_worse is False


def _band(category: str, low: float, right: int, wrong: int) -> tuple[list, list, list]:
    """`right` + `wrong` cases predicted `category` with confidence `low` + 0.01."""
    n = right + wrong
    return [category] * right + ["其他"] * wrong, [category] * n, [low + 0.01] * n


@pytest.mark.parametrize(
    ("bands", "minimum", "expected"),
    [
        # 城乡建设: right 19/20 at 0.91, 16/20 at 0.81: stops just above the 0.81 cases.
        ([("城乡建设", 0.90, 19, 1), ("城乡建设", 0.80, 16, 4)], 0.9, {"城乡建设": 0.82}),
        # The same bands at a lower bar: both windows pass, down to the grid's bottom.
        ([("城乡建设", 0.90, 19, 1), ("城乡建设", 0.80, 16, 4)], 0.8, {"城乡建设": 0.7}),
        # Too few cases in the low window to say: the descent goes on through it.
        ([("教育文体", 0.90, 20, 0), ("教育文体", 0.80, 2, 3)], 0.9, {"教育文体": 0.7}),
        # Wrong already at the top: the fallback.
        ([("商贸旅游", 0.98, 5, 15)], 0.9, {"商贸旅游": 0.99}),
    ],
)
def test_a_categorys_threshold_goes_down_while_the_cases_it_adds_are_right_often_enough(
    bands, minimum, expected
):
    truth, predicted, confidence = [], [], []
    for band in bands:
        t, p, c = _band(*band)
        truth, predicted, confidence = truth + t, predicted + p, confidence + c
    grid = [round(0.70 + 0.01 * i, 2) for i in range(30)]
    chosen = choose_marginal_thresholds(
        truth, predicted, confidence, min_marginal_precision=minimum, grid=grid
    )
    assert chosen == expected


def test_a_precision_low_event_raises_a_duty_alert_with_its_message():
    """The shipped alert rules (minqing/alerts.py) turn the event the night emits into a
    duty alert whose text is the summary's warning."""
    import jinja2

    from minqing.alerts import alert_rules

    rule = next(
        r for r in alert_rules("http://ui") if "minqing.classifier.precision_low" in r.expect
    )
    event = {
        "payload": {"message": "2026-11-30 起一周全部自动分派准确率 93.3%（28/30），低于目标 97.0%"}
    }
    text = jinja2.Template(rule.text).render(event=event)
    assert text.startswith(event["payload"]["message"])
    # the overall figure is moved by the threshold for all; a category's by its own
    assert "review_threshold" in text and "category_thresholds" not in text
    event["payload"]["category"] = "城乡建设"
    assert "category_thresholds" in jinja2.Template(rule.text).render(event=event)


@pytest.mark.parametrize(
    ("language", "category", "expected"),
    [
        ("zh_CN", None, "2026-11-23 起一周全部自动分派准确率 93.3%（28/30），低于目标 97.0%"),
        ("zh_CN", "城乡建设", "2026-11-23 起一周“城乡建设”类自动分派准确率 93.3%（28/30）"),
        ("en", None, "Week of 2026-11-23: automatic routing was right 93.3% (28/30) overall"),
        ("en", "城乡建设", "automatic routing of “城乡建设” was right 93.3% (28/30)"),
    ],
)
def test_the_precision_warning_reads_in_the_offices_language(language, category, expected):
    from minqing.i18n import using

    at = datetime(2026, 11, 23, tzinfo=UTC)
    cases = [ClassifiedCase(at, "城乡建设", True, Verdict.RIGHT)] * 28 + [
        ClassifiedCase(at, "城乡建设", True, Verdict.WRONG)
    ] * 2
    estimate = next(e for e in weekly_precision(cases) if e.category == category)
    with using(language):
        assert expected in alert_text(PrecisionAlert(estimate, 0.97))
