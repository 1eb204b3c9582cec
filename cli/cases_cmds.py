"""`minqing cases reroute|extend|merge|split`: an operator's decisions on one case (改派, 延期,
合并, 拆分) — the same rules as the console's buttons (tasks/actions.py), through
tasks/reroute.py and tasks/casework.py.

Wired into the main CLI by `cases_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.help import CASE_HELP, OPERATOR_HELP, App
from minqing.i18n import N_

console = Console()
cases_app = App(help=N_("对单个案件的决定：改派、延期、合并、拆分。"), no_args_is_help=True)
REASON_HELP = N_("原因（记入办理轨迹）。")


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")


@cases_app.command(
    "reroute",
    help=N_("改派：新承办单位接手案件并得到新的办理时限，原承办单位收到撤回通知。"),
)
def reroute(
    case: Annotated[str, typer.Argument(help=CASE_HELP)],
    to: Annotated[str, typer.Option("--to", help=N_("新承办单位的代码，如 chengguan。"))],
    reason: Annotated[str, typer.Option(help=N_("改派原因（告知原承办单位，并记入办理轨迹）。"))],
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)] = os.environ.get("USER", ""),
    send_now: Annotated[
        bool, typer.Option("--send-now", help=N_("立即发出这两封通知，不等夜间发送。"))
    ] = False,
) -> None:
    from tasks.reroute import ActionError, reroute_case

    try:
        result = reroute_case(case, to, reason=reason, operator=operator)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    from minqing.i18n import _
    from minqing.labels import handoff_kind_label
    from tasks.context import context

    ref = context().ref
    console.print(
        _("%(case)s: %(old)s → [bold]%(new)s[/bold]，办理时限 %(due)s")
        % {
            "case": result["case"],
            "old": escape(ref.department_name(result["from"]) or "—"),
            "new": escape(ref.department_name(result["to"]) or ""),
            "due": result["due"],
        }
    )

    table = Table(_("消息编号"), _("类型"), _("收件人"))
    for h in result["handoffs"]:
        table.add_row(str(h["id"]), handoff_kind_label(h["kind"]), h["to"])
    console.print(table)
    if send_now:
        _send_now([h["id"] for h in result["handoffs"]])
    else:
        console.print(_("已排队：今晚的发送环节会发出（立即发送请加 --send-now）"))


def _send_now(ids: list[int]) -> None:
    """Send what an action queued at once; every message is accounted for, each undelivered one
    with why, and the exit status is 1 while any is undelivered (as `handoffs retry`)."""
    from minqing.handoffs import sent_now_sentence, undelivered_lines
    from minqing.i18n import _
    from tasks.handoffs import send_now

    rows = send_now(ids)
    console.print(escape(sent_now_sentence(rows)))
    lines = undelivered_lines(rows)
    for line in lines:
        console.print(f"[red]{escape(line)}[/red]")
    if lines:
        console.print(
            escape(
                _(
                    "待发送的消息由发送环节（每 15 分钟）自动重试；发送失败或已放弃的，"
                    "排除原因后用 minqing handoffs retry --id 编号 重发。送达之前，收件单位并不知情。"
                )
            )
        )
        raise typer.Exit(1)  # for scripts: something is still not delivered


@cases_app.command(
    "extend",
    help=N_(
        "延期：办理时限顺延若干个工作日，到期提醒和超期督办随之顺延，承办单位收到办理时限调整通知。"
    ),
)
def extend(
    case: Annotated[str, typer.Argument(help=CASE_HELP)],
    days: Annotated[int, typer.Option(help=N_("在当前办理时限上增加的工作日数。"))],
    reason: Annotated[str, typer.Option(help=N_("承办单位需要延期的原因。"))],
    approver: Annotated[str, typer.Option(help=N_("批准延期的人（记入办理轨迹）。"))],
    send_now: Annotated[
        bool,
        typer.Option("--send-now", help=N_("立即把新的办理时限告知承办单位，不等夜间发送。")),
    ] = False,
) -> None:
    from minqing.i18n import ngettext
    from tasks.reroute import ActionError, extend_case

    try:
        result = extend_case(case, days, reason=reason, approver=approver)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        ngettext(
            "%(case)s: 办理时限 %(previous)s → [bold]%(due)s[/bold]（+%(n)d 个工作日，批准人 %(approver)s）",
            "%(case)s: 办理时限 %(previous)s → [bold]%(due)s[/bold]（+%(n)d 个工作日，批准人 %(approver)s）",
            result["days"],
        )
        % {
            "case": result["case"],
            "previous": result["previous_due"],
            "due": result["due"],
            "n": result["days"],
            "approver": escape(result["approver"]),
        }
    )
    if not result["handoffs"]:
        return
    from minqing.i18n import _

    if send_now:
        _send_now([h["id"] for h in result["handoffs"]])
    else:
        console.print(
            _("已排队：今晚的发送环节会把新的办理时限告知承办单位（立即发送请加 --send-now）")
        )


@cases_app.command("merge", help=N_("合并：SOURCE 的留言并入目标案件；SOURCE 保留，标为已合并。"))
def merge(
    source: Annotated[str, typer.Argument(help=N_("重复的案件：案件编号或渠道自己的编号。"))],
    into: Annotated[str, typer.Option("--into", help=N_("并入的案件：案件编号或渠道自己的编号。"))],
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)],
    reason: Annotated[str | None, typer.Option(help=REASON_HELP)] = None,
) -> None:
    from minqing.i18n import ngettext
    from tasks.casework import ActionError, merge_cases

    try:
        result = merge_cases(source, into, operator=operator, reason=reason)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    moved = result["submissions"]
    console.print(
        ngettext(
            "%(case)s → [bold]%(into)s[/bold]: %(n)d 条留言并入（留言 %(ids)s），共 %(people)d 人反映",
            "%(case)s → [bold]%(into)s[/bold]: %(n)d 条留言并入（留言 %(ids)s），共 %(people)d 人反映",
            len(moved),
        )
        % {
            "case": result["case"],
            "into": result["into"],
            "n": len(moved),
            "ids": ", ".join(map(str, moved)),
            "people": result["supporters"],
        }
    )


@cases_app.command("split", help=N_("拆分：一条留言离开原案件，另立新案件，新案件待人工审核。"))
def split(
    submission_id: Annotated[int, typer.Argument(help=N_("留言的编号。"))],
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)],
    reason: Annotated[str | None, typer.Option(help=REASON_HELP)] = None,
) -> None:
    from minqing.i18n import _
    from tasks.casework import ActionError, split_submission

    try:
        result = split_submission(submission_id, operator=operator, reason=reason)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        _(
            "留言 %(submission)s: %(old)s → 新案件 [bold]%(case)s[/bold]"
            "（待人工审核：minqing review confirm|correct）"
        )
        % {"submission": result["submission"], "old": result["from"], "case": result["case"]}
    )
