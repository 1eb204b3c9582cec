"""`minqing cases reroute|extend`: an operator's decisions on one case (改派, 延期) — the same
rules as the console's buttons (web/actions.py), through tasks/reroute.py.

Wired into the main CLI by `cases_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
cases_app = typer.Typer(
    help="Decisions on one case: re-route (改派), extend the deadline (延期).",
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
    console.print(
        f"{result['case']}: {result['from'] or '—'} → [bold]{result['to']}[/bold], "
        f"办理时限 {result['due']}"
    )
    table = Table("handoff", "kind", "to")
    for h in result["handoffs"]:
        table.add_row(str(h["id"]), h["kind"], h["to"])
    console.print(table)
    if send_now:
        from tasks.deliver import deliver_now

        d = deliver_now(ids=[h["id"] for h in result["handoffs"]])
        console.print(f"sent {d['sent']}, failed {d['failed']}, retry later {d['retry_later']}")
    else:
        console.print("queued: the next nightly delivery sends them (or use --send-now)")


@cases_app.command("extend")
def extend(
    case: Annotated[str, typer.Argument(help="案件编号 (MQ2026-000123) or a channel's reference.")],
    days: Annotated[int, typer.Option(help="Working days added to the current deadline.")],
    reason: Annotated[str, typer.Option(help="Why the department needs longer.")],
    approver: Annotated[str, typer.Option(help="Who approved the extension (audited).")],
) -> None:
    """延期: move the deadline by N working days; the reminder and escalation move with it."""
    from tasks.reroute import ActionError, extend_case

    try:
        result = extend_case(case, days, reason=reason, approver=approver)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"{result['case']}: 办理时限 {result['previous_due']} → [bold]{result['due']}[/bold] "
        f"(+{result['days']} 个工作日, 批准人 {result['approver']})"
    )
