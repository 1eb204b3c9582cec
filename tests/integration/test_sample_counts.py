"""The demo's two nights on the bundled sample (SQLite and PostgreSQL), counted the way a clerk
reads them: the night's 待人工审核 counts every case that went (back) to the review queue since
the last night — a 不属职责 reply included — and how many wait now; the period report's 收集 is
the opinions (submissions) received in the period, the nights' basis, and 立案 the cases."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from db.engine import Session
from db.models import AuditEvent, Case, Submission
from minqing.states import CaseStatus
from minqing.summary import summary_lines
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.metrics import figures, mark_counted
from tasks.report import build_report_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
FIRST_NIGHT = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 23:00 in Beijing


def copy_night(minq: Any, night: str) -> None:
    for folder in (SAMPLE / night / "inbox").iterdir():
        for path in folder.iterdir():
            shutil.copy(path, minq.inbox(folder.name) / path.name)


def night(minq: Any, now: datetime) -> dict[str, Any]:
    """One night's stages as flows/nightly.py runs them, its figures, and the mark it leaves."""
    stages = {"ingest": ingest_inbox_now(), "imports": import_returns_now(now)}
    stages["triage"] = triage_now(now)
    stages["dispatch"] = dispatch_now(now)
    stages["lookback"] = scan_now(now)
    stages["surveys"] = surveys_now(now)
    with minq.sink():
        stages["deliver"] = deliver_now(now)
    f = figures(stages, now)
    mark_counted(f)
    return f


def waiting() -> int:
    with Session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Case).where(Case.status == CaseStatus.NEEDS_REVIEW)
            )
            or 0
        )


def test_the_sample_nights_count_every_entry_into_review_and_the_report_counts_submissions(
    minq,
):
    copy_night(minq, "night1")
    first = night(minq, FIRST_NIGHT)
    assert first["taken"] == 237 and first["new_cases"] == 214
    assert first["needs_review"] == first["review_waiting"] == waiting() > 0
    line = dict(summary_lines(first))["待人工审核"]
    assert line == f"新进入 {first['needs_review']} 件，目前共 {first['review_waiting']} 件"

    copy_night(minq, "night2")
    second = night(minq, FIRST_NIGHT + timedelta(days=1))
    with Session() as s:
        declined = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "not_responsible", AuditEvent.to_state == "needs_review")
        )
    assert declined == 2  # the sample's two 不属职责 replies send their cases back to review
    assert second["taken"] == 0 and second["needs_review"] == 2  # nothing else entered
    assert second["review_waiting"] == waiting() == first["review_waiting"] + 2
    lines = dict(summary_lines(second))
    assert lines["待人工审核"] == f"新进入 2 件，目前共 {second['review_waiting']} 件"
    # the rate covers every rating so far, not only tonight's: said so
    assert lines["满意率"].startswith("累计 ")
    assert second["ratings"] > 0

    third = night(minq, FIRST_NIGHT + timedelta(days=2))  # nothing new: nothing counted twice
    assert third["needs_review"] == 0 and third["review_waiting"] == second["review_waiting"]
    assert dict(summary_lines(third))["满意率"] == lines["满意率"]

    # the report on the month: 收集 is what the nights collected (by when it was received),
    # 立案 the cases they opened
    result = build_report_now(
        date(2026, 11, 1), date(2026, 11, 30), now=FIRST_NIGHT + timedelta(days=3), artifacts=False
    )
    with Session() as s:
        received = s.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.received_at >= datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
                Submission.received_at < datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
            )
        )
    assert received == first["taken"] + second["taken"] == 237  # all received in November
    assert result["annual"]["opinions_collected"] == 237
    assert "收集社情民意237条" in result["sentence"]
    assert result["overview"]["收集社情民意"].startswith("237 条")
    assert result["overview"]["立案"] == "214 件"
    funnel = pd.read_excel(Path(result["files"]["workbook"]), sheet_name="办理漏斗")
    counts = dict(zip(funnel["阶段"], funnel["件数"], strict=True))
    assert (counts["收集"], counts["立案"]) == (237, 214)
    assert counts["交办"] <= counts["立案"]
