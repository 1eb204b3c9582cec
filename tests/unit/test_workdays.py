"""Working-day calendar: holidays, make-up days (调休), unknown years, config and deadlines."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import pytest

from minqing.workdays import (
    CalendarConfigError,
    WorkCalendar,
    due_at,
    due_at_many,
    fallback_warning,
)

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "calendar.yaml"


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar.from_config(None)


# --- the published arrangements, as the package knows them --------------------------------------

# 国务院办公厅 notices for 2025 and 2026 (published Nov 2024 / Nov 2025).
PUBLISHED_HOLIDAYS = {
    "2025 春节 Spring Festival": days("2025-01-28", "2025-02-04"),
    "2025 国庆 National Day + 中秋": days("2025-10-01", "2025-10-08"),
    "2026 元旦 New Year": days("2026-01-01", "2026-01-03"),
    "2026 春节 Spring Festival": days("2026-02-15", "2026-02-23"),
    "2026 清明 Qingming": days("2026-04-04", "2026-04-06"),
    "2026 劳动节 Labour Day": days("2026-05-01", "2026-05-05"),
    "2026 端午 Dragon Boat": days("2026-06-19", "2026-06-21"),
    "2026 中秋 Mid-Autumn": days("2026-09-25", "2026-09-27"),
    "2026 国庆 National Day": days("2026-10-01", "2026-10-07"),
}
PUBLISHED_MAKEUP_DAYS = {
    "2025 春节": [d("2025-01-26"), d("2025-02-08")],
    "2025 国庆": [d("2025-09-28"), d("2025-10-11")],
    "2026 元旦": [d("2026-01-04")],
    "2026 春节": [d("2026-02-14"), d("2026-02-28")],
    "2026 劳动节": [d("2026-05-09")],
    "2026 国庆": [d("2026-09-20"), d("2026-10-10")],
}


@pytest.mark.parametrize("name", PUBLISHED_HOLIDAYS)
def test_every_day_of_a_published_holiday_is_a_day_off(calendar: WorkCalendar, name: str) -> None:
    for day in PUBLISHED_HOLIDAYS[name]:
        assert chinese_calendar.is_holiday(day), f"package disagrees with the notice on {day}"
        assert calendar.is_working_day(day) is False, day


@pytest.mark.parametrize("name", PUBLISHED_MAKEUP_DAYS)
def test_every_published_make_up_day_is_a_working_weekend_day(
    calendar: WorkCalendar, name: str
) -> None:
    for day in PUBLISHED_MAKEUP_DAYS[name]:
        assert day.weekday() >= 5
        assert calendar.is_working_day(day) is True, day


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2025-03-07", True),  # an ordinary Friday
        ("2025-03-08", False),  # an ordinary Saturday
        ("2025-03-09", False),  # an ordinary Sunday
        ("2025-01-27", True),  # the Monday before 春节
        ("2025-02-05", True),  # the first day back
        ("2025-10-09", True),  # the first day back after 国庆
    ],
)
def test_ordinary_days_follow_the_week(calendar: WorkCalendar, day: str, working: bool) -> None:
    assert calendar.is_working_day(d(day)) is working


def test_the_calendar_agrees_with_the_package_on_every_day_it_knows(
    calendar: WorkCalendar,
) -> None:
    for day in days("2004-01-01", "2026-12-31")[::3]:
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
    assert calendar.warnings == set()


# --- counting working days -------------------------------------------------------------------

ADD_CASES = [
    # start, n, expected, why
    ("2025-03-03", 0, "2025-03-03", "day 0 of a working day is that day"),
    ("2025-03-08", 0, "2025-03-10", "day 0 of a Saturday is the next Monday"),
    ("2025-03-03", 5, "2025-03-10", "Monday + 5 is the next Monday: the start day is not counted"),
    ("2025-03-08", 5, "2025-03-14", "assigned on Saturday, 5 days: due Friday"),
    ("2025-03-07", 1, "2025-03-10", "Friday + 1 is Monday"),
    ("2025-01-24", 1, "2025-01-26", "春节: the make-up Sunday counts"),
    ("2025-01-24", 2, "2025-01-27", "春节: then the Monday before the holiday"),
    ("2025-01-24", 3, "2025-02-05", "春节: 28 Jan – 4 Feb are skipped"),
    ("2025-01-27", 1, "2025-02-05", "春节: the whole holiday is one jump"),
    ("2025-01-30", 0, "2025-02-05", "春节: day 0 inside the holiday is the first day back"),
    ("2025-02-07", 1, "2025-02-08", "春节: the make-up Saturday counts"),
    ("2025-09-26", 1, "2025-09-28", "国庆: the make-up Sunday counts"),
    ("2025-09-30", 1, "2025-10-09", "国庆: 1–8 Oct are skipped"),
    ("2025-09-30", 3, "2025-10-11", "国庆: the make-up Saturday is the third day"),
    ("2026-02-13", 1, "2026-02-14", "2026 春节: the make-up Saturday counts"),
    ("2026-02-14", 1, "2026-02-24", "2026 春节: 15–23 Feb are skipped"),
    ("2026-09-30", 1, "2026-10-08", "2026 国庆: 1–7 Oct are skipped"),
    ("2026-10-09", 1, "2026-10-10", "2026 国庆: the make-up Saturday counts"),
    # 2025 has 248 working days after 1 Jan; 1–3 Jan 2026 are off, Sun 4 Jan is a make-up day.
    ("2025-01-01", 249, "2026-01-04", "a long span reaches 2026's 元旦 make-up Sunday"),
    ("2025-01-01", 250, "2026-01-05", "…and the Monday after it"),
]


@pytest.mark.parametrize(("start", "n", "expected", "why"), ADD_CASES)
def test_add_working_days_skips_holidays_and_counts_make_up_days(
    calendar: WorkCalendar, start: str, n: int, expected: str, why: str
) -> None:
    assert calendar.add_working_days(d(start), n) == d(expected), why


SUBTRACT_CASES = [
    ("2025-03-14", 1, "2025-03-13", "remind the day before a Friday deadline"),
    ("2025-03-10", 1, "2025-03-07", "the working day before Monday is Friday"),
    ("2025-03-09", 0, "2025-03-07", "day 0 of a Sunday is the previous Friday"),
    ("2025-02-05", 1, "2025-01-27", "the day before the first day back from 春节"),
    ("2025-02-05", 2, "2025-01-26", "…and before that the make-up Sunday"),
    ("2025-10-09", 1, "2025-09-30", "国庆 is skipped backwards too"),
    ("2025-10-03", 0, "2025-09-30", "day 0 inside 国庆 is the last day before it"),
]


@pytest.mark.parametrize(("deadline", "n", "expected", "why"), SUBTRACT_CASES)
def test_subtract_working_days_walks_back_over_holidays(
    calendar: WorkCalendar, deadline: str, n: int, expected: str, why: str
) -> None:
    assert calendar.subtract_working_days(d(deadline), n) == d(expected), why


@pytest.mark.parametrize(
    ("day", "expected"),
    [("2025-09-30", "2025-10-09"), ("2025-02-07", "2025-02-08"), ("2025-03-03", "2025-03-04")],
)
def test_next_working_day_is_strictly_after_the_day(
    calendar: WorkCalendar, day: str, expected: str
) -> None:
    assert calendar.next_working_day(d(day)) == d(expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("2025-03-03", "2025-03-03", 0),  # replied the same day: 0 working days
        ("2025-03-03", "2025-03-10", 5),
        ("2025-03-10", "2025-03-03", -5),
        ("2025-01-27", "2025-02-05", 1),  # over 春节
        ("2025-01-28", "2025-02-04", 0),  # entirely inside 春节
        ("2025-09-27", "2025-09-28", 1),  # Saturday → make-up Sunday
    ],
)
def test_working_days_between_counts_days_after_a_up_to_and_including_b(
    calendar: WorkCalendar, a: str, b: str, expected: int
) -> None:
    assert calendar.working_days_between(d(a), d(b)) == expected


def test_working_days_between_undoes_add_working_days_for_every_start_in_two_years(
    calendar: WorkCalendar,
) -> None:
    for start in days("2025-01-01", "2026-12-31"):
        for n in (1, 2, 5, 15, 30):
            due = calendar.add_working_days(start, n)
            assert calendar.working_days_between(start, due) == n, (start, n)
            assert calendar.subtract_working_days(due, n) <= start < due


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.add_working_days(date(2025, 1, 1), -1), ValueError),
        (lambda c: c.subtract_working_days(date(2025, 1, 1), -2), ValueError),
        (lambda c: c.add_working_days(datetime(2025, 1, 1, tzinfo=UTC), 1), TypeError),
        (lambda c: c.is_working_day("2025-01-01"), TypeError),
        (lambda c: c.add_working_days_many([date(2025, 1, 1)], -1), ValueError),
    ],
)
def test_bad_arguments_are_refused_rather_than_guessed(call, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(WorkCalendar.from_config(None))


# --- years nobody has published ------------------------------------------------------------------


def test_a_december_2026_deadline_falls_back_to_monday_to_friday_in_2027_with_a_warning(
    calendar: WorkCalendar,
) -> None:
    # Mon 28 Dec 2026 + 5: 29, 30, 31 Dec, Fri 1 Jan 2027 (unknown, so a working day), Mon 4 Jan.
    assert calendar.add_working_days(d("2026-12-28"), 5) == d("2027-01-04")
    assert calendar.warnings == {"2027 年节假日安排未配置，按周一至周五计算"}
    assert calendar.warnings == {fallback_warning(2027)}
    assert calendar.fallback_years == {2027}


def test_a_computation_that_stays_in_known_years_leaves_no_warning(
    calendar: WorkCalendar,
) -> None:
    # The cache already reaches into 2027, but no answer depended on it.
    assert calendar.add_working_days(d("2026-12-01"), 5) == d("2026-12-08")
    assert calendar.working_days_between(d("2026-12-01"), d("2026-12-31")) == 22
    assert calendar.warnings == set()


def test_a_year_before_the_package_also_falls_back_with_a_warning(calendar: WorkCalendar) -> None:
    assert calendar.is_working_day(d("2003-10-01")) is True  # Mon–Fri fallback, not 国庆
    assert calendar.warnings == {fallback_warning(2003)}


def test_the_vectorised_path_warns_about_fallback_years_too(calendar: WorkCalendar) -> None:
    calendar.add_working_days_many([d("2026-06-01"), d("2026-12-30")], 3)
    assert calendar.warnings == {fallback_warning(2027)}


# --- operator config -------------------------------------------------------------------------

NEW_YEAR_2027 = {"years": {2027: {"holidays": ["2027-01-01"], "workdays": []}}}


def test_an_operator_added_2027_new_year_holiday_is_used_and_silences_the_warning() -> None:
    calendar = WorkCalendar.from_config(NEW_YEAR_2027)
    # 29, 30, 31 Dec, (1 Jan off), Mon 4 Jan, Tue 5 Jan.
    assert calendar.add_working_days(d("2026-12-28"), 5) == d("2027-01-05")
    assert calendar.is_working_day(d("2027-01-01")) is False
    assert calendar.year_source(2027) == "config"
    assert calendar.warnings == set()


def test_the_config_file_is_read_with_day_ranges_and_make_up_days(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(
        "years:\n"
        "  2027:\n"
        "    holidays:\n"
        "      - 2027-01-01\n"
        "      - 2027-02-06..2027-02-12\n"
        "    workdays: [2027-02-13]\n",
        encoding="utf-8",
    )
    calendar = WorkCalendar.from_config(path)
    assert [calendar.is_working_day(day) for day in days("2027-02-05", "2027-02-15")] == [
        True,  # Fri 5 Feb
        *[False] * 7,  # 6–12 Feb
        True,  # Sat 13 Feb, make-up day
        False,  # Sun 14 Feb, an ordinary Sunday
        True,  # Mon 15 Feb
    ]


def test_a_year_in_config_replaces_the_package_for_that_year() -> None:
    calendar = WorkCalendar.from_config({"years": {2026: {"holidays": ["2026-10-01..2026-10-02"]}}})
    assert calendar.year_source(2026) == "config"
    assert calendar.is_working_day(d("2026-02-16")) is True  # package's 春节 no longer applies
    assert calendar.is_working_day(d("2026-02-14")) is False  # nor its make-up Saturday
    assert calendar.is_working_day(d("2026-10-05")) is True
    assert calendar.is_working_day(d("2025-10-06")) is False  # other years: still the package


def test_the_shipped_config_file_loads_and_invents_no_holidays() -> None:
    calendar = WorkCalendar.from_config(CONFIG_FILE)
    assert calendar.year_source(2026) == "package"
    assert calendar.year_source(2027) in {"config", "fallback"}


BAD_CONFIGS = [
    # yaml text, the key (list positions from 1) and the problem named in the error
    ("years: {2027: {holiday: [2027-01-01]}}", "1 行，years.2027.holiday：", "不认识的键"),
    (
        "years: {2027: {holidays: [2027-02-30]}}",
        "years.2027.holidays 第 1 个：",
        "“2027-02-30”不是有效的日期",
    ),
    (
        "years: {2027: {holidays: [2027-01-01, 20270102]}}",
        "years.2027.holidays 第 2 个：",
        "“20270102”不是日期",
    ),
    ("years: {2027: {holidays: ['2027-02-12..2027-02-06']}}", "holidays 第 1 个：", "结束日期早于"),
    (
        "years: {2027: {holidays: [2026-12-31]}}",
        "years.2027.holidays 第 1 个：",
        "2026-12-31 不在 2027 年内",
    ),
    (
        "years: {2027: {workdays: [2027-01-06]}}",
        "years.2027.workdays 第 1 个：",
        "调休上班日只能是星期六或星期日",
    ),
    (
        "years: {2027: {holidays: ['2027-01-01..2027-01-03'], workdays: [2027-01-02]}}",
        "years.2027.workdays 第 1 个：",
        "2027-01-02 也列在 holidays（放假）中",
    ),
    ("years: {2027: {holidays: 2027-01-01}}", "years.2027.holidays：", "应为列表"),
    ("years: {next: {holidays: []}}", "years.next：", "年份应为四位数字，如 2027"),
    ("years: [2027]", "years：", "应为“键: 值”的映射"),
    ("- 2027", "calendar.yaml：", "最外层应为含 years 键"),
    ("years: {2027: [", "calendar.yaml 第 1 行：", "不是有效的 YAML"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD_CONFIGS)
def test_a_wrong_config_file_names_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarConfigError) as raised:
        WorkCalendar.from_config(path)
    message = str(raised.value)
    assert message.startswith("配置有误：\n  calendar.yaml")
    assert key in message
    assert problem in message


def test_a_missing_config_file_is_an_error_not_an_empty_calendar(tmp_path: Path) -> None:
    with pytest.raises(CalendarConfigError, match="nope.yaml：文件不存在"):
        WorkCalendar.from_config(tmp_path / "nope.yaml")


def test_an_empty_config_file_means_package_and_fallback_only(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert WorkCalendar.from_config(path).year_source(2027) == "fallback"


# --- deadlines as instants -------------------------------------------------------------------

DUE_CASES = [
    # assigned (UTC), working days, due (UTC), why
    (
        datetime(2025, 1, 24, 2, 0, tzinfo=UTC),
        3,
        datetime(2025, 2, 5, 15, 59, 59, tzinfo=UTC),
        "10:00 Friday Beijing time, 3 days over 春节: end of 5 Feb Beijing time",
    ),
    (
        datetime(2025, 1, 23, 17, 0, tzinfo=UTC),
        3,
        datetime(2025, 2, 5, 15, 59, 59, tzinfo=UTC),
        "01:00 Friday Beijing time is still Thursday in UTC: the local day counts",
    ),
    (
        datetime(2025, 1, 23, 15, 59, tzinfo=UTC),
        1,
        datetime(2025, 1, 24, 15, 59, 59, tzinfo=UTC),
        "23:59 Thursday Beijing time: due end of Friday",
    ),
    (
        datetime(2025, 3, 8, 4, 0, tzinfo=UTC),
        0,
        datetime(2025, 3, 10, 15, 59, 59, tzinfo=UTC),
        "0 days on a Saturday: end of Monday",
    ),
]


@pytest.mark.parametrize(("assigned", "n", "expected", "why"), DUE_CASES)
def test_due_at_is_the_end_of_the_local_working_day_in_utc(
    calendar: WorkCalendar, assigned: datetime, n: int, expected: datetime, why: str
) -> None:
    due = due_at(assigned, n, calendar)
    assert due == expected, why
    assert due.utcoffset() == timedelta(0)


def test_due_at_refuses_a_naive_datetime(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2025, 1, 24, 10, 0), 3, calendar)


def test_due_at_many_agrees_with_due_at_and_keeps_missing_values(calendar: WorkCalendar) -> None:
    assigned = [case[0] for case in DUE_CASES]
    counts = [case[1] for case in DUE_CASES]
    assert due_at_many([*assigned, None], [*counts, 5], calendar) == [
        *(case[2] for case in DUE_CASES),
        None,
    ]


# --- the fast path -------------------------------------------------------------------------


def test_add_working_days_many_agrees_with_the_scalar_method(calendar: WorkCalendar) -> None:
    starts = days("2024-12-01", "2026-11-30")
    rng = random.Random(7)
    counts = [rng.choice([0, 1, 3, 5, 10, 15, 30]) for _ in starts]
    expected = [calendar.add_working_days(s, k) for s, k in zip(starts, counts, strict=True)]
    assert calendar.add_working_days_many(starts, counts) == expected
    as_array = calendar.add_working_days_many(np.array(starts, dtype="datetime64[D]"), counts)
    assert as_array.dtype == np.dtype("datetime64[D]")
    assert as_array.tolist() == expected


def test_add_working_days_many_keeps_missing_starts_missing(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days_many([d("2025-09-30"), None], 1) == [d("2025-10-09"), None]
    out = calendar.add_working_days_many(np.array(["2025-09-30", "NaT"], dtype="datetime64[D]"), 1)
    assert out[0] == np.datetime64("2025-10-09")
    assert np.isnat(out[1])


def test_a_pandas_series_of_days_is_accepted_as_an_array(calendar: WorkCalendar) -> None:
    import pandas as pd

    out = calendar.add_working_days_many(pd.Series(pd.to_datetime(["2025-09-30", None])), 1)
    assert out.tolist() == [d("2025-10-09"), None]


def test_working_days_between_many_agrees_with_the_scalar_method(calendar: WorkCalendar) -> None:
    a = [d("2025-01-27"), d("2025-03-10"), None]
    b = [d("2025-02-05"), d("2025-03-03"), d("2025-03-03")]
    out = calendar.working_days_between_many(a, b)
    assert out[:2].tolist() == [1.0, -5.0]
    assert np.isnan(out[2])


def test_a_hundred_thousand_deadlines_at_once_agree_with_one_at_a_time() -> None:
    # How fast this is, is measured by bench/bench_delivery.py, not asserted here.
    calendar = WorkCalendar.from_config(None)
    rng = np.random.default_rng(1)
    base = np.datetime64("2024-01-01")
    starts = base + rng.integers(0, 3 * 365, 100_000).astype("timedelta64[D]")
    counts = rng.integers(0, 30, 100_000)
    assigned = [
        datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=int(m))
        for m in rng.integers(0, 3 * 365 * 24 * 60, 100_000)
    ]

    vectorised = calendar.add_working_days_many(starts, counts)
    as_lists = calendar.add_working_days_many(starts.tolist(), counts)
    deadlines = due_at_many(assigned, 10, calendar)

    for i in rng.integers(0, 100_000, 500):
        one = calendar.add_working_days(starts[i].astype(date), int(counts[i]))
        assert vectorised[i].astype(date) == one == as_lists[i]
        assert deadlines[i] == due_at(assigned[i], 10, calendar)
    assert calendar.warnings == {fallback_warning(2027)}  # starts reach late 2026


CALENDAR_2027 = {
    "years": {
        2027: {"holidays": ["2027-01-01", "2027-02-06..2027-02-13"], "workdays": ["2027-02-14"]}
    }
}


def test_a_deadline_counted_into_an_unconfigured_year_is_provisional_until_it_is_configured():
    from minqing.workdays import is_provisional_deadline, recounted_due_at

    bj = ZoneInfo("Asia/Shanghai")
    assigned = datetime(2026, 12, 28, 2, tzinfo=bj).astimezone(UTC)  # a Monday night
    unknown = WorkCalendar.from_config(None)
    due = due_at(assigned, 5, unknown)
    assert due.astimezone(bj).date() == date(2027, 1, 4)  # 1 January counted as a Friday at work
    assert is_provisional_deadline(assigned, due, unknown)
    assert not is_provisional_deadline(assigned, due_at(assigned, 3, unknown), unknown)

    known = WorkCalendar.from_config(CALENDAR_2027)
    assert not is_provisional_deadline(assigned, due, known)
    again = recounted_due_at(assigned, due, known)
    assert again == due_at(assigned, 5, known)
    assert again.astimezone(bj).date() == date(2027, 1, 5)  # 元旦 is a holiday after all
    # an extension (3 more working days on the provisional count) is recounted with it
    extended = due_at(due, 3, unknown)
    assert recounted_due_at(assigned, extended, known) == due_at(assigned, 8, known)
    # a deadline that never left the known years stays as it was
    early = due_at(assigned, 2, known)
    assert recounted_due_at(assigned, early, known) == early
