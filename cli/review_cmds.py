"""`minqing review list|confirm|correct`: the review queue (待人工审核) and an operator's answer
to it — the same rules as the console's category form (tasks/actions.py), through
tasks/casework.py. A confirmed or corrected case is routed by the next dispatch.

Wired into the main CLI by `review_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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
    from minqing.i18n import _, ngettext
    from tasks.casework import review_queue
    from tasks.outbox import local_text

    queue = review_queue(limit)
    total = queue["total"]
    if total > limit:
        title = ngettext(
            "待人工审核 %(n)d 件（显示 %(shown)d 件）",
            "待人工审核 %(n)d 件（显示 %(shown)d 件）",
            total,
        ) % {"n": total, "shown": limit}
    else:
        title = ngettext("待人工审核 %(n)d 件", "待人工审核 %(n)d 件", total) % {"n": total}
    table = Table(
        _("案件编号"), _("标题"), _("原因"), _("建议分类"), _("置信度"), _("前三"), _("人数"),
        _("立案时间"), title=title,
    )  # fmt: skip
    for r in queue["rows"]:
        table.add_row(
            r["case"],
            r["title"][:30],
            r["reason"],
            r["category"] or "—",
            "—" if r["confidence"] is None else f"{r['confidence']:.2f}",
            _("，").join(f"{name} {p:.2f}" for name, p in r["top3"]) or "—",
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
    from minqing.i18n import _
    from minqing.labels import status_label
    from tasks.casework import ActionError, confirm_case

    try:
        result = confirm_case(case, operator=operator)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        _("%(case)s: 分类 [bold]%(category)s[/bold] 已确认（%(status)s）")
        % {
            "case": result["case"],
            "category": escape(result["category"]),
            "status": status_label(result["status"]),
        }
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
    from minqing.i18n import _
    from minqing.labels import status_label
    from tasks.casework import ActionError, correct_case

    try:
        result = correct_case(case, category, operator=operator)
    except ActionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        _("%(case)s: 分类更正为 [bold]%(category)s[/bold]（%(status)s）")
        % {
            "case": result["case"],
            "category": escape(result["category"]),
            "status": status_label(result["status"]),
        }
    )
