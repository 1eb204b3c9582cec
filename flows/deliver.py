"""Delivery during the day (发送): every 15 minutes (prefect.yaml), so a message that failed for
a passing reason is retried when its backoff is due, and duty alerts queued while the SMTP
server was down go out once it is back."""

from __future__ import annotations

from typing import Any

from prefect import flow

from minqing.handoffs import attempted
from minqing.i18n import N_
from minqing.runs import run_name
from tasks.deliver import deliver_handoffs
from tasks.lease import one_run_at_a_time
from tasks.metrics import failed_table_stale, refresh_open_items
from tasks.runstate import finish_run


@flow(name="deliver", flow_run_name=run_name(N_("定时发送")), log_prints=True)
@one_run_at_a_time("deliver")  # never waits: when a night is running, the next one comes soon
def deliver() -> Any:
    """发送: deliver what is due in the outbox; 部分失败 when messages stay undelivered."""
    result = deliver_handoffs()  # logs what it tried, what failed and why
    # A quarter-hour with nothing due changes neither table — unless an operator resent or
    # confirmed messages outside Prefect since the table was published.
    if attempted(result) or failed_table_stale():
        refresh_open_items()
    return finish_run("deliver", result, delivery=result)
