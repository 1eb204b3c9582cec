"""minqing's Prefect events: their names, and `emit(...)`, the one way code sends them.

Automations on the Prefect server (tasks/automations.py) and an office's own ones filter on
these names and on the resources an event carries: the primary resource says what the event
is about (the office, a department, a case, the SMTP server), the related ones carry the
department (`minqing.department.<code>`) and the cases (`minqing.case.<number>`); Prefect adds
the flow run, flow and deployment when the event is sent from inside a run. The payload holds
the figures. Sending never raises: an event that cannot be sent is logged and the work goes on.

Events:

| name | when | resource | payload |
| --- | --- | --- | --- |
| `minqing.night.finished` | every nightly run, at its end | the office | the night's figures, `state` |
| `minqing.run.partial` | any run that ends 部分失败 | the office | `flow`, `reasons`, `message` |
| `minqing.handoff.failed` | messages refused for good (5xx) or uncertain, per department | the department | `count`, `handoffs`, `errors` |
| `minqing.handoff.dead` | messages given up after the last retry, per department | the department | same |
| `minqing.smtp.unreachable` | a delivery could not connect to the SMTP server | the SMTP server | `attempts`, `retry_later`, `waiting` (all it left pending) |
| `minqing.case.overdue` | overdue cases escalated (超期督办) by a look-back scan | the office | `count`, `leaders` |
| `minqing.submission.received` | the QR form stored a submission (web/events.py; starts the `intake` deployment) | the submission (label `minqing.urgent`) | `channel`, `station`, `area`, `urgent`, `decided_by`, `detail`, `reason` |
| `minqing.classifier.precision_low` | the classifier's measured precision fell below target | the model | free |
| `minqing.duty.alerted` | a duty alert went out (send_duty_alert) | the office | `title`, `kind`, channels |
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

NIGHT_FINISHED = "minqing.night.finished"
RUN_PARTIAL = "minqing.run.partial"
HANDOFF_FAILED = "minqing.handoff.failed"
HANDOFF_DEAD = "minqing.handoff.dead"
SMTP_UNREACHABLE = "minqing.smtp.unreachable"
CASE_OVERDUE = "minqing.case.overdue"
SUBMISSION_RECEIVED = "minqing.submission.received"
CLASSIFIER_PRECISION_LOW = "minqing.classifier.precision_low"
DUTY_ALERTED = "minqing.duty.alerted"

OFFICE_RESOURCE = "minqing.office"
MAX_RELATED_CASES = 20  # Prefect caps the related resources of one event

log = logging.getLogger(__name__)


def department_resource(code: str, name: str | None = None, role: str = "department") -> dict:
    return _resource(f"minqing.department.{code}", name, role)


def case_resource(number: str, title: str | None = None, role: str = "case") -> dict:
    return _resource(f"minqing.case.{number}", title, role)


def _resource(resource_id: str, name: str | None, role: str | None) -> dict[str, str]:
    out = {"prefect.resource.id": resource_id}
    if name:
        out["prefect.resource.name"] = name
    if role:
        out["prefect.resource.role"] = role
    return out


def emit(
    event: str,
    *,
    resource: Mapping[str, str] | None = None,
    payload: Mapping[str, Any] | None = None,
    department: tuple[str, str | None] | None = None,
    cases: Iterable[str] = (),
    related: Iterable[Mapping[str, str]] = (),
) -> Any:
    """Send `event` about `resource` (default: the office) to the Prefect server; the related
    resources are `department` (code, name), up to MAX_RELATED_CASES `cases` (numbers) and
    `related`. Returns the event, or None when there is no server to send to: outside a
    Prefect run with no Prefect API configured (the CLI in embedded mode), nothing is sent — a
    temporary server would be started just to store it."""
    try:
        from prefect.events import emit_event

        if not _prefect_listening():
            return None

        return emit_event(
            event=event,
            resource=dict(resource or office_resource()),
            payload=dict(payload or {}),
            related=[
                *(dict(r) for r in related),
                *([department_resource(*department)] if department else []),
                *(case_resource(n) for n in list(cases)[:MAX_RELATED_CASES]),
            ],
        )
    except Exception:  # an alerting side channel must never break the work it reports on
        log.exception("could not emit event %s", event)
        return None


def _prefect_listening() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.settings import get_current_settings

    inside_run = FlowRunContext.get() is not None or TaskRunContext.get() is not None
    return inside_run or bool(get_current_settings().api.url)


def office_resource() -> dict[str, str]:
    """The office that runs minqing (config/office.yaml), the default primary resource."""
    try:
        from tasks.context import context

        name = context().ref.office.name
    except Exception:  # an unreadable config is reported elsewhere; the event still goes out
        name = None
    return _resource(OFFICE_RESOURCE, name, None)
