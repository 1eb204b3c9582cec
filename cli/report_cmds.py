"""`minqing report`: the 评议报告 for a period, written to var/reports/<period>/ — the same
function as the `report` deployment, without Prefect (no artifacts).

Wired into the main CLI by `report_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from minqing.i18n import N_, _

console = Console()
DAY = ["%Y-%m-%d"]


def register(app: typer.Typer) -> None:
    app.command("report", help=N_("生成一个时段的评议报告（默认：上个月）：工作簿、图表和摘要。"))(
        report
    )


def report(
    period_from: Annotated[
        datetime | None,
        typer.Option("--from", formats=DAY, help=N_("第一天（北京时间），如 2026-11-01。")),
    ] = None,
    period_to: Annotated[
        datetime | None,
        typer.Option("--to", formats=DAY, help=N_("最后一天（含当天），如 2026-11-30。")),
    ] = None,
) -> None:
    """The same report as the `report` deployment, written without Prefect artifacts."""
    from tasks.evaluations import import_evaluations_now
    from tasks.reference import sync_reference_now
    from tasks.report import build_report_now

    if (period_from is None) != (period_to is None):
        console.print(
            _("请同时给出 --from 和 --to，或都不给（即上个月）。"), style="red", markup=False
        )
        raise typer.Exit(2)
    if period_from and period_to and period_to < period_from:
        console.print(_("--to 早于 --from。"), style="red", markup=False)
        raise typer.Exit(2)
    sync_reference_now()
    evaluations = import_evaluations_now()
    for r in evaluations["rejections"]:
        line = _("代表评议 %(source)s：%(reason)s") % {"source": r["来源"], "reason": r["原因"]}
        console.print(line, style="yellow", markup=False)
    result = build_report_now(
        period_from.date() if period_from else None,
        period_to.date() if period_to else None,
        artifacts=False,
    )
    for warning in result["warnings"]:
        console.print(f"[bold red]⚠ {warning}[/bold red]")
    table = Table(
        _("项目"), _("数值"), title=_("评议报告 %(period)s") % {"period": result["title"]}
    )
    for key, value in result["overview"].items():
        table.add_row(key, value)
    console.print(table)
    console.print(result["sentence"])
    for note in result["notes"]:
        console.print(note, markup=False)
    console.print(_("文件在 %(folder)s：") % {"folder": result["folder"]}, markup=False)
    for path in result["files"].values():
        console.print(f"  {path}")
