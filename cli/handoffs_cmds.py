"""`minqing handoffs list|retry|mark-delivered`: the outbox as an operator works on it — what is
not delivered and why, resend it (the `retry-handoffs` deployment's rules), or record that a
message did arrive so it is never sent again (tasks/handoffs.py).

Wired into the main CLI by `handoffs_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
handoffs_app = typer.Typer(
    help="Outgoing messages (交办、提醒、回访) and their delivery.", no_args_is_help=True
)

STATUS_HELP = "pending 待发送, sending 发送中, sent 已发送, failed 发送失败, dead 已放弃"


def register(app: typer.Typer) -> None:
    app.add_typer(handoffs_app, name="handoffs")


def _statuses(values: list[str] | None, default: tuple[str, ...]) -> list[str]:
    from minqing.handoffs import status_codes

    try:
        return status_codes(values or default)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@handoffs_app.command("list")
def handoffs_list(
    status: Annotated[
        list[str] | None,
        typer.Option(help=f"{STATUS_HELP} (repeatable) [default: everything not delivered]"),
    ] = None,
    department: Annotated[str | None, typer.Option(help="Department code, e.g. zhujian.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="assignment, reminder, escalation, survey, ...")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="Created since (Beijing time).")] = None,
    limit: int = 200,
) -> None:
    """未送达的消息: everything not delivered (待发送, 发送中, 发送失败, 已放弃) and why."""
    from minqing.handoffs import UNDELIVERED, kind_label, outstanding_sentence, status_label
    from minqing.i18n import _
    from minqing.reasons import delivery_error
    from tasks.handoffs import count_handoffs, list_handoffs

    chosen = _statuses(status, UNDELIVERED)
    filters = {"statuses": chosen, "department": department, "kind": kind, "since": since}
    rows = list_handoffs(**filters, limit=limit + 1)
    title = outstanding_sentence(count_handoffs(**filters), chosen)  # all, not only those shown
    table = Table(_("编号"), _("案件编号"), _("类型"), _("承办单位"), _("收件地址"), _("状态"),
                  _("尝试"), _("下次重试"), _("原因"), title=title)  # fmt: skip
    for r in rows[:limit]:
        table.add_row(str(r["id"]), r["case_number"], kind_label(r["kind"]), r["department_name"],
                      r["to"], status_label(r["status"]), str(r["attempts"]), r["next_attempt"],
                      delivery_error(r["error"], 80))  # fmt: skip
    console.print(table)
    if len(rows) > limit:
        console.print(_("仅显示前 %(n)d 封；用 --limit 或筛选条件查看其余。") % {"n": limit})


@handoffs_app.command("retry")
def handoffs_retry(
    ids: Annotated[list[int], typer.Option("--id", help="Handoff id (repeatable).")] = [],  # noqa: B006
    department: Annotated[str | None, typer.Option(help="Department code.")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="pending, failed and/or dead [default: all three]."),
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="Only handoffs created since.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be resent.")
    ] = False,
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")] = os.environ.get(
        "USER", ""
    ),
    wait: Annotated[
        float | None,
        typer.Option(help="Minutes to wait while another run is in progress; 0 = refuse."),
    ] = None,
) -> None:
    """重发: resend undelivered messages (the same as the retry-handoffs deployment).

    Pending ones waiting for their next automatic attempt are sent now too. --since without a
    time zone is Beijing time.
    """
    from cli.main import one_run
    from minqing.handoffs import RETRYABLE, kind_label, resend_sentence, status_label
    from minqing.i18n import _
    from minqing.reasons import delivery_error
    from tasks.handoffs import HandoffRefused, retry_now

    statuses = _statuses(status, RETRYABLE)
    try:
        # A real resend is a run of the delivery stage: one at a time with the others.
        with contextlib.nullcontext() if dry_run else one_run("retry-handoffs", wait):
            result = retry_now(
                ids=ids or None,
                department=department,
                statuses=statuses,
                since=since,
                dry_run=dry_run,
                operator=operator,
            )
    except HandoffRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    table = Table(_("编号"), _("案件编号"), _("类型"), _("收件地址"), _("状态"), _("上次错误"))
    for h in result["selected"]:
        table.add_row(str(h["id"]), h["case_number"], kind_label(h["kind"]), h["to"],
                      status_label(h.get("outcome") or h["status"]), delivery_error(h["error"], 80))  # fmt: skip
    console.print(table)
    next_step = _("核对无误后去掉 --dry-run、加上 --operator 您的姓名 再运行。")
    console.print(resend_sentence(result["selected"], dry_run=dry_run, next_step=next_step))


@handoffs_app.command("mark-delivered")
def handoffs_mark_delivered(
    handoff_id: Annotated[int, typer.Argument(help="Handoff id (see `minqing handoffs list`).")],
    reason: Annotated[str, typer.Option(help="How you know it arrived, e.g. 单位电话确认已收到.")],
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")],
) -> None:
    """确认送达: the recipient confirms the message arrived; it counts as sent and is never sent
    again (for a message that failed, was given up, waits for a retry, or was interrupted)."""
    from minqing.handoffs import status_label
    from minqing.i18n import _
    from tasks.handoffs import HandoffRefused, confirm_delivered_now

    try:
        done = confirm_delivered_now(handoff_id, reason=reason, operator=operator)
    except HandoffRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        _("消息 %(id)d 已确认送达（原为%(status)s），不会再发送；已记入办理轨迹（%(operator)s）。")
        % {"id": done["id"], "status": status_label(done["previous"]), "operator": operator}
    )
