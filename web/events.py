"""The QR form tells the Prefect server about each new submission: the event
`minqing.submission.received`, urgent or not and what decided it, on which the `intake`
deployment runs (prefect.yaml `triggers`) — so an urgent report is dispatched within minutes.

Sent after the citizen's page has gone out (a background task), by Prefect's own event client
(one websocket, a background thread), through tasks/events.py. Without a Prefect API configured
— no PREFECT_API_URL in the environment or the active profile — nothing is sent and nothing is
started (Prefect would otherwise start a temporary server in the web process): the form works
as before and the submission waits in the spool for the next intake or the night. A server that
does not answer is logged and never fails a submission.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from minqing.urgency import Urgency
from tasks.events import SUBMISSION_RECEIVED, emit

log = logging.getLogger(__name__)


def submission_event(
    form_id: str, station: str, area: str | None, urgency: Urgency
) -> dict[str, Any]:
    """The event's resource and payload. No text, name or phone: events are kept on the Prefect
    server, where more people read them than the case's text."""
    return {
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
    """Send the event (a background task of the form's response); never raises."""
    event = submission_event(form_id, station, area, urgency)
    emit(
        SUBMISSION_RECEIVED,
        resource=event["resource"],
        related=event["related"],
        payload=event["payload"],
    )


def drain_events(timeout: float = 5.0) -> None:
    """At shutdown: let queued events leave before the process ends (when any were sent)."""
    worker = sys.modules.get("prefect.events.worker")
    if worker is None:
        return
    try:
        worker.EventsWorker.drain_all(timeout=timeout)
    except Exception:
        log.exception("events still queued at shutdown were dropped")
