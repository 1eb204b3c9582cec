"""评议报告 for a period: load the period's cases, ratings, surveys and 代表评议 from the database,
build the tables (minqing.report), and write them to var/reports/<period>/ — an Excel workbook
(one sheet per table), PNG charts and a Markdown/HTML summary — and as Prefect artifacts.
The `report` deployment, `minqing report` and the tests all call `build_report_now`."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from sqlalchemy import func, or_, select

from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Department,
    Rating,
    Reply,
    RepresentativeEvaluation,
    Submission,
    Survey,
    case_number,
)
from minqing.charts import (
    NO_CJK_WARNING,
    categories_chart,
    cjk_font,
    funnel_chart,
    satisfaction_chart,
)
from minqing.i18n import N_, _, current_language, headed, label
from minqing.labels import COLUMN_LABELS
from minqing.report import (
    FUNNEL_BASIS,
    LABELS,
    OVERVIEW_LABELS,
    RATE_COLUMNS,
    Period,
    Report,
    ReportInput,
    Section,
    build_report,
    funnel_shown,
    summary_html,
    summary_markdown,
    summary_sections,
)
from minqing.scores import SCORE_LABELS
from minqing.workbooks import Sheet, write_workbook
from minqing.workdays import LOCAL_TZ
from tasks.context import Context, context
from tasks.routing_watch import ROUTING_NOTE, routing_precision_rows

log = logging.getLogger(__name__)
SUMMARY_KEY = "report-summary"
CHART_FILES = ("satisfaction_by_department.png", "cases_by_category.png", "funnel.png")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
SCORES_KEY = "report-department-scores"
# The walk-in reception channel (代表家站点接待登记): one submission per visit (接待人次).
RECEPTION_CHANNEL = "register"

# The workbook's sheets and the charts, by what they show (labels translated when written).
SHEET_NAMES = {
    "overview": N_("概况"),
    "scores": N_("部门评分"),
    "handling": N_("办理时长"),
    "funnel": N_("办理漏斗"),
    "categories": N_("分类趋势"),
    "evaluations": N_("代表评议"),
    "case_list": N_("案件清单"),
    "routing": N_("自动分派准确率"),
}
CHART_TITLES = {
    "satisfaction": N_("各部门满意率"),
    "categories": N_("各类问题件数"),
    "funnel": N_("办理漏斗"),
}
NOTES = (
    N_(
        "满意率 = (满意 + 基本满意) / 评价数，只计每位群众对每件案件的最新评价；"
        "按期办结率以部门答复时间对照办理期限。"
    ),
    N_("部门评分以本期交办的案件为准；重办的案件按首次交办、首次期限和首次答复计算。"),
    N_(
        "收集为本期收到的群众意见条数（按群众提出的时间，同一问题多人反映各计一条）；"
        "立案为本期首次收到、合并重复后的案件数。"
    ),
)


def report_period(start: date | None, end: date | None, now: datetime | None = None) -> Period:
    """The period asked for; by default the previous calendar month (Beijing time)."""
    if start is None and end is None:
        return Period.previous_month((now or datetime.now(UTC)).astimezone(LOCAL_TZ).date())
    if start is None or end is None:
        raise ValueError("give both the first and the last day of the period, or neither")
    return Period(start, end)


def build_report_now(
    start: date | None = None,
    end: date | None = None,
    *,
    now: datetime | None = None,
    artifacts: bool = True,
) -> dict[str, Any]:
    """Compute the report on [start, end] (Beijing days, inclusive) and write its files."""
    ctx = context()
    now = now or datetime.now(UTC)
    period = report_period(start, end, now)
    with Session() as s:
        data = load_report_input(s, ctx, period)
        routing = routing_precision_rows(s, ctx, *period.bounds())
    report = build_report(
        data, period, ctx.ref.policy.score_policy(), ctx.calendar, as_of=now,
        solved_what=ctx.ref.policy.report.solved_what_in(current_language()),
    )  # fmt: skip
    folder = ctx.settings.reports_dir / period.label
    files = write_report(report, folder, ctx, routing)
    published = report_artifacts(report, folder)
    if artifacts:
        create_markdown_artifact(key=SUMMARY_KEY, **published[SUMMARY_KEY])
        create_table_artifact(key=SCORES_KEY, **published[SCORES_KEY])
    return {
        "period": period.label,
        "title": period.title,
        "folder": str(folder),
        "files": {name: str(path) for name, path in files.items()},
        "annual": report.annual,
        "sentence": report.sentence,
        "notes": report.basis,
        "overview": dict(report.overview),
        "warnings": report_warnings(),
        "artifacts": published,
    }


def report_artifacts(report: Report, folder: Path) -> dict[str, dict[str, Any]]:
    """What the report publishes as Prefect artifacts, by key: the summary and the scores."""
    # The UI cannot show files of the worker's disk: the charts are named by their path.
    markdown = _IMAGE.sub(
        lambda m: _("- %(chart)s：`%(path)s`") % {"chart": m.group(1), "path": folder / m.group(2)},
        (folder / "report.md").read_text(encoding="utf-8"),
    )
    title = {"period": report.period.title}
    return {
        SUMMARY_KEY: {"markdown": markdown, "description": _("评议报告 %(period)s") % title},
        SCORES_KEY: {
            "table": artifact_rows(report.scores),
            "description": _("部门评分 %(period)s") % title,
        },
    }


def load_report_input(s: Any, ctx: Context, period: Period) -> ReportInput:
    """Everything the report needs from the database, as plain frames (see minqing.report)."""
    start, after = period.bounds()
    names = {code: name for code, name in s.execute(select(Department.code, Department.name))}
    names |= {d.code: d.name for d in ctx.ref.departments}
    # An opinion is collected when it was received (its case's first submission), the basis
    # of 接待 too; a file read late still counts in the month the citizen came.
    first = (
        select(Submission.case_id, func.min(Submission.received_at).label("received_at"))
        .group_by(Submission.case_id)
        .subquery()
    )
    # The cases known by the period's end: opened, or first received, before it. Their
    # replies, ratings and surveys are read for the same cases, as the snapshot has them (a
    # November opinion read in on 7 December is a case of the November report, rated or not).
    known = (
        select(Case.id)
        .outerjoin(first, first.c.case_id == Case.id)
        .where(or_(Case.created_at < after, first.c.received_at < after))
    )
    rows = s.execute(
        select(
            Case.id, Case.created_at, Case.title, Case.category, Case.lead_department, Case.status,
            Case.assigned_at, Case.due_at, Case.replied_at, Case.closed_at, Case.outcome,
            Case.reopen_count, Case.escalation_level, first.c.received_at,
        )
        .outerjoin(first, first.c.case_id == Case.id)
        .where(Case.id.in_(known))
    ).all()  # fmt: skip
    cases = pd.DataFrame(
        [
            {
                "case_id": r.id,
                "number": case_number(r.id, r.created_at),
                "title": r.title,
                "category": r.category,
                "top_category": _top(ctx, r.category),
                "department": names.get(r.lead_department, r.lead_department) if r.lead_department else None,
                "status": r.status.value,
                "created_at": r.created_at,
                "received_at": r.received_at or r.created_at,
                "assigned_at": r.assigned_at,
                "due_at": r.due_at,
                "replied_at": r.replied_at,
                "closed_at": r.closed_at,
                "outcome": r.outcome.value if r.outcome else None,
                "reopen_count": r.reopen_count,
                "escalation_level": r.escalation_level,
            }
            for r in rows
        ],
        columns=[
            "case_id", "number", "title", "category", "top_category", "department", "status",
            "created_at", "received_at", "assigned_at", "due_at", "replied_at", "closed_at", "outcome",
            "reopen_count", "escalation_level",
        ],
    )  # fmt: skip
    cases = _first_round(s, cases, known)
    ratings = pd.DataFrame(
        s.execute(
            select(
                Rating.id.label("rating_id"), Rating.supersedes_id, Rating.case_id, Rating.person_id,
                Rating.satisfaction, Rating.solved, Rating.rated_at,
            ).where(Rating.case_id.in_(known))
        ).all(),
        columns=["rating_id", "supersedes_id", "case_id", "person_id", "satisfaction", "solved", "rated_at"],
    )  # fmt: skip
    ratings["satisfaction"] = ratings["satisfaction"].map(
        lambda v: v.value if v is not None else None
    )
    surveys = pd.DataFrame(
        s.execute(
            select(Survey.case_id, Survey.person_id, Survey.created_at).where(
                Survey.case_id.in_(known)
            )
        ).all(),
        columns=["case_id", "person_id", "sent_at"],
    )
    superseded = select(RepresentativeEvaluation.supersedes_id).where(
        RepresentativeEvaluation.supersedes_id.is_not(None)
    )
    evaluations = pd.DataFrame(
        [
            {"representative": e.representative, "department": names.get(e.department_code, e.department_code),
             "score": e.score, "period": e.period}
            for e in s.scalars(
                select(RepresentativeEvaluation)
                .where(
                    RepresentativeEvaluation.period_start >= period.start,
                    RepresentativeEvaluation.period_end <= period.end,
                    RepresentativeEvaluation.id.not_in(superseded),
                )
                .order_by(RepresentativeEvaluation.department_code, RepresentativeEvaluation.representative)
            )
        ],
        columns=["representative", "department", "score", "period"],
    )  # fmt: skip
    received = s.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.channel == RECEPTION_CHANNEL, Submission.received_at >= start, Submission.received_at < after
        )
    )  # fmt: skip
    # 收集: every opinion received in the period, by the citizen's time as above (the nights
    # count the same submissions by when they were stored), near-duplicates included
    submissions = s.scalar(
        select(func.count())
        .select_from(Submission)
        .where(Submission.received_at >= start, Submission.received_at < after)
    )
    return ReportInput(
        cases,
        ratings,
        surveys,
        evaluations,
        int(received or 0),
        sorted(d.name for d in ctx.ref.departments),
        ctx.ref.top_categories,
        submissions_received=int(submissions or 0),
    )


def _top(ctx: Context, category: str | None) -> str | None:
    found = ctx.ref.category_by_name.get(category or "")
    return found.top if found else None


def _first_round(s: Any, cases: pd.DataFrame, known: Any) -> pd.DataFrame:
    """A reopened case is scored on its first round: first assignment, its deadline, first reply.

    Dispatch overwrites assigned_at and due_at when it hands a reopened case out again, and each
    reply overwrites replied_at; the audit trail and the Reply rows keep the first ones.
    """
    firsts = dict(
        s.execute(
            select(Reply.case_id, func.min(Reply.received_at))
            .where(Reply.case_id.in_(known))
            .group_by(Reply.case_id)
        ).all()
    )
    if firsts:
        first_reply = cases["case_id"].map(firsts)
        cases["replied_at"] = first_reply.where(first_reply.notna(), cases["replied_at"])
    if not (cases["reopen_count"] > 0).any():
        return cases
    reopened = select(Case.id).where(Case.reopen_count > 0, Case.id.in_(known))
    first: dict[int, tuple[datetime, Any]] = {}
    for case_id, at, detail in s.execute(
        select(AuditEvent.case_id, AuditEvent.at, AuditEvent.detail)
        .where(AuditEvent.case_id.in_(reopened), AuditEvent.to_state == "assigned")
        .order_by(AuditEvent.at, AuditEvent.id)
    ):
        first.setdefault(case_id, (at, (detail or {}).get("due_at")))
    for i in cases.index[cases["case_id"].isin(first)]:
        at, due = first[cases.at[i, "case_id"]]
        cases.at[i, "assigned_at"] = at
        if due:
            cases.at[i, "due_at"] = datetime.fromisoformat(due)
    return cases


def report_warnings() -> list[str]:
    """What the reader must know before reading the report (shown first, printed by the CLI)."""
    return [] if cjk_font() is not None else [_(NO_CJK_WARNING)]


def write_report(
    report: Report, folder: Path, ctx: Context, routing: list[dict[str, Any]] | None = None
) -> dict[str, Path]:
    """Workbook, charts, Markdown and HTML into `folder`; returns the files by kind. `routing`:
    the 自动分派准确率 table of the period (tasks/routing_watch.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    font = cjk_font()
    charts: dict[str, Path] = {}
    if font is not None:
        min_rated = ctx.ref.policy.score_policy().min_rated
        charts = {
            label(CHART_TITLES, "satisfaction"): satisfaction_chart(
                report.scores, folder / "satisfaction_by_department.png", font, min_rated
            ),
            label(CHART_TITLES, "categories"): categories_chart(
                report.categories, folder / "cases_by_category.png", font
            ),
            label(CHART_TITLES, "funnel"): funnel_chart(
                report.funnel, folder / "funnel.png", font, split=True
            ),
        }
    else:
        log.warning("no font with Chinese glyphs is installed: the report has no charts")
        for name in CHART_FILES:  # an earlier run's charts would not match this report
            (folder / name).unlink(missing_ok=True)
    notes = [_(note) for note in NOTES]
    sections = summary_sections(
        report, {k: p.name for k, p in charts.items()}, notes, warnings=report_warnings()
    )
    sheets = _sheets(report)
    if routing:
        table = pd.DataFrame(routing)
        name = label(SHEET_NAMES, "routing")
        sections.insert(-1, Section(name, [_(ROUTING_NOTE)], table=headed(table, COLUMN_LABELS)))
        sheets.append(Sheet(name, table, labels=COLUMN_LABELS))
    office = ctx.ref.office.name
    files = {
        "workbook": write_workbook(folder / "report.xlsx", sheets),
        "markdown": folder / "report.md",
        "html": folder / "report.html",
        **{p.stem: p for p in charts.values()},
    }
    files["markdown"].write_text(summary_markdown(report, office, sections), encoding="utf-8")
    files["html"].write_text(summary_html(report, office, sections), encoding="utf-8")
    return files


def _sheets(report: Report) -> list[Sheet]:
    overview = pd.DataFrame(
        [
            (_("统计期间"), report.period.title),
            (_("工作表述"), report.sentence),
            *[(_("说明"), note) for note in report.basis],
            (_("评分办法"), report.score_rule),
            (_("办理漏斗"), _(FUNNEL_BASIS)),  # why 办成 and 推动解决 count differently
            *report.overview,
        ],
        columns=list(OVERVIEW_LABELS),
    )

    def sheet(key: str, frame: pd.DataFrame, **options: Any) -> Sheet:
        return Sheet(label(SHEET_NAMES, key), frame, labels=LABELS[key], **options)

    return [
        sheet("overview", overview, widths={"value": 80}),
        sheet("scores", report.scores, percent=RATE_COLUMNS),
        sheet("handling", report.handling),
        sheet("funnel", funnel_shown(report.funnel), percent=RATE_COLUMNS),
        sheet("categories", report.categories),
        sheet("evaluations", report.evaluations),
        sheet("case_list", report.case_list, widths={"title": 40}),
    ]


def artifact_rows(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """The department scores as the artifact's rows, headed in the reader's language."""
    rows = []
    for row in headed(scores, SCORE_LABELS).to_dict("records"):
        rows.append({k: (None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else
                         round(float(v), 4) if isinstance(v, float) else v.item() if hasattr(v, "item") else v)
                     for k, v in row.items()})  # fmt: skip
    return rows or [{label(SCORE_LABELS, "department"): _("（无）")}]


@task(name="build-report")
def build_report_task(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """评议报告: tables, charts and summary for the period, as files and artifacts."""
    return build_report_now(start, end)
