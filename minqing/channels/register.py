"""Reception register (接待登记) of representatives' homes, liaison stations and contact points
(代表家/站/点): one row per visitor, in .xlsx or CSV.

Options (config/channels.yaml `channels.register`):
  columns:  field → header names, merged over DEFAULT_COLUMNS
  station:  name of the station when neither the file nor a column says it
  area:     default 所属社区 for rows that leave it empty
  sheet:    sheet name (default: the first sheet)
  header_search_rows: how many rows to look through for the header (default 10)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from minqing.channels.base import (
    ChannelParser,
    Occurrences,
    check_text,
    extra_cells_reason,
    file_time,
    make_source_key,
    parse_datetime,
    register,
    safe_excerpt,
    text_digest,
    text_flags,
    undecodable_reason,
    unreadable_date_reason,
)
from minqing.channels.tabular import (
    HEADER_SEARCH_ROWS,
    Row,
    Table,
    cell_text,
    extra_cells,
    open_table,
    raw_row,
    row_excerpt,
    row_is_blank,
    row_undecodable,
)
from minqing.reasons import Reason
from minqing.records import Contact, Item, Rejected

DEFAULT_COLUMNS: dict[str, list[str]] = {
    "id": ["登记编号", "接待编号"],
    "received": ["接待日期", "日期", "接待时间", "来访日期", "来访时间", "登记日期"],
    "name": ["群众姓名", "来访人", "来访人姓名", "来访群众", "姓名", "反映人"],
    "phone": ["联系电话", "电话", "手机", "手机号码", "联系方式"],
    "title": ["标题", "主题", "事由"],
    "text": ["反映内容", "诉求内容", "问题描述", "反映问题", "意见建议", "来访事由", "内容"],
    "area": ["所属社区/网格", "所属社区", "所属网格", "社区", "网格"],
    "representative": ["接待代表", "接待人", "接待人员", "代表"],
    "station": ["接待站点", "站点", "代表之家", "联络站"],
    "on_spot": ["是否现场答复", "现场答复", "是否当场答复"],
    "reply": ["答复内容", "现场答复内容", "答复情况", "答复意见"],
}
REQUIRED = ("text",)

_YES = {
    "是",
    "y",
    "yes",
    "√",
    "✓",
    "✔",
    "☑",
    "1",
    "true",
    "已答复",
    "已现场答复",
    "现场答复",
    "已解答",
    "已回复",
    "已办结",
    "答复",
}
_NO = {"否", "n", "no", "×", "✗", "✘", "0", "false", "未答复", "无", "不", "未", "/", "-", "—"}
_STATION_IN_NAME = re.compile(r"[^\W\d_]{1,12}?(?:代表之家|代表家|联络站|联系点|站|家|点)")


def on_spot_answer(value: str) -> bool | None:
    """True / False for the 是否现场答复 cell, None when it says neither (or is empty)."""
    text = re.sub(r"\s+", "", value).lower()
    if not text:
        return None
    if text in _YES or (text.startswith("已") and "答" in text):
        return True
    if text in _NO or text.startswith(("未", "否", "没")):
        return False
    return None


def station_from_name(path: Path) -> str | None:
    """'接待登记_东湖站_20261127.xlsx' → '东湖站' (the part of the name that names a station)."""
    for part in re.split(r"[_\-\s.]+", path.stem):
        if part.startswith("接待登记"):
            continue
        m = _STATION_IN_NAME.fullmatch(part)
        if m:
            return part
    return None


@register
class RegisterParser(ChannelParser):
    channel = "register"
    suffixes = (".xlsx", ".xlsm", ".csv", ".txt")

    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        mapping = {**DEFAULT_COLUMNS, **self.options.get("columns", {})}
        table = open_table(
            path,
            mapping,
            REQUIRED,
            sheet=self.options.get("sheet"),
            search_rows=int(self.options.get("header_search_rows", HEADER_SEARCH_ROWS)),
        )
        station = self.options.get("station") or station_from_name(path)
        fallback_time = file_time(path)
        seen = Occurrences()
        for row in table.rows:
            if row_is_blank(row):
                continue
            yield self._row(path, checksum, table, row, station, fallback_time, seen)

    def _row(
        self,
        path: Path,
        checksum: str,
        table: Table,
        row: Row,
        station: str | None,
        fallback_time: Any,
        seen: Occurrences,
    ) -> Item | Rejected:
        ref = f"{path.name}:{row.number}"
        text = table.text(row, "text")
        name, phone = table.text(row, "name"), table.text(row, "phone")
        row_station = table.text(row, "station") or station
        received_cell = table.cell(row, "received")
        received = parse_datetime(received_cell)
        record_id = table.text(row, "id")
        if record_id:
            key = make_source_key(self.channel, row_station or "", record_id)
        else:
            parts = (row_station or "", cell_text(received_cell), name, phone, text_digest(text))
            key = make_source_key(self.channel, *parts, seen.number(*parts))

        def reject(why: Reason) -> Rejected:
            return Rejected(self.channel, key, ref, why, path.name, safe_excerpt(row_excerpt(row)))

        if row_undecodable(row):
            return reject(undecodable_reason())
        if extra := extra_cells(table, row):
            return reject(extra_cells_reason(extra))
        if why := check_text(text):
            return reject(why)
        flags = list(text_flags(text))
        if received is None:
            if cell_text(received_cell):
                return reject(unreadable_date_reason(cell_text(received_cell)))
            flags.append("date_missing")
        on_spot = on_spot_answer(table.text(row, "on_spot"))
        reply = table.text(row, "reply") or None
        if on_spot is None and table.text(row, "on_spot"):
            flags.append("on_spot_unclear")
        if on_spot and not reply:
            flags.append("on_spot_reply_missing")
        return Item(
            channel=self.channel,
            source_key=key,
            source_ref=record_id or ref,
            received_at=received or fallback_time,
            text=text,
            title=table.text(row, "title"),
            source_file=path.name,
            file_checksum=checksum,
            area=table.text(row, "area") or self.options.get("area") or None,
            recorded_by=table.text(row, "representative") or row_station or None,
            contact=Contact(name=name or None, phone=phone or None),
            answered_on_spot=bool(on_spot),
            on_spot_reply=reply if on_spot else None,
            flags=tuple(flags),
            raw=raw_row(table, row, station=row_station, reply=reply),
        )
