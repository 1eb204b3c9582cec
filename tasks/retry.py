"""The `retry-handoffs` deployment's tasks: resend what the operator chose (tasks/handoffs.py
does the work, the same function as `minqing handoffs retry`) and publish what was, or would
be, sent as a table artifact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from minqing.handoffs import ALL_DEPARTMENTS, resend_rows, resend_sentence
from minqing.i18n import _
from minqing.labels import table_rows
from tasks.handoffs import retry_now

PREVIEW_KEY = "retry-handoffs-preview"
RESULT_KEY = "retry-handoffs-result"


@task(name="retry-handoffs")
def retry_handoffs_task(
    *,
    status: Sequence[Enum],
    department: Enum,
    since: datetime | None,
    handoff_ids: Sequence[int],
    dry_run: bool,
    operator: str,
) -> dict[str, Any]:
    """The form's choices (dropdown members named by their codes) → `retry_now`."""
    return retry_now(
        ids=list(handoff_ids) or None,
        department=None if department.name == ALL_DEPARTMENTS else department.name,
        statuses=[s.name for s in status],
        since=since,
        dry_run=dry_run,
        operator=operator,
    )


@task(name="publish-resend")
def publish_resend(result: dict[str, Any]) -> str:
    """The resend's table (exactly what a preview would send; what a real run sent and what
    failed again) as an artifact and in the log; returns the result line."""
    dry_run, selected = result["dry_run"], result["selected"]
    rows = resend_rows(selected, dry_run=dry_run)
    sentence = resend_sentence(
        selected, dry_run=dry_run, next_step=_("核对无误后取消“仅预览”并填写操作人再运行。")
    )
    create_table_artifact(
        key=PREVIEW_KEY if dry_run else RESULT_KEY,
        table=table_rows(rows or [{"编号": "", "结果": _("（没有符合条件的消息）")}]),
        description=sentence,
    )
    print(sentence)
    for row in table_rows(rows):
        print(" | ".join(f"{k} {v}" for k, v in row.items() if v != ""))
    return sentence
