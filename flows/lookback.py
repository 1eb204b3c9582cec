"""The morning look-back run (回头督办): today's reminders, escalations and 回头看 requests go
out at the start of the working day, after the returns that arrived since the night run."""

from __future__ import annotations

from typing import Any

from prefect import flow

from minqing.handoffs import delivery_sentence
from minqing.i18n import N_, _
from minqing.runs import run_name
from tasks.deliver import deliver_handoffs
from tasks.imports import import_replies_and_ratings
from tasks.lease import one_run_at_a_time
from tasks.lookback import scan_lookbacks
from tasks.metrics import refresh_open_items
from tasks.reference import load_reference_data
from tasks.runstate import finish_run


@flow(name="lookback", flow_run_name=run_name(N_("回头督办")), log_prints=True)
@one_run_at_a_time("lookback")
def lookback() -> Any:
    """回头督办: import the day's returns, act on due look-backs, send what they decided, and
    refresh the failed-handoffs and every-item-answered tables."""
    load_reference_data()
    imports = import_replies_and_ratings()  # a department that just replied is not reminded
    scan = scan_lookbacks()
    deliver = deliver_handoffs()
    open_items = refresh_open_items()  # failed-handoffs and 件件有回复 as they are now
    print(
        _(
            "回头督办: 到期提醒 %(reminders)d，超期督办 %(escalations)d，"
            "领导督办 %(leaders)d，回头看 %(verifications)d；%(delivery)s"
        )
        % {
            "reminders": scan["reminders"],
            "escalations": scan["escalations"],
            "leaders": scan["leaders"],
            "verifications": scan["verifications"],
            "delivery": delivery_sentence(deliver),
        }
    )
    result = {"imports": imports, "lookback": scan, "deliver": deliver, "open_items": open_items}
    return finish_run(
        "lookback", result, delivery=deliver, files=imports.get("files", []), figures=scan
    )
