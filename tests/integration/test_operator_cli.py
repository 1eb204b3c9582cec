"""Operators' command line on both databases: merge and split cases, the review queue, confirm
and correct categories — the console's rules (tasks/actions.py), nothing deleted, every change
an AuditEvent with the operator's name, a reviewed case routed by the next dispatch."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.cells import cell_len
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli import cases_cmds, review_cmds
from db.engine import Session
from db.models import AuditEvent, Case, Submission
from minqing.states import CaseStatus
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
ROWS = [
    f"GD301,张三,13912340001,路灯坏了,2026-11-27 09:30,{LAMP},东湖社区",
    f"GD302,李四,13912340002,路灯不亮,2026-11-27 10:30,{LAMP}谢谢。,东湖社区",
    "GD303,王五,13912340003,小区灯,2026-11-27 11:30,惠民小区3栋门前的灯一直不亮，晚上看不见路。,东湖社区",
    # 物业 (城乡建设) and 噪音 (环境保护) one hit each: confidence 0.5, waits for review
    "GD304,赵六,13912340004,楼下,2026-11-27 12:30,物业不管楼下的噪音。,南苑社区",
    # no keyword at all: no category recognised
    "GD305,钱七,13912340005,咨询,2026-11-27 13:30,我想问一下这个事情该找谁。,新华社区",
]
NIGHT = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def cli() -> typer.Typer:
    app = typer.Typer()
    cases_cmds.register(app)
    review_cmds.register(app)
    return app


def run(*args: str) -> object:
    return CliRunner().invoke(cli(), list(args))


def night(minq) -> dict[str, int]:
    path = minq.inbox("hotline") / "12345_20261127.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="gb18030")
    ingest_inbox_now()
    return triage_now(NIGHT)


def case_of(ticket: str) -> Case:
    with Session() as s:
        sub = s.scalar(select(Submission).where(Submission.source_ref == ticket))
        case = s.get(Case, sub.case_id)
        s.expunge(case)
        return case


def sub_id(ticket: str) -> int:
    with Session() as s:
        return s.scalar(select(Submission.id).where(Submission.source_ref == ticket))


def events(case_id: int, action: str) -> list[AuditEvent]:
    with Session() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == action)
        ).all()
        s.expunge_all()
        return list(rows)


def counts() -> tuple[int, int]:
    with Session() as s:
        return (
            s.scalar(select(func.count()).select_from(Case)),
            s.scalar(select(func.count()).select_from(Submission)),
        )


def test_merging_moves_every_submission_deletes_nothing_and_is_audited(minq):
    totals = night(minq)
    assert totals["linked"] == 1  # GD302 is a near-duplicate of GD301
    lamp, other = case_of("GD301"), case_of("GD303")
    assert other.id != lamp.id
    before = counts()
    r = run("cases", "merge", other.number, "--into", lamp.number, "--operator", "王小二",
            "--reason", "同一路灯")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert lamp.number in r.output
    assert counts() == before  # nothing deleted
    merged, target = case_of("GD303"), case_of("GD301")
    assert merged.id == target.id == lamp.id and target.supporters == 3
    with Session() as s:
        source = s.get(Case, other.id)
        assert source.status is CaseStatus.MERGED and source.merged_into_id == lamp.id
        moved = s.get(Submission, sub_id("GD303"))
        assert moved.link_method == "operator"
    (out,) = events(other.id, "merged")
    assert out.actor == "王小二" and out.detail["reason"] == "同一路灯"
    assert out.detail["into"] == lamp.id and out.detail["submissions"] == [sub_id("GD303")]
    (into,) = events(lamp.id, "merged_in")
    assert into.actor == "王小二" and into.detail["source"] == other.id


def test_a_refused_merge_says_why_and_changes_nothing(minq):
    night(minq)
    lamp = case_of("GD301")
    r = run("cases", "merge", lamp.number, "--into", lamp.number, "--operator", "王小二")
    assert r.exit_code == 2 and "不能合并到本案自身" in r.output
    r = run("cases", "merge", lamp.number, "--into", "MQ2026-999999", "--operator", "王小二")
    assert r.exit_code == 2 and "找不到案件" in r.output
    r = run("cases", "merge", lamp.number, "--into", case_of("GD303").number, "--operator", " ")
    assert r.exit_code == 2 and "操作人" in r.output
    assert case_of("GD301").status is not CaseStatus.MERGED
    assert events(lamp.id, "merged") == []


def test_splitting_takes_one_submission_into_a_new_case_waiting_for_review(minq):
    night(minq)
    lamp = case_of("GD301")
    assert lamp.supporters == 2
    before = counts()
    r = run("cases", "split", str(sub_id("GD302")), "--operator", "王小二", "--reason", "另一栋楼")
    assert r.exit_code == 0, r.output
    new = case_of("GD302")
    assert new.id != lamp.id and new.number in r.output
    assert new.status is CaseStatus.NEEDS_REVIEW and new.category == lamp.category
    assert case_of("GD301").supporters == 1
    assert counts() == (before[0] + 1, before[1])
    (split,) = events(lamp.id, "split")
    assert split.actor == "王小二" and split.detail == {
        "submission": sub_id("GD302"),
        "new_case": new.id,
        "reason": "另一栋楼",
    }
    assert [e.action for e in events(new.id, "split_out")] == ["split_out"]
    # the last submission of a case cannot be split off
    r = run("cases", "split", str(sub_id("GD301")), "--operator", "王小二")
    assert r.exit_code == 2 and "无需拆分" in r.output


def test_the_review_queue_shows_why_the_suggestion_its_confidence_and_the_top_three(
    minq, monkeypatch
):
    night(minq)
    monkeypatch.setattr(review_cmds, "console", Console(width=250))
    r = run("review", "list")
    assert r.exit_code == 0, r.output
    assert "待人工审核 2 件" in r.output
    noisy, unknown = case_of("GD304"), case_of("GD305")
    assert noisy.number in r.output and unknown.number in r.output
    assert "分类把握不足：关键词规则的置信度 0.50，低于 0.60" in r.output
    assert "未能识别分类，请人工确定" in r.output
    assert "城乡建设 0.50" in r.output and "环境保护 0.50" in r.output
    assert case_of("GD301").number not in r.output  # confident cases are not in the queue
    # an urgent case comes first, marked, as in the console's queue
    with Session() as s, s.begin():
        s.get(Case, unknown.id).priority = "urgent"
    r = run("review", "list")
    assert r.output.index(unknown.number) < r.output.index(noisy.number)
    assert f"{unknown.number}  急" in r.output and f"{noisy.number}  急" not in r.output


def test_on_an_80_column_terminal_the_review_queue_is_one_block_per_case_with_whole_numbers(
    minq,
):
    night(minq)
    noisy, unknown = case_of("GD304"), case_of("GD305")
    with Session() as s, s.begin():
        s.get(Case, unknown.id).priority = "urgent"
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(cli(), ["review", "list"])
    assert narrow.exit_code == 0, narrow.output
    print(narrow.output)
    assert max(cell_len(line) for line in narrow.output.splitlines()) <= 80
    assert "…" not in narrow.output
    lines = [line.rstrip() for line in narrow.output.splitlines()]
    # the whole number an operator types into `review confirm`, 急 beside it, each at a line's start
    heads = [line for line in lines if line.startswith("MQ")]
    assert heads == [f"{unknown.number}  急", noisy.number]
    # every column of the table, each line whole: the reason, the suggestion and its confidence
    assert "    原因：分类把握不足：关键词规则的置信度 0.50，低于 0.60" in lines
    assert "    标题：楼下" in lines and "    前三：城乡建设 0.50，环境保护 0.50" in lines
    assert any(line.startswith("    建议分类：") and "置信度：0.50" in line for line in lines)
    assert any(line.startswith("    人数：1  立案时间：") for line in lines)
    # a terminal wide enough keeps the table
    wide = CliRunner(env={"COLUMNS": "200"}).invoke(cli(), ["review", "list"])
    assert "┃ 案件编号" in wide.output and "原因：" not in wide.output
    assert f"{unknown.number}  急" in wide.output and noisy.number in wide.output


def test_confirming_keeps_the_suggestion_and_the_next_dispatch_routes_it(minq):
    night(minq)
    noisy = case_of("GD304")
    suggested = noisy.category
    assert noisy.status is CaseStatus.NEEDS_REVIEW and suggested is not None
    r = run("review", "confirm", noisy.number, "--operator", "王小二")
    assert r.exit_code == 0, r.output
    case = case_of("GD304")
    assert case.status is CaseStatus.TRIAGED and case.category == suggested
    assert case.category_source == "operator" and case.review_reason is None
    (e,) = events(noisy.id, "category_confirmed")
    assert e.actor == "王小二" and e.detail["corrected"] is False
    assert dispatch_now(NIGHT)["assigned"] >= 1
    assert case_of("GD304").status is CaseStatus.ASSIGNED
    # without a suggestion there is nothing to confirm
    r = run("review", "confirm", case_of("GD305").number, "--operator", "王小二")
    assert r.exit_code == 2 and "review correct" in r.output


def test_a_correction_is_stored_as_the_operators_audited_and_routed_by_the_next_dispatch(minq):
    night(minq)
    unknown = case_of("GD305")
    r = run("review", "correct", unknown.number, "--category", "噪声污染", "--operator", "王小二")
    assert r.exit_code == 0, r.output
    case = case_of("GD305")
    assert (case.category, case.category_source, case.status) == (
        "噪声污染",
        "operator",
        CaseStatus.TRIAGED,
    )
    (e,) = events(unknown.id, "category_confirmed")
    assert e.actor == "王小二" and e.from_state == "needs_review" and e.to_state == "triaged"
    assert e.detail["corrected"] is True and e.detail["previous"] is None
    dispatch_now(NIGHT)
    routed = case_of("GD305")
    assert routed.status is CaseStatus.ASSIGNED and routed.lead_department == "chengguan"
    # an unknown category is refused; a merged case cannot be re-categorised
    r = run("review", "correct", case_of("GD304").number, "--category", "不存在", "--operator", "x")
    assert r.exit_code == 2 and "未知分类" in r.output
    assert case_of("GD304").status is CaseStatus.NEEDS_REVIEW


def test_the_main_cli_has_the_review_commands():
    from cli.main import app

    names = {g.name for g in app.registered_groups}
    assert {"cases", "review"} <= names
