"""Serve all deployments from one long-running process (no work pool needed):
`python flows/serve.py` or `minqing serve`. The schedules match prefect.yaml."""

from __future__ import annotations

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from flows.lookback import lookback
from flows.nightly import nightly
from flows.report import report
from flows.retry_handoffs import retry_handoffs


def serve_all() -> None:
    serve(
        nightly.to_deployment(
            name="nightly",
            schedules=[Cron("0 2 * * *", timezone="Asia/Shanghai")],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            ),
            description="The nightly pipeline at 02:00 Beijing time.",
        ),
        retry_handoffs.to_deployment(
            name="retry-handoffs",
            description="Resend failed handoffs chosen by id, department, status, since (dry run first).",
        ),
        lookback.to_deployment(
            name="lookback",
            schedules=[Cron("30 8 * * *", timezone="Asia/Shanghai")],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            ),
            description="回头督办 at 08:30 Beijing time: reminders, escalations, 回头看 requests.",
        ),
        report.to_deployment(
            name="report",
            schedules=[Cron("0 7 1 * *", timezone="Asia/Shanghai")],
            description="评议报告 on the 1st at 07:00 for the month before; run with "
            "period_from/period_to for any period.",
        ),
        pause_on_shutdown=False,
    )


if __name__ == "__main__":
    serve_all()
