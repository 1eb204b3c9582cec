"""The nightly pipeline (夜间运行): one night of opinion handling, safe to run again."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.triage_dask import triage_on_dask
from minqing.i18n import N_
from minqing.runs import run_name
from minqing.runstate import combined
from minqing.settings import get_settings
from tasks.deliver import deliver_handoffs
from tasks.dispatch import dispatch_cases
from tasks.events import NIGHT_FINISHED
from tasks.hotissues import publish_hot_issues
from tasks.imports import import_replies_and_ratings
from tasks.index import prune_index
from tasks.ingest import ingest_inbox
from tasks.lease import one_run_at_a_time
from tasks.lookback import scan_lookbacks
from tasks.metrics import publish_metrics
from tasks.reference import load_reference_data
from tasks.runstate import finish_run
from tasks.surveys import send_surveys
from tasks.triage import triage_submissions
from tasks.urgent import NIGHT_ACTOR, duty_warnings, tell_duty


@flow(name="nightly", flow_run_name=run_name(N_("夜间运行")), log_prints=True)
@one_run_at_a_time("nightly")
def nightly() -> Any:
    """收集 → 整理 (and 热点问题) → 交办 → 回头督办 → 评议 → 发送 → 清理索引 → 统计, for everything
    that came in.

    Replies and ratings that arrived during the day are imported right after intake, so
    tonight's look-backs and surveys already see them; every message any stage decided to send
    leaves through the outbox in one delivery stage; then the duty contacts hear of the night's
    urgent cases (those nobody could be routed to above all). Ends 部分失败 (tasks/runstate.py)
    when messages stay undelivered or a stage ran degraded.
    """
    load_reference_data()
    ingest = ingest_inbox()
    imports = import_replies_and_ratings()
    # 整理 on the office's Dask cluster when it has one (MINQING_DASK_SCHEDULER): same figures.
    scheduler = get_settings().dask_scheduler
    triage = triage_on_dask(scheduler) if scheduler else triage_submissions()
    hot_issues = publish_hot_issues()
    dispatch = dispatch_cases()
    lookback = scan_lookbacks()
    surveys = send_surveys()
    deliver = deliver_handoffs()
    # urgent cases of the night: the duty contacts know before morning (told by the night)
    duty = tell_duty(NIGHT_ACTOR)
    delivery = combined(deliver, duty.get("delivery"))  # the duty alert's mail is the night's too
    index = prune_index()
    figures = publish_metrics(
        {
            "ingest": ingest,
            "imports": imports,
            "triage": triage,
            "hot_issues": hot_issues,
            "dispatch": dispatch,
            "lookback": lookback,
            "surveys": surveys,
            "deliver": delivery,
            "duty": duty,
            "index": index,
        }
    )
    return finish_run(
        "nightly",
        figures,
        delivery=delivery,
        warnings=[*figures["run_warnings"], *duty_warnings(duty)],
        files=figures["files"],
        finished_event=NIGHT_FINISHED,
        figures=figures,
    )
