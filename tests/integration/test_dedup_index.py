"""Upkeep of the stored near-duplicate index (tasks/index.py) on SQLite and PostgreSQL:
nightly pruning of long-closed cases, the warning after a settings change and the rebuild."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from cli.main import app
from db.bulk import lock_for_triage
from db.engine import Session
from db.models import Case, DedupBand, DedupEntry, Submission
from minqing.settings import reset_settings
from tasks.index import index_status, merge_title_search_list, prune_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now

REPO = Path(__file__).resolve().parents[2]
HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
LAMP_AGAIN = "您好，东湖社区惠民小区3栋门口的路灯坏了一个多星期了，晚上很黑，老人出门不安全，请尽快维修！谢谢"
NOISE = "南苑社区工地夜间施工噪音扰民，严重影响休息，请城管部门查处。"
SCHOOL = "孩子明年上小学，学区划片后学位不够，希望教育局说明入学政策。"
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def night(minq, name, *rows):
    (minq.inbox("hotline") / name).write_text("\n".join([HEADER, *rows]) + "\n", encoding="gb18030")
    ingest_inbox_now()
    return triage_now(NOW)


def submission(ref) -> Submission:
    with Session() as s:
        return s.scalar(select(Submission).where(Submission.source_ref == ref))


def close_case(ref, days_ago):
    at = NOW - timedelta(days=days_ago)
    with Session() as s, s.begin():
        s.execute(
            update(Case)
            .where(Case.id == submission(ref).case_id)
            .values(status="closed", outcome="solved", closed_at=at, updated_at=at)
        )


def band_rows_of(ref) -> int:
    with Session() as s:
        return s.scalar(
            select(func.count())
            .select_from(DedupBand)
            .where(DedupBand.submission_id == submission(ref).id)
        )


def entry_count() -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(DedupEntry))


def test_pruning_removes_exactly_the_long_closed_cases_from_the_index(minq):
    night(
        minq,
        "n1.csv",
        f"GD1,张三,13912340001,路灯,2026-11-01 09:00,{LAMP},东湖社区",
        f"GD2,李四,13912340002,施工,2026-11-01 10:00,{NOISE},南苑社区",
        f"GD3,王五,13912340003,学位,2026-11-01 11:00,{SCHOOL},西城社区",
    )
    close_case("GD1", days_ago=121)  # past the 90-day window and the 30-day grace
    close_case("GD2", days_ago=119)  # inside the grace: kept
    bands = {ref: band_rows_of(ref) for ref in ("GD1", "GD2", "GD3")}
    assert all(n > 0 for n in bands.values())

    assert prune_now(NOW) == {"entries": 1, "band_rows": bands["GD1"]}
    assert {ref: band_rows_of(ref) for ref in bands} == {**bands, "GD1": 0}
    with Session() as s:
        kept = set(s.scalars(select(DedupEntry.submission_id)))
    assert kept == {submission("GD2").id, submission("GD3").id}
    assert prune_now(NOW) == {"entries": 0, "band_rows": 0}  # nothing left to do
    merge_title_search_list()  # PostgreSQL: the pending titles merged; SQLite: nothing to do

    # The pruned case is out of reach; the open one still gathers its duplicates.
    result = night(
        minq,
        "n2.csv",
        f"GD4,赵六,13912340004,路灯,2026-11-27 09:00,{LAMP_AGAIN},东湖社区",
        f"GD5,钱七,13912340005,学位,2026-11-27 09:30,{SCHOOL}谢谢。,西城社区",
    )
    assert (result["new_cases"], result["linked"]) == (1, 1)
    assert submission("GD5").case_id == submission("GD3").case_id
    assert submission("GD4").case_id != submission("GD1").case_id


def use_seed(minq, monkeypatch, seed):
    """This test's own config/ with another MinHash seed (another index fingerprint)."""
    target = minq.home / "config"
    shutil.copytree(REPO / "config", target, dirs_exist_ok=True)
    triage = yaml.safe_load((target / "triage.yaml").read_text(encoding="utf-8"))
    triage["dedup"]["seed"] = seed
    (target / "triage.yaml").write_text(yaml.safe_dump(triage, allow_unicode=True), "utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(target))
    reset_settings()


def test_after_a_settings_change_triage_warns_and_a_rebuild_restores_linking(minq, monkeypatch):
    night(minq, "n1.csv", f"GD1,张三,13912340001,路灯,2026-11-20 09:00,{LAMP},东湖社区")
    close_case("GD1", days_ago=200)  # long closed: not re-indexed by a rebuild
    night(minq, "n2.csv", f"GD2,李四,13912340002,学位,2026-11-21 09:00,{SCHOOL},西城社区")
    use_seed(minq, monkeypatch, 7)
    assert index_status()["stale_entries"] == 2

    warned = night(
        minq, "n3.csv", f"GD3,王五,13912340003,学位,2026-11-27 09:00,{SCHOOL}谢谢。,西城社区"
    )
    assert warned["linked"] == 0 and warned["new_cases"] == 1  # the old entries do not match
    assert any("minqing index rebuild" in w for w in warned["warnings"])

    runner = CliRunner()
    dry = runner.invoke(app, ["index", "rebuild"])
    assert dry.exit_code == 0 and "--yes" in dry.output and entry_count() == 3
    done = runner.invoke(app, ["index", "rebuild", "--yes"])
    assert done.exit_code == 0, done.output
    assert "2 条留言" in done.output  # GD2 and GD3; GD1's case closed 200 days ago
    status = index_status()
    assert (status["entries"], status["stale_entries"]) == (2, 0)
    assert status["band_rows"] == band_rows_of("GD2") + band_rows_of("GD3") > 0

    again = night(
        minq, "n4.csv", f"GD4,赵六,13912340004,学位,2026-11-27 10:00,{SCHOOL}请回复。,西城社区"
    )
    assert again["warnings"] == [] and again["linked"] == 1
    assert submission("GD4").case_id == submission("GD2").case_id


def test_band_rows_lost_in_a_crash_are_rebuilt_before_the_night_links(minq):
    night(minq, "n1.csv", f"GD1,张三,13912340001,路灯,2026-11-20 09:00,{LAMP},东湖社区")
    before = band_rows_of("GD1")
    with Session() as s, s.begin():  # what PostgreSQL does to an unlogged table after a crash
        s.execute(DedupBand.__table__.delete())

    result = night(
        minq, "n2.csv", f"GD2,李四,13912340002,路灯,2026-11-27 09:00,{LAMP_AGAIN},东湖社区"
    )
    assert result["linked"] == 1 and submission("GD2").case_id == submission("GD1").case_id
    assert any("重建" in w for w in result["warnings"])
    assert band_rows_of("GD1") == before
    assert triage_now(NOW)["warnings"] == []  # restored once


def test_a_second_triage_waits_for_the_first_and_links_nothing_twice(minq):
    (minq.inbox("hotline") / "n1.csv").write_text(
        "\n".join(
            [
                HEADER,
                f"GD1,张三,13912340001,路灯,2026-11-27 09:00,{LAMP},东湖社区",
                f"GD2,李四,13912340002,路灯,2026-11-27 10:00,{LAMP_AGAIN},东湖社区",
                f"GD3,王五,13912340003,学位,2026-11-27 11:00,{SCHOOL},西城社区",
            ]
        )
        + "\n",
        encoding="gb18030",
    )
    ingest_inbox_now()
    result: dict = {}
    with Session() as other, other.begin():  # another triage (a manual run) is in its chunk
        lock_for_triage(other)
        second = threading.Thread(target=lambda: result.update(triage_now(NOW)))
        second.start()
        second.join(1.5)
        assert second.is_alive()  # waiting, not reading the unlinked submissions beside it
        with Session() as s:
            unlinked = s.scalar(
                select(func.count()).select_from(Submission).where(Submission.case_id.is_(None))
            )
        assert unlinked == 3
    second.join(30)
    assert not second.is_alive()
    assert (result["new_cases"], result["linked"]) == (2, 1)
    assert triage_now(NOW)["new_cases"] == 0
