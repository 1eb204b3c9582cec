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

console = Console()
cases_app = typer.Typer(
    help="Decisions on one case: re-route (改派), extend the deadline (延期), merge (合并), split (拆分).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")


@cases_app.command("reroute")
def reroute(
    case: Annotated[str, typer.Argument(help="案件编号 (MQ2026-000123) or a channel's reference.")],
    to: Annotated[str, typer.Option("--to", help="Department code, e.g. chengguan.")],
    reason: Annotated[str, typer.Option(help="Why (told to the old department, audited).")],
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")] = os.environ.get(
        "USER", ""
    ),
    send_now: Annotated[
        bool, typer.Option("--send-now", help="Deliver the two messages now, not at night.")
    ] = False,
) -> None:
    """改派: the new department gets the case with a new deadline, the old one a withdrawal."""
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
        from tasks.deliver import deliver_now

        d = deliver_now(ids=[h["id"] for h in result["handoffs"]])
        console.print(
            _("已发送 %(sent)d 封，发送失败 %(failed)d 封，稍后重试 %(later)d 封")
            % {"sent": d["sent"], "failed": d["failed"], "later": d["retry_later"]}
        )
    else:
        console.print(_("已排队：今晚的发送环节会发出（立即发送请加 --send-now）"))


@cases_app.command("extend")
def extend(
    case: Annotated[str, typer.Argument(help="案件编号 (MQ2026-000123) or a channel's reference.")],
    days: Annotated[int, typer.Option(help="Working days added to the current deadline.")],
    reason: Annotated[str, typer.Option(help="Why the department needs longer.")],
    approver: Annotated[str, typer.Option(help="Who approved the extension (audited).")],
) -> None:
    """延期: move the deadline by N working days; the reminder and escalation move with it."""
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


@cases_app.command("merge")
def merge(
    source: Annotated[
        str, typer.Argument(help="The duplicate case: 案件编号 or a channel's reference.")
    ],
    into: Annotated[str, typer.Option("--into", help="The case it joins (案件编号 or reference).")],
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")],
    reason: Annotated[str | None, typer.Option(help="Why (audited).")] = None,
) -> None:
    """合并: SOURCE's submissions join the target case; SOURCE stays, marked merged."""
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


@cases_app.command("split")
def split(
    submission_id: Annotated[
        int, typer.Argument(help="The submission's id (留言编号 in minqing).")
    ],
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")],
    reason: Annotated[str | None, typer.Option(help="Why (audited).")] = None,
) -> None:
    """拆分: one submission leaves its case for a new case, which waits for review."""
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
