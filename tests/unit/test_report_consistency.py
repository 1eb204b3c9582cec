"""Report figures that cannot contradict themselves: a reply's time lies between its
assignment's day and today, no handling time is negative, and each figure of the office's
sentence counts by the date of its own event (docs/scores.md, "Which date counts")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from minqing.report import Period, ReportInput, build_report
from minqing.returns import reply_time_problem
from minqing.scores import ScorePolicy, department_scores
from minqing.workdays import WorkCalendar

BJ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("replied", "problem"),
    [
        (datetime(2026, 11, 20, 10, tzinfo=BJ), "早于交办时间 2026-11-27 02:00"),
        (datetime(2026, 11, 27, 0, tzinfo=BJ), None),  # dated by day only, on the day: taken
        (datetime(2026, 11, 27, 1, tzinfo=BJ), None),  # the same day: 0 working days
        (datetime(2026, 12, 7, 23, tzinfo=BJ), None),  # later today
        (datetime(2026, 12, 8, 0, tzinfo=BJ), "晚于今天（2026-12-07）"),
    ],
)
def test_a_reply_time_must_lie_between_the_assignment_day_and_today(replied, problem):
    assigned = datetime(2026, 11, 27, 2, tzinfo=BJ).astimezone(UTC)
    now = datetime(2026, 12, 7, 9, tzinfo=BJ).astimezone(UTC)
    found = reply_time_problem(replied.astimezone(UTC), assigned, now)
    assert (found is None) if problem is None else (problem in str(found))


def bj(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BJ).astimezone(UTC)


CASE_FIELDS = [
    "case_id", "number", "title", "category", "top_category", "department", "status",
    "created_at", "received_at", "assigned_at", "due_at", "replied_at", "closed_at", "outcome",
    "reopen_count", "escalation_level",
]  # fmt: skip


def case(case_id, received, created, assigned=None, due=None, replied=None, closed=None,
         outcome=None, department="城管局", status="assigned"):  # fmt: skip
    return (case_id, f"MQ2026-{case_id:06d}", "标题", "市容", "城乡建设", department, status,
            created, received, assigned, due, replied, closed, outcome, 0, 0)  # fmt: skip


def report_on(rows, start, end, citizens_received=0, as_of=None):
    data = ReportInput(
        cases=pd.DataFrame(rows, columns=CASE_FIELDS),
        ratings=pd.DataFrame(
            columns=["case_id", "person_id", "satisfaction", "solved", "rated_at"]
        ),
        surveys=pd.DataFrame(columns=["case_id", "person_id", "sent_at"]),
        rep_evaluations=pd.DataFrame(columns=["representative", "department", "score", "period"]),
        citizens_received=citizens_received,
    )
    policy = ScorePolicy(min_rated=0, weight_citizen=1, weight_representative=0)
    return build_report(
        data, Period(start, end), policy, WorkCalendar(), as_of=as_of or bj(2027, 1, 10, 12)
    )


def test_a_reply_dated_before_its_assignment_gives_no_negative_days_and_no_on_time_credit():
    rows = [
        # replied "six working days before" it was assigned: impossible, left out of the timing
        case(1, bj(2026, 11, 2, 9), bj(2026, 11, 2, 9), assigned=bj(2026, 11, 20, 2),
             due=bj(2026, 11, 27, 23, 59), replied=bj(2026, 11, 12, 10)),
        # replied on time after 3 working days
        case(2, bj(2026, 11, 2, 9), bj(2026, 11, 2, 9), assigned=bj(2026, 11, 20, 2),
             due=bj(2026, 11, 27, 23, 59), replied=bj(2026, 11, 25, 10)),
        # dated by day only, on the day of assignment: 0 days, not minus two hours
        case(3, bj(2026, 11, 2, 9), bj(2026, 11, 2, 9), assigned=bj(2026, 11, 20, 2),
             due=bj(2026, 11, 27, 23, 59), replied=bj(2026, 11, 20, 0)),
    ]  # fmt: skip
    report = report_on(rows, date(2026, 11, 1), date(2026, 11, 30))
    scores = report.scores.set_index("department")
    assert scores.loc["城管局", "replied"] == 3  # the reply happened; only its date is wrong
    assert scores.loc["城管局", "mean_working_days"] == pytest.approx(1.5)  # (3 + 0) / 2
    assert scores.loc["城管局", "on_time_rate"] == 1.0  # 2 of 2 judged: the impossible one is not
    handling = report.handling.set_index("department").loc["城管局"]
    assert handling["max_working_days"] == 3 and handling["mean_working_days"] == pytest.approx(1.5)
    assert handling["mean_calendar_days"] >= 0 and (
        handling["replied_on_time"],
        handling["replied_late"],
    ) == (
        2,
        0,
    )
    assert (report.case_list["handling_working_days"].dropna() >= 0).all()


def test_department_scores_leave_an_impossible_reply_out_of_timing_figures():
    cases = pd.DataFrame(
        {
            "case_id": [1, 2],
            "department": ["甲", "甲"],
            "assigned_at": [bj(2026, 11, 20, 2)] * 2,
            "due_at": [bj(2026, 11, 27, 23, 59)] * 2,
            "replied_at": [bj(2026, 11, 12, 10), bj(2026, 11, 30, 10)],  # before; late
            "closed_at": [None, None],
            "outcome": ["solved", "solved"],
            "reopen_count": [0, 0],
        }
    )
    scores = department_scores(
        cases, None, None, None, date(2026, 11, 1), date(2026, 11, 30),
        ScorePolicy(min_rated=0, weight_citizen=1, weight_representative=0),
        calendar=WorkCalendar(),
    ).set_index("department")  # fmt: skip
    assert scores.loc["甲", "mean_working_days"] == 6.0  # the late one alone: Fri 11-20 → Mon 11-30
    assert scores.loc["甲", "on_time_rate"] == 0.0  # judged: only the late one


def test_a_months_sentence_counts_opinions_and_visitors_by_when_they_were_received():
    # November's walk-in visitors and hotline calls, read in on 2 December (a late night).
    nov = [case(i, bj(2026, 11, 27, 9 + i % 8), bj(2026, 12, 2, 2), assigned=bj(2026, 12, 2, 2),
                due=bj(2026, 12, 9, 23, 59)) for i in range(1, 20)]  # fmt: skip
    on_spot = [case(20, bj(2026, 11, 28, 10), bj(2026, 12, 2, 2), replied=bj(2026, 11, 28, 10),
                    closed=bj(2026, 11, 28, 10), outcome="on_the_spot", status="closed",
                    department=None)]  # fmt: skip
    dec = [case(21, bj(2026, 12, 3, 9), bj(2026, 12, 4, 2), assigned=bj(2026, 12, 4, 2),
                due=bj(2026, 12, 11, 23, 59), replied=bj(2026, 12, 8, 9), closed=bj(2026, 12, 20, 9),
                outcome="solved", status="closed")]  # fmt: skip
    rows = nov + on_spot + dec
    november = report_on(rows, date(2026, 11, 1), date(2026, 11, 30), citizens_received=19)
    assert november.annual == {
        "citizens_received": 19,
        "opinions_collected": 20,  # received in November, whenever the night read them
        "answered_on_the_spot": 1,
        "suggestions_made": 0,  # assigned in December
        "matters_solved": 0,  # closed solved (A) in November: none (现场答复 is its own figure)
    }
    assert november.sentence.startswith("接待选民群众19人次，收集社情民意20条，现场答复1条")
    assert november.funnel.set_index("stage").loc["collected", "count"] == 20
    assert november.categories["total"].sum() == 20
    december = report_on(rows, date(2026, 12, 1), date(2026, 12, 31), citizens_received=0)
    assert december.annual == {
        "citizens_received": 0,
        "opinions_collected": 1,
        "answered_on_the_spot": 0,
        "suggestions_made": 20,
        "matters_solved": 1,
    }
    assert december.scores.set_index("department").loc["城管局", "received"] == 20
