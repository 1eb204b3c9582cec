"""Reading channel files: encodings detected per file and repaired per line; spreadsheets
recognised by their bytes, not their names."""

from __future__ import annotations

import codecs
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook

from minqing.channels.tabular import (
    cell_text,
    clean_header,
    iter_rows,
    open_table,
    resolve_columns,
    sniff,
)
from minqing.channels.textfile import decode_line, detect_encoding, has_undecodable, open_text
from minqing.records import UnreadableFile

TEXT = "工单编号,诉求内容\nGD1,东湖社区路灯坏了\nGD2,西城噪音扰民\n"


def lines_of(path) -> list[str]:
    with open_text(path) as lines:
        return list(lines)


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gb18030"), "gb18030"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.encode("utf-16"), "utf-16"),
    ],
)
def test_encoding_is_detected_not_assumed(tmp_path, encoded: bytes, expected: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(encoded)
    assert detect_encoding(path) == expected
    assert "".join(lines_of(path)).replace("\r\n", "\n") == TEXT


def test_a_gbk_file_whose_first_megabyte_is_ascii_is_still_gbk(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,text\n" + b"1,ascii only\n" * 150_000 + "2,路灯坏了\n".encode("gbk"))
    assert detect_encoding(path) == "gb18030"
    assert lines_of(path)[-1] == "2,路灯坏了\n"


def test_mixed_encoding_lines_are_each_decoded_right(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(
        "a,东湖社区路灯坏了很久\n".encode("gbk")
        + "b,西城社区噪音扰民严重\n".encode()
        + "c,南苑停车难\n".encode("gbk")
    )
    assert [line.strip() for line in lines_of(path)] == [
        "a,东湖社区路灯坏了很久",
        "b,西城社区噪音扰民严重",
        "c,南苑停车难",
    ]


def test_a_line_valid_in_no_encoding_keeps_its_bad_bytes_visible(tmp_path) -> None:
    line = decode_line(b"ok,\xff\xfe\x80 bad\n", "utf-8")
    assert has_undecodable(line)
    assert not has_undecodable(decode_line("好\n".encode(), "utf-8"))


def test_old_mac_csv_with_cr_line_endings_is_split_into_lines(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.replace("\n", "\r").encode("gb18030"))
    assert [line.strip() for line in lines_of(path)] == TEXT.strip().split("\n")


def test_binary_is_not_text(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"\x00\x00\x00\x00\x01bin" * 100)
    with pytest.raises(UnreadableFile, match="二进制文件"):
        detect_encoding(path)


def test_a_stray_nul_in_a_cell_is_still_text(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("工单编号,诉求内容\nGD1,路灯\x00坏了\n".encode())
    assert detect_encoding(path) == "utf-8"
    assert lines_of(path)[1] == "GD1,路灯\x00坏了\n"


# --- spreadsheets ---------------------------------------------------------------------------


def make_xlsx(path, rows) -> None:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(path)


def test_renamed_files_are_refused_with_what_they_really_are(tmp_path) -> None:
    png = tmp_path / "登记.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(UnreadableFile, match="PNG 图片"):
        sniff(png)
    xls = tmp_path / "old.xlsx"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(UnreadableFile, match="97-2003"):
        sniff(xls)
    text = tmp_path / "text.xlsx"
    text.write_text("just text", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="不是 Excel 工作簿"):
        sniff(text)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableFile, match="空文件"):
        sniff(empty)


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path) -> None:
    path = tmp_path / "photos.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("IMG_0001.jpg", b"\xff\xd8\xff fake")
    with pytest.raises(UnreadableFile, match="是压缩包，不是 Excel 工作簿"):
        list(iter_rows(path))


def test_a_truncated_workbook_is_refused(tmp_path) -> None:
    path = tmp_path / "cut.xlsx"
    make_xlsx(path, [["反映内容"], *[[f"第{i}条意见"] for i in range(200)]])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UnreadableFile, match="不完整或已损坏"):
        list(iter_rows(path))


def test_a_csv_named_xlsx_and_an_xlsx_named_csv_are_read_for_what_they_are(tmp_path) -> None:
    book = tmp_path / "really-a-book.csv"
    make_xlsx(book, [["反映内容"], ["路灯"]])
    assert [r.values[0] for r in iter_rows(book)] == ["反映内容", "路灯"]


def test_header_is_found_below_a_title_row_and_names_are_matched_loosely(tmp_path) -> None:
    path = tmp_path / "r.xlsx"
    make_xlsx(
        path,
        [
            ["东湖站接待登记表"],
            [],
            [" 接待\n日期 ", "反映内容*", "联系电话（手机）", "是否现场答复(必填)"],
            ["2026-11-27", "路灯", "139", "是"],
        ],
    )
    table = open_table(
        path,
        {
            "received": ["接待日期"],
            "text": ["反映内容"],
            "phone": ["联系电话"],
            "on_spot": ["是否现场答复"],
        },
        ["text"],
    )
    assert table.header_row == 3
    assert table.columns == {"received": 0, "text": 1, "phone": 2, "on_spot": 3}
    assert [r.number for r in table.rows] == [4]


def test_a_missing_required_column_is_named(tmp_path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("日期,姓名\n2026-11-27,张三\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match=r"缺少必需的列：反映内容/诉求内容"):
        open_table(path, {"text": ["反映内容", "诉求内容"], "name": ["姓名"]}, ["text"])


def test_one_column_serves_one_field() -> None:
    assert resolve_columns(
        ["答复内容", "反映内容"], {"text": ["反映内容", "内容"], "reply": ["答复内容"]}
    ) == {
        "text": 1,
        "reply": 0,
    }


def test_formula_cells_are_read_as_their_text_never_evaluated(tmp_path) -> None:
    path = tmp_path / "f.xlsx"
    make_xlsx(path, [["反映内容"], ['=HYPERLINK("http://evil.example","点击")'], ["=1+1"]])
    assert [r.values[0] for r in iter_rows(path)][1:] == [
        '=HYPERLINK("http://evil.example","点击")',
        "=1+1",
    ]


def test_cells_become_text_without_float_noise() -> None:
    assert cell_text(13800138000.0) == "13800138000"
    assert cell_text(1.5) == "1.5"
    assert cell_text(datetime(2026, 11, 27, 8, 15)) == "2026-11-27 08:15:00"
    assert cell_text(None) == "" and cell_text("  x ") == "x" and cell_text(True) == "是"
    assert clean_header("\ufeff反映 内容：") == "反映内容"
