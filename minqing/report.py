"""评议报告: the tables of a period's report — department scores under the office's names,
handling times, the funnel, cases by category over time, the case list, the representatives'
evaluation and the annual sentence — and the summary text built from them.

DataFrames in, DataFrames out: nothing here reads the database or writes a file. Every
formula is in docs/scores.md; this module only chooses which cases each table is about.
"""

from __future__ import annotations

import calendar as month_calendar
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from minqing.i18n import _
from minqing.labels import outcome_label, status_label
from minqing.scores import (
    NO_DEPARTMENT,
    ScorePolicy,
    annual_sentences,
    department_scores,
    funnel,
    reply_before_assignment,
)
from minqing.states import CaseStatus, Outcome
from minqing.workdays import LOCAL_TZ, WorkCalendar

UNCATEGORISED = "未分类"
ALL = "全部"

# The cases frame `build_report` takes (one row per case, times in UTC, department by name).
# Optional: received_at, when the case's first submission was received (default: created_at).
CASE_COLUMNS = (
    "case_id", "number", "title", "category", "top_category", "department", "status",
    "created_at", "assigned_at", "due_at", "replied_at", "closed_at", "outcome",
    "reopen_count", "escalation_level",
)  # fmt: skip

# Department score columns shown in the summary (all are in the workbook).
SUMMARY_SCORE_COLUMNS = (
    "排名", "部门", "受理数", "回复率", "按期办结率", "平均办理工作日", "满意率(满意+基本满意)",
    "办成率(评价)", "群众评价得分", "代表评议得分", "综合得分", "未排名原因",
)  # fmt: skip
RATE_COLUMNS = (
    "回复率", "按期办结率", "办成率(A类/办结)", "办成率(评价)", "满意率(满意+基本满意)",
    "满意率(仅满意)", "参评率", "重办率", "占上一阶段", "占收集",
)  # fmt: skip
SCORE_POINT_COLUMNS = ("群众评价得分", "代表评议得分", "综合得分")


# --- the period -------------------------------------------------------------------------------

_QUARTERS = "一二三四"


@dataclass(frozen=True)
class Period:
    """The Beijing days a report covers, both inclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def previous_month(cls, today: date) -> Period:
        last = today.replace(day=1) - timedelta(days=1)
        return cls(last.replace(day=1), last)

    def _whole(self) -> str | None:
        s, e = self.start, self.end
        if s.day != 1 or e.day != month_calendar.monthrange(e.year, e.month)[1] or s.year != e.year:
            return None
        months = (s.month, e.month)
        if months == (1, 12):
            return "year"
        if months in ((1, 6), (7, 12)):
            return "half"
        if s.month == e.month:
            return "month"
        if e.month - s.month == 2 and s.month % 3 == 1:
            return "quarter"
        return None

    @property
    def label(self) -> str:
        """The report folder's name: 2026-11, 2026-Q4, 2026-H1, 2026 or 2026-11-03_2026-11-20."""
        s, whole = self.start, self._whole()
        if whole == "year":
            return f"{s.year}"
        if whole == "half":
            return f"{s.year}-H{1 if s.month == 1 else 2}"
        if whole == "quarter":
            return f"{s.year}-Q{(s.month + 2) // 3}"
        if whole == "month":
            return f"{s:%Y-%m}"
        return f"{s:%Y-%m-%d}_{self.end:%Y-%m-%d}"

    @property
    def title(self) -> str:
        s, e, whole = self.start, self.end, self._whole()
        if whole == "year":
            return f"{s.year}年"
        if whole == "half":
            return f"{s.year}年{'上' if s.month == 1 else '下'}半年"
        if whole == "quarter":
            return f"{s.year}年第{_QUARTERS[(s.month - 1) // 3]}季度"
        if whole == "month":
            return f"{s.year}年{s.month}月"
        return f"{s.year}年{s.month}月{s.day}日至{e.year}年{e.month}月{e.day}日"

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: from 00:00 Beijing time on the first day to 00:00 after the last."""
        first = datetime.combine(self.start, time(0), LOCAL_TZ).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(0), LOCAL_TZ).astimezone(UTC)
        return first, after


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportInput:
    """What the database holds, as frames (see CASE_COLUMNS and minqing.scores for columns)."""

    cases: pd.DataFrame
    ratings: pd.DataFrame
    surveys: pd.DataFrame
    rep_evaluations: pd.DataFrame  # representative, department (name), score, period
    citizens_received: int  # walk-in reception visits (家站点接待) in the period
    departments: Sequence[str] = ()  # listed even without cases
    categories: Sequence[str] = ()  # first-level categories, in the order of config


@dataclass
class Report:
    period: Period
    as_of: datetime
    scores: pd.DataFrame
    overall: pd.Series
    handling: pd.DataFrame
    funnel: pd.DataFrame
    categories: pd.DataFrame
    case_list: pd.DataFrame
    evaluations: pd.DataFrame
    annual: dict[str, int]
    sentence: str
    overview: list[tuple[str, str]] = field(default_factory=list)


def build_report(
    data: ReportInput,
    period: Period,
    policy: ScorePolicy,
    calendar: WorkCalendar,
    *,
    as_of: datetime,
    solved_what: str = "",
) -> Report:
    """All tables of the report on `period`, judged at `as_of` (at most the period's end)."""
    start, after = period.bounds()
    as_of = min(as_of, after)
    cases = _prepared(data.cases, calendar)
    # Each figure counts by the date of its own event (docs/scores.md): opinions by when they
    # were received — the basis of 接待 too — assignments, replies and closings by theirs.
    collected = cases[_within(cases["received_at"], start, after)]
    assigned = cases[_within(cases["assigned_at"], start, after)]
    scores = department_scores(
        cases, data.ratings, data.surveys, data.rep_evaluations, period.start, period.end, policy,
        as_of=as_of, departments=data.departments,
    )  # fmt: skip
    everyone = cases.assign(department=ALL)
    overall = department_scores(
        everyone, data.ratings, data.surveys, None, period.start, period.end,
        ScorePolicy(min_rated=0, weight_citizen=1, weight_representative=0, points=policy.points),
        as_of=as_of, departments=[ALL],
    ).iloc[0]  # fmt: skip
    closed = cases[_within(cases["closed_at"], start, after)]
    annual = {
        "citizens_received": int(data.citizens_received),
        "opinions_collected": len(collected),
        "answered_on_the_spot": int((collected["outcome"] == Outcome.ON_THE_SPOT.value).sum()),
        "suggestions_made": len(assigned),
        "matters_solved": int((closed["outcome"] == Outcome.SOLVED.value).sum()),
    }
    report = Report(
        period=period,
        as_of=as_of,
        scores=scores,
        overall=overall,
        handling=handling_times(assigned, as_of),
        funnel=funnel(collected, data.ratings),
        categories=categories_over_time(collected, period, data.categories),
        case_list=case_list(
            cases[
                _within(cases["received_at"], start, after)
                | _within(cases["assigned_at"], start, after)
            ]
        ),
        evaluations=data.rep_evaluations.rename(
            columns={
                "representative": "代表",
                "department": "部门",
                "score": "评价",
                "period": "期间",
            }
        ),
        annual=annual,
        sentence=annual_sentences(annual, solved_what=solved_what),
    )
    report.overview = overview(report, assigned)
    return report


def _within(values: pd.Series, start: datetime, after: datetime) -> pd.Series:
    return values.notna() & (values >= pd.Timestamp(start)) & (values < pd.Timestamp(after))


def _prepared(cases: pd.DataFrame, calendar: WorkCalendar) -> pd.DataFrame:
    missing = [c for c in CASE_COLUMNS if c not in cases.columns]
    if missing:
        raise ValueError(f"cases lacks column(s) {', '.join(missing)}")
    c = cases.copy()
    c = c[c["status"].astype("object") != CaseStatus.MERGED.value]
    if "received_at" not in c.columns:
        c["received_at"] = c["created_at"]
    for column in ("created_at", "received_at", "assigned_at", "due_at", "replied_at", "closed_at"):
        c[column] = pd.to_datetime(c[column], utc=True, format="ISO8601")
    c["received_at"] = c["received_at"].fillna(c["created_at"])
    c["department"] = c["department"].astype("object").where(c["department"].notna(), NO_DEPARTMENT)
    c["top_category"] = (
        c["top_category"].astype("object").where(c["top_category"].notna(), UNCATEGORISED)
    )
    c["outcome"] = c["outcome"].astype("object").where(c["outcome"].notna(), None)
    days = np.full(len(c), np.nan)
    replied = (c["assigned_at"].notna() & c["replied_at"].notna()).to_numpy()
    if replied.any():
        days[replied] = calendar.working_days_between_many(
            _local_days(c.loc[replied, "assigned_at"]), _local_days(c.loc[replied, "replied_at"])
        )
    impossible = reply_before_assignment(c["assigned_at"], c["replied_at"]).to_numpy()
    c["reply_before_assignment"] = impossible
    c["handling_working_days"] = np.where(impossible, np.nan, days)
    # A reply dated only by day (00:00) on the day of assignment took no time, not minus hours.
    elapsed = (c["replied_at"] - c["assigned_at"]).dt.total_seconds().clip(lower=0) / 86400
    c["handling_calendar_days"] = elapsed.where(~impossible)
    return c


def _local_days(instants: pd.Series) -> np.ndarray:
    return instants.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).to_numpy("datetime64[D]")


def handling_times(assigned: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """办理时长: per department, over its cases assigned in the period that were replied.

    办理工作日 counts the working days after the Beijing day of assignment up to and including
    the day of the (first) reply — the definition of 平均办理工作日 in docs/scores.md; 自然日 is
    the elapsed time in days. 超期未答复 counts unreplied cases whose deadline passed by `as_of`.
    A reply dated before its assignment has no handling time and is neither on time nor late.
    """
    timed = assigned["replied_at"].notna() & assigned["due_at"].notna()
    if "reply_before_assignment" in assigned.columns:
        timed &= ~assigned["reply_before_assignment"].astype(bool)
    frame = assigned.assign(
        replied=assigned["replied_at"].notna(),
        on_time=timed & (assigned["replied_at"] <= assigned["due_at"]),
        late=timed & (assigned["replied_at"] > assigned["due_at"]),
        open_late=assigned["replied_at"].isna() & assigned["due_at"].notna() & (assigned["due_at"] < pd.Timestamp(as_of)),
    )  # fmt: skip
    rows = [_handling_row(name, group) for name, group in frame.groupby("department", sort=True)]
    rows.append(_handling_row("合计", frame))
    return pd.DataFrame(rows, columns=list(HANDLING_COLUMNS))


HANDLING_COLUMNS = (
    "部门", "交办件数", "答复件数", "平均办理工作日", "中位办理工作日", "最长办理工作日",
    "平均办理自然日", "按期答复", "超期答复", "超期未答复",
)  # fmt: skip


def _handling_row(name: str, group: pd.DataFrame) -> dict[str, Any]:
    replied = group[group["replied"]]
    days = replied["handling_working_days"].astype(float)
    return {
        "部门": name,
        "交办件数": len(group),
        "答复件数": len(replied),
        "平均办理工作日": days.mean() if len(days) else np.nan,
        "中位办理工作日": days.median() if len(days) else np.nan,
        "最长办理工作日": days.max() if len(days) else np.nan,
        "平均办理自然日": replied["handling_calendar_days"].mean() if len(replied) else np.nan,
        "按期答复": int(group["on_time"].sum()),
        "超期答复": int(group["late"].sum()),
        "超期未答复": int(group["open_late"].sum()),
    }


def categories_over_time(
    collected: pd.DataFrame, period: Period, order: Sequence[str] = ()
) -> pd.DataFrame:
    """Cases collected per first-level category (columns, in `order`, then any other, then
    未分类) and month of receipt — or week for a period of up to 62 days (rows, labelled by the week's
    Monday); with a 合计 column."""
    by_week = (period.end - period.start).days < 62
    when = collected["received_at" if "received_at" in collected.columns else "created_at"]
    local = when.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    if by_week:
        monday = (local - pd.to_timedelta(local.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
        bucket = monday.rename("周（自周一）")
    else:
        bucket = local.dt.strftime("%Y-%m").rename("月份")
    table = pd.crosstab(bucket, collected["top_category"]) if len(collected) else pd.DataFrame()
    table.columns.name = None
    present = list(table.columns)
    others = sorted(c for c in present if c not in order and c != UNCATEGORISED)
    table = table[
        [c for c in order if c in present] + others + [UNCATEGORISED] * (UNCATEGORISED in present)
    ]
    table["合计"] = table.sum(axis=1) if len(table.columns) else pd.Series(dtype=int)
    return table.reset_index() if len(table) else pd.DataFrame(columns=[bucket.name, "合计"])


def case_list(cases: pd.DataFrame) -> pd.DataFrame:
    """案件清单: one row per case, for checking any figure by hand."""
    return pd.DataFrame(
        {
            "案件编号": cases["number"],
            "标题": cases["title"],
            "分类": cases["category"],
            "承办单位": cases["department"],
            "状态": cases["status"].map(status_label),
            "办理结果": cases["outcome"].map(outcome_label),
            "收到时间": cases["received_at"],
            "立案时间": cases["created_at"],
            "交办时间": cases["assigned_at"],
            "办理期限": cases["due_at"],
            "答复时间": cases["replied_at"],
            "办理工作日": cases["handling_working_days"],
            "办结时间": cases["closed_at"],
            "重办次数": cases["reopen_count"],
            "督办级别": cases["escalation_level"],
        }
    ).sort_values("案件编号", kind="stable")


def overview(report: Report, assigned: pd.DataFrame) -> list[tuple[str, str]]:
    """The headline figures of the period, each from the tables above."""
    o, a = report.overall, report.annual
    return [
        (
            "收集社情民意",
            f"{a['opinions_collected']} 条（现场答复 {a['answered_on_the_spot']} 条）",
        ),
        ("交办", f"{a['suggestions_made']} 件"),
        ("答复", f"{int(o['回复数'])} 件，回复率 {fmt_rate(o['回复率'])}"),
        ("按期办结率", fmt_rate(o["按期办结率"])),
        ("平均办理工作日", fmt_number(o["平均办理工作日"])),
        (
            "满意率（满意+基本满意）",
            f"{fmt_rate(o['满意率(满意+基本满意)'])}（{int(o['评价数'])} 条评价）",
        ),
        ("办成率（群众评价）", fmt_rate(o["办成率(评价)"])),
        ("重办率", fmt_rate(o["重办率"])),
        ("领导领衔督办", f"{int((assigned['escalation_level'] >= 2).sum())} 件"),
        ("办结且已解决", f"{a['matters_solved']} 件"),
        ("代表集体评议", f"{len(report.evaluations)} 条"),
    ]


def fmt_rate(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def fmt_number(value: Any, digits: int = 1) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


# --- the summary text -------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: Sequence[str] = ()
    table: pd.DataFrame | None = None
    images: Sequence[tuple[str, str]] = ()  # (caption, relative path)
    warning: bool = False  # shown as a warning, at the top


def summary_sections(
    report: Report,
    charts: Mapping[str, str],
    notes: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> list[Section]:
    """The summary's sections; `warnings` (e.g. no charts could be drawn) open it."""
    scores = report.scores[list(SUMMARY_SCORE_COLUMNS)]
    top = [Section(_("注意"), list(warnings), warning=True)] if warnings else []
    return top + [
        Section("工作表述", [report.sentence or "（本期无数据）"]),
        Section("概况", table=pd.DataFrame(report.overview, columns=["项目", "数值"])),
        Section(
            "部门评分",
            ["公式见 docs/scores.md；评价数不足或缺少评议得分的部门列出但不排名。"],
            table=_shown(scores),
        ),
        Section("办理时长（工作日）", table=_shown(report.handling)),
        Section("办理漏斗", table=_shown(report.funnel.drop(columns=["stage"]))),
        Section(
            "图表",
            [] if charts else [_("本期未生成图表，原因见本报告开头的“注意”。")],
            images=[(caption, path) for caption, path in charts.items()],
        ),
        Section("说明", list(notes)),
    ]


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """Rates as percentages, scores and days with one decimal, missing as —."""
    out = frame.copy().astype("object")
    for column in out.columns:
        if column in RATE_COLUMNS:
            out[column] = frame[column].map(fmt_rate)
        elif frame[column].dtype.kind == "f":
            out[column] = frame[column].map(fmt_number)
        else:
            out[column] = frame[column].map(
                lambda v: (
                    "—" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v
                )
            )
    return out


def summary_markdown(report: Report, office: str, sections: Sequence[Section]) -> str:
    lines = [f"# {office} 评议报告 · {report.period.title}", "",
             f"统计期间：{report.period.start:%Y-%m-%d} 至 {report.period.end:%Y-%m-%d}（北京时间）；"
             f"按 {report.as_of.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M} 的数据计算。"]  # fmt: skip
    for section in sections:
        lines += ["", f"## {'⚠️ ' if section.warning else ''}{section.title}", ""]
        lines += [f"{'> ⚠️ ' if section.warning else ''}{_md(p)}\n" for p in section.paragraphs]
        if section.table is not None:
            lines += _md_table(section.table)
        lines += [f"![{_md(c)}]({p})" for c, p in section.images]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _md_table(frame: pd.DataFrame) -> list[str]:
    head = "| " + " | ".join(_md(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(_md(v) for v in row) + " |"
        for row in frame.itertuples(index=False, name=None)
    ]
    return [head, rule, *body]


def summary_html(report: Report, office: str, sections: Sequence[Section]) -> str:
    """The same summary as a self-contained HTML page (every value escaped)."""
    e = html.escape
    parts = [
        "<!doctype html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{e(office)} 评议报告 · {e(report.period.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em}"
        "th{background:#ddebf7}img{max-width:100%}"
        ".warning{background:#fff3e0;border-left:4px solid #e65100;padding:.5em 1em;font-weight:bold}"
        "</style></head><body>",
        f"<h1>{e(office)} 评议报告 · {e(report.period.title)}</h1>",
        f"<p>统计期间：{report.period.start:%Y-%m-%d} 至 {report.period.end:%Y-%m-%d}（北京时间）</p>",
    ]  # fmt: skip
    for section in sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        css = ' class="warning"' if section.warning else ""
        parts += [f"<p{css}>{e(str(p))}</p>" for p in section.paragraphs]
        if section.table is not None:
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{e(str(c))}</th>" for c in section.table.columns)
                + "</tr></thead><tbody>"
            )
            parts += [
                "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>"
                for row in section.table.itertuples(index=False, name=None)
            ]
            parts.append("</tbody></table>")
        parts += [
            f'<figure><img src="{e(p)}" alt="{e(c)}"><figcaption>{e(c)}</figcaption></figure>'
            for c, p in section.images
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
