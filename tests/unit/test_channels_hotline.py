"""12345 hotline exports: encodings, column mapping, bad rows, huge files."""

from __future__ import annotations

import codecs
import csv
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from minqing.channels import file_checksum, get_parser
from minqing.records import Item, Rejected, UnreadableFile

HEADER = ["工单编号", "受理时间", "来电人", "联系电话", "标题", "诉求内容", "所属社区"]
ROWS = [
    [
        "GD001",
        "2026-11-27 08:15:00",
        "张三",
        "13800138000",
        "路灯",
        "东湖社区东湖花园北门路灯坏了",
        "东湖社区",
    ],
    [
        "GD002",
        "2026/11/27 9:32",
        "李四",
        "",
        "噪音",
        "西城社区夜宵摊噪音扰民，凌晨两点还在营业",
        "西城社区",
    ],
]
REPO = Path(__file__).resolve().parents[2]


def write_csv(path: Path, rows, encoding: str = "utf-8", header=HEADER) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def parse(path: Path, options=None) -> list[Item | Rejected]:
    return list(get_parser("hotline", options).parse(path, file_checksum(path)))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_every_common_encoding_reads_the_same(tmp_path, encoding: str) -> None:
    out = parse(write_csv(tmp_path / "h.csv", ROWS, encoding))
    assert [o.text for o in out] == [r[5] for r in ROWS]
    first = out[0]
    assert isinstance(first, Item)
    assert first.source_ref == "GD001" and first.contact.name == "张三" and first.area == "东湖社区"
    assert first.received_at.isoformat() == "2026-11-27T00:15:00+00:00"
    assert first.raw["cells"]["ticket"] == "GD001"


def test_ticket_number_is_the_key_so_an_overlapping_export_adds_nothing(tmp_path) -> None:
    day1 = parse(write_csv(tmp_path / "d1.csv", ROWS, "gb18030"))
    day2 = parse(
        write_csv(
            tmp_path / "d2.csv",
            [ROWS[1], ["GD003", "2026-11-28 10:00", "王五", "", "", "南苑停车难", ""]],
        )
    )
    assert day1[1].source_key == day2[0].source_key
    assert len({o.source_key for o in day1 + day2}) == 3


def test_columns_are_mapped_by_config(tmp_path) -> None:
    path = write_csv(
        tmp_path / "h.csv", [["X1", "路灯坏了", "2026-11-27"]], header=["单号", "问题", "时间"]
    )
    options = {"columns": {"ticket": ["单号"], "text": ["问题"], "received": ["时间"]}}
    [item] = parse(path, options)
    assert isinstance(item, Item) and item.source_ref == "X1" and item.text == "路灯坏了"


def test_a_missing_required_column_makes_the_file_unreadable_and_is_named(tmp_path) -> None:
    path = write_csv(tmp_path / "h.csv", [["GD1", "x"]], header=["工单编号", "备注"])
    with pytest.raises(UnreadableFile, match="缺少必需的列：.*诉求内容"):
        parse(path)


def test_bad_rows_are_rejected_with_a_reason(tmp_path) -> None:
    rows = [
        ["", "2026-11-27", "", "", "", "没有工单号", ""],
        ["GD010", "2026-11-27", "", "", "", "   ", ""],
        ["GD011", "下周二", "", "", "", "日期写错了", ""],
        ["GD012", "2026-11-27", "", "", "", "。。。", ""],
        ["GD013", "2026-11-27", "", "", "", "多出来的格子", "", "x", "y"],
        ["GD014", "", "", "", "", "没有日期也收下", ""],
    ]
    out = parse(write_csv(tmp_path / "h.csv", rows))
    reasons = [str(o.reason) if isinstance(o, Rejected) else "item" for o in out]
    assert reasons == [
        "缺少工单编号",
        "内容为空",
        "日期无法识别：“下周二”",
        "内容只有标点或符号，没有文字",
        "比表头多出 2 格：引号不成对或多了逗号",
        "item",
    ]
    assert "date_missing" in out[-1].flags
    assert all(o.source_file == "h.csv" and o.source_ref.startswith("h.csv:") for o in out[:-1])


def test_a_row_with_wrongly_encoded_bytes_is_rejected_alone(tmp_path) -> None:
    path = write_csv(tmp_path / "h.csv", ROWS, "gb18030")
    path.write_bytes(path.read_bytes() + b"GD020,2026-11-27,,,,\xff\xfe\xfd broken,\n")
    out = parse(path)
    assert [type(o).__name__ for o in out] == ["Item", "Item", "Rejected"]
    assert str(out[2].reason) == "文字编码无法识别（文件混用了不同编码，或编码有误）"
    out[2].excerpt.encode("utf-8")  # storable


def test_a_utf8_row_pasted_into_a_gbk_export_is_read_right(tmp_path) -> None:
    path = write_csv(tmp_path / "h.csv", ROWS, "gb18030")
    path.write_bytes(path.read_bytes() + "GD021,2026-11-27,,,,滨江社区公共厕所长期锁门,\n".encode())
    assert parse(path)[-1].text == "滨江社区公共厕所长期锁门"


def test_a_file_cut_in_the_middle_of_a_row_never_crashes(tmp_path) -> None:
    path = write_csv(
        tmp_path / "h.csv",
        ROWS + [["GD030", "2026-11-27", "", "", "", "最后一行被截断了，后面还有很多内容", ""]],
        "gb18030",
    )
    data = path.read_bytes()
    for cut in range(len(data) - 40, len(data)):
        path.write_bytes(data[:cut])
        out = parse(path)
        assert len(out) in (2, 3) and all(isinstance(o, Item | Rejected) for o in out)
    path.write_bytes(data.replace(b',"', b',"', 1)[:-20] + b'\n"unterminated quote')
    assert all(isinstance(o, Item | Rejected) for o in parse(path))


def test_overlong_text_is_kept_whole_and_flagged(tmp_path) -> None:
    long_text = "路灯坏了" * 3000
    [item] = parse(
        write_csv(tmp_path / "h.csv", [["GD040", "2026-11-27", "", "", "", long_text, ""]])
    )
    assert item.text == long_text and {"overlong", "truncated_for_email"} <= set(item.flags)


def test_formula_and_html_are_kept_as_text_and_flagged(tmp_path) -> None:
    rows = [
        ["GD050", "2026-11-27", "", "", "", '=HYPERLINK("http://evil.example","点击")', ""],
        ["GD051", "2026-11-27", "", "", "", "<script>alert(1)</script>路灯坏了", ""],
        ["GD052", "2026-11-27", "", "", "", "@SUM(1+1)*cmd|' /C calc'!A0", ""],
    ]
    out = parse(write_csv(tmp_path / "h.csv", rows))
    assert out[0].text.startswith("=HYPERLINK") and "formula_like" in out[0].flags
    assert "markup" in out[1].flags
    assert "formula_like" in out[2].flags


def test_an_xlsx_export_is_read_too(tmp_path) -> None:
    wb = Workbook()
    wb.active.append(["12345热线工单导出"])
    wb.active.append(HEADER)
    for row in ROWS:
        wb.active.append(row)
    path = tmp_path / "h.xlsx"
    wb.save(path)
    assert [o.source_ref for o in parse(path)] == ["GD001", "GD002"]


def test_blank_lines_are_not_rows(tmp_path) -> None:
    path = write_csv(tmp_path / "h.csv", ROWS)
    path.write_text(path.read_text(encoding="utf-8") + "\n,,,,,,\n\n", encoding="utf-8")
    assert len(parse(path)) == 2


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=9), max_size=8),
    encoding=st.sampled_from(["utf-8", "gb18030", "utf-8-sig"]),
)
def test_arbitrary_cells_never_crash_and_each_row_is_one_item_or_rejection(
    tmp_path, rows, encoding
) -> None:
    path = tmp_path / "prop.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))
    expected = [
        r for r in csv.reader(io.StringIO(path.read_bytes().decode(encoding)), strict=False)
    ][1:]
    expected = [r for r in expected if any(c.strip() for c in r)]
    out = parse(path)
    assert len(out) == len(expected)
    assert all(isinstance(o, Item | Rejected) for o in out)


_MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from minqing.channels import get_parser
    count = sum(1 for _ in get_parser(sys.argv[1]).parse(Path(sys.argv[2]), "x"))
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def peak_rss_kb(channel: str, path: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, channel, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    count, rss = done.stdout.split()
    return int(count), int(rss)


def test_a_100_mb_export_is_streamed_in_bounded_memory(tmp_path) -> None:
    body = "东湖社区路灯坏了很久晚上很黑请尽快修理" * 18
    big = tmp_path / "big.csv"
    rows = 0
    with big.open("w", encoding="gb18030", newline="") as fh:
        fh.write(",".join(HEADER) + "\n")
        while fh.tell() < 100 * 1024 * 1024:
            fh.write(
                "".join(
                    f'GD{rows + i:09d},2026-11-27 08:15,张三,13800138000,,"{body}{i}",东湖社区\n'
                    for i in range(2000)
                )
            )
            rows += 2000
    small = write_csv(tmp_path / "small.csv", ROWS, "gb18030")
    assert big.stat().st_size >= 100 * 1024 * 1024
    count, big_rss = peak_rss_kb("hotline", big)
    _, small_rss = peak_rss_kb("hotline", small)
    assert count == rows
    # Reading the file whole would take > 200 MB (bytes + decoded text); streaming takes a few.
    assert big_rss - small_rss < 30 * 1024, (big_rss, small_rss)


def test_utf16_exports_are_read(tmp_path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(
        codecs.BOM_UTF16_LE + "工单编号,诉求内容\r\nGD1,路灯坏了\r\n".encode("utf-16-le")
    )
    assert [o.text for o in parse(path)] == ["路灯坏了"]
