"""The QR form tells the Prefect server about each new submission: the event
`minqing.submission.received`, urgent or not and what decided it, on which the `intake`
deployment runs (prefect.yaml `triggers`) — so an urgent report is dispatched within minutes.

Sent after the citizen's page has gone out (a background task), by Prefect's own event client
(one websocket, a background thread). Without a Prefect API configured — no PREFECT_API_URL in
the environment or the active profile — nothing is sent and nothing is started: the form works
as before and the submission waits in the spool for the next intake or the night. A server that
does not answer is logged and never fails a submission.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from minqing.urgency import Urgency

SUBMISSION_RECEIVED = "minqing.submission.received"

log = logging.getLogger(__name__)


def prefect_api_configured() -> bool:
    """True when an API is set (environment or profile): only then may the web app send events
    (Prefect would otherwise start a temporary server of its own inside the web process)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def submission_event(
    form_id: str, station: str, area: str | None, urgency: Urgency
) -> dict[str, Any]:
    """The event's resource and payload. No text, name or phone: events are kept on the Prefect
    server, where more people read them than the case's text."""
    return {
        "event": SUBMISSION_RECEIVED,
        "resource": {
            "prefect.resource.id": f"minqing.submission.{form_id}",
            "prefect.resource.name": form_id,
            "minqing.channel": "qrform",
            "minqing.urgent": "true" if urgency.urgent else "false",
        },
        "related": [
            {
                "prefect.resource.id": f"minqing.station.{station}",
                "prefect.resource.role": "station",
            }
        ],
        "payload": {"channel": "qrform", "station": station, "area": area, **urgency.as_dict()},
    }


def announce_submission(form_id: str, station: str, area: str | None, urgency: Urgency) -> None:
    """Send the event (background task of the form's response); never raises."""
    try:
        if not prefect_api_configured():
            return
        from prefect.events import emit_event

        emit_event(**submission_event(form_id, station, area, urgency))
    except Exception:  # the submission is on disk; the interval run or the night takes it
        log.exception("could not send %s for %s", SUBMISSION_RECEIVED, form_id)


def drain_events(timeout: float = 5.0) -> None:
    """At shutdown: let queued events leave before the process ends (when any were sent)."""
    worker = sys.modules.get("prefect.events.worker")
    if worker is None:
        return
    try:
        worker.EventsWorker.drain_all(timeout=timeout)
    except Exception:
        log.exception("events still queued at shutdown were dropped")
