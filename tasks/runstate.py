"""How a run ends: `finish_run(...)` — the one call at the end of every flow that delivers
messages or can run degraded (nightly, lookback, deliver, retry-handoffs, intake).

It judges the run (minqing/runstate.judge_run), sends the events automations filter on
(tasks/events.py), and returns what the flow returns: the flow's result as is when all went
well, or Prefect's Completed state named 部分失败 with the Chinese reasons as its message, so
the run stands out in the runs list and its message says why. A stage that raises never gets
here: the run fails (Failed / Crashed) as before. A run with only notes (warnings that do not
make it partial, e.g. no Chinese font: minqing/runstate.py) ends as a plain Completed whose
message carries them, and sends no minqing.run.partial event; a dry run's Completed is named 演练.

    deliver = deliver_handoffs()
    ...
    return finish_run("lookback", result, delivery=deliver)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from prefect import get_run_logger, task
from prefect.states import Completed
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Department, Handoff, case_number
from minqing.runstate import DONE, Delivery, judge_run
from tasks import events
from tasks.context import context


def finish_run(
    flow: str,
    result: Any,
    *,
    delivery: Mapping[str, Any] | None = None,
    warnings: Iterable[str | Mapping[str, Any]] = (),
    files: Iterable[Mapping[str, Any]] = (),
    finished_event: str | None = None,
    figures: Mapping[str, Any] | None = None,
) -> Any:
    """The flow's return value: `result`, or a 部分失败 state carrying it (see the module).

    `delivery`: the run's delivery counts (tasks/deliver.py), `warnings`: the degraded stages'
    sentences or `run_warning(...)`s, `files`: the intake's file reports; `finished_event` (e.g. events.NIGHT_FINISHED)
    is sent with the numbers of `figures` and the verdict."""
    delivery = dict(delivery or {})
    if context().settings.mail_mode == "dry-run" and delivery.get("rehearsed") is None:
        delivery["rehearsed"] = 0  # a dry run with nothing to send is a rehearsal all the same
    verdict = report_run(
        flow,
        delivery=delivery,
        warnings=[w if isinstance(w, str) else dict(w) for w in warnings],
        files=[dict(f) for f in files],
        finished_event=finished_event,
        figures=dict(figures or {}),
    )
    if verdict["state"] != DONE:  # 部分失败, 演练: the runs list shows the name
        return Completed(name=verdict["state"], message=verdict["message"], data=result)
    if verdict["notes"]:
        return Completed(message=verdict["message"], data=result)
    return result


# The flows that publish a summary of their run (tasks/metrics.py): a 部分失败 message sends
# the reader there first; the others' logs say what happened.
SUMMARISED = ("nightly",)


@task(name="report-run")
def report_run(
    flow: str,
    *,
    delivery: dict[str, Any],
    warnings: list[str | dict[str, Any]],
    files: list[dict[str, Any]],
    finished_event: str | None,
    figures: dict[str, Any],
) -> dict[str, Any]:
    """判定: the run's verdict (完成 / 部分失败, with reasons), announced as events."""
    verdict = judge_run(
        delivery, warnings, files, figures.get("failed_handoffs"), summarised=flow in SUMMARISED
    )
    emit_delivery_events(delivery)
    summary = {
        "flow": flow,
        "partial": verdict.partial,
        "state": verdict.state_name,
        "message": verdict.message,
        "reasons": list(verdict.reasons),
        "notes": list(verdict.notes),
    }
    if finished_event:
        numbers = {k: v for k, v in figures.items() if isinstance(v, int | float | str)}
        events.emit(finished_event, payload={**numbers, **summary})
    if verdict.partial:
        events.emit(events.RUN_PARTIAL, payload=summary)
        get_run_logger().warning(verdict.message)  # a WARNING stands out in the run's logs
    elif verdict.notes:
        get_run_logger().warning(verdict.message)  # said, but nobody is paged for it
    return summary


def emit_delivery_events(delivery: Mapping[str, Any]) -> None:
    """minqing.smtp.unreachable once, and minqing.handoff.failed / .dead per department with
    the cases concerned, for what this delivery pass left behind."""
    counts = Delivery.of(delivery)
    if counts.unreachable:
        settings = context().settings
        host = settings.smtp_host if settings.mail_mode == "smtp" else settings.sink_host
        port = settings.smtp_port if settings.mail_mode == "smtp" else settings.sink_port
        events.emit(
            events.SMTP_UNREACHABLE,
            resource={
                "prefect.resource.id": f"minqing.smtp.{host}:{port}",
                "prefect.resource.name": f"SMTP {host}:{port}",
            },
            payload={
                "attempts": counts.unreachable,
                "retry_later": counts.retry_later,
                "waiting": counts.retry_later + counts.postponed,  # all left pending by it
            },
        )
    problems = [p for p in delivery.get("problems", []) if p.get("status") in ("failed", "dead")]
    if not problems:
        return
    errors = {p["handoff"]: p.get("error") for p in problems}
    grouped: dict[tuple[str, str | None], list[tuple[int, str | None]]] = defaultdict(list)
    with Session() as s:
        names = dict(s.execute(select(Department.code, Department.name)).all())
        rows = s.execute(
            select(Handoff.id, Handoff.status, Handoff.department_code, Case.id, Case.created_at)
            .outerjoin(Case, Case.id == Handoff.case_id)
            .where(Handoff.id.in_(list(errors)))
        ).all()
    for hid, status, dept, case_id, created in rows:
        number = case_number(case_id, created) if case_id else None
        grouped[(status.value, dept)].append((hid, number))
    for (status, dept), items in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        event = events.HANDOFF_DEAD if status == "dead" else events.HANDOFF_FAILED
        events.emit(
            event,
            resource=events.department_resource(dept, names.get(dept), role="") if dept else None,
            payload={
                "count": len(items),
                "department": dept,
                "handoffs": [hid for hid, _ in items],
                "errors": sorted({str(errors[hid])[:200] for hid, _ in items}),
            },
            cases=sorted({n for _, n in items if n}),
        )
