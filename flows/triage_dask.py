"""整理 on Dask (triage-dask): triage's shingling, signatures and classification spread over
Dask workers, linking and writing chunk by chunk in one place — the same cases and links as
the nightly triage, the path to more machines.

By default a LocalCluster of this machine's cores; another cluster with
`triage_dask.with_options(task_runner=DaskTaskRunner(address="tcp://scheduler:8786"))`.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.futures import PrefectFuture
from prefect_dask import DaskTaskRunner

from tasks.triage_dask import add_totals, link_slices, plan_triage, prepare_slice


@flow(
    name="triage-dask",
    log_prints=True,
    task_runner=DaskTaskRunner(
        cluster_kwargs={"n_workers": os.cpu_count() or 2, "threads_per_worker": 1}
    ),
)
def triage_dask(partitions: int = 2, now: datetime | None = None) -> dict[str, Any]:
    """整理 with Dask workers: each chunk prepared in `partitions` slices, linked in order."""
    linked: list[PrefectFuture[dict[str, Any]]] = []
    for slices in plan_triage(partitions):
        prepared = prepare_slice.map(slices)
        linked.append(link_slices.submit(prepared, now, wait_for=linked[-1:]))
    return add_totals(linked)
