"""Proof on real citizens' messages (TipDM 2020 C, 留言 of a municipal message board): channel
files built from them in tmp_path are read with every row accounted for, and stable keys.

The data stays in shared/; nothing of it is copied into the repository.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from minqing.channels import file_checksum, get_parser
from minqing.channels.base import parse_datetime
from minqing.records import Item, Rejected

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tipdm2020c"
LIKES = DATA / "messages_with_likes.csv"
REPLIES = DATA / "messages_with_replies.csv"

pytestmark = pytest.mark.skipif(
    not (LIKES.exists() and REPLIES.exists()),
    reason=f"real data not found at {DATA.resolve()} (shared/data/tipdm2020c beside the repository)",
)


def messages(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def likes() -> list[dict[str, str]]:
    return messages(LIKES)


@pytest.fixture(scope="module")
def replies() -> list[dict[str, str]]:
    return messages(REPLIES)


def read(channel: str, path: Path, options=None) -> list[Item | Rejected]:
    return list(get_parser(channel, options).parse(path, file_checksum(path)))


def accounted(out: list[Item | Rejected], rows: int) -> tuple[list[Item], list[Rejected]]:
    items = [o for o in out if isinstance(o, Item)]
    rejected = [o for o in out if isinstance(o, Rejected)]
    assert len(items) + len(rejected) == len(out) == rows
    assert len({o.source_key for o in out}) == rows  # every row its own key
    return items, rejected


def test_a_gb18030_hotline_export_of_real_messages(tmp_path, likes) -> None:
    path = tmp_path / "12345热线工单_real.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["工单编号", "受理时间", "来电人", "标题", "诉求内容"])
        for m in likes:
            writer.writerow(
                [m["留言编号"], m["留言时间"], m["留言用户"], m["留言主题"], m["留言详情"]]
            )
    out = read("hotline", path)
    items, _ = accounted(out, len(likes))
    assert len(items) == len(likes)  # the real data is clean: nothing to reject
    by_ticket = {i.source_ref: i for i in items}
    for m in likes[:: max(1, len(likes) // 200)]:
        item = by_ticket[m["留言编号"]]
        assert item.text == m["留言详情"].strip() and item.title == m["留言主题"].strip()
        assert item.received_at == parse_datetime(m["留言时间"])
    assert [o.source_key for o in read("hotline", path)] == [o.source_key for o in out]


def test_an_xlsx_reception_register_of_real_messages(tmp_path, replies) -> None:
    path = tmp_path / "接待登记_东湖站_real.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("接待登记")
    ws.append(["东湖站人大代表接待登记表"])
    ws.append(
        [
            "序号",
            "接待日期",
            "群众姓名",
            "所属社区",
            "反映内容",
            "接待代表",
            "是否现场答复",
            "答复内容",
        ]
    )
    for n, m in enumerate(replies, start=1):
        on_spot = n % 10 == 0  # every tenth visitor answered on the spot, with the real reply
        ws.append([
            n, m["留言时间"], m["留言用户"], "东湖社区", _cell(m["留言详情"]), "李秀英",
            "是" if on_spot else "否", _cell(m["答复意见"]) if on_spot else None,
        ])  # fmt: skip
    wb.save(path)
    out = read("register", path)
    items, _ = accounted(out, len(replies))
    assert len(items) == len(replies)
    assert sum(i.answered_on_spot for i in items) == len(replies) // 10
    assert all(i.recorded_by == "李秀英" and i.raw["station"] == "东湖站" for i in items)
    assert [o.source_key for o in read("register", path)] == [o.source_key for o in out]


def test_a_wechat_export_of_real_messages(tmp_path, likes) -> None:
    path = tmp_path / "随手拍群_real.txt"
    with path.open("w", encoding="utf-8") as fh:
        for m in likes:
            when = parse_datetime(m["留言时间"])
            assert when is not None
            fh.write(f"{m['留言时间'].replace('/', '-')} {m['留言用户']}\n")
            fh.write("\n".join(line for line in m["留言详情"].splitlines() if line.strip()) + "\n")
    out = read("wechat", path)
    items, rejected = accounted(out, len(likes))
    assert len(items) >= 0.99 * len(likes), [str(r.reason) for r in rejected][:20]
    assert all(i.attachments == () for i in items)
    assert [o.source_key for o in read("wechat", path)] == [o.source_key for o in out]


def test_a_json_lines_form_file_of_real_messages(tmp_path, replies) -> None:
    path = tmp_path / "扫码留言_real.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for m in replies:
            record = {
                "id": m["留言编号"],
                "station": "dh-station-01",
                "submitted_at": m["留言时间"],
                "title": m["留言主题"],
                "content": m["留言详情"],
                "name": m["留言用户"],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    out = read("qrform", path)
    items, _ = accounted(out, len(replies))
    assert len(items) == len(replies)
    assert [o.source_key for o in read("qrform", path)] == [o.source_key for o in out]


def _cell(text: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", text)
