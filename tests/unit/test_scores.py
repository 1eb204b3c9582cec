"""Department scores, the funnel and the annual sentence, on small literal tables.

Every expected number below is worked out by hand in the comment next to it, following the
formulas in docs/scores.md.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from minqing.scores import (
    SCORE_COLUMNS,
    ScorePolicy,
    annual_sentences,
    department_scores,
    funnel,
    latest_ratings,
    representative_scores,
    stage_label,
)
from minqing.states import Outcome
from minqing.workdays import WorkCalendar

MARCH = (date(2025, 3, 1), date(2025, 3, 31))
POLICY = ScorePolicy(min_rated=3, weight_citizen=0.7, weight_representative=0.3)
NaN = math.nan


def frame(columns: str, *rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=columns.split())


# Times are UTC; Beijing is UTC+8, so "…15:59:59" is the end of a Beijing day.
CASES = frame(
    "case_id department assigned_at due_at replied_at closed_at outcome reopen_count "
    "handling_working_days",
    # 城管 chengguan: four cases in March, one in February.
    (1, "chengguan", "2025-03-03 02:00", "2025-03-10 15:59:59", "2025-03-05 02:00", "2025-03-20 02:00", "solved", 0, 2.0),
    (2, "chengguan", "2025-03-04 02:00", "2025-03-11 15:59:59", "2025-03-12 02:00", "2025-03-25 02:00", "in_progress", 1, 6.0),
    (3, "chengguan", "2025-03-20 02:00", "2025-03-27 15:59:59", None, None, None, 0, None),  # overdue
    (4, "chengguan", "2025-03-28 02:00", "2025-04-07 15:59:59", None, None, None, 0, None),  # pending
    (5, "chengguan", "2025-02-27 02:00", "2025-03-06 15:59:59", "2025-03-01 02:00", "2025-03-02 02:00", "solved", 0, 2.0),
    # 住建 zhujian: two cases, both solved; one replied in the last second of its deadline.
    (11, "zhujian", "2025-03-10 02:00", "2025-03-17 15:59:59", "2025-03-17 15:59:59", "2025-03-20 02:00", "solved", 0, 5.0),
    (12, "zhujian", "2025-03-11 02:00", "2025-03-18 15:59:59", "2025-03-12 02:00", "2025-03-20 02:00", "solved", 0, 1.0),
    # 教育 jiaoyu: one case, one rating — too few to rank.
    (21, "jiaoyu", "2025-03-15 02:00", "2025-03-24 15:59:59", "2025-03-17 02:00", "2025-03-19 02:00", "for_reference", 0, 2.0),
)  # fmt: skip

RATINGS = frame(
    "case_id person_id satisfaction solved rated_at",
    (1, 101, "不满意", False, "2025-03-06 02:00"),  # changed their mind later:
    (1, 101, "满意", True, "2025-03-21 02:00"),  # …this one counts
    (1, 102, "基本满意", None, "2025-03-21 03:00"),
    (2, 103, "不满意", False, "2025-03-26 02:00"),
    (5, 104, "满意", True, "2025-03-03 02:00"),  # case assigned in February: not March's
    (11, 107, "满意", True, "2025-03-21 02:00"),
    (12, 108, "满意", True, "2025-03-21 02:00"),
    (12, 109, "满意", None, "2025-03-22 02:00"),
    (21, 110, "满意", True, "2025-03-20 02:00"),
)

SURVEYS = frame(
    "case_id person_id sent_at",
    (1, 101, "2025-03-05 03:00"),
    (1, 101, "2025-03-12 03:00"),  # a reminder: still one citizen asked
    (1, 102, "2025-03-05 03:00"),
    (2, 103, "2025-03-12 03:00"),
    (2, 105, "2025-03-12 03:00"),  # never answered
    (3, 106, "2025-03-28 03:00"),  # never answered
    (21, 110, "2025-03-17 03:00"),
)

REP_EVALUATIONS = frame(
    "representative department score",
    ("王代表", "chengguan", "满意"),  # 100
    ("李代表", "chengguan", 60),
    ("李代表", "chengguan", 80),  # 李's two rows average to 70 first
    ("王代表", "zhujian", "基本满意"),  # 80
    ("张代表", "weijian", "90"),  # a department with no cases this month
)

EXPECTED = {
    "chengguan": {
        "received": 4,  # cases 1–4 (case 5 was assigned in February)
        "replied": 2,  # cases 1, 2
        "reply_rate": 2 / 4,
        "on_time_rate": 1 / 3,  # on time: 1; judged: 1, 2 (replied) and 3 (overdue); 4 is pending
        "mean_working_days": (2 + 6) / 2,
        "solved_rate_closed": 1 / 2,  # closed: 1, 2; solved: 1
        "solved_rate_rated": 1 / 2,  # answered 办成: 101 yes, 103 no (102 skipped the question)
        "satisfaction_rate": 2 / 3,  # 101 满意, 102 基本满意, 103 不满意
        "fully_satisfied_rate": 1 / 3,
        "response_rate": 3 / 5,  # asked 101, 102, 103, 105, 106; rated 101, 102, 103
        "reopen_rate": 1 / 2,  # replied: 1, 2; reopened: 2
        "rated": 3,
        "citizen_score": (100 + 80 + 0) / 3,
        "representative_score": (100 + 70) / 2,
        "composite_score": 0.7 * 60 + 0.3 * 85,  # 67.5
        "rank": 2,
        "unranked_reason": None,
    },
    "zhujian": {
        "received": 2,
        "replied": 2,
        "reply_rate": 1.0,
        "on_time_rate": 1.0,  # replied at the deadline's last second still counts
        "mean_working_days": 3.0,
        "solved_rate_closed": 1.0,
        "solved_rate_rated": 1.0,  # 107 and 108 answered yes; 109 did not answer
        "satisfaction_rate": 1.0,
        "fully_satisfied_rate": 1.0,
        "response_rate": NaN,  # no survey rows: 0 / 0
        "reopen_rate": 0.0,
        "rated": 3,
        "citizen_score": 100.0,
        "representative_score": 80.0,
        "composite_score": 0.7 * 100 + 0.3 * 80,  # 94
        "rank": 1,
        "unranked_reason": None,
    },
    "jiaoyu": {
        "received": 1,
        "replied": 1,
        "reply_rate": 1.0,
        "on_time_rate": 1.0,
        "mean_working_days": 2.0,
        "solved_rate_closed": 0.0,  # closed as for_reference: closed is not solved
        "solved_rate_rated": 1.0,
        "satisfaction_rate": 1.0,
        "fully_satisfied_rate": 1.0,
        "response_rate": 1.0,
        "reopen_rate": 0.0,
        "rated": 1,
        "citizen_score": 100.0,
        "representative_score": NaN,
        "composite_score": NaN,  # weight_representative > 0 and no evaluation
        "rank": None,
        "unranked_reason": "评价数不足（1 条，少于 3 条）",
    },
    "weijian": {
        "received": 0,
        "replied": 0,
        "reply_rate": NaN,
        "on_time_rate": NaN,
        "mean_working_days": NaN,
        "solved_rate_closed": NaN,
        "solved_rate_rated": NaN,
        "satisfaction_rate": NaN,
        "fully_satisfied_rate": NaN,
        "response_rate": NaN,
        "reopen_rate": NaN,
        "rated": 0,
        "citizen_score": NaN,
        "representative_score": 90.0,
        "composite_score": NaN,
        "rank": None,
        "unranked_reason": "评价数不足（0 条，少于 3 条）",
    },
}


def scores(**overrides) -> pd.DataFrame:
    arguments = dict(
        cases=CASES,
        ratings=RATINGS,
        surveys=SURVEYS,
        rep_evaluations=REP_EVALUATIONS,
        period_start=MARCH[0],
        period_end=MARCH[1],
        policy=POLICY,
    )
    arguments.update(overrides)
    return department_scores(**arguments)


def row(table: pd.DataFrame, department: str) -> dict:
    matches = table[table["department"] == department]
    assert len(matches) == 1, f"{department}: {len(matches)} rows"
    return matches.iloc[0].to_dict()


def same(actual, expected) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return (
            actual is None or actual is pd.NA or (isinstance(actual, float) and math.isnan(actual))
        )
    if isinstance(expected, float):
        return actual == pytest.approx(expected)
    return actual == expected


@pytest.mark.parametrize("department", EXPECTED)
def test_every_figure_of_every_department_matches_the_hand_computed_table(department: str) -> None:
    actual = row(scores(), department)
    wrong = {
        column: (actual[column], expected)
        for column, expected in EXPECTED[department].items()
        if not same(actual[column], expected)
    }
    assert wrong == {}, "column: (actual, expected)"


def test_the_table_has_the_documented_columns_and_is_sorted_by_rank() -> None:
    table = scores()
    assert tuple(table.columns) == SCORE_COLUMNS
    assert table["department"].tolist() == ["zhujian", "chengguan", "jiaoyu", "weijian"]
    assert str(table["rank"].dtype) == "Int64"
    assert table["received"].dtype == np.int64


# --- periods and time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assigned_at", "in_march"),
    [
        ("2025-02-28 16:00", True),  # 00:00 on 1 March, Beijing time
        ("2025-02-28 15:59:59", False),  # 23:59:59 on 28 February, Beijing time
        ("2025-03-31 15:59:59", True),  # the last second of 31 March, Beijing time
        ("2025-03-31 16:00", False),  # 00:00 on 1 April, Beijing time
    ],
)
def test_date_bounds_are_whole_beijing_days_inclusive(assigned_at: str, in_march: bool) -> None:
    cases = frame(
        " ".join(CASES.columns[:-1]),
        (1, "chengguan", assigned_at, None, None, None, None, 0),
    )
    table = scores(cases=cases, ratings=None, surveys=None, rep_evaluations=None)
    assert table["received"].sum() == (1 if in_march else 0)


def test_datetime_bounds_are_half_open() -> None:
    start = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # case 1's assigned_at
    end = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)  # case 2's assigned_at
    table = scores(period_start=start, period_end=end, rep_evaluations=None)
    assert row(table, "chengguan")["received"] == 1


def test_a_naive_period_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        scores(period_start=datetime(2025, 3, 1), period_end=datetime(2025, 4, 1))


def test_a_later_as_of_judges_a_pending_case_late_once_its_deadline_has_passed() -> None:
    # By 10 April case 4 (due 7 April, no reply) is late too: on time 1 of 4.
    table = scores(as_of=datetime(2025, 4, 10, tzinfo=UTC))
    assert row(table, "chengguan")["on_time_rate"] == pytest.approx(1 / 4)


def test_missing_handling_days_are_counted_on_the_working_day_calendar() -> None:
    # Assigned Tue 30 Sep 2025, replied Thu 9 Oct: 1–8 Oct are 国庆, so 1 working day.
    # Assigned Fri 7 Mar, replied Mon 10 Mar: 1 working day. Mean: 1.
    cases = frame(
        " ".join(CASES.columns[:-1]),
        (1, "chengguan", "2025-09-30 02:00", None, "2025-10-09 02:00", None, None, 0),
        (2, "chengguan", "2025-03-07 02:00", None, "2025-03-10 01:00", None, None, 0),
    )
    table = scores(
        cases=cases,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31),
        calendar=WorkCalendar.from_config(None),
    )
    assert row(table, "chengguan")["mean_working_days"] == 1.0
    without_calendar = scores(
        cases=cases, period_start=date(2025, 1, 1), period_end=date(2025, 12, 31)
    )
    assert math.isnan(row(without_calendar, "chengguan")["mean_working_days"])


def test_outcomes_given_as_the_outcome_enum_count_like_their_values() -> None:
    as_enum = CASES.assign(
        outcome=[Outcome(o) if isinstance(o, str) else None for o in CASES["outcome"]]
    )
    assert scores(cases=as_enum).equals(scores())


def test_merged_duplicates_are_not_counted_twice() -> None:
    cases = CASES.assign(status=["replied"] * (len(CASES) - 1) + ["merged"])
    table = scores(cases=cases)
    assert "jiaoyu" not in table["department"].tolist()


# --- zero denominators and empty inputs -------------------------------------------------------


def test_no_cases_and_no_ratings_give_listed_departments_with_missing_rates_not_zeros() -> None:
    table = scores(
        cases=CASES.iloc[:0],
        ratings=None,
        surveys=None,
        rep_evaluations=None,
        departments=["chengguan", "zhujian"],
    )
    assert table["department"].tolist() == ["chengguan", "zhujian"]
    assert table["received"].tolist() == [0, 0]
    rates = table[
        [
            "reply_rate",
            "on_time_rate",
            "satisfaction_rate",
            "response_rate",
            "reopen_rate",
            "composite_score",
        ]
    ]
    assert rates.isna().all().all()
    assert table["rank"].isna().all()


def test_cases_without_any_rating_still_get_their_handling_figures() -> None:
    table = scores(ratings=None, surveys=None)
    zhujian = row(table, "zhujian")
    assert (zhujian["received"], zhujian["reply_rate"], zhujian["rated"]) == (2, 1.0, 0)
    assert math.isnan(zhujian["satisfaction_rate"])
    assert math.isnan(zhujian["solved_rate_rated"])
    assert zhujian["unranked_reason"] == "评价数不足（0 条，少于 3 条）"


def test_empty_frames_with_only_the_required_columns_are_fine() -> None:
    table = department_scores(
        pd.DataFrame(columns=CASES.columns[:-1]),
        pd.DataFrame(columns=RATINGS.columns),
        pd.DataFrame(columns=SURVEYS.columns),
        pd.DataFrame(columns=REP_EVALUATIONS.columns),
        *MARCH,
        POLICY,
    )
    assert table.empty
    assert tuple(table.columns) == SCORE_COLUMNS


# --- policy: weights, threshold, ties ----------------------------------------------------------


def test_without_representative_weight_the_citizens_score_alone_ranks() -> None:
    policy = ScorePolicy(min_rated=1, weight_citizen=1, weight_representative=0)
    table = scores(policy=policy, rep_evaluations=None)
    assert table.set_index("department")["rank"].to_dict() == {
        "jiaoyu": 1,  # 100, tied with zhujian: both rank 1
        "zhujian": 1,
        "chengguan": 3,  # 60
    }
    assert row(table, "chengguan")["composite_score"] == pytest.approx(60.0)


def test_a_missing_representative_score_keeps_a_department_out_of_the_ranking() -> None:
    policy = ScorePolicy(min_rated=1)
    table = scores(policy=policy)
    assert row(table, "jiaoyu")["unranked_reason"] == "无代表评议得分"
    assert pd.isna(row(table, "jiaoyu")["rank"])


def test_only_the_representatives_count_when_citizen_weight_is_zero() -> None:
    policy = ScorePolicy(min_rated=0, weight_citizen=0, weight_representative=1)
    table = scores(policy=policy)
    assert table.set_index("department")["rank"].dropna().to_dict() == {
        "weijian": 1,
        "chengguan": 2,
        "zhujian": 3,
    }


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"min_rated": -1}, "scoring: min_rated: Input should be greater than or equal to 0"),
        ({"weight_citizen": 0, "weight_representative": 0}, "cannot both be 0"),
        ({"points": {"满意": 100, "基本满意": 80}}, "points must give exactly"),
        ({"points": {"满意": 120, "基本满意": 80, "不满意": 0}}, "between 0 and 100"),
        ({"weight": 1}, "scoring: weight: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_scoring_config_names_the_key_and_the_problem(section: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScorePolicy.from_mapping(section, source="scoring")


def test_custom_points_change_the_citizens_score() -> None:
    policy = ScorePolicy.from_mapping(
        {"min_rated": 1, "points": {"满意": 100, "基本满意": 60, "不满意": 0}}
    )
    assert row(scores(policy=policy), "chengguan")["citizen_score"] == pytest.approx(160 / 3)


# --- representatives' evaluation ---------------------------------------------------------------


def test_representative_scores_average_each_representative_first() -> None:
    assert representative_scores(REP_EVALUATIONS, POLICY).to_dict() == {
        "chengguan": 85.0,
        "zhujian": 80.0,
        "weijian": 90.0,
    }


@pytest.mark.parametrize("score", ["很好", 120, -1, True, "满 意x"])
def test_a_representative_score_that_is_neither_a_word_nor_0_to_100_is_refused(score) -> None:
    evaluations = frame("representative department score", ("王代表", "chengguan", score))
    with pytest.raises(ValueError, match="rep_evaluations row 0"):
        representative_scores(evaluations, POLICY)


# --- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cases": CASES.drop(columns=["due_at"])}, "cases lacks column.*due_at"),
        ({"ratings": RATINGS.drop(columns=["solved"])}, "ratings lacks column.*solved"),
        ({"cases": CASES.assign(outcome="done")}, r"unknown outcome value.*'done'"),
        ({"ratings": RATINGS.assign(satisfaction="很满意")}, "unknown satisfaction value"),
        ({"ratings": RATINGS.assign(solved="yes")}, "solved must be True, False or empty"),
        ({"cases": pd.concat([CASES, CASES.iloc[:1]])}, "case_id must be unique"),
        ({"period_start": date(2025, 4, 1)}, "ends .* before it starts"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_says_what_is_wrong(
    overrides: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        scores(**overrides)


# --- latest ratings ------------------------------------------------------------------------------

LATEST_CASES = [
    # rows (rating_id, case_id, person_id, satisfaction, rated_at, supersedes_id), kept ids, why
    (
        [(1, 7, 1, "不满意", "2025-03-01", None), (2, 7, 1, "满意", "2025-03-05", None)],
        [2],
        "the later answer of the same citizen wins",
    ),
    (
        [(1, 7, 1, "满意", "2025-03-05", None), (2, 7, 1, "不满意", "2025-03-01", None)],
        [1],
        "order in the frame does not matter, rated_at does",
    ),
    (
        [(1, 7, 1, "不满意", "2025-03-05", None), (2, 7, 1, "满意", "2025-03-05", None)],
        [2],
        "a tie goes to the later row",
    ),
    (
        [(1, 7, 1, "满意", "2025-03-09", None), (2, 7, 1, "不满意", "2025-03-01", 1)],
        [2],
        "a correction that supersedes a rating wins even if dated earlier",
    ),
    (
        [(1, 7, 1, "满意", "2025-03-01", None), (2, 7, 2, "不满意", "2025-03-01", None)],
        [1, 2],
        "two citizens on one case both count",
    ),
    (
        [(1, 7, None, "满意", "2025-03-01", None), (2, 7, None, "满意", "2025-03-02", None)],
        [1, 2],
        "anonymous imported ratings are each kept",
    ),
    (
        [(1, 7, 1, "满意", None, None), (2, 7, 1, "不满意", "2025-03-01", None)],
        [2],
        "a rating without a date loses to a dated one",
    ),
    ([], [], "no ratings, no rows"),
]


@pytest.mark.parametrize(("rows", "kept", "why"), LATEST_CASES)
def test_latest_ratings_keeps_each_citizens_current_answer(
    rows: list, kept: list, why: str
) -> None:
    ratings = frame("rating_id case_id person_id satisfaction rated_at supersedes_id", *rows)
    assert latest_ratings(ratings)["rating_id"].tolist() == kept, why


def test_latest_ratings_honours_a_superseded_flag() -> None:
    ratings = frame(
        "case_id person_id rated_at superseded",
        (7, 1, "2025-03-05", True),
        (7, 1, "2025-03-01", False),
    )
    assert latest_ratings(ratings)["rated_at"].tolist() == ["2025-03-01"]


# --- funnel ----------------------------------------------------------------------------------


def test_the_funnel_counts_cases_that_reach_each_stage() -> None:
    cases = frame(
        "case_id assigned_at replied_at outcome",
        (1, "2025-03-01", "2025-03-02", "solved"),  # rated 满意 + 基本满意 → satisfied
        (2, "2025-03-01", "2025-03-02", "solved"),  # one citizen 不满意 → not satisfied
        (3, "2025-03-01", "2025-03-02", "solved"),  # nobody rated → not satisfied
        (4, "2025-03-01", "2025-03-02", "planned"),  # 满意, but not solved
        (5, "2025-03-01", None, None),  # assigned, no reply yet
        (6, None, None, "on_the_spot"),  # answered on the spot, never assigned
    )
    ratings = frame(
        "case_id person_id satisfaction solved rated_at",
        (1, 1, "满意", True, "2025-03-03"),
        (1, 2, "基本满意", None, "2025-03-03"),
        (2, 3, "满意", True, "2025-03-03"),
        (2, 4, "不满意", False, "2025-03-03"),
        (4, 5, "满意", None, "2025-03-03"),
    )
    table = funnel(cases, ratings, submissions=8)  # 8 opinions made these 6 cases (一案多诉)
    assert table["stage"].tolist() == [
        "collected", "opened", "assigned", "replied", "solved", "satisfied",
    ]  # fmt: skip
    assert [stage_label(s) for s in table["stage"]] == [
        "收集",
        "立案",
        "交办",
        "答复",
        "办成",
        "满意",
    ]
    assert table["count"].tolist() == [8, 6, 5, 4, 3, 1]
    assert table["share_of_previous"].tolist() == pytest.approx(
        [1.0, 6 / 8, 5 / 6, 4 / 5, 3 / 4, 1 / 3]
    )
    assert table["share_of_collected"].tolist() == pytest.approx(
        [1.0, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 1 / 8]
    )


def test_without_a_count_of_submissions_the_funnel_counts_one_opinion_per_case() -> None:
    cases = frame("case_id assigned_at replied_at outcome", (1, None, None, "on_the_spot"))
    assert funnel(cases)["count"].tolist()[:2] == [1, 1]


def test_an_empty_funnel_has_zero_counts_and_missing_shares() -> None:
    table = funnel(pd.DataFrame(columns=["case_id", "assigned_at", "replied_at", "outcome"]))
    assert table["count"].tolist() == [0, 0, 0, 0, 0, 0]
    assert table["share_of_previous"].isna().all()


# --- annual sentence -----------------------------------------------------------------------------

FIGURES = {
    "citizens_received": 328,
    "opinions_collected": 96,
    "answered_on_the_spot": 79,
    "suggestions_made": 17,
    "matters_solved": 33,
}


@pytest.mark.parametrize(
    ("figures", "options", "sentence"),
    [
        (
            FIGURES,
            {},
            "接待选民群众328人次，收集社情民意96条，现场答复79条，形成意见建议17条，推动解决33件。",
        ),
        (
            FIGURES,
            {"solved_what": "群众身边小事、急事、难事"},
            "接待选民群众328人次，收集社情民意96条，现场答复79条，形成意见建议17条，"
            "推动解决群众身边小事、急事、难事33件。",
        ),
        (
            {**FIGURES, "citizens_received": None, "answered_on_the_spot": np.int64(0)},
            {},
            "收集社情民意96条，现场答复0条，形成意见建议17条，推动解决33件。",
        ),
        (dict.fromkeys(FIGURES), {}, ""),
    ],
)
def test_annual_sentences_formats_the_offices_figures(figures, options, sentence: str) -> None:
    assert annual_sentences(figures, **options) == sentence


@pytest.mark.parametrize(
    ("figures", "error"),
    [
        ({k: v for k, v in FIGURES.items() if k != "matters_solved"}, KeyError),
        ({**FIGURES, "visitors": 3}, KeyError),
        ({**FIGURES, "matters_solved": -1}, ValueError),
        ({**FIGURES, "matters_solved": 3.5}, ValueError),
        ({**FIGURES, "matters_solved": "33"}, ValueError),
    ],
)
def test_annual_sentences_refuses_missing_unknown_or_impossible_figures(figures, error) -> None:
    with pytest.raises(error):
        annual_sentences(figures)


def test_a_funnel_given_the_assigned_cases_counts_them_from_交办_on() -> None:
    # a period's report: 立案 the cases received in it, 交办 on those assigned in it
    received = frame(
        "case_id assigned_at replied_at outcome",
        (1, None, None, None),  # received, not yet assigned
        (2, None, None, "on_the_spot"),
    )
    assigned = frame(
        "case_id assigned_at replied_at outcome",
        (3, "2025-03-01", "2025-03-02", "solved"),  # received in an earlier period
        (4, "2025-03-01", "2025-03-02", "solved"),
        (5, "2025-03-01", None, None),
    )
    ratings = frame(
        "case_id person_id satisfaction solved rated_at",
        (3, 1, "满意", True, "2025-03-03"),
        (4, 2, "不满意", False, "2025-03-03"),
    )
    table = funnel(received, ratings, submissions=3, assigned=assigned)
    assert table["count"].tolist() == [3, 2, 3, 2, 2, 1]
    shares = table["share_of_previous"].tolist()
    assert shares[:2] == pytest.approx([1.0, 2 / 3]) and pd.isna(shares[2])
    assert shares[3:] == pytest.approx([2 / 3, 1.0, 1 / 2])
    assert table["share_of_collected"].iloc[2:].isna().all()
