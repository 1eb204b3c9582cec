"""Operators' retry of failed handoffs, run from the Prefect UI with parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from prefect import flow

from tasks.lease import one_run_at_a_time
from tasks.retry import retry_handoffs_task
from tasks.runstate import finish_run


@flow(name="retry-handoffs", log_prints=True)
@one_run_at_a_time("retry-handoffs", unless=lambda args: args["dry_run"])
def retry_handoffs(
    handoff_ids: list[int] | None = None,
    department: str | None = None,
    status: list[Literal["failed", "dead"]] | None = None,
    since: datetime | None = None,
    dry_run: bool = True,
) -> Any:
    """Resend failed/dead handoffs chosen by id, department, status and age (dry run first)."""
    result = retry_handoffs_task(
        ids=handoff_ids,
        department=department,
        statuses=status or ["failed", "dead"],
        since=since,
        dry_run=dry_run,
        operator="prefect:retry-handoffs",
    )
    print(
        f"selected {len(result['selected'])} handoff(s); dry_run={dry_run}; delivery={result['delivery']}"
    )
    return finish_run("retry-handoffs", result, delivery=result["delivery"])
