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
from rich.table import Column, Table

from cli.blocks import fitted_table, labelled, print_blocks, print_sentence
from cli.help import OPERATOR_HELP, App
from minqing.i18n import N_
from minqing.labels import marked_case

console = Console()
handoffs_app = App(
    help=N_("发出的消息（交办、提醒、督办、回访）及其送达情况：查看、重发、确认送达。"),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(handoffs_app, name="handoffs")


def _statuses(values: list[str] | None, default: tuple[str, ...]) -> list[str]:
    from minqing.handoffs import status_codes

    try:
        return status_codes(values or default)
    except ValueError as exc:
        print_sentence(console, str(exc), style="red")
        raise typer.Exit(2) from None


def _kind(value: str | None) -> str | None:
    from minqing.handoffs import kind_code

    try:
        return kind_code(value) if value else None
    except ValueError as exc:
        print_sentence(console, str(exc), style="red")
        raise typer.Exit(2) from None


def _department(code: str | None) -> str | None:
    """The department code as given, when config/departments.yaml knows it."""
    from minqing.i18n import _
    from tasks.context import context

    known = context().ref.department_by_code
    if code and code not in known:
        print_sentence(
            console,
            _("未知的承办单位代码：%(code)s（见 config/departments.yaml，如 %(examples)s）")
            % {"code": code, "examples": _("、").join(sorted(known)[:5])},
            style="red",
        )
        raise typer.Exit(2)
    return code


@handoffs_app.command(
    "list", help=N_("列出未送达的消息（待发送、发送中、发送失败、已放弃）及其原因。")
)
def handoffs_list(
    status: Annotated[
        list[str] | None,
        typer.Option(
            help=N_(
                "按状态筛选，可重复：pending 待发送、sending 发送中、sent 已发送、"
                "failed 发送失败、dead 已放弃。不给出时列出所有未送达的消息。"
            )
        ),
    ] = None,
    department: Annotated[str | None, typer.Option(help=N_("承办单位代码，如 zhujian。"))] = None,
    kind: Annotated[
        str | None,
        typer.Option(help=N_("消息类型代码：assignment、reminder、escalation、survey 等。")),
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help=N_("只列出此时间之后生成的消息（北京时间）。"))
    ] = None,
    limit: Annotated[int, typer.Option(help=N_("最多显示多少封。"))] = 200,
) -> None:
    from minqing.handoffs import UNDELIVERED, outstanding_sentence
    from minqing.i18n import _
    from tasks.handoffs import count_handoffs, list_handoffs

    chosen = _statuses(status, UNDELIVERED)
    filters = {
        "statuses": chosen,
        "department": _department(department),
        "kind": _kind(kind),
        "since": since,
    }
    rows = list_handoffs(**filters, limit=limit + 1)
    title = outstanding_sentence(count_handoffs(**filters), chosen)  # all, not only those shown
    if console.width < WIDE:
        _print_blocks(title, rows[:limit])
    else:
        _print_table(title, rows[:limit])
    if len(rows) > limit:
        print_sentence(
            console, _("仅显示前 %(n)d 封；用 --limit 或筛选条件查看其余。") % {"n": limit}
        )


# Below this many columns the nine columns of the table squeeze names and reasons into
# slivers a character wide: each message is printed as a short block instead.
WIDE = 120


def _print_blocks(title: str, rows: list[dict]) -> None:
    """One message per block: number, case, kind, status and attempts on the first line; the
    department and address; when it is retried next; the reason — each line wraps whole."""
    from minqing.handoffs import kind_label, status_label, undelivered_reason
    from minqing.i18n import _, ngettext

    print_sentence(console, title)
    blocks = []
    for r in rows:
        head = (
            f"#{r['id']}  {marked_case(r['case_number'], r['urgent'])}  {kind_label(r['kind'])}  "
            f"{status_label(r['status'])}  "
            + ngettext("尝试 %(n)d 次", "尝试 %(n)d 次", r["attempts"])
            % {"n": r["attempts"]}
        )
        lines = [f"{r['department_name'] or ''}  {r['to']}".strip()]
        if r["next_attempt"]:
            lines.append(_("下次重试：%(when)s") % {"when": r["next_attempt"]})
        if r["error"]:
            lines.append(_("原因：%(why)s") % {"why": undelivered_reason(r, 200)})
        blocks.append((head, lines))
    print_blocks(console, blocks)


def _print_table(title: str, rows: list[dict]) -> None:
    from minqing.handoffs import kind_label, status_label, undelivered_reason
    from minqing.i18n import _

    # The numbers, kinds and statuses stay whole; names, addresses and reasons wrap instead
    # (rich would otherwise cut "MQ2026-000214" to "MQ202…").
    whole = {"no_wrap": True, "overflow": "ignore"}
    table = Table(
        Column(_("编号"), **whole),
        Column(_("案件编号"), **whole),
        Column(_("类型"), **whole),
        Column(_("承办单位"), overflow="fold"),
        Column(_("收件地址"), overflow="fold"),
        Column(_("状态"), **whole),
        Column(_("尝试"), **whole),
        Column(_("下次重试"), overflow="fold"),
        Column(_("原因"), overflow="fold", ratio=2),
        title=title,
    )
    for r in rows:
        table.add_row(str(r["id"]), marked_case(r["case_number"], r["urgent"]),
                      kind_label(r["kind"]), r["department_name"], r["to"],
                      status_label(r["status"]), str(r["attempts"]), r["next_attempt"],
                      undelivered_reason(r, 80))  # fmt: skip
    console.print(table)


@handoffs_app.command(
    "retry",
    help=N_(
        "重发未送达的消息（规则与 `retry-handoffs` 部署相同）；"
        "等待下次自动重试的待发送消息也立即发送。有消息仍未送达时退出码为 1。"
    ),
)
def handoffs_retry(
    ids: Annotated[list[int], typer.Option("--id", help=N_("消息编号，可重复。"))] = [],  # noqa: B006
    department: Annotated[
        str | None, typer.Option(help=N_("只重发发往该承办单位的消息（单位代码）。"))
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help=N_("pending、failed、dead 中的一种或几种，可重复。不给出时三种都重发。")),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help=N_("只重发此时间之后生成的消息（不带时区时为北京时间）。")),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("只列出将要重发的消息，不发送。"))
    ] = False,
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)] = os.environ.get("USER", ""),
    wait: Annotated[
        float | None,
        typer.Option(help=N_("另一次运行尚未结束时最多等待的分钟数；0 表示立即放弃。")),
    ] = None,
) -> None:
    from cli.main import one_run
    from minqing.handoffs import RETRYABLE, resend_sentence
    from minqing.i18n import _
    from tasks.handoffs import HandoffRefused, retry_now

    statuses = _statuses(status, RETRYABLE)
    try:
        # A real resend is a run of the delivery stage: one at a time with the others.
        with contextlib.nullcontext() if dry_run else one_run("retry-handoffs", wait):
            result = retry_now(
                ids=ids or None,
                department=_department(department),
                statuses=statuses,
                since=since,
                dry_run=dry_run,
                operator=operator,
            )
    except HandoffRefused as exc:
        print_sentence(console, str(exc), style="red")
        raise typer.Exit(2) from None
    _print_resend(result["selected"], dry_run=dry_run)
    skipped = sorted(set(ids or ()) - {row["id"] for row in result["selected"]})
    if skipped:
        print_sentence(
            console,
            _("编号 %(ids)s 的消息已发送、正在发送或不符合筛选条件，未重发。")
            % {"ids": _("、").join(map(str, skipped))},
        )
    next_step = _("核对无误后去掉 --dry-run、加上 --operator 您的姓名 再运行。")
    print_sentence(
        console, resend_sentence(result["selected"], dry_run=dry_run, next_step=next_step)
    )
    if not dry_run and any(row["outcome"] != "sent" for row in result["selected"]):
        raise typer.Exit(1)  # for scripts: some are still not delivered


# The resend's columns that stay whole in its table and make a block's head line.
RESEND_HEAD = ("编号", "案件编号", "类型", "结果")


def _print_resend(selected: list[dict], *, dry_run: bool) -> None:
    """What a preview would send, or what the resend sent: the columns of the `retry-handoffs`
    table (minqing.handoffs.resend_rows) with the errors in the office's words — as a table,
    or below WIDE columns one block per message."""
    from minqing.handoffs import resend_rows
    from minqing.labels import column_label

    rows = resend_rows(selected, dry_run=dry_run, limit=80)
    if not rows:
        return
    if console.width < WIDE:
        blocks = []
        for row in rows:
            head = [f"#{v}" if k == "编号" else str(v) for k, v in row.items() if k in RESEND_HEAD]
            lines = [labelled(column_label(k), str(v)) for k, v in row.items()
                     if k not in RESEND_HEAD and v != ""]  # fmt: skip
            blocks.append(("  ".join(head), lines))
        print_blocks(console, blocks)
        return
    columns = list(rows[0])
    whole = {i for i, k in enumerate(columns) if k in RESEND_HEAD}
    table_rows = [[str(v) for v in row.values()] for row in rows]
    console.print(fitted_table([column_label(k) for k in columns], table_rows, whole))


@handoffs_app.command(
    "mark-delivered",
    help=N_(
        "确认送达：收件方确认已收到消息，此后按已发送计，不再发送"
        "（适用于发送失败、已放弃、等待重试或发送中断的消息）。"
    ),
)
def handoffs_mark_delivered(
    handoff_id: Annotated[int, typer.Argument(help=N_("消息编号（见 `minqing handoffs list`）。"))],
    reason: Annotated[str, typer.Option(help=N_("您如何得知已送达，如“单位电话确认已收到”。"))],
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)],
) -> None:
    from minqing.handoffs import status_label
    from minqing.i18n import _
    from tasks.handoffs import HandoffRefused, confirm_delivered_now

    try:
        done = confirm_delivered_now(handoff_id, reason=reason, operator=operator)
    except HandoffRefused as exc:
        print_sentence(console, str(exc), style="red")
        raise typer.Exit(2) from None
    print_sentence(
        console,
        _("消息 %(id)d 已确认送达（原为%(status)s），不会再发送；已记入办理轨迹（%(operator)s）。")
        % {"id": done["id"], "status": status_label(done["previous"]), "operator": operator},
    )
