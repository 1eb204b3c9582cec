"""代表集体评议: the representatives' collective evaluation of departments, as the office files it
(inbox/evaluations, CSV or .xlsx: 代表, 部门, 评价, 期间). A score is 满意 / 基本满意 / 不满意 or
a number 0–100; the period is a year, half-year, quarter, month or an explicit date range.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from minqing.channels.base import make_source_key, parse_datetime, undecodable_reason
from minqing.channels.tabular import open_table, row_excerpt, row_is_blank, row_undecodable
from minqing.reasons import Reason, reason
from minqing.records import Rejected
from minqing.workdays import LOCAL_TZ

EVALUATION_COLUMNS: dict[str, list[str]] = {
    "representative": ["代表", "代表姓名", "评议代表"],
    "department": ["部门", "被评议部门", "单位", "承办单位"],
    "score": ["评价", "评议结果", "评分", "得分"],
    "period": ["期间", "评议期间", "时段"],
}
WORDS = ("满意", "基本满意", "不满意")

_CN_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_YEAR = r"(?P<y>(19|20)\d\d)\s*年?度?"
_PERIODS = [
    ("year", re.compile(rf"^{_YEAR}(全年)?$")),
    ("half", re.compile(rf"^{_YEAR}\s*[-/]?\s*(?P<h>上半年|下半年|H1|H2)$", re.IGNORECASE)),
    (
        "quarter",
        re.compile(
            rf"^{_YEAR}\s*[-/]?\s*(第?(?P<q>[一二三四1-4])季度|Q(?P<q2>[1-4]))$", re.IGNORECASE
        ),
    ),
    ("month", re.compile(r"^(?P<y>(19|20)\d\d)\s*(年|[-/.])\s*(?P<m>1[0-2]|0?[1-9])\s*月?$")),
]
_RANGE = re.compile(r"^(?P<a>.+?)\s*(至|到|~|～|—|–|--)\s*(?P<b>.+)$")


def parse_period(text: str) -> tuple[date, date] | None:
    """(first day, last day) of a period written like 2026, 2026年度, 2026年上半年, 2026-Q4,
    2026年第四季度, 2026年11月, 2026-11, or 2026-01-01至2026-06-30; None when unreadable."""
    text = text.strip()
    for kind, pattern in _PERIODS:
        m = pattern.match(text)
        if not m:
            continue
        year = int(m.group("y"))
        if kind == "year":
            return date(year, 1, 1), date(year, 12, 31)
        if kind == "half":
            first_half = m.group("h").upper() in ("上半年", "H1")
            return (
                (date(year, 1, 1), date(year, 6, 30))
                if first_half
                else (date(year, 7, 1), date(year, 12, 31))
            )
        if kind == "quarter":
            q = _CN_NUMBERS[m.group("q") or m.group("q2")]
            return _month_span(year, 3 * q - 2, 3 * q)
        return _month_span(year, int(m.group("m")), int(m.group("m")))
    m = _RANGE.match(text)
    if m:
        a, b = parse_datetime(m.group("a")), parse_datetime(m.group("b"))
        if a is not None and b is not None:
            first, last = a.astimezone(LOCAL_TZ).date(), b.astimezone(LOCAL_TZ).date()
            if first <= last:
                return first, last
    return None


def _month_span(year: int, first_month: int, last_month: int) -> tuple[date, date]:
    return date(year, first_month, 1), date(
        year, last_month, calendar.monthrange(year, last_month)[1]
    )


def parse_score(text: str) -> str | None:
    """满意 / 基本满意 / 不满意, or a number 0–100 written without trailing zeros; else None."""
    text = text.strip().replace("分", "")
    if text in WORDS:
        return text
    try:
        number = float(text)
    except ValueError:
        return None
    if not 0 <= number <= 100 or number != number:
        return None
    return f"{number:g}"


@dataclass(frozen=True)
class EvaluationRow:
    source_key: str
    source_ref: str
    representative: str
    department: str  # as written: a department's name or code
    score: str
    period: str
    period_start: date
    period_end: date


def parse_evaluations(path: Path, checksum: str) -> Iterator[EvaluationRow | Rejected]:
    table = open_table(path, EVALUATION_COLUMNS, tuple(EVALUATION_COLUMNS))
    for row in table.rows:
        if row_is_blank(row):
            continue
        ref = f"{path.name}:{row.number}"

        def reject(
            why: Reason, ref: str = ref, number: int = row.number, excerpt: str = row_excerpt(row)
        ) -> Rejected:
            key = make_source_key("evaluation", checksum, number)
            return Rejected("evaluations", key, ref, why, path.name, excerpt)

        if row_undecodable(row):
            yield reject(undecodable_reason())
            continue
        rep, dept = table.text(row, "representative"), table.text(row, "department")
        score_text, period = table.text(row, "score"), table.text(row, "period")
        score = parse_score(score_text)
        span = parse_period(period) if period else None
        if not rep:
            yield reject(reason("missing_representative"))
        elif not dept:
            yield reject(reason("missing_department"))
        elif score is None:
            yield reject(reason("unknown_evaluation", value=score_text))
        elif span is None:
            yield reject(reason("unknown_period", value=period))
        else:
            yield EvaluationRow(
                source_key=make_source_key("evaluation", rep, dept, period, score),
                source_ref=ref,
                representative=rep,
                department=dept,
                score=score,
                period=period,
                period_start=span[0],
                period_end=span[1],
            )
