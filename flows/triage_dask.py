"""整理 on Dask (triage-dask): triage's shingling, signatures and classification spread over
Dask workers, linking and writing chunk by chunk in one place — the same cases and links as
the nightly triage, the path to more machines.

Which cluster: MINQING_DASK_SCHEDULER (minqing/settings.py) — a running scheduler's address,
or unset / "local" for a LocalCluster of this machine's cores. The flow reads it when its
module is imported, i.e. at the start of every deployment run; `triage_on_dask` (the nightly
flow's triage stage) reads it when called.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

from prefect import flow
from prefect.futures import PrefectFuture
from prefect_dask import DaskTaskRunner

from flows.forms import either, form
from minqing.i18n import N_
from minqing.runs import run_name
from minqing.settings import get_settings
from tasks.lease import one_run_at_a_time
from tasks.triage_dask import (
    add_totals,
    check_triage_index,
    cluster_threads,
    link_slices,
    plan_triage,
    prepare_slice,
)


def dask_task_runner(scheduler: str | None) -> DaskTaskRunner:
    """A runner on the Dask scheduler at `scheduler` (e.g. "tcp://host:8786"), or on a
    LocalCluster of one single-threaded worker process per core when it is None or "local"
    (the CPU-heavy steps hold the GIL, so processes rather than threads)."""
    if scheduler and scheduler != "local":
        return DaskTaskRunner(address=scheduler)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": os.cpu_count() or 2, "threads_per_worker": 1}
    )


@flow(
    name="triage-dask",
    flow_run_name=run_name(N_("整理（Dask）")),
    log_prints=True,
    task_runner=dask_task_runner(get_settings().dask_scheduler),
)
@one_run_at_a_time("triage-dask")
def triage_dask(
    partitions: Annotated[
        int | None,
        form(
            "分片数",
            "每批留言分成几片并行准备；不填则按集群的线程数。",
            **either("按线程数", "指定片数", type="integer"),
        ),
    ] = None,
    now: Annotated[
        datetime | None,
        form(
            "整理时间",
            "按此时间计算（一般不填，即现在）。",
            **either("现在", "指定时间", type="string", format="date-time"),
        ),
    ] = None,
) -> dict[str, Any]:
    """整理 with Dask workers: each chunk prepared in `partitions` slices (default: one per
    worker thread of the cluster), linked in order."""
    partitions = partitions or cluster_threads.submit().result()
    checks = check_triage_index()
    linked: list[PrefectFuture[dict[str, Any]]] = []
    for slices in plan_triage(partitions):
        prepared = prepare_slice.map(slices)
        linked.append(link_slices.submit(prepared, now, wait_for=linked[-1:]))
    return add_totals(linked, checks)


def triage_on_dask(scheduler: str, now: datetime | None = None) -> dict[str, Any]:
    """The triage-dask flow (a subflow when called from a flow) on `scheduler`."""
    return triage_dask.with_options(task_runner=dask_task_runner(scheduler))(now=now)


if __name__ == "__main__":  # python -m flows.triage_dask (the guard matters: workers are spawned)
    triage_dask()
