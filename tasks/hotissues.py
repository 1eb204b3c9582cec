"""热点问题: load the cases citizens raised or joined in the last 30 days, rank them
(minqing.hotissues) and publish the table as the Prefect artifact `hot-issues`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Submission, case_number
from minqing.hotissues import (
    WINDOW_DAYS,
    headers,
    hot_issue_table,
    summary_items,
    summary_text,
)
from minqing.i18n import ngettext
from minqing.labels import CASE_STATUS_LABELS, status_label

HOT_ISSUES_KEY = "hot-issues"
TOP = 20


def load_hot_issue_input(s: Any, since: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The submissions and cases of every case with a submission received since `since`."""
    active = (
        select(Submission.case_id)
        .where(Submission.received_at >= since, Submission.case_id.is_not(None))
        .distinct()
        .scalar_subquery()
    )
    subs = pd.DataFrame(
        s.execute(
            select(Submission.case_id, Submission.received_at, Submission.likes).where(
                Submission.case_id.in_(active)
            )
        ).all(),
        columns=["case_id", "received_at", "likes"],
    )
    rows = s.execute(
        select(Case.id, Case.created_at, Case.title, Case.category, Case.status).where(
            Case.id.in_(active)
        )
    ).all()
    cases = pd.DataFrame(
        [
            (r.id, case_number(r.id, r.created_at), r.title, r.category, r.status.value)
            for r in rows
        ],
        columns=["case_id", "number", "title", "category", "status"],
    )
    return subs, cases


def hot_issues_now(now: datetime | None = None, *, artifact: bool = False) -> dict[str, Any]:
    """The night's hot-issue table; with `artifact`, also published under HOT_ISSUES_KEY.
    Returns the rows and the summary's 热点问题 text (top 5)."""
    now = now or datetime.now(UTC)
    with Session() as s:
        subs, cases = load_hot_issue_input(s, now - timedelta(days=WINDOW_DAYS))
    table = hot_issue_table(subs, cases, now, top=TOP, status_labels=_status_labels())
    labels = headers(WINDOW_DAYS)
    rows = table.rename(columns=labels).to_dict(orient="records")
    if artifact:
        nothing = ngettext(
            "（近%(days)d天没有新反映的问题）", "（近%(days)d天没有新反映的问题）", WINDOW_DAYS
        ) % {"days": WINDOW_DAYS}
        create_table_artifact(
            key=HOT_ISSUES_KEY,
            table=rows or [{labels["rank"]: "", labels["title"]: nothing}],
            description=ngettext(
                "热点问题：近%(days)d天有新反映的案件，按关注度（反映人数+点赞数）排列",
                "热点问题：近%(days)d天有新反映的案件，按关注度（反映人数+点赞数）排列",
                WINDOW_DAYS,
            )
            % {"days": WINDOW_DAYS},
        )
    return {"rows": rows, "summary": summary_text(table), "items": summary_items(table)}


@task(name="hot-issues")
def publish_hot_issues() -> dict[str, Any]:
    """热点问题: rank the cases by attention and publish the table."""
    return hot_issues_now(artifact=True)


def _status_labels() -> dict[str, str]:
    return {str(s): status_label(s) for s in CASE_STATUS_LABELS}
