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

from minqing.i18n import N_, _, current_language, headed, ngettext, pgettext
from minqing.labels import outcome_label, status_label
from minqing.scores import (
    FUNNEL_LABELS,
    NO_DEPARTMENT,
    SCORE_LABELS,
    ScorePolicy,
    annual_sentences,
    department_scores,
    funnel,
    reply_before_assignment,
    stage_label,
)
from minqing.states import CaseStatus, Outcome
from minqing.workdays import LOCAL_TZ, WorkCalendar

UNCATEGORISED = N_("未分类")  # the category of cases without one (a label, translated when shown)
ALL = "*all*"  # the one "department" of the office-wide figures

# The cases frame `build_report` takes (one row per case, times in UTC, department by name).
# Optional: received_at, when the case's first submission was received (default: created_at).
CASE_COLUMNS = (
    "case_id", "number", "title", "category", "top_category", "department", "status",
    "created_at", "assigned_at", "due_at", "replied_at", "closed_at", "outcome",
    "reopen_count", "escalation_level",
)  # fmt: skip

# Department score columns shown in the summary (all are in the workbook).
SUMMARY_SCORE_COLUMNS = (
    "rank", "department", "received", "reply_rate", "on_time_rate", "mean_working_days",
    "satisfaction_rate", "solved_rate_rated", "citizen_score", "representative_score",
    "composite_score", "unranked_reason",
)  # fmt: skip
# Fractions shown as percentages (columns of the scores and the funnel).
RATE_COLUMNS = (
    "reply_rate", "on_time_rate", "solved_rate_closed", "solved_rate_rated", "satisfaction_rate",
    "fully_satisfied_rate", "response_rate", "reopen_rate", "share_of_previous",
    "share_of_collected",
)  # fmt: skip
SCORE_POINT_COLUMNS = ("citizen_score", "representative_score", "composite_score")

# The labels of the report's other tables: the frames are keyed by codes, shown by these.
HANDLING_LABELS = {
    "department": N_("部门"),
    "assigned": N_("交办件数"),
    "replied": N_("答复件数"),
    "mean_working_days": N_("平均办理工作日"),
    "median_working_days": N_("中位办理工作日"),
    "max_working_days": N_("最长办理工作日"),
    "mean_calendar_days": N_("平均办理自然日"),
    "replied_on_time": N_("按期答复"),
    "replied_late": N_("超期答复"),
    "overdue_unreplied": N_("超期未答复"),
}
HANDLING_COLUMNS = tuple(HANDLING_LABELS)
CATEGORY_LABELS = {
    "month": N_("月份"),
    "week": N_("周（自周一）"),
    "total": N_("合计"),
    UNCATEGORISED: UNCATEGORISED,  # a column of its own, named in the reader's language
}
CASE_LIST_LABELS = {
    "number": N_("案件编号"),
    "title": N_("标题"),
    "category": N_("分类"),
    "department": N_("承办单位"),
    "status": N_("状态"),
    "outcome": N_("办理结果"),
    "received_at": N_("收到时间"),
    "created_at": N_("立案时间"),
    "assigned_at": N_("交办时间"),
    "due_at": N_("办理期限"),
    "replied_at": N_("答复时间"),
    "handling_working_days": N_("办理工作日"),
    "closed_at": N_("办结时间"),
    "reopen_count": N_("重办次数"),
    "escalation_level": N_("督办级别"),
}
EVALUATION_LABELS = {
    "representative": N_("代表"),
    "department": N_("部门"),
    "score": N_("评价"),
    "period": N_("期间"),
}
OVERVIEW_LABELS = {"item": N_("项目"), "value": N_("数值")}
# Which cases the funnel counts, said under it (docs/scores.md, "The report").
FUNNEL_BASIS = N_(
    "收集、立案为本期收到的意见和案件；交办及以后各阶段为本期交办的案件（与部门评分相同），"
    "其答复、办成和评价计至报告生成时。“办成”为部门答复已解决（A类）的案件，"
    "工作表述的“推动解决”只计本期办结且已解决的。"
    "“满意”为已办成、且参与评价的群众都满意或基本满意的案件；满意率按评价条数计算。"
)
# Every table of the report, by its sheet's key, with its labels (the one place for each
# table's words; the funnel's stages are labelled by `stage_label`).
LABELS = {
    "scores": SCORE_LABELS,
    "handling": HANDLING_LABELS,
    "funnel": FUNNEL_LABELS,
    "categories": CATEGORY_LABELS,
    "case_list": CASE_LIST_LABELS,
    "evaluations": EVALUATION_LABELS,
    "overview": OVERVIEW_LABELS,
}


# --- the period -------------------------------------------------------------------------------

_QUARTERS = (
    N_("%(year)d年第一季度"),
    N_("%(year)d年第二季度"),
    N_("%(year)d年第三季度"),
    N_("%(year)d年第四季度"),
)


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
        """The period as the report names it, in the reader's language: 2026年11月, 2026年第四季度."""
        s, e, whole = self.start, self.end, self._whole()
        if whole == "year":
            return _("%(year)d年") % {"year": s.year}
        if whole == "half":
            half = _("%(year)d年上半年") if s.month == 1 else _("%(year)d年下半年")
            return half % {"year": s.year}
        if whole == "quarter":
            return _(_QUARTERS[(s.month - 1) // 3]) % {"year": s.year}
        if whole == "month":
            return _("%(year)d年%(month)d月") % {"year": s.year, "month": s.month}
        return _("%(y1)d年%(m1)d月%(d1)d日至%(y2)d年%(m2)d月%(d2)d日") % {
            "y1": s.year, "m1": s.month, "d1": s.day, "y2": e.year, "m2": e.month, "d2": e.day,
        }  # fmt: skip

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
    # 收集: submissions (every citizen's opinion, near-duplicates included) received in the
    # period, whatever the channel; None: not known, one per case collected
    submissions_received: int | None = None


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
    # where the period's figures count different cases (received in one period, assigned in
    # another), said under the sentence
    basis: list[str] = field(default_factory=list)
    made_at: datetime | None = None  # the data's moment (as_of before it is cut to the end)
    score_rule: str = ""  # how departments are scored, in words (ScorePolicy.rule)


def build_report(
    data: ReportInput,
    period: Period,
    policy: ScorePolicy,
    calendar: WorkCalendar,
    *,
    as_of: datetime,
    solved_what: str = "",
) -> Report:
    """All tables of the report on `period`, judged at `as_of` (at most the period's end).

    `data` is the snapshot at `as_of`: what came in counts by when it was received, and from
    交办 on every figure — summary, sentence, funnel, department scores, handling times — is
    about the cases assigned in the period, their replies and ratings as the snapshot has them.
    """
    start, after = period.bounds()
    made_at = as_of
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
    received = len(collected) if data.submissions_received is None else data.submissions_received
    annual = {
        "citizens_received": int(data.citizens_received),
        "opinions_collected": int(received),
        "answered_on_the_spot": int((collected["outcome"] == Outcome.ON_THE_SPOT.value).sum()),
        "suggestions_made": len(assigned),
        "matters_solved": int((closed["outcome"] == Outcome.SOLVED.value).sum()),
    }
    report = Report(
        period=period,
        as_of=as_of,
        score_rule=policy.rule(),
        scores=scores,
        overall=overall,
        handling=handling_times(assigned, as_of),
        funnel=funnel(collected, data.ratings, submissions=received, assigned=assigned),
        categories=categories_over_time(collected, period, data.categories),
        case_list=case_list(
            cases[
                _within(cases["received_at"], start, after)
                | _within(cases["assigned_at"], start, after)
            ]
        ),
        evaluations=data.rep_evaluations,
        annual=annual,
        sentence=annual_sentences(annual, solved_what=solved_what),
        basis=basis_notes(collected, assigned, start, after),
        made_at=made_at,
    )
    report.overview = overview(report, assigned, opened=len(collected))
    return report


def basis_notes(
    opened: pd.DataFrame, assigned: pd.DataFrame, start: datetime, after: datetime
) -> list[str]:
    """What a reader of the sentence could not guess: cases assigned in the period that were
    collected before it (交办 can exceed 收集), and cases opened in it assigned only after its
    end (they count in the period they were assigned in)."""
    earlier = int((assigned["received_at"] < pd.Timestamp(start)).sum())
    later = int(
        (opened["assigned_at"].notna() & (opened["assigned_at"] >= pd.Timestamp(after))).sum()
    )
    notes = []
    if earlier and earlier == len(assigned):
        notes.append(
            ngettext(
                "本期交办的%(n)d件均为本期以前收集的，"
                "所以形成意见建议（交办）可以多于本期收集的社情民意。",
                "本期交办的%(n)d件均为本期以前收集的，"
                "所以形成意见建议（交办）可以多于本期收集的社情民意。",
                earlier,
            )
            % {"n": earlier}
        )
    elif earlier:
        notes.append(
            ngettext(
                "本期交办的%(assigned)d件中有%(n)d件是本期以前收集的，"
                "所以形成意见建议（交办）可以多于本期收集的社情民意。",
                "本期交办的%(assigned)d件中有%(n)d件是本期以前收集的，"
                "所以形成意见建议（交办）可以多于本期收集的社情民意。",
                earlier,
            )
            % {"assigned": len(assigned), "n": earlier}
        )
    if later and later == len(opened):
        notes.append(
            ngettext(
                "本期立案的%(n)d件均在本期结束后才交办，"
                "计入交办当期的交办、答复和满意率，不计入本期。",
                "本期立案的%(n)d件均在本期结束后才交办，"
                "计入交办当期的交办、答复和满意率，不计入本期。",
                later,
            )
            % {"n": later}
        )
    elif later:
        notes.append(
            ngettext(
                "本期立案的%(opened)d件中有%(n)d件在本期结束后才交办，"
                "计入交办当期的交办、答复和满意率，不计入本期。",
                "本期立案的%(opened)d件中有%(n)d件在本期结束后才交办，"
                "计入交办当期的交办、答复和满意率，不计入本期。",
                later,
            )
            % {"opened": len(opened), "n": later}
        )
    return notes


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
    c["department"] = (
        c["department"].astype("object").where(c["department"].notna(), _(NO_DEPARTMENT))
    )
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
    """办理时长: per department, over its cases assigned in the period that were replied, and a
    合计 row (HANDLING_LABELS names the columns).

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
    rows.append(_handling_row(_("合计"), frame))
    return pd.DataFrame(rows, columns=list(HANDLING_COLUMNS))


def _handling_row(name: str, group: pd.DataFrame) -> dict[str, Any]:
    replied = group[group["replied"]]
    days = replied["handling_working_days"].astype(float)
    return {
        "department": name,
        "assigned": len(group),
        "replied": len(replied),
        "mean_working_days": days.mean() if len(days) else np.nan,
        "median_working_days": days.median() if len(days) else np.nan,
        "max_working_days": days.max() if len(days) else np.nan,
        "mean_calendar_days": replied["handling_calendar_days"].mean() if len(replied) else np.nan,
        "replied_on_time": int(group["on_time"].sum()),
        "replied_late": int(group["late"].sum()),
        "overdue_unreplied": int(group["open_late"].sum()),
    }


def categories_over_time(
    collected: pd.DataFrame, period: Period, order: Sequence[str] = ()
) -> pd.DataFrame:
    """Cases collected per first-level category (columns, in `order`, then any other, then
    未分类) and month of receipt — or week for a period of up to 62 days (rows, labelled by the week's
    Monday); with a total (合计) column. The first column is "month" or "week" (CATEGORY_LABELS)."""
    by_week = (period.end - period.start).days < 62
    when = collected["received_at" if "received_at" in collected.columns else "created_at"]
    local = when.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    if by_week:
        monday = (local - pd.to_timedelta(local.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
        bucket = monday.rename("week")
    else:
        bucket = local.dt.strftime("%Y-%m").rename("month")
    table = pd.crosstab(bucket, collected["top_category"]) if len(collected) else pd.DataFrame()
    table.columns.name = None
    present = list(table.columns)
    others = sorted(c for c in present if c not in order and c != UNCATEGORISED)
    table = table[
        [c for c in order if c in present] + others + [UNCATEGORISED] * (UNCATEGORISED in present)
    ]
    table["total"] = table.sum(axis=1) if len(table.columns) else pd.Series(dtype=int)
    return table.reset_index() if len(table) else pd.DataFrame(columns=[bucket.name, "total"])


def case_list(cases: pd.DataFrame) -> pd.DataFrame:
    """案件清单: one row per case, for checking any figure by hand (CASE_LIST_LABELS)."""
    out = cases[list(CASE_LIST_LABELS)].assign(
        status=cases["status"].map(status_label), outcome=cases["outcome"].map(outcome_label)
    )
    return out.sort_values("number", kind="stable")


def overview(report: Report, assigned: pd.DataFrame, opened: int) -> list[tuple[str, str]]:
    """The headline figures of the period, each from the tables above: 收集 the opinions
    received, 立案 the cases they made (`opened`: first received in the period)."""
    o, a = report.overall, report.annual
    collected, spot = a["opinions_collected"], a["answered_on_the_spot"]
    replied, rated = int(o["replied"]), int(o["rated"])
    led = int((assigned["escalation_level"] >= 2).sum())
    return [
        (
            _("收集社情民意"),
            ngettext(
                "%(n)d 条（现场答复 %(spot)d 条）", "%(n)d 条（现场答复 %(spot)d 条）", collected
            )
            % {"n": collected, "spot": spot},
        ),
        (pgettext("report", "立案"), _cases(opened)),
        (pgettext("report", "交办"), _cases(a["suggestions_made"])),
        (
            pgettext("report", "答复"),
            ngettext("%(n)d 件，回复率 %(rate)s", "%(n)d 件，回复率 %(rate)s", replied)
            % {"n": replied, "rate": fmt_rate(o["reply_rate"])},
        ),
        (_("按期办结率"), fmt_rate(o["on_time_rate"])),
        (_("平均办理工作日"), fmt_number(o["mean_working_days"])),
        (
            _("满意率（满意+基本满意）"),
            ngettext("%(rate)s（%(n)d 条评价）", "%(rate)s（%(n)d 条评价）", rated)
            % {"rate": fmt_rate(o["satisfaction_rate"]), "n": rated},
        ),
        (_("办成率（群众评价）"), fmt_rate(o["solved_rate_rated"])),
        (_("重办率"), fmt_rate(o["reopen_rate"])),
        (_("领导领衔督办"), _cases(led)),
        (_("办结且已解决"), _cases(a["matters_solved"])),
        (
            _("代表集体评议"),
            ngettext("%(n)d 条", "%(n)d 条", len(report.evaluations))
            % {"n": len(report.evaluations)},
        ),
    ]


def _cases(n: int) -> str:
    return ngettext("%(n)d 件", "%(n)d 件", n) % {"n": n}


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
    """The summary's sections, in the reader's language; `warnings` (e.g. no charts could be
    drawn) open it."""
    scores = report.scores[list(SUMMARY_SCORE_COLUMNS)]
    overview = pd.DataFrame(report.overview, columns=list(OVERVIEW_LABELS))
    top = [Section(_("注意"), list(warnings), warning=True)] if warnings else []
    return top + [
        Section(_("工作表述"), [report.sentence or _("（本期无数据）"), *report.basis]),
        Section(_("概况"), table=headed(overview, OVERVIEW_LABELS)),
        Section(
            _("部门评分"),
            [report.score_rule],
            table=headed(_shown(scores), SCORE_LABELS),
        ),
        Section(_("办理时长（工作日）"), table=headed(_shown(report.handling), HANDLING_LABELS)),
        Section(
            _("办理漏斗"),
            [_(FUNNEL_BASIS)],
            table=headed(_shown(funnel_shown(report.funnel)), FUNNEL_LABELS),
        ),
        Section(
            _("图表"),
            [] if charts else [_("本期未生成图表，原因见本报告开头的“注意”。")],
            images=[(caption, path) for caption, path in charts.items()],
        ),
        Section(_("说明"), list(notes)),
    ]


def funnel_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The funnel with each stage by its label (FUNNEL_STAGES), for a reader."""
    return frame.assign(stage=[stage_label(s) for s in frame["stage"]])


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


def report_title(report: Report, office: str) -> str:
    return _("%(office)s 评议报告 · %(period)s") % {"office": office, "period": report.period.title}


def _period_line(report: Report) -> str:
    return _("统计期间：%(start)s 至 %(end)s（北京时间）") % {
        "start": f"{report.period.start:%Y-%m-%d}",
        "end": f"{report.period.end:%Y-%m-%d}",
    }


def summary_markdown(report: Report, office: str, sections: Sequence[Section]) -> str:
    as_of = f"{(report.made_at or report.as_of).astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"
    lines = [f"# {report_title(report, office)}", "",
             _("%(period)s；按 %(as_of)s 的数据计算。") % {"period": _period_line(report), "as_of": as_of}]  # fmt: skip
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
        "<!doctype html>", f'<html lang="{e(_html_lang())}"><head><meta charset="utf-8">',
        f"<title>{e(report_title(report, office))}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em}"
        "th{background:#ddebf7}img{max-width:100%}"
        ".warning{background:#fff3e0;border-left:4px solid #e65100;padding:.5em 1em;font-weight:bold}"
        "</style></head><body>",
        f"<h1>{e(report_title(report, office))}</h1>",
        f"<p>{e(_period_line(report))}</p>",
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


def _html_lang() -> str:
    return "zh-CN" if current_language() == "zh_CN" else current_language()
