"""自动分派准确率: how often the model's category was right on the cases it routed by itself,
week by week and per category, from the office's own outcomes in the audit trail (a
department's answer, 不属职责 returns, re-routes, operators' confirmations and corrections).

The decisions (what counts as right or wrong, the weekly figures, when to warn) are
minqing.precision; this module only reads the audit trail and shapes the result.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from db.engine import Session
from db.models import AuditEvent
from minqing.classifier import latest_model_path, model_time, read_classifier_config
from minqing.i18n import N_, _
from minqing.precision import (
    CATEGORY_ACTIONS,
    RIGHT_ACTIONS,
    WRONG_ACTIONS,
    ClassifiedCase,
    alert_text,
    estimate_row,
    precision_alerts,
    summary_text,
    verdict,
    week_of,
    weekly_precision,
)
from minqing.workdays import LOCAL_TZ
from tasks.context import Context, context


def classified_cases(s: Any, ctx: Context, start: datetime, end: datetime) -> list[ClassifiedCase]:
    """Every case the model classified in [start, end), with whether it was routed without an
    operator and the verdict of what happened to it since."""
    first: dict[int, tuple[datetime, str, bool]] = {}
    for case_id, at, to_state, detail in s.execute(
        select(AuditEvent.case_id, AuditEvent.at, AuditEvent.to_state, AuditEvent.detail)
        .where(AuditEvent.action == "classified", AuditEvent.at >= start, AuditEvent.at < end)
        .order_by(AuditEvent.at, AuditEvent.id)
    ):
        detail = detail or {}
        if case_id is None or detail.get("source") != "model" or not detail.get("top"):
            continue
        first.setdefault(case_id, (at, detail["top"], to_state == "triaged"))
    later: dict[int, list[tuple[str, str | None]]] = {}
    tops = {name: c.top for name, c in ctx.ref.category_by_name.items()}
    for case_id, action, detail in s.execute(
        select(AuditEvent.case_id, AuditEvent.action, AuditEvent.detail)
        .where(
            AuditEvent.action.in_(sorted(WRONG_ACTIONS | RIGHT_ACTIONS | CATEGORY_ACTIONS)),
            AuditEvent.at >= start,
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    ):
        if case_id in first:
            category = (detail or {}).get("category") if action in CATEGORY_ACTIONS else None
            later.setdefault(case_id, []).append((action, tops.get(category or "")))
    return [
        ClassifiedCase(_local(at), top, routed, verdict(top, later.get(case_id, [])))
        for case_id, (at, top, routed) in first.items()
    ]


def _local(at: datetime) -> datetime:
    """Stored times are UTC; a database without time zones gives them back naive."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(LOCAL_TZ)


ROUTING_NOTE = N_(
    "自动分派准确率：模型自动分派（未经人工审核）的案件中分类正确的比例，按案件分类的周统计。"
    "部门答复或人工确认为分对；部门退回不属职责、改派或人工改了分类为分错；尚无结果的不计入准确率。"
)  # the report's note on the table (translated where shown)


def routing_precision_rows(s: Any, ctx: Context, start: datetime, end: datetime) -> list[dict]:
    """The 自动分派准确率 table of the cases the model classified in [start, end)."""
    return [estimate_row(e) for e in weekly_precision(classified_cases(s, ctx, start, end))]


def routing_precision_now(now: datetime, weeks: int | None = None) -> dict[str, Any]:
    """The last `weeks` weeks (this one included) of automatic routing: the table, this week's
    summary line and the warnings for figures below the target in config/classifier.yaml."""
    ctx = context()
    watch = read_classifier_config(ctx.settings.resolved_config_dir / "classifier.yaml").watch
    weeks = weeks or watch.weeks
    start_day = week_of(now.astimezone(LOCAL_TZ)) - timedelta(weeks=weeks - 1)
    start = datetime.combine(start_day, datetime.min.time(), LOCAL_TZ)
    with Session() as s:
        cases = classified_cases(s, ctx, start, now + timedelta(seconds=1))
    estimates = weekly_precision(cases)
    this_week = week_of(now.astimezone(LOCAL_TZ))
    current = next((e for e in estimates if e.week == this_week and e.category is None), None)
    # The warning looks at the newest weeks with enough outcomes: this week's routes are
    # mostly still open, so last week's figure is the first that can say much. It counts only
    # what the model in use routed: after a retrain the old model's weak weeks stay in the
    # table but no longer page the duty contacts every night.
    in_use = latest_model_path(ctx.settings.models_dir)
    since = model_time(in_use) if in_use is not None else None
    judged = [c for c in cases if since is None or c.classified_at >= since]
    recent = [e for e in weekly_precision(judged) if e.week >= this_week - timedelta(weeks=1)]
    alerts = precision_alerts(recent, watch.target, watch.min_judged)
    summary = summary_text(current)
    if since is not None and any(c.classified_at < since for c in cases):
        summary += _(
            "。现用模型 %(day)s 起启用：准确率提醒只看它分派的案件（此前由旧模型分派的仍在上表中）"
        ) % {"day": f"{since.astimezone(LOCAL_TZ):%m-%d %H:%M}"}
    return {
        "rows": [estimate_row(e) for e in estimates],
        "summary": summary,
        "warnings": [alert_text(a) for a in alerts],
        "alerts": [
            {
                "message": alert_text(a),
                "week": a.estimate.week.isoformat(),
                "category": a.estimate.category,
                "precision": a.estimate.precision,
                "judged": a.estimate.judged,
                "target": a.target,
            }
            for a in alerts
        ],
    }


def announce_low_precision(alerts: list[dict[str, Any]]) -> int:
    """Each figure below the target as a `minqing.classifier.precision_low` Prefect event about
    the model in use (payload: `message` in Chinese, week, category, precision, judged,
    target), for the office's automations to alert the duty contacts. Returns how many."""
    from tasks.events import CLASSIFIER_PRECISION_LOW, emit

    path = latest_model_path(context().settings.models_dir)
    name = path.stem if path else "keyword-rules"
    resource = {"prefect.resource.id": f"minqing.classifier.{name}", "prefect.resource.name": name}
    for alert in alerts:
        emit(CLASSIFIER_PRECISION_LOW, resource=resource, payload=alert)
    return len(alerts)
