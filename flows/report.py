"""The period report (评议报告): monthly on the 1st for the month before, or on demand for any
period — the representatives' evaluations are imported first so the report sees them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow

from flows.forms import either, form
from minqing.i18n import N_, _
from minqing.runs import run_name
from tasks.evaluations import import_evaluations
from tasks.reference import load_reference_data
from tasks.report import build_report_task


@flow(name="report", flow_run_name=run_name(N_("评议报告")), log_prints=True)
def report(
    period_from: Annotated[
        date | None,
        form(
            "起始日期",
            "报告期间的第一天（北京时间）；起止都不填则为上个月。",
            **either("不填", "指定日期", type="string", format="date"),
        ),
    ] = None,
    period_to: Annotated[
        date | None,
        form(
            "截止日期",
            "报告期间的最后一天（含当天）；起止都不填则为上个月。",
            **either("不填", "指定日期", type="string", format="date"),
        ),
    ] = None,
) -> dict[str, Any]:
    """评议报告 for [period_from, period_to] (Beijing days); both empty = the previous month."""
    load_reference_data()
    import_evaluations()
    result = build_report_task(period_from, period_to)
    for warning in result["warnings"]:
        print(f"⚠️ {warning}")
    print(
        _("评议报告 %(period)s：%(folder)s")
        % {"period": result["title"], "folder": result["folder"]}
    )
    print(result["sentence"])
    for note in result["notes"]:
        print(note)
    return result
