"""minqing.intake: a file prepared in a second process comes out exactly as prepared in this one;
what went wrong there is raised here; closing early stops the reader."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from minqing.intake import prepared_batches, read_in_background
from minqing.records import UnreadableFile

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
AREAS = {"东湖社区": "donghu", "东湖": "donghu", "南苑社区": "nanyuan"}


def hotline_csv(path: Path, rows: int) -> Path:
    lines = [HEADER]
    for i in range(rows):
        text = f"東湖社區{i}號樓路燈壞了，請儘快維修，電話13912345678"  # traditional, a phone
        lines.append(f"GD{i:05d},张{i},139{i:08d},路灯,2026-11-27 09:30,{text},东湖社区")
        if i % 7 == 0:
            lines.append(f"GD{i:05d}x,,,,2026-13-45,没有日期,南苑社区")  # rejected: date
    path.write_text("\n".join(lines) + "\n", encoding="gb18030")
    return path


def test_the_background_reader_gives_the_same_batches(tmp_path: Path) -> None:
    path = hotline_csv(tmp_path / "12345.csv", 50)
    here = list(prepared_batches("hotline", {}, path, "sum", AREAS, 16))
    there = list(read_in_background("hotline", {}, path, "sum", AREAS, 16))
    assert [b.count for b in there] == [16, 16, 16, 10]  # 50 rows and 8 rejections
    assert there == here
    row = there[0].rows[0]
    assert row["text"].startswith("东湖社区0号楼路灯坏了，请尽快维修，电话[电话已隐去]")
    assert row["area_code"] == "donghu" and there[0].persons[0]["identity_key"].startswith("phone:")
    assert str(there[0].rejected[0].reason) == "日期无法识别：“2026-13-45”"


def test_an_unreadable_file_raises_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("姓名,电话\n张三,139\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="缺少必需的列"):
        list(read_in_background("hotline", {}, path, "sum", AREAS, 16))


def test_a_crash_in_the_reader_is_raised_with_its_traceback(tmp_path: Path) -> None:
    path = hotline_csv(tmp_path / "12345.csv", 3)
    with pytest.raises(RuntimeError, match="ValueError") as failure:
        list(read_in_background("hotline", {"header_search_rows": "x"}, path, "s", AREAS, 16))
    assert "12345.csv" in str(failure.value) and "Traceback" in str(failure.value)


def test_closing_early_stops_the_reader(tmp_path: Path) -> None:
    path = hotline_csv(tmp_path / "12345.csv", 200)
    others = set(psutil.Process().children())  # e.g. a Prefect test server started earlier
    batches = read_in_background("hotline", {}, path, "sum", AREAS, 10)
    assert next(batches).count == 10
    [reader] = set(psutil.Process().children()) - others
    batches.close()
    assert not reader.is_running() or reader.status() == psutil.STATUS_ZOMBIE
    assert set(psutil.Process().children()) - others == set()


def test_markup_is_stripped_only_where_the_channel_declares_html(tmp_path: Path) -> None:
    path = tmp_path / "12345.csv"
    text = "<p>路灯<br>坏了</p>见&lt;A4区通知&gt;"
    path.write_text(
        f"{HEADER}\nGD1,张三,,<b>路灯</b>,2026-11-27 09:30,{text},东湖社区\n", encoding="utf-8"
    )
    (plain,) = list(prepared_batches("hotline", {}, path, "sum", AREAS, 16))
    assert (plain.rows[0]["title"], plain.rows[0]["text"]) == ("<b>路灯</b>", text)
    options = {"text_format": "html"}
    (html,) = list(prepared_batches("hotline", options, path, "sum", AREAS, 16))
    assert (html.rows[0]["title"], html.rows[0]["text"]) == ("路灯", "路灯\n坏了\n见<A4区通知>")
