"""12345 hotline export: a CSV (GB18030/GBK, UTF-8 or UTF-8 with BOM, detected per file and
per line) or an .xlsx, whose columns are mapped by config; the ticket number is the key.

Options (config/channels.yaml `channels.hotline`):
  columns:  field → header names, merged over DEFAULT_COLUMNS
  area:     default area for rows without one
  sheet, header_search_rows: as for the register channel
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
    resolve_columns,
    row_excerpt,
    row_is_blank,
    row_undecodable,
)
from minqing.reasons import Reason, reason
from minqing.records import Contact, Item, Rejected

__all__ = ["DEFAULT_COLUMNS", "REQUIRED", "HotlineParser", "resolve_columns"]

DEFAULT_COLUMNS = {
    "ticket": ["工单编号", "工单号", "编号"],
    "name": ["来电人", "姓名", "来电人姓名"],
    "phone": ["联系电话", "电话", "来电号码"],
    "title": ["标题", "主题"],
    "received": ["受理时间", "来电时间", "登记时间"],
    "text": ["诉求内容", "反映内容", "内容"],
    "area": ["所属区域", "区域", "所属社区"],
    # optional: exports of online channels (留言板) carry likes, counted in 热点问题
    "likes": ["点赞数", "点赞", "支持数"],
}
REQUIRED = ("ticket", "text")


@register
class HotlineParser(ChannelParser):
    channel = "hotline"
    suffixes = (".csv", ".txt", ".xlsx")

    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        mapping = {**DEFAULT_COLUMNS, **self.options.get("columns", {})}
        table = open_table(
            path,
            mapping,
            REQUIRED,
            sheet=self.options.get("sheet"),
            search_rows=int(self.options.get("header_search_rows", HEADER_SEARCH_ROWS)),
        )
        fallback_time = file_time(path)
        seen = Occurrences()
        for row in table.rows:
            if not row_is_blank(row):
                yield self._row(path, checksum, table, row, fallback_time, seen)

    def _row(
        self, path: Path, checksum: str, table: Table, row: Row, fallback_time, seen: Occurrences
    ) -> Item | Rejected:
        ticket = table.text(row, "ticket")
        ref = f"{path.name}:{row.number}"
        if ticket:
            key = make_source_key(self.channel, ticket)
        else:
            content = text_digest(row_excerpt(row, limit=100_000))
            key = make_source_key(self.channel, "no-ticket", content, seen.number(content))

        def reject(why: Reason) -> Rejected:
            return Rejected(self.channel, key, ref, why, path.name, safe_excerpt(row_excerpt(row)))

        if row_undecodable(row):
            return reject(undecodable_reason())
        if extra := extra_cells(table, row):
            return reject(extra_cells_reason(extra))
        if not ticket:
            return reject(reason("missing_ticket"))
        text = table.text(row, "text")
        if why := check_text(text):
            return reject(why)
        received_cell = table.cell(row, "received")
        received = parse_datetime(received_cell)
        flags = list(text_flags(text))
        if received is None:
            if cell_text(received_cell):
                return reject(unreadable_date_reason(cell_text(received_cell)))
            flags.append("date_missing")
        return Item(
            channel=self.channel,
            source_key=key,
            source_ref=ticket,
            received_at=received or fallback_time,
            title=table.text(row, "title"),
            text=text,
            source_file=path.name,
            file_checksum=checksum,
            area=table.text(row, "area") or self.options.get("area") or None,
            contact=Contact(
                name=table.text(row, "name") or None, phone=table.text(row, "phone") or None
            ),
            likes=_likes(table.cell(row, "likes")),
            flags=tuple(flags),
            raw=raw_row(table, row),
        )


def _likes(value: object) -> int | None:
    """A like count as written ("12", 12, 12.0 from a spreadsheet); anything else is no count
    (the row is still taken: likes only rank hot issues)."""
    text = cell_text(value).replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and 0 <= number < 2**31 else None
