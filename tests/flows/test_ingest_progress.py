"""Intake inside a flow run: one Prefect progress artifact per file, updated while the file is
read (at most every PROGRESS_EVERY_S seconds) and at 100 % at the end; none outside a flow;
an artifact API that fails never stops the import. The night's summary lists the files."""

from __future__ import annotations

from uuid import UUID

from prefect import flow
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
)
from sqlalchemy import func, select

import tasks.ingest
from db.engine import Session
from db.models import Submission
from flows.nightly import nightly
from tasks.context import context
from tasks.ingest import ingest_file, ingest_inbox

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"


def hotline_rows(n: int, start: int = 0) -> list[str]:
    return [
        f"GD{i:05d},张{i},139{i:08d},路灯,2026-11-27 09:30,东湖社区{i}号楼门口路灯坏了，晚上很黑。,东湖社区"
        for i in range(start, start + n)
    ] + ["GD99999,,,,2026-11-27 12:30,,新华社区"]  # one row rejected (empty text)


def drop_hotline(minq, rows: list[str], name: str = "12345_20261127.csv"):
    path = minq.inbox("hotline") / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="gb18030")
    return path


@flow(name="intake-progress-test")
def intake_flow() -> dict:
    return ingest_inbox()


def progress_artifacts(flow_run_id: UUID) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )


def run_intake() -> tuple[dict, list]:
    state = intake_flow(return_state=True)
    figures = state.result()
    return figures, progress_artifacts(state.state_details.flow_run_id)


def test_each_file_gets_a_progress_artifact_that_ends_at_100_with_its_counts(minq, monkeypatch):
    monkeypatch.setattr(tasks.ingest, "BATCH", 10)
    drop_hotline(minq, hotline_rows(45))
    drop_hotline(minq, hotline_rows(5, start=100), name="12345_20261128.csv")
    figures, artifacts = run_intake()
    assert figures["taken"] == 50
    assert len(artifacts) == 2
    by_file = {a.description.split(":")[0]: a for a in artifacts}
    first = by_file["收集 12345热线 · 12345_20261127.csv"]
    assert first.data == 100.0
    assert first.description == (
        "收集 12345热线 · 12345_20261127.csv: 已读完，已读 46 条（收录 45，已有 0，拒收 1）"
    )
    assert by_file["收集 12345热线 · 12345_20261128.csv"].data == 100.0


def test_the_artifact_is_updated_per_batch_but_not_more_often_than_the_limit(minq, monkeypatch):
    calls: list[tuple[float, str]] = []
    real = tasks.ingest.update_progress_artifact

    def spy(**kwargs):
        calls.append((kwargs["progress"], kwargs["description"]))
        return real(**kwargs)

    monkeypatch.setattr(tasks.ingest, "update_progress_artifact", spy)
    monkeypatch.setattr(tasks.ingest, "BATCH", 10)
    monkeypatch.setattr(tasks.ingest, "PROGRESS_EVERY_S", 0.0)
    drop_hotline(minq, hotline_rows(45))
    run_intake()
    # five batches (10, 10, 10, 10, 6 records) of a file of 47 lines, and the final 100 %
    assert [p for p, _ in calls] == [21.3, 42.6, 63.8, 85.1, 97.9, 100.0]
    assert calls[1][1] == (
        "收集 12345热线 · 12345_20261127.csv: 读取中，已读 20 条（收录 20，已有 0，拒收 0）"
    )

    calls.clear()
    monkeypatch.setattr(tasks.ingest, "PROGRESS_EVERY_S", 3600.0)
    drop_hotline(minq, hotline_rows(45, start=200), name="12345_20261128.csv")
    run_intake()
    assert [p for p, _ in calls] == [100.0]  # only the end


def test_a_failing_artifact_api_never_stops_the_import(minq, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("Prefect API unreachable")

    monkeypatch.setattr(tasks.ingest, "create_progress_artifact", broken)
    drop_hotline(minq, hotline_rows(5))
    figures, artifacts = run_intake()
    assert figures["taken"] == 5 and artifacts == []


def test_outside_a_flow_run_no_artifact_is_made(minq, monkeypatch):
    made: list[dict] = []
    monkeypatch.setattr(tasks.ingest, "create_progress_artifact", lambda **kw: made.append(kw))
    path = drop_hotline(minq, hotline_rows(5))
    report = ingest_file("hotline", path, context().ref)
    assert report.taken == 5 and made == []
    with Session() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 5


def test_a_file_that_cannot_be_read_ends_its_artifact_with_the_reason(minq):
    path = minq.inbox("hotline") / "broken.csv"
    path.write_text("姓名,电话\n张三,139\n", encoding="utf-8")
    figures, artifacts = run_intake()
    assert figures["files"][0]["status"] == "failed"
    [artifact] = artifacts
    assert artifact.data == 100.0
    assert artifact.description.startswith("收集 12345热线 · broken.csv: 未能读取：缺少必需的列")


def test_the_nights_summary_lists_the_files_taken_and_failed(minq):
    drop_hotline(minq, hotline_rows(3))
    (minq.inbox("hotline") / "broken.csv").write_text("姓名,电话\n张三,139\n", encoding="utf-8")
    (minq.inbox("replies") / "答复0.csv").write_text(
        "案件编号,答复时间,办理结果,答复内容,经办人\nNOPE-1,2026-11-28 10:00,A,已处理,刘工\n",
        encoding="utf-8-sig",
    )
    with minq.sink():
        nightly()
    summary = Artifact.get("nightly-summary", _sync=True).data
    assert "## 文件（3 个：归档 2，失败 1）" in summary
    assert "| 部门答复 | 答复0.csv | 已收录，已归档 | 0 | 0 | 1 |  |" in summary
    assert "| 12345热线 | 12345_20261127.csv | 已收录，已归档 | 3 | 0 | 1 |  |" in summary
    assert "| 12345热线 | broken.csv | 未能读取，已移至 failed/ | 0 | 0 | 0 | 缺少必需的列" in (
        summary
    )
