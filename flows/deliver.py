"""Delivery during the day (发送): every 15 minutes (prefect.yaml), so a message that failed for
a passing reason is retried when its backoff is due, and duty alerts queued while the SMTP
server was down go out once it is back."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.deliver import deliver_handoffs
from tasks.lease import one_run_at_a_time
from tasks.runstate import finish_run


@flow(name="deliver", log_prints=True)
@one_run_at_a_time("deliver")  # never waits: when a night is running, the next one comes soon
def deliver() -> Any:
    """发送: deliver what is due in the outbox; 部分失败 when messages stay undelivered."""
    result = deliver_handoffs()
    print(
        f"发送 {result['sent']} 封；稍后重试 {result['retry_later']}，失败 {result['failed']}，"
        f"放弃 {result['dead']}"
    )
    return finish_run("deliver", result, delivery=result)
