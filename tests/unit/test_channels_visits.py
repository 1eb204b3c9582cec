"""Enterprise visits and grid rounds (走访企业 / 进网格): numbered points become separate items."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from minqing.channels import file_checksum, get_parser
from minqing.channels.visits import split_numbered
from minqing.records import Item, Rejected

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample" / "night1" / "inbox" / "visits" / "走访企业_20261127.xlsx"
HEADER = ["企业名称", "走访日期", "走访代表", "所属社区/网格", "联系人", "联系电话", "问题与建议"]


def write_xlsx(path: Path, rows) -> Path:
    wb = Workbook()
    wb.active.append(HEADER)
    for row in rows:
        wb.active.append(row)
    wb.save(path)
    return path


def parse(path: Path) -> list[Item | Rejected]:
    return list(get_parser("visits").parse(path, file_checksum(path)))


@pytest.mark.parametrize(
    ("cell", "points"),
    [
        ("1、路灯不亮；2、停车难；3、食堂卫生差", ["路灯不亮", "停车难", "食堂卫生差"]),
        ("1、路灯不亮2、停车难", ["路灯不亮", "停车难"]),
        ("①污水管网未接入②建筑垃圾堆放", ["污水管网未接入", "建筑垃圾堆放"]),
        ("（1）货车噪音；（2）学位协调", ["货车噪音", "学位协调"]),
        ("(1)货车噪音 (2)学位协调", ["货车噪音", "学位协调"]),
        ("1) 货车噪音 2) 学位协调", ["货车噪音", "学位协调"]),
        ("1. 停车位不足 2. 公交班次少", ["停车位不足", "公交班次少"]),
        ("一、拖欠工资；二、道路破损", ["拖欠工资", "道路破损"]),
        ("（一）拖欠工资（二）道路破损", ["拖欠工资", "道路破损"]),
        ("第一，路灯不亮；第二，停车难", ["路灯不亮", "停车难"]),
        ("１、全角编号 ２、也能拆", ["全角编号", "也能拆"]),
        # numbers that are not a list stay inside their point
        (
            "1、3栋和4栋之间路灯坏了1.5米高的灯杆倒了；2、停车难",
            ["3栋和4栋之间路灯坏了1.5米高的灯杆倒了", "停车难"],
        ),
        ("1、路灯坏了，涉及2、3号楼 2、停车难", ["路灯坏了，涉及2、3号楼", "停车难"]),
        # nested lists split at the top level
        ("一、交通：1、红绿灯 2、停车 二、用工", ["交通：1、红绿灯 2、停车", "用工"]),
        # one point, or no list at all, is one item
        ("1、只有一条", ["1、只有一条"]),
        ("厂区门口路灯不亮，员工2.5公里外停车", ["厂区门口路灯不亮，员工2.5公里外停车"]),
    ],
)
def test_numbered_points_are_split(cell: str, points: list[str]) -> None:
    assert split_numbered(cell)[1] == points


def test_text_before_the_list_is_kept_as_context() -> None:
    assert split_numbered("企业反映以下问题：\n1、路灯不亮；\n2、停车难。") == (
        "企业反映以下问题：",
        ["路灯不亮", "停车难。"],
    )


@given(st.text(max_size=80))
def test_splitting_never_fails_and_loses_no_words(text: str) -> None:
    preamble, points = split_numbered(text)
    joined = preamble + "".join(points)
    words = [ch for ch in text if ch.isalpha() and ch not in "一二三四五六七八九十第"]
    kept = [ch for ch in joined if ch.isalpha() and ch not in "一二三四五六七八九十第"]
    assert kept == words


def test_each_point_is_an_item_linked_to_its_visit(tmp_path) -> None:
    rows = [
        [
            "东湖精密机械有限公司",
            datetime(2026, 11, 27),
            "李秀英",
            "东湖社区",
            "赵经理",
            "13807310101",
            "企业反映：1、公交站撤销后通勤难；2、路灯不亮",
        ],
        [None, "2026-11-27", "黄敏", "新华社区", "网格员吴芳", None, "楼道堆放杂物存在消防隐患"],
    ]
    out = parse(write_xlsx(tmp_path / "走访企业_20261127.xlsx", rows))
    assert [o.text for o in out] == [
        "企业反映：公交站撤销后通勤难",
        "企业反映：路灯不亮",
        "楼道堆放杂物存在消防隐患",
    ]
    first, second, grid = out
    assert first.group_ref == second.group_ref != grid.group_ref
    assert first.on_behalf_of == "东湖精密机械有限公司" and first.recorded_by == "李秀英"
    assert first.contact.name == "赵经理" and first.area == "东湖社区"
    assert (first.source_ref, second.source_ref, grid.source_ref) == (
        "走访企业_20261127.xlsx:2#1",
        "走访企业_20261127.xlsx:2#2",
        "走访企业_20261127.xlsx:3",
    )
    assert first.raw["points"] == 2 and first.raw["preamble"] == "企业反映："
    assert grid.on_behalf_of is None
    assert len({o.source_key for o in out}) == 3


def test_bad_visit_rows_are_rejected(tmp_path) -> None:
    rows = [
        ["某公司", "下周", "王磊", "", "", "", "1、a；2、b"],
        ["某公司", "2026-11-27", "王磊", "", "", "", "  "],
    ]
    out = parse(write_xlsx(tmp_path / "v.xlsx", rows))
    assert [str(o.reason) for o in out] == ["日期无法识别：“下周”", "内容为空"]


def test_keys_survive_a_reread_and_an_added_point(tmp_path) -> None:
    row = [
        "南苑物流园",
        "2026-11-27",
        "王磊",
        "南苑社区",
        "孙总",
        "",
        "（1）货车噪音；（2）学位协调",
    ]
    day1 = parse(write_xlsx(tmp_path / "v1.xlsx", [row]))
    day2 = parse(write_xlsx(tmp_path / "v2.xlsx", [[*row[:6], row[6] + "；（3）消防栓失修"]]))
    assert [o.source_key for o in day1] == [o.source_key for o in day2][:2]
    assert day1[0].group_ref == day2[2].group_ref


def test_the_demo_sample_is_accounted_for(tmp_path) -> None:
    path = Path(shutil.copy(SAMPLE, tmp_path / SAMPLE.name))
    out = parse(path)
    assert all(isinstance(o, Item) for o in out)
    assert len(out) == 14 and len({o.group_ref for o in out}) == 6


cells = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
    st.integers(0, 10**6),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cells, min_size=7, max_size=7), max_size=6))
def test_arbitrary_cells_never_crash_and_every_row_is_accounted_for(tmp_path, rows) -> None:
    out = parse(write_xlsx(tmp_path / "prop.xlsx", rows))
    non_blank = [
        i + 2 for i, r in enumerate(rows) if any(c is not None and str(c).strip() for c in r)
    ]
    rows_seen = sorted({int(o.source_ref.split(":")[1].split("#")[0]) for o in out})
    assert rows_seen == non_blank
    rejected_rows = [
        o.source_ref for o in out if isinstance(o, Rejected) and "#" not in o.source_ref
    ]
    assert len(rejected_rows) == len(set(rejected_rows))  # a rejected row is one Rejected
    assert len({o.source_key for o in out}) == len(out)
