"""白天随到随办 (daytime intake): what arrived since the last run — a QR submission (the web
form's event starts a run at once) or a file dropped in the inbox (a run every 15 minutes in
office hours) — is read, triaged and, when urgent, dispatched and sent within minutes."""

from __future__ import annotations

from typing import Any

from prefect import flow

from minqing.i18n import N_
from minqing.runs import run_name
from minqing.runstate import combined
from tasks.ingest import ingest_inbox
from tasks.lease import one_run_at_a_time
from tasks.reference import load_reference_data
from tasks.runstate import finish_run
from tasks.triage import triage_submissions
from tasks.urgent import (
    deliver_queued,
    dispatch_day,
    duty_warnings,
    record_day_run,
    tell_duty,
)


@flow(name="intake", flow_run_name=run_name(N_("白天随到随办")), log_prints=True)
@one_run_at_a_time("intake")
def intake() -> Any:
    """收集 → 整理 → 交办紧急件 → 发送 → 告知值班; ordinary cases wait for the night unless
    config/policy.yaml `daytime.dispatch_all` says otherwise. Ends 部分失败 when a message or
    the duty alert did not get out."""
    load_reference_data()
    ingest = ingest_inbox()
    triage = triage_submissions()
    dispatch = dispatch_day()
    deliver = deliver_queued(dispatch["handoff_ids"])
    duty = tell_duty()
    figures = record_day_run(
        {"ingest": ingest, "triage": triage, "dispatch": dispatch, "deliver": deliver, "duty": duty}
    )
    return finish_run(
        "intake",
        figures,
        delivery=combined(deliver, duty.get("delivery")),
        warnings=[*triage.get("warnings", []), *duty_warnings(duty)],
        files=ingest["files"],
    )
