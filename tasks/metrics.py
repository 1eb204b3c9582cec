"""Figures of the night: collect each stage's counts, add the running satisfaction rate from
the database, and publish the summary as Prefect artifacts (fixed keys) and on the console."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from sqlalchemy import select

from db.engine import Session
from db.models import Handoff, HandoffStatus, Rating, Satisfaction
from minqing.summary import summary_markdown
from tasks.context import context
from tasks.outbox import local_text

SUMMARY_KEY = "nightly-summary"
REJECTIONS_KEY = "nightly-rejections"
FAILED_HANDOFFS_KEY = "failed-handoffs"


def figures(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge the stage results into one flat dict of the night's figures."""
    ingest, triage, dispatch = stages["ingest"], stages["triage"], stages["dispatch"]
    imports, lookback, deliver = stages["imports"], stages["lookback"], stages["deliver"]
    with Session() as s, s.begin():
        latest = _latest_ratings(s)
        failed_rows = s.execute(
            select(
                Handoff.id,
                Handoff.kind,
                Handoff.recipient,
                Handoff.status,
                Handoff.attempts,
                Handoff.last_error,
            )
            .where(Handoff.status.in_([HandoffStatus.FAILED, HandoffStatus.DEAD]))
            .order_by(Handoff.id)
        ).all()
    rated = len(latest)
    satisfied = sum(1 for sat in latest if sat in (Satisfaction.SATISFIED, Satisfaction.BASICALLY))
    return {
        "taken": ingest["taken"],
        "by_channel": ingest["by_channel"],
        "rejected": ingest["rejected"] + imports["rejected"],
        "rejections": ingest["rejections"] + imports["rejections"],
        "linked": triage["linked"],
        "new_cases": triage["new_cases"],
        "on_the_spot": triage["on_the_spot"],
        "needs_review": triage["needs_review"] + dispatch["needs_review"],
        "assigned": dispatch["assigned"],
        "replies": imports["replies"],
        "ratings": imports["ratings"],
        "reminders": lookback["reminders"],
        "escalations": lookback["escalations"],
        "verifications": lookback["verifications"],
        "lookbacks": lookback["reminders"] + lookback["escalations"] + lookback["verifications"],
        "surveys": stages["surveys"]["emailed"],
        "callbacks": stages["surveys"]["callback"],
        "rated": rated,
        "satisfied": satisfied,
        "sent": deliver["sent"],
        "failed": deliver["failed"],
        "dead": deliver["dead"],
        "retry_later": deliver["retry_later"],
        "failed_handoffs": len(failed_rows),
        "failed_handoff_rows": [
            {
                "编号": r.id,
                "类型": r.kind.value,
                "收件人": r.recipient,
                "状态": r.status.value,
                "尝试次数": r.attempts,
                "原因": r.last_error or "",
            }
            for r in failed_rows
        ],
        "warnings": sorted(context().calendar.warnings),
    }


def _latest_ratings(s: Any) -> list[Satisfaction]:
    """The current answer of each (case, citizen): superseded ratings do not count twice."""
    superseded = select(Rating.supersedes_id).where(Rating.supersedes_id.is_not(None))
    return list(s.scalars(select(Rating.satisfaction).where(Rating.id.not_in(superseded))))


def publish_now(
    stages: dict[str, dict[str, Any]], now: datetime | None = None, artifacts: bool = True
) -> dict[str, Any]:
    ctx = context()
    f = figures(stages)
    markdown = summary_markdown(
        f, ctx.ref.office.name, local_text(now or datetime.now(UTC), with_time=True)
    )
    f["markdown"] = markdown
    if artifacts:
        create_markdown_artifact(
            key=SUMMARY_KEY, markdown=markdown, description="民情直通车 夜间运行摘要"
        )
        create_table_artifact(
            key=REJECTIONS_KEY,
            table=f["rejections"] or [{"渠道": "", "文件": "", "来源": "", "原因": "（无）"}],
            description="今晚拒收的输入及原因",
        )
        create_table_artifact(
            key=FAILED_HANDOFFS_KEY,
            table=f["failed_handoff_rows"] or [{"编号": "", "原因": "（无）"}],
            description="发送失败或已放弃的消息",
        )
    print(markdown)
    return f


@task(name="metrics")
def publish_metrics(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """统计: compute the night's figures and publish them."""
    return publish_now(stages)
