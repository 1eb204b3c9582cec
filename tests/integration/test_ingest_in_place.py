"""`minqing ingest FILE`: a file outside the inbox is the operator's own — read, copied to the
archive, and left byte for byte where it was, also when it was taken before or cannot be read.
Inside the inbox files still move (archive/, failed/). And a file another run is reading is
skipped, not read twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rich.cells import cell_len
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from db.engine import Session
from db.models import IngestedFile, Submission
from minqing.i18n import using
from minqing.reasons import render
from minqing.settings import reset_settings
from tasks.context import context
from tasks.inbox import claim
from tasks.ingest import ingest_file, ingest_inbox_now

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
ROWS = [
    "GD101,张三,13912340001,路灯坏了,2026-11-27 09:32:10,东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑。,东湖社区",
    "GD102,李四,13912340002,夜间施工,2026-11-26 22:05,南苑社区工地夜间施工噪音扰民，严重影响休息。,南苑社区",
]


def export(folder: Path, name: str = "12345_导出.csv", rows: list[str] = ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="gb18030")
    return path


def fingerprint(path: Path) -> tuple[str, float]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime


def ingest(path: Path, *, exit_code: int = 0) -> str:
    result = CliRunner().invoke(app, ["ingest", str(path), "--channel", "hotline"])
    assert result.exit_code == exit_code, result.output
    return " ".join(result.output.split())


def submissions() -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(Submission))


def test_ingest_says_each_files_counts_with_their_labels_on_80_columns(minq):
    # a name that puts "拒收" at the 80th column: its count must come along to the next line
    mine = export(minq.home / "下载", name="hotline_东湖社区_11270.csv")
    assert cell_len(f"{mine.name}：已收录，副本已归档，原文件未动，收录 2，已有 0，拒收") == 80
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["ingest", str(mine), "--channel", "hotline"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for count in ("收录 2", "已有 0", "拒收 0"):  # never "拒收" at a line's end, "0" below it
        assert any(count in line for line in lines), result.output


def test_ingest_of_a_file_outside_the_inbox_leaves_it_untouched(minq):
    mine = export(minq.home / "下载")
    before = fingerprint(mine)
    assert "已收录，副本已归档，原文件未动，收录 2，已有 0" in ingest(mine)
    assert fingerprint(mine) == before  # same bytes, never rewritten
    archived = list((minq.settings.archive_dir / "hotline").iterdir())
    assert [p.read_bytes() for p in archived] == [mine.read_bytes()]  # a copy is archived
    assert "此前已收录，未重读，原文件未动" in ingest(mine)  # taken before: still not deleted
    assert fingerprint(mine) == before and submissions() == 2


def test_the_result_line_is_whole_on_a_narrow_terminal_in_english(minq):
    mine = export(minq.home / "下载")
    with using("en"):
        result = CliRunner(env={"COLUMNS": "60"}).invoke(
            app, ["ingest", str(mine), "--channel", "hotline"]
        )
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and said.endswith("taken in 2, already known 0, rejected 0"), said


def test_an_unreadable_file_outside_the_inbox_stays_and_the_reason_is_reported(minq):
    wrong = minq.home / "下载" / "wrong.csv"
    wrong.parent.mkdir()
    wrong.write_text("姓名,电话\n张三,139\n", encoding="utf-8")
    before = fingerprint(wrong)
    said = ingest(wrong, exit_code=1)  # a script sees that the file was not read
    assert "缺少必需的列" in said and "未能读取，原文件未动" in said
    assert fingerprint(wrong) == before
    assert not minq.settings.failed_dir.exists()  # not moved to var/failed
    with Session() as s:
        row = s.scalars(select(IngestedFile)).one()
    assert row.status == "failed" and row.reason_code == "missing_columns_near_top"
    assert "缺少必需的列" in render(row.why)
    with using("en"):
        assert render(row.why).startswith("Required column missing")


def test_inside_the_inbox_files_still_move_to_archive_and_failed(minq):
    taken = export(minq.inbox("hotline"))
    wrong = minq.inbox("hotline") / "wrong.csv"
    wrong.write_text("姓名,电话\n张三,139\n", encoding="utf-8")
    again = export(minq.inbox("hotline"), "same_again.csv")  # the same export under a new name
    assert "已收录，已归档，收录 2" in ingest(taken)
    assert "未能读取，已移至 failed/" in ingest(wrong, exit_code=1)
    assert "此前已收录，已归档（未重读）" in ingest(again)
    assert list(minq.inbox("hotline").iterdir()) == []
    assert (minq.settings.failed_dir / "hotline" / "wrong.csv").exists()
    assert (minq.settings.failed_dir / "hotline" / "wrong.csv.reason.txt").exists()
    assert len(list((minq.settings.archive_dir / "hotline").iterdir())) == 2  # both names


def test_a_file_another_run_is_reading_is_skipped_and_not_read_twice(minq):
    busy = export(minq.inbox("hotline"), "a.csv")
    free = export(minq.inbox("hotline"), "b.csv", [r.replace("GD1", "GD2") for r in ROWS])
    with claim(busy) as ours:  # another run holds a.csv
        assert ours
        night = ingest_inbox_now()
        assert ingest_file("hotline", busy, context().ref).status == "busy"
    assert [f["name"] for f in night["files"]] == ["b.csv"] and night["taken"] == 2
    assert not free.exists() and busy.exists()
    # The other run archived a.csv meanwhile: a run that listed it before finds it gone.
    stale = Path(busy)
    assert ingest_inbox_now()["taken"] == 2
    with claim(stale) as ours:
        assert not ours
    assert submissions() == 4


def test_an_unknown_channel_is_refused_with_the_known_ones_and_nothing_is_read(minq, monkeypatch):
    mine = export(minq.home / "下载")
    before = fingerprint(mine)
    result = CliRunner().invoke(app, ["ingest", str(mine), "--channel", "nosuch"])
    said = "".join(result.output.split())  # as printed, wrapped to the terminal
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in said and "KeyError" not in said
    assert "没有“nosuch”这个渠道" in said
    assert "12345热线（hotline）" in said and "扫码留言（qrform）" in said and "email" in said
    assert fingerprint(mine) == before and submissions() == 0

    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["ingest", str(mine), "--channel", "x"])
    lines = narrow.output.splitlines()
    for code in ("hotline", "qrform", "wechat", "visits", "register", "email"):
        assert any(f"（{code}）" in line for line in lines), narrow.output  # never "（wecha|t）"

    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    result = CliRunner().invoke(app, ["ingest", str(mine), "--channel", "nosuch"])
    said = "".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Thereisnochannel“nosuch”" in said and "12345hotline(hotline)" in said
