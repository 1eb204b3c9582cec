"""The nightly flow with MINQING_DASK_SCHEDULER set: its triage stage runs as the triage-dask
subflow on that running Dask scheduler, and the night's figures, artifacts (summary, hot
issues, ...), cases, links and mail are those of the in-process night. The same inbox is run
both ways from the same empty database.

The cluster's workers are threads of the test process (so they read the test's database);
the flow reaches the scheduler over TCP like any remote one.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from distributed import LocalCluster
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import select, text

from db.engine import Session, get_engine
from db.models import Base, Case, Submission
from flows.nightly import nightly
from mail.sink import stored_messages
from minqing.settings import reset_settings
from tasks.hotissues import HOT_ISSUES_KEY
from tasks.metrics import SUMMARY_KEY
from tasks.reference import sync_reference_now

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
ROWS = [
    "GD201,张三,13912340001,路灯,2026-11-27 09:30,东湖社区惠民小区3栋门口路灯坏了，晚上很黑，老人走路容易摔倒。,东湖社区",
    "GD202,李四,13912340002,噪音,2026-11-27 10:30,南苑社区工地夜间施工噪音扰民，影响休息。,南苑社区",
    "GD203,王五,13912340003,路灯,2026-11-27 11:00,东湖社区惠民小区3栋门口的路灯坏了，晚上很黑，老人走路容易摔倒！,东湖社区",
    "GD204,赵六,13912340004,欠薪,2026-11-27 11:30,北塘社区某公司拖欠工资三个月，社保也没交。,北塘社区",
    "GD205,钱七,13912340005,医院,2026-11-27 12:30,新华社区卫生服务中心挂号排队太久，医生太少。,新华社区",
    "GD206,,,,2026-11-27 12:30,,新华社区",
]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


def start_over(minq) -> None:
    """Back to before the first night: every table empty (ids from 1 again), the reference
    data loaded, nothing archived, no mail received."""
    with get_engine().begin() as c:
        if minq.backend == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                c.execute(table.delete())
            if c.execute(
                text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
            ).first():
                c.execute(text("DELETE FROM sqlite_sequence"))
    sync_reference_now()
    shutil.rmtree(minq.settings.archive_dir, ignore_errors=True)
    shutil.rmtree(minq.mail_dir, ignore_errors=True)


def one_night(minq) -> dict[str, Any]:
    """Drop the inbox, run the nightly flow; what the office sees of the night."""
    (minq.inbox("hotline") / "12345.csv").write_text(
        "\n".join([HEADER, *ROWS]) + "\n", encoding="gb18030"
    )
    with minq.sink():
        state = nightly(return_state=True)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    with Session() as s:
        links = s.execute(
            select(Submission.source_ref, Submission.case_id, Submission.link_method,
                   Submission.similarity).order_by(Submission.id)
        ).all()  # fmt: skip
        cases = s.execute(
            select(Case.id, Case.category, Case.status, Case.supporters, Case.due_at).order_by(
                Case.id
            )
        ).all()
    # Message-IDs are derived from the dispatch time, which differs between the two nights.
    mail = [
        (m["To"], m["Subject"], m.get_body().get_content()) for m in stored_messages(minq.mail_dir)
    ]
    return {
        "figures": without_clock(state.result()),
        "artifacts": without_clock({a.key: a.data for a in artifacts}),
        "links": links,
        "cases": cases,
        "mail": sorted(mail),
    }


CLOCK = re.compile(r"\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}")


def without_clock(value: Any) -> Any:
    """The summary's heading names the minute it was written, which two nights a minute apart
    do not share: compare everything else."""
    if isinstance(value, str):
        return CLOCK.sub("<time>", value)
    if isinstance(value, dict):
        return {k: without_clock(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_clock(v) for v in value)
    return value


def test_the_nightly_flow_on_a_dask_scheduler_reports_and_sends_exactly_what_it_does_in_process(
    minq, monkeypatch, scheduler
):
    monkeypatch.delenv("MINQING_DASK_SCHEDULER", raising=False)
    reset_settings()
    in_process = one_night(minq)
    transitions = scheduler.scheduler.transition_counter

    start_over(minq)
    monkeypatch.setenv("MINQING_DASK_SCHEDULER", scheduler.scheduler_address)
    reset_settings()
    on_dask = one_night(minq)

    assert scheduler.scheduler_address.startswith("tcp://127.0.0.1:")
    assert scheduler.scheduler.transition_counter > transitions
    assert {"prepare_slice", "link_slices"} <= set(scheduler.scheduler.task_prefixes)
    assert in_process["figures"]["new_cases"] == 4 and in_process["figures"]["linked"] == 1
    assert in_process["figures"]["sent"] == len(in_process["mail"]) > 0
    assert {SUMMARY_KEY, HOT_ISSUES_KEY} <= set(in_process["artifacts"])
    for part in ("figures", "artifacts", "links", "cases", "mail"):
        assert on_dask[part] == in_process[part], part
