"""Chinese working-day calendar (工作日) for deadlines: statutory holidays and make-up working days (调休).

Three sources, in order of precedence, decide whether a year's dates are working days:

1. ``config/calendar.yaml`` — the holidays and make-up working days an operator copies from the
   State Council notice (国务院办公厅关于某年部分节假日安排的通知). A year listed there replaces
   the package's data for that year entirely.
2. the ``chinese_calendar`` package (1.11.0 knows 2004–2026).
3. a Monday–Friday fallback for any other year, with a warning collected in
   ``WorkCalendar.warnings`` ("2027 年节假日安排未配置，按周一至周五计算") so the night's summary
   shows it. An unknown year never raises.

Counting convention (the one the deadline rules use): a case assigned on day D with a limit of
N working days is due at the end of the Nth working day *after* D — the day of assignment itself
does not count, whether or not it is a working day. ``add_working_days(D, 0)`` is D when D is a
working day, else the next working day (so a 0-day limit means "by the end of the first working
day from D on").

Scalar methods use ``bisect`` over a cached, sorted list of working-day ordinals; the
``*_many`` methods use ``numpy.searchsorted`` on the same cache, so 100,000 deadlines take a few
tens of milliseconds. The cache covers whole years and grows on demand.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from minqing.i18n import _
from minqing.reference import (
    ConfigError,
    Problem,
    YamlFile,
    config_error,
    problems_of,
    read_yaml,
)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)
DEFAULT_CONFIG_PATH = Path("config/calendar.yaml")

YearSource = Literal["config", "package", "fallback"]

# date.toordinal() of 1970-01-01: converts between ordinals and numpy datetime64[D].
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGE_SEPARATOR = ".."
_YEAR = re.compile(r"^\s*\d{4}\s*$")


def fallback_warning(year: int) -> str:
    """The warning recorded when a computation relied on the Monday–Friday fallback for `year`."""
    return _("%(year)d 年节假日安排未配置，按周一至周五计算") % {"year": year}


class CalendarConfigError(ConfigError):
    """The calendar config cannot be used; the message names the file, the key, the line and
    the problem (`problems` lists each, as for the other config files)."""


# --- config file --------------------------------------------------------------------------


def _parse_day(value: Any) -> date:
    # YAML turns an unquoted 2027-01-01 into a date already; quoted ones arrive as strings.
    # datetimes and numbers are refused: pydantic would read 20270101 as a Unix timestamp.
    if isinstance(value, datetime):
        raise ValueError(_("“%(value)s”带有时刻，日期应写成 YYYY-MM-DD") % {"value": value})
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DAY.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(_("“%(value)s”不是有效的日期") % {"value": value}) from None
    raise ValueError(_("“%(value)s”不是日期，应写成 YYYY-MM-DD") % {"value": value})


def _parse_span(value: Any) -> tuple[date, date]:
    if isinstance(value, str) and _RANGE_SEPARATOR in value:
        first, _sep, last = value.partition(_RANGE_SEPARATOR)
        try:
            start, end = _parse_day(first), _parse_day(last)
        except ValueError as exc:
            raise ValueError(
                _("%(problem)s（日期范围写成 YYYY-MM-DD..YYYY-MM-DD）") % {"problem": exc}
            ) from None
        if end < start:
            raise ValueError(_("“%(value)s”的结束日期早于开始日期") % {"value": value})
        return start, end
    try:
        day = _parse_day(value)
    except ValueError as exc:
        raise ValueError(
            _("%(problem)s，或写成日期范围 YYYY-MM-DD..YYYY-MM-DD") % {"problem": exc}
        ) from None
    return day, day


_Day = Annotated[date, BeforeValidator(_parse_day)]
_Span = Annotated[tuple[date, date], BeforeValidator(_parse_span)]


class CalendarYear(BaseModel):
    """One year's entry in the config file, as written."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[_Span] = []
    workdays: list[_Day] = []


class _CalendarFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: dict[int, CalendarYear] = {}


@dataclass(frozen=True)
class YearSchedule:
    """One year's statutory holidays (放假) and make-up working days (调休上班)."""

    holidays: frozenset[date]
    workdays: frozenset[date]


class _DatesAsTextLoader(yaml.SafeLoader):
    """A safe loader that leaves 2027-01-01 as text, so a bad date is reported with its key."""


_DatesAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _calendar_error(problems: list[Problem]) -> CalendarConfigError:
    error: CalendarConfigError = config_error(problems, CalendarConfigError)
    return error


def _load_mapping(config: str | Path | Mapping[str, Any]) -> YamlFile:
    if isinstance(config, Mapping):
        return YamlFile("<calendar config>", dict(config), {}, [])
    path = Path(config)
    if not path.exists():
        raise _calendar_error([Problem(path.name, "", None, _("文件不存在"))])
    try:
        read = read_yaml(path, _DatesAsTextLoader)
    except ConfigError as exc:
        raise _calendar_error(exc.problems) from None
    if read.data is None:
        return YamlFile(read.name, {}, read.lines, read.text)
    if not isinstance(read.data, Mapping):
        raise _calendar_error([read.problem((), _("最外层应为含 years 键的“键: 值”映射"))])
    return read


def _schedules_from_mapping(read: YamlFile) -> dict[int, YearSchedule]:
    data = dict(read.data)
    if data.get("years") is None:
        data = {**data, "years": {}}
    problems: list[Problem] = []
    if isinstance(data["years"], Mapping):  # 2O27 (a letter O): said as a year, not 应为整数
        years = {}
        for key, entry in data["years"].items():
            if isinstance(key, int) and not isinstance(key, bool):
                years[key] = entry
            elif isinstance(key, str) and _YEAR.match(key):
                years[int(key)] = entry
            else:
                problems.append(read.problem(("years", key), _("年份应为四位数字，如 2027")))
        data["years"] = years
    try:
        model = _CalendarFileModel.model_validate(data)
    except ValidationError as exc:
        raise _calendar_error(problems + problems_of(exc, read)) from None

    schedules: dict[int, YearSchedule] = {}
    for year, entry in sorted(model.years.items()):
        if not 1900 <= year <= 2200:
            problems.append(read.problem(("years", year), _("不像是年份")))
            continue
        holidays: set[date] = set()
        for i, (start, end) in enumerate(entry.holidays):
            if start.year != year or end.year != year:
                # A notice for year Y can include days of Y-1 (元旦 around 31 December); those
                # days belong under Y-1, which then has to be listed in full.
                shown = str(start) if start == end else f"{start}..{end}"
                problems.append(
                    read.problem(("years", year, "holidays", i), _not_inside(shown, year))
                )
                continue
            holidays.update(start + timedelta(days=k) for k in range((end - start).days + 1))
        workdays: set[date] = set()
        for i, day in enumerate(entry.workdays):
            where = ("years", year, "workdays", i)
            if day.year != year:
                problems.append(read.problem(where, _not_inside(str(day), year)))
            elif day.weekday() < 5:
                problem = _("%(day)s 是星期一至星期五中的一天；调休上班日只能是星期六或星期日")
                problems.append(read.problem(where, problem % {"day": day}))
            elif day in holidays:
                problem = _("%(day)s 也列在 holidays（放假）中")
                problems.append(read.problem(where, problem % {"day": day}))
            else:
                workdays.add(day)
        schedules[year] = YearSchedule(frozenset(holidays), frozenset(workdays))
    if problems:
        raise _calendar_error(problems)
    return schedules


def holiday_periods(days: frozenset[date] | set[date]) -> int:
    """How many holidays (放假时段) `days` make: days apart by only a weekend are one."""
    ordered = sorted(days)
    gaps = sum(
        1
        for a, b in zip(ordered, ordered[1:], strict=False)
        if any((a + timedelta(days=k)).weekday() < 5 for k in range(1, (b - a).days))
    )
    return len(ordered) and gaps + 1


def calendar_warnings(path: Path) -> list[Problem]:
    """Not errors, but likely slips: a year that chinese-calendar knows, listed in the file with
    fewer holidays than the package has for it. A year listed replaces the package's whole
    year, so a year listed in part (only 国庆) would count its other holidays as working days.
    [] when the file cannot be read (its errors are reported by from_config)."""
    try:
        read = _load_mapping(path)
        schedules = _schedules_from_mapping(read)
    except ConfigError:
        return []
    out = []
    for year, schedule in sorted(schedules.items()):
        if not _package_knows(year):
            continue
        listed = holiday_periods(schedule.holidays)
        known = holiday_periods(_package_schedule(year).holidays)
        if listed < known:
            problem = _(
                "这里列出的 %(year)d 年会替换 chinese-calendar 包中该年的全部安排，"
                "但只列了 %(listed)d 个假期（包中有 %(known)d 个）；未列出的假期将按工作日计算。"
                "请列出全年，或删去这一年改用包中的数据"
            ) % {"year": year, "listed": listed, "known": known}
            out.append(read.problem(("years", year), problem))
    return out


def _not_inside(shown: str, year: int) -> str:
    return _("%(day)s 不在 %(year)d 年内，请写在它所在的年份下") % {"day": shown, "year": year}


# --- the package's data ---------------------------------------------------------------------


@cache
def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@cache
def _package_schedule(year: int) -> YearSchedule:
    return YearSchedule(
        holidays=frozenset(d for d in chinese_calendar.holidays if d.year == year),
        workdays=frozenset(d for d in chinese_calendar.workdays if d.year == year),
    )


# --- the calendar -------------------------------------------------------------------------


def _working_ordinals(year: int, schedule: YearSchedule | None) -> np.ndarray:
    first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
    days = np.arange(first, last + 1, dtype=np.int64)
    # ordinal 1 (0001-01-01) is a Monday, so (ordinal - 1) % 7 is date.weekday().
    working = (days - 1) % 7 < 5
    if schedule is not None:
        if schedule.holidays:
            working[np.array([d.toordinal() for d in schedule.holidays]) - first] = False
        if schedule.workdays:
            working[np.array([d.toordinal() for d in schedule.workdays]) - first] = True
    return days[working]


def _year_of_ordinals(ordinals: np.ndarray) -> np.ndarray:
    as_days = (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")
    return as_days.astype("datetime64[Y]").astype(np.int64) + 1970


class WorkCalendar:
    """Working days in mainland China, with an explicit answer for years nobody has published yet.

    Build it with `WorkCalendar.from_config(...)`. `warnings` collects one sentence per year whose
    Monday–Friday fallback a computation actually relied on (not merely cached).
    """

    def __init__(self, configured: Mapping[int, YearSchedule] | None = None) -> None:
        self._configured: dict[int, YearSchedule] = dict(configured or {})
        self.fallback_years: set[int] = set()
        self._sources: dict[int, YearSource] = {}
        self._first_year = 0
        self._last_year = -1
        self._ordinals: list[int] = []
        self._array = np.empty(0, dtype=np.int64)

    @classmethod
    def from_config(cls, config: str | Path | Mapping[str, Any] | None = None) -> WorkCalendar:
        """A calendar from a YAML file, an already-parsed mapping, or None (package + fallback).

        The file looks like::

            years:
              2027:
                holidays: [2027-01-01, 2027-02-06..2027-02-13]   # days or inclusive ranges
                workdays: [2027-02-14]                           # make-up working days 调休上班

        Raises `CalendarConfigError` naming the file, the key and the problem.
        """
        if config is None:
            return cls()
        return cls(_schedules_from_mapping(_load_mapping(config)))

    # -- which source decides a year

    def year_source(self, year: int) -> YearSource:
        """Who decides the working days of `year`: the config, the package, or the fallback."""
        source = self._sources.get(year)
        if source is None:
            if year in self._configured:
                source = "config"
            elif _package_knows(year):
                source = "package"
            else:
                source = "fallback"
            self._sources[year] = source
        return source

    def is_provisional(self, first: date, last: date) -> bool:
        """Whether counting from `first` to `last` relies on a year nobody has configured yet
        (the Monday–Friday fallback): a deadline in such a year is provisional (暂定)."""
        return any(
            self.year_source(y) == "fallback"
            for y in range(min(first.year, last.year), max(first.year, last.year) + 1)
        )

    def configured_since(self, first: date, last: date) -> WorkCalendar:
        """This calendar as it was before the configured years between `first` and `last` that
        the package does not know were added: they count Monday–Friday again."""
        years = range(min(first.year, last.year), max(first.year, last.year) + 1)
        dropped = {y for y in years if y in self._configured and not _package_knows(y)}
        return WorkCalendar({y: s for y, s in self._configured.items() if y not in dropped})

    def _schedule(self, year: int) -> YearSchedule | None:
        source = self.year_source(year)
        if source == "config":
            return self._configured[year]
        if source == "package":
            return _package_schedule(year)
        return None

    def _touch(self, first_year: int, last_year: int) -> None:
        """Record a warning for every fallback year a computation spanned."""
        for year in range(min(first_year, last_year), max(first_year, last_year) + 1):
            if self.year_source(year) == "fallback":
                self.fallback_years.add(year)

    @property
    def warnings(self) -> set[str]:
        """One sentence per fallback year, in the reader's language (worded when asked)."""
        return {fallback_warning(year) for year in self.fallback_years}

    # -- the cache of working days

    def _cover(self, first_year: int, last_year: int) -> None:
        first_year, last_year = max(first_year, date.min.year), min(last_year, date.max.year)
        if self._first_year <= first_year and last_year <= self._last_year:
            return
        if self._last_year >= self._first_year:  # grow around what is there
            first_year = min(first_year, self._first_year)
            last_year = max(last_year, self._last_year)
        parts = [_working_ordinals(y, self._schedule(y)) for y in range(first_year, last_year + 1)]
        self._array = np.concatenate(parts)
        self._ordinals = self._array.tolist()
        self._first_year, self._last_year = first_year, last_year

    def _cover_ordinals(self, low: int, high: int) -> None:
        low, high = max(low, 1), min(high, date.max.toordinal())
        # One spare year ahead: deadlines keep moving forward, so the next call usually fits.
        self._cover(date.fromordinal(low).year, date.fromordinal(high).year + 1)

    def _grow(self, first_year: int | None = None, last_year: int | None = None) -> None:
        before = (self._first_year, self._last_year)
        self._cover(
            self._first_year if first_year is None else first_year,
            self._last_year if last_year is None else last_year,
        )
        if (self._first_year, self._last_year) == before:
            raise OverflowError("working-day arithmetic ran past the years a date can hold")

    # -- scalar API

    def is_working_day(self, d: date) -> bool:
        """True if `d` is a working day (a weekday that is not a holiday, or a 调休 make-up day)."""
        _require_date(d, "d")
        ordinal = d.toordinal()
        self._cover_ordinals(ordinal, ordinal)
        self._touch(d.year, d.year)
        i = bisect_left(self._ordinals, ordinal)
        return i < len(self._ordinals) and self._ordinals[i] == ordinal

    def add_working_days(self, start: date, n: int) -> date:
        """The `n`th working day after `start` (n ≥ 0).

        n = 0 gives `start` itself when it is a working day, else the next working day. For
        n ≥ 1 the day `start` is not counted, so a case assigned on D with 5 working days is due
        at the end of ``add_working_days(D, 5)``.
        """
        _require_date(start, "start")
        n = _require_count(n)
        s = start.toordinal()
        self._cover_ordinals(s, s + 2 * n + 60)
        while True:
            i = bisect_right(self._ordinals, s) + n - 1 if n else bisect_left(self._ordinals, s)
            if i < len(self._ordinals):
                break
            self._grow(last_year=self._last_year + 1 + (i - len(self._ordinals)) // 200)
        result = date.fromordinal(self._ordinals[i])
        self._touch(start.year, result.year)
        return result

    def subtract_working_days(self, d: date, n: int) -> date:
        """The `n`th working day before `d` (n ≥ 0), e.g. "remind 2 working days before the deadline".

        n = 0 gives `d` itself when it is a working day, else the previous working day; for n ≥ 1
        the day `d` is not counted (deadline Friday, n = 1 → Thursday in a normal week).
        """
        _require_date(d, "d")
        n = _require_count(n)
        s = d.toordinal()
        self._cover_ordinals(s - 2 * n - 60, s)
        while True:
            i = bisect_left(self._ordinals, s) - n if n else bisect_right(self._ordinals, s) - 1
            if i >= 0:
                break
            self._grow(first_year=self._first_year - 1 + i // 200)
        result = date.fromordinal(self._ordinals[i])
        self._touch(result.year, d.year)
        return result

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d` (same as ``add_working_days(d, 1)``)."""
        return self.add_working_days(d, 1)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days after `a` up to and including `b`; negative when `b` is before `a`.

        The inverse of `add_working_days`: ``working_days_between(d, add_working_days(d, n)) == n``
        for n ≥ 1. A reply on the day of assignment took 0 working days.
        """
        _require_date(a, "a")
        _require_date(b, "b")
        lo, hi = sorted((a.toordinal(), b.toordinal()))
        self._cover_ordinals(lo, hi)
        self._touch(a.year, b.year)
        return bisect_right(self._ordinals, b.toordinal()) - bisect_right(
            self._ordinals, a.toordinal()
        )

    # -- vectorised API

    def add_working_days_many(
        self, starts: Sequence[date | None] | np.ndarray, n: int | Sequence[int] | np.ndarray
    ) -> list[date | None] | np.ndarray:
        """`add_working_days` for many starts at once (same convention), with `n` scalar or per start.

        A numpy ``datetime64`` array (or a naive pandas datetime Series, read as its days) in
        gives a ``datetime64[D]`` array out, NaT staying NaT; anything else (list, tuple,
        object array, pandas ``.dt.date`` values) gives a list of dates, None where the start
        was None or NaT. The days must already be local (Beijing) days.
        """
        ordinals, valid, as_array = _ordinals_of(starts)
        counts = np.broadcast_to(np.asarray(n, dtype=np.int64), ordinals.shape)
        if counts.size and counts.min() < 0:
            raise ValueError("n must be ≥ 0; use subtract_working_days for earlier days")
        result = np.zeros_like(ordinals)
        if valid.any():
            s, k = ordinals[valid], counts[valid]
            self._cover_ordinals(int(s.min()), int(s.max()) + 2 * int(k.max()) + 60)
            while True:
                left = np.searchsorted(self._array, s, side="left")
                right = np.searchsorted(self._array, s, side="right")
                idx = np.where(k == 0, left, right + k - 1)
                overflow = int(idx.max()) - len(self._array) + 1
                if overflow <= 0:
                    break
                self._grow(last_year=self._last_year + 1 + overflow // 200)
            result[valid] = self._array[idx]
            self._touch_pairs(s, result[valid])
        return _dates_of(result, valid, as_array)

    def working_days_between_many(
        self, a: Sequence[date | None] | np.ndarray, b: Sequence[date | None] | np.ndarray
    ) -> np.ndarray:
        """`working_days_between` element-wise; a float array with NaN where either side is missing."""
        a_ord, a_valid, _ = _ordinals_of(a)
        b_ord, b_valid, _ = _ordinals_of(b)
        if a_ord.shape != b_ord.shape:
            raise ValueError(f"a and b differ in length: {a_ord.shape[0]} vs {b_ord.shape[0]}")
        valid = a_valid & b_valid
        out = np.full(a_ord.shape, np.nan)
        if valid.any():
            av, bv = a_ord[valid], b_ord[valid]
            self._cover_ordinals(int(min(av.min(), bv.min())), int(max(av.max(), bv.max())))
            counts = np.searchsorted(self._array, bv, side="right") - np.searchsorted(
                self._array, av, side="right"
            )
            out[valid] = counts
            self._touch_pairs(av, bv)
        return out

    def _touch_pairs(self, first: np.ndarray, second: np.ndarray) -> None:
        pairs = np.unique(np.stack([_year_of_ordinals(first), _year_of_ordinals(second)]), axis=1)
        for y1, y2 in pairs.T.tolist():
            self._touch(y1, y2)


# --- helpers for the vectorised API ----------------------------------------------------------


def _require_date(value: Any, name: str) -> None:
    # datetime is a date subclass; letting one in would silently use its UTC (or naive) day.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date (a local day), got {type(value).__name__}")


def _require_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    return int(n)


def _ordinals_of(days: Iterable[date | None] | np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(ordinals, valid mask, came as a datetime64 array) for a sequence of local days."""
    if not isinstance(days, np.ndarray) and getattr(days, "dtype", None) is not None:
        days = days.to_numpy()  # type: ignore[union-attr]  # a pandas Series or Index
    if isinstance(days, np.ndarray) and days.dtype.kind == "M":
        as_days = days.astype("datetime64[D]")
        valid = ~np.isnat(as_days)
        ordinals = np.where(valid, as_days.astype(np.int64), 0) + _EPOCH_ORDINAL
        return ordinals.astype(np.int64), valid, True
    values = list(days)
    ordinals = np.zeros(len(values), dtype=np.int64)
    valid = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        if value is None or value != value:  # NaN and NaT are not equal to themselves
            continue
        _require_date(value, f"starts[{i}]")
        ordinals[i] = value.toordinal()
        valid[i] = True
    return ordinals, valid, False


def _dates_of(
    ordinals: np.ndarray, valid: np.ndarray, as_array: bool
) -> list[date | None] | np.ndarray:
    if as_array:
        out = (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")
        out[~valid] = np.datetime64("NaT")
        return out
    return [
        date.fromordinal(o) if ok else None
        for o, ok in zip(ordinals.tolist(), valid.tolist(), strict=True)
    ]


# --- deadlines as instants ---------------------------------------------------------------------


def _local_day(instant: datetime, name: str) -> date:
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got {instant!r}")
    return instant.astimezone(LOCAL_TZ).date()


def _end_of_local_day_utc(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=LOCAL_TZ).astimezone(UTC)


def due_at(assigned_at: datetime, working_days: int, calendar: WorkCalendar) -> datetime:
    """The deadline of a case assigned at `assigned_at` with `working_days` to handle it.

    The start day is `assigned_at`'s day in Asia/Shanghai; the deadline is the end (23:59:59
    Beijing time) of ``calendar.add_working_days(start_day, working_days)``, returned in UTC.
    """
    start_day = _local_day(assigned_at, "assigned_at")
    return _end_of_local_day_utc(calendar.add_working_days(start_day, working_days))


def is_provisional_deadline(assigned_at: datetime, due: datetime, calendar: WorkCalendar) -> bool:
    """Whether the deadline of a case assigned at `assigned_at` and due at `due` was counted with
    the Monday–Friday fallback for a year whose holidays are not configured yet."""
    return calendar.is_provisional(_local_day(assigned_at, "assigned_at"), _local_day(due, "due"))


def recounted_due_at(assigned_at: datetime, due: datetime, calendar: WorkCalendar) -> datetime:
    """A provisional deadline counted again now that its years are configured.

    The deadline (an extension included) is the Nth working day after the day of assignment on
    the calendar of the time, where the new years counted Monday–Friday; the same N working
    days are counted again on `calendar`. Returns the end of that day, in UTC.
    """
    start = _local_day(assigned_at, "assigned_at")
    due_day = _local_day(due, "due")
    before = calendar.configured_since(start, due_day)
    days = before.working_days_between(start, due_day)
    return _end_of_local_day_utc(calendar.add_working_days(start, max(days, 0)))


def revised_deadline(assigned_at: datetime, due: datetime, calendar: WorkCalendar) -> datetime:
    """The deadline a department works to once its provisional years are configured.

    Recounted (`recounted_due_at`), but never earlier than the date the department was told:
    published holidays give more days; make-up working days (调休) could give fewer, and a
    department is not asked to answer sooner than it was promised.
    """
    return max(recounted_due_at(assigned_at, due, calendar), due)


def due_at_many(
    assigned_at: Sequence[datetime | None],
    working_days: int | Sequence[int] | np.ndarray,
    calendar: WorkCalendar,
) -> list[datetime | None]:
    """`due_at` for many cases at once (None stays None); `working_days` scalar or per case."""
    days = [
        None if t is None else _local_day(t, f"assigned_at[{i}]") for i, t in enumerate(assigned_at)
    ]
    due_days = calendar.add_working_days_many(days, working_days)
    return [None if d is None else _end_of_local_day_utc(d) for d in due_days]
