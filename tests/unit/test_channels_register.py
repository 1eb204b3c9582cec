"""Reception registers of representatives' homes, stations and contact points (代表家站点)."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from minqing.channels import file_checksum, get_parser
from minqing.channels.register import on_spot_answer, station_from_name
from minqing.records import Item, Rejected, UnreadableFile

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample" / "night1" / "inbox" / "register" / "接待登记_东湖站_20261127.xlsx"
HEADER = [
    "序号",
    "接待日期",
    "群众姓名",
    "联系电话",
    "所属社区/网格",
    "反映内容",
    "接待代表",
    "是否现场答复",
    "答复内容",
]


def write_xlsx(path: Path, rows, title: str | None = "东湖站人大代表接待登记表") -> Path:
    wb = Workbook()
    if title:
        wb.active.append([title])
    wb.active.append(HEADER)
    for row in rows:
        wb.active.append(row)
    wb.save(path)
    return path


def parse(path: Path, options=None) -> list[Item | Rejected]:
    return list(get_parser("register", options).parse(path, file_checksum(path)))


ROW = [
    1,
    datetime(2026, 11, 27, 9, 5),
    "周桂兰",
    13907310001,
    "东湖社区",
    "东湖花园3栋电梯经常停运",
    "李秀英",
    "否",
    None,
]


def test_a_register_row_becomes_an_item_with_its_provenance(tmp_path) -> None:
    path = write_xlsx(tmp_path / "接待登记_东湖站_20261127.xlsx", [ROW])
    [item] = parse(path)
    assert isinstance(item, Item)
    assert item.channel == "register" and item.source_file == path.name
    assert item.file_checksum == file_checksum(path) and item.source_ref == f"{path.name}:3"
    assert item.received_at.isoformat() == "2026-11-27T01:05:00+00:00"
    assert item.contact.name == "周桂兰" and item.contact.phone == "13907310001"
    assert item.area == "东湖社区" and item.recorded_by == "李秀英"
    assert (
        item.raw["station"] == "东湖站" and item.raw["cells"]["text"] == "东湖花园3栋电梯经常停运"
    )
    assert not item.answered_on_spot and item.on_spot_reply is None


@pytest.mark.parametrize(
    "mark", ["是", "Y", "y", "√", "✓", "已答复", "已现场答复", "现场答复", "1", True]
)
def test_rows_answered_on_the_spot_carry_the_reply(tmp_path, mark) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", [[*ROW[:7], mark, "已告知办理流程"]])
    [item] = parse(path)
    assert item.answered_on_spot and item.on_spot_reply == "已告知办理流程"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("否", False),
        ("N", False),
        ("×", False),
        ("未答复", False),
        ("", None),
        ("待定", None),
        ("已解答", True),
    ],
)
def test_on_spot_answers(value, expected) -> None:
    assert on_spot_answer(value) is expected


def test_unclear_or_replyless_on_spot_marks_are_flagged(tmp_path) -> None:
    out = parse(
        write_xlsx(
            tmp_path / "r.xlsx",
            [[*ROW[:7], "待定", None], [2, *ROW[1:5], "路灯坏了", "李秀英", "是", None]],
        )
    )
    assert "on_spot_unclear" in out[0].flags and not out[0].answered_on_spot
    assert "on_spot_reply_missing" in out[1].flags and out[1].answered_on_spot


def test_recorded_by_falls_back_to_the_station(tmp_path) -> None:
    path = write_xlsx(
        tmp_path / "接待登记_西城代表之家_20261127.xlsx", [[*ROW[:6], None, "否", None]]
    )
    assert parse(path)[0].recorded_by == "西城代表之家"
    path = write_xlsx(tmp_path / "register.xlsx", [[*ROW[:6], None, "否", None]])
    assert parse(path, {"station": "南苑联络站"})[0].recorded_by == "南苑联络站"
    assert station_from_name(Path("接待登记_北塘联系点_20261127.csv")) == "北塘联系点"
    assert station_from_name(Path("register.xlsx")) is None


@pytest.mark.parametrize(
    "cell",
    [
        "2023年5月1日",
        "2023/5/1 9:32",
        "2023-05-01 09:32:09",
        45047,
        datetime(2023, 5, 1, 9, 32),
        "2023年5月1日上午9点32分",
    ],
)
def test_dates_in_every_common_format(tmp_path, cell) -> None:
    [item] = parse(write_xlsx(tmp_path / "r.xlsx", [[1, cell, *ROW[2:]]]))
    assert isinstance(item, Item) and item.received_at.date().isoformat() in (
        "2023-04-30",
        "2023-05-01",
    )


def test_bad_rows_are_rejected_with_reasons_and_the_rest_taken(tmp_path) -> None:
    rows = [
        ROW,
        [2, "下周二", "许文", None, "南苑社区", "公交站台顶棚破了", "王磊", "否", None],
        [3, "2026-11-27", "空白", None, "南苑社区", "   ", "王磊", "否", None],
        [4, None, "没日期", None, "南苑社区", "没有日期的一行", "王磊", "否", None],
        [None, None, None, None, None, None, None, None, None],
    ]
    out = parse(write_xlsx(tmp_path / "接待登记_东湖站_20261127.xlsx", rows))
    assert [str(o.reason) if isinstance(o, Rejected) else "item" for o in out] == [
        "item",
        "日期无法识别：“下周二”",
        "内容为空",
        "item",
    ]
    assert (
        "date_missing" in out[3].flags and out[3].received_at.date().isoformat() == "2026-11-26"
    )  # file date, local midnight


def test_a_missing_text_column_is_named(tmp_path) -> None:
    wb = Workbook()
    wb.active.append(["日期", "姓名", "备注"])
    wb.save(tmp_path / "r.xlsx")
    with pytest.raises(UnreadableFile, match="缺少必需的列：.*诉求内容"):
        parse(tmp_path / "r.xlsx")


def test_an_image_named_xlsx_is_unreadable(tmp_path) -> None:
    (tmp_path / "r.xlsx").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 200)
    with pytest.raises(UnreadableFile, match="JPEG 图片"):
        parse(tmp_path / "r.xlsx")


def test_formula_cells_are_stored_as_text(tmp_path) -> None:
    [item] = parse(
        write_xlsx(
            tmp_path / "r.xlsx", [[*ROW[:5], '=HYPERLINK("http://evil.example","点我")', *ROW[6:]]]
        )
    )
    assert item.text == '=HYPERLINK("http://evil.example","点我")' and "formula_like" in item.flags


def test_keys_are_stable_across_rereads_and_overlapping_registers(tmp_path) -> None:
    second = [
        2,
        "2026-11-27 10:00",
        "孙建华",
        None,
        "东湖社区",
        "夜宵摊噪音扰民",
        "李秀英",
        "否",
        None,
    ]
    twin = [
        3,
        "2026-11-27 10:00",
        "孙建华",
        None,
        "东湖社区",
        "夜宵摊噪音扰民",
        "李秀英",
        "否",
        None,
    ]
    day1 = parse(write_xlsx(tmp_path / "接待登记_东湖站_20261127.xlsx", [ROW, second, twin]))
    again = parse(tmp_path / "接待登记_东湖站_20261127.xlsx")
    # the next day the station sends the whole register again, with a title row more and a new row
    day2 = parse(
        write_xlsx(
            tmp_path / "接待登记_东湖站_20261128.xlsx",
            [ROW, second, twin, [4, "2026-11-28", "新", None, "", "新的意见", "", "", None]],
            title="更新",
        )
    )
    keys1 = [o.source_key for o in day1]
    assert keys1 == [o.source_key for o in again]
    assert len(set(keys1)) == 3  # identical rows still get their own keys
    assert keys1 == [o.source_key for o in day2][:3]


def test_a_csv_register_is_read_like_a_workbook(tmp_path) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, [str(c) if c is not None else "" for c in ROW]])
    path = tmp_path / "接待登记_东湖站_20261127.csv"
    path.write_bytes(buffer.getvalue().encode("gb18030"))
    [item] = parse(path)
    assert item.text == "东湖花园3栋电梯经常停运" and item.contact.phone == "13907310001"


def test_the_demo_sample_is_accounted_for(tmp_path) -> None:
    path = shutil.copy(SAMPLE, tmp_path / SAMPLE.name)
    out = parse(Path(path))
    items = [o for o in out if isinstance(o, Item)]
    assert len(out) == 20 and len(items) == 19
    assert sum(i.answered_on_spot for i in items) == 3
    assert {i.area for i in items} <= {
        "东湖社区",
        "西城社区",
        "南苑社区",
        "北塘社区",
        "滨江社区",
        "新华社区",
    }


cells = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=25),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cells, min_size=9, max_size=9), max_size=6))
def test_arbitrary_cells_never_crash_and_each_row_is_one_item_or_rejection(tmp_path, rows) -> None:
    path = write_xlsx(tmp_path / "prop.xlsx", rows)
    out = parse(path)
    non_blank = [r for r in rows if any(c is not None and str(c).strip() for c in r)]
    assert len(out) == len(non_blank)
    assert len({o.source_ref for o in out}) == len(out)
