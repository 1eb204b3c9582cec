"""Notes of representatives' visits to enterprises and grid rounds (走访企业 / 进网格): a
spreadsheet with one row per visit, whose 问题与建议 cell often lists several numbered points
(1、… 2、… / ①…② / （1）… / 1. … / 一、…). Each point becomes its own Item, linked to the
visit by `group_ref`.

Options (config/channels.yaml `channels.visits`):
  columns:  field → header names, merged over DEFAULT_COLUMNS
  area:     default 所属社区 for rows that leave it empty
  sheet, header_search_rows: as for the register channel
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
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
    row_excerpt,
    row_is_blank,
    row_undecodable,
)
from minqing.reasons import Reason
from minqing.records import Contact, Item, Rejected

DEFAULT_COLUMNS: dict[str, list[str]] = {
    "enterprise": ["企业名称", "单位名称", "走访企业", "走访对象", "企业"],
    "received": ["走访日期", "走访时间", "日期"],
    "representative": ["走访代表", "走访人", "走访人员", "代表"],
    "text": [
        "问题与建议",
        "问题及建议",
        "意见建议",
        "问题建议",
        "反映问题",
        "企业诉求",
        "问题描述",
        "诉求内容",
    ],
    "area": ["所属社区/网格", "所属社区", "所属网格", "社区", "网格"],
    "contact_name": ["联系人", "企业联系人"],
    "phone": ["联系电话", "电话", "手机"],
    "kind": ["走访类型", "类型"],
}
REQUIRED = ("text",)

# --- splitting a cell into its numbered points -------------------------------------------

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN = "一二三四五六七八九十"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
# One pattern per way of numbering; group "n" is the number.
_MARKERS: dict[str, re.Pattern[str]] = {
    "1、": re.compile(r"(?<!\d)(?P<n>\d{1,2})\s*、"),
    "1.": re.compile(r"(?<![\d.])(?P<n>\d{1,2})\s*[.．](?![\d.])"),
    "(1)": re.compile(r"[（(]\s*(?P<n>\d{1,2})\s*[)）]"),
    "1)": re.compile(r"(?<![\d（(])(?P<n>\d{1,2})\s*[)）]"),
    "①": re.compile(f"(?P<n>[{_CIRCLED}])"),
    "一、": re.compile(f"(?<![{_CN}第])(?P<n>[{_CN}]{{1,3}})\\s*[、.．]"),
    "(一)": re.compile(f"[（(]\\s*(?P<n>[{_CN}]{{1,3}})\\s*[)）]"),
    "第一": re.compile(f"第(?P<n>[{_CN}]{{1,3}}|\\d{{1,2}})(?:是|点|条)?[，,、：:]"),
}
_BOUNDARY = set(" \t\n\r\u3000。；;！!？?，,：:）)】]")


def _number(token: str) -> int | None:
    if token in _CIRCLED:
        return _CIRCLED.index(token) + 1
    if token.isdigit():
        try:
            return int(token)
        except ValueError:  # digits int() does not read, like "²"
            return None
    if token == "十":
        return 10
    if len(token) == 2 and token[0] == "十":
        return 10 + _CN_DIGITS.get(token[1], 99)
    if len(token) == 2 and token[1] == "十":
        return _CN_DIGITS.get(token[0], 99) * 10
    if len(token) == 3 and token[1] == "十":
        return _CN_DIGITS.get(token[0], 99) * 10 + _CN_DIGITS.get(token[2], 99)
    return _CN_DIGITS.get(token)


@dataclass(frozen=True)
class _Marker:
    start: int
    end: int
    number: int
    at_boundary: bool


def _markers(text: str, pattern: re.Pattern[str]) -> list[_Marker]:
    found = []
    for m in pattern.finditer(text):
        number = _number(m.group("n"))
        if number is not None:
            boundary = m.start() == 0 or text[m.start() - 1] in _BOUNDARY
            found.append(_Marker(m.start(), m.end(), number, boundary))
    return found


def _chain(markers: list[_Marker]) -> list[_Marker]:
    """The list 1, 2, 3, … in order; for each next number a marker after a space or punctuation
    is preferred, so "涉及2、3号楼" inside point 1 does not end it."""
    starts = [m for m in markers if m.number == 1]
    if not starts:
        return []
    chain = [min(starts, key=lambda m: (not m.at_boundary, m.start))]
    while True:
        after = [
            m for m in markers if m.number == chain[-1].number + 1 and m.start >= chain[-1].end
        ]
        if not after:
            return chain
        bounded = [m for m in after if m.at_boundary]
        chain.append(bounded[0] if bounded else after[0])


def split_numbered(text: str) -> tuple[str, list[str]]:
    """(preamble, points) of a cell; a cell without a list of at least two points is one point.

    >>> split_numbered("企业反映：1、路灯不亮；2、停车难")
    ('企业反映：', ['路灯不亮', '停车难'])
    """
    best: list[_Marker] = []
    for pattern in _MARKERS.values():
        chain = _chain(_markers(text, pattern))
        if len(chain) > len(best) or (
            len(chain) == len(best) and chain and chain[0].start < best[0].start
        ):
            best = chain
    if len(best) < 2:
        return "", [text.strip()]
    bounds = [
        *[(m.end, nxt.start) for m, nxt in zip(best, best[1:], strict=False)],
        (best[-1].end, len(text)),
    ]
    points = [text[a:b].strip().rstrip("；;，,、").strip() for a, b in bounds]
    return text[: best[0].start].strip(), [p for p in points if p]


# --- the channel ------------------------------------------------------------------------


@register
class VisitsParser(ChannelParser):
    channel = "visits"
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
        fallback_time = file_time(path)
        seen = Occurrences()
        for row in table.rows:
            if not row_is_blank(row):
                yield from self._row(path, checksum, table, row, fallback_time, seen)

    def _row(
        self,
        path: Path,
        checksum: str,
        table: Table,
        row: Row,
        fallback_time: datetime,
        seen: Occurrences,
    ) -> Iterator[Item | Rejected]:
        ref = f"{path.name}:{row.number}"
        enterprise = table.text(row, "enterprise")
        representative = table.text(row, "representative")
        area = table.text(row, "area") or self.options.get("area") or ""
        received_cell = table.cell(row, "received")
        # One visit: the same enterprise (or grid), day and representative, whatever the row.
        group = make_source_key(
            "visit", enterprise or area, cell_text(received_cell), representative
        )
        text = table.text(row, "text")

        def reject(why: Reason) -> Rejected:
            content = text_digest(row_excerpt(row, limit=100_000))
            key = make_source_key(self.channel, "row", content, seen.number("row", content))
            return Rejected(self.channel, key, ref, why, path.name, safe_excerpt(row_excerpt(row)))

        if row_undecodable(row):
            yield reject(undecodable_reason())
            return
        if extra := extra_cells(table, row):
            yield reject(extra_cells_reason(extra))
            return
        if why := check_text(text):
            yield reject(why)
            return
        received = parse_datetime(received_cell)
        flags: list[str] = []
        if received is None:
            if cell_text(received_cell):
                yield reject(unreadable_date_reason(cell_text(received_cell)))
                return
            flags.append("date_missing")
        preamble, points = split_numbered(text)
        for number, point in enumerate(points, start=1):
            # The preamble ("关于厂区周边：") is context every point needs.
            point_text = f"{preamble}{point}" if preamble else point
            digest = text_digest(point_text)
            key = make_source_key(self.channel, group, digest, seen.number(group, digest))
            if why := check_text(point):
                yield Rejected(
                    self.channel,
                    key,
                    f"{ref}#{number}",
                    why,
                    path.name,
                    safe_excerpt(point_text),
                )
                continue
            yield Item(
                channel=self.channel,
                source_key=key,
                source_ref=f"{ref}#{number}" if len(points) > 1 else ref,
                received_at=received or fallback_time,
                text=point_text,
                source_file=path.name,
                file_checksum=checksum,
                area=area or None,
                recorded_by=representative or None,
                on_behalf_of=enterprise or None,
                contact=Contact(
                    name=table.text(row, "contact_name") or None,
                    phone=table.text(row, "phone") or None,
                ),
                group_ref=group,
                flags=tuple([*flags, *text_flags(point_text)]),
                raw=raw_row(table, row, point=number, points=len(points), preamble=preamble),
            )
