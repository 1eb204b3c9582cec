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

from cli.blocks import Block, fitted_table, labelled, print_blocks
from cli.help import CASE_HELP, OPERATOR_HELP, App
from minqing.i18n import N_
from minqing.labels import marked_case

console = Console()
review_app = App(help=N_("待人工审核的案件：查看，确认或更正案件的分类。"), no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")


@review_app.command(
    "list",
    help=N_("列出等待人工审核的案件，最早的在前：原因、建议分类、置信度和前三个候选分类。"),
)
def review_list(
    limit: Annotated[int, typer.Option(help=N_("最多显示多少件。"))] = 50,
) -> None:
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
    headers = [_("案件编号"), _("标题"), _("原因"), _("建议分类"), _("置信度"), _("前三"),
               _("人数"), _("立案时间")]  # fmt: skip
    rows = [
        [
            marked_case(r["case"], r["urgent"]),
            r["title"][:30],
            r["reason"],
            r["category"] or "—",
            "—" if r["confidence"] is None else f"{r['confidence']:.2f}",
            _("，").join(f"{name} {p:.2f}" for name, p in r["top3"]) or "—",
            str(r["supporters"]),
            local_text(r["created_at"]),
        ]
        for r in queue["rows"]
    ]
    if console.width < WIDE:
        console.print(title, markup=False)
        print_blocks(console, [_block(headers, row) for row in rows])
        return
    # The number with 急, the confidence and the count stay whole; texts wrap, nothing is cut.
    console.print(fitted_table(headers, rows, whole={0, 4, 6}, title=title))


# Below this many columns the eight columns of the queue cut case numbers to "MQ2026-…" and
# titles to a few characters: each case is printed as a short block instead.
WIDE = 120


def _block(headers: list[str], row: list[str]) -> Block:
    """One case of the queue: its number and 急 on the first line, then each other column as
    "header：value", the suggested category beside its confidence and the number of citizens
    beside the date."""
    cells = [labelled(h, v) for h, v in zip(headers, row, strict=True)]
    title, reason, category, confidence, top3, supporters, opened = cells[1:]
    return row[0], [title, reason, f"{category}  {confidence}", top3, f"{supporters}  {opened}"]


@review_app.command("confirm", help=N_("确认：建议的分类成立，下一次交办时分派该案件。"))
def review_confirm(
    case: Annotated[str, typer.Argument(help=CASE_HELP)],
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)],
) -> None:
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


@review_app.command(
    "correct", help=N_("更正：以工作人员选定的分类替代建议分类，下一次交办时分派该案件。")
)
def review_correct(
    case: Annotated[str, typer.Argument(help=CASE_HELP)],
    category: Annotated[
        str, typer.Option(help=N_("正确分类的名称（见 config/categories.yaml）。"))
    ],
    operator: Annotated[str, typer.Option(help=OPERATOR_HELP)],
) -> None:
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
