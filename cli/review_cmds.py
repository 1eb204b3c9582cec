"""`minqing review list|confirm|correct`: the review queue (待人工审核) and an operator's answer
to it — the same rules as the console's category form (tasks/actions.py), through
tasks/casework.py. A confirmed or corrected case is routed by the next dispatch.

Wired into the main CLI by `review_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
review_app = typer.Typer(
    help="The review queue (待人工审核): list, confirm or correct a case's category.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(
    limit: Annotated[int, typer.Option(help="Show at most this many cases.")] = 50,
) -> None:
    """The cases waiting for an operator, oldest first: why, suggestion, confidence, top 3."""
    from tasks.casework import review_queue
    from tasks.outbox import local_text

    queue = review_queue(limit)
    table = Table(
        "案件编号", "标题", "原因", "建议分类", "置信度", "前三", "人数", "立案时间",
        title=f"待人工审核 {queue['total']} 件" + (f"（显示 {limit} 件）" if queue["total"] > limit else ""),
    )  # fmt: skip
    for r in queue["rows"]:
        table.add_row(
            r["case"],
            r["title"][:30],
            r["reason"],
            r["category"] or "—",
            "—" if r["confidence"] is None else f"{r['confidence']:.2f}",
            "，".join(f"{name} {p:.2f}" for name, p in r["top3"]) or "—",
            str(r["supporters"]),
            local_text(r["created_at"]),
        )
    console.print(table)


@review_app.command("confirm")
def review_confirm(
    case: Annotated[str, typer.Argument(help="案件编号 (MQ2026-000123) or a channel's reference.")],
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")],
) -> None:
    """确认: the suggested category stands; the next dispatch routes the case."""
    from tasks.casework import ActionError, confirm_case

    try:
        result = confirm_case(case, operator=operator)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"{result['case']}: 分类 [bold]{result['category']}[/bold] 已确认 ({result['status']})"
    )


@review_app.command("correct")
def review_correct(
    case: Annotated[str, typer.Argument(help="案件编号 (MQ2026-000123) or a channel's reference.")],
    category: Annotated[
        str, typer.Option(help="The right category's name (config/categories.yaml).")
    ],
    operator: Annotated[str, typer.Option(help="Your name, for the audit trail.")],
) -> None:
    """更正: the operator's category replaces the suggestion; the next dispatch routes the case."""
    from tasks.casework import ActionError, correct_case

    try:
        result = correct_case(case, category, operator=operator)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"{result['case']}: 分类更正为 [bold]{result['category']}[/bold] ({result['status']})"
    )
