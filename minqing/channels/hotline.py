"""12345 hotline export: a CSV whose columns are mapped by config; the ticket number is the key."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from minqing.channels.base import ChannelParser, check_text, make_source_key, parse_datetime, register
from minqing.channels.textfile import has_undecodable, open_text
from minqing.records import Contact, Item, Rejected, UnreadableFile

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

DEFAULT_COLUMNS = {
    "ticket": ["工单编号", "工单号", "编号"],
    "name": ["来电人", "姓名", "来电人姓名"],
    "phone": ["联系电话", "电话", "来电号码"],
    "title": ["标题", "主题"],
    "received": ["受理时间", "来电时间", "登记时间"],
    "text": ["诉求内容", "反映内容", "内容"],
    "area": ["所属区域", "区域", "所属社区"],
}
REQUIRED = ("ticket", "text")


def resolve_columns(header: list[str], mapping: dict[str, list[str]]) -> dict[str, int]:
    """Map each field to its column index using the first matching header name."""
    cleaned = [h.strip().lstrip("\ufeff") for h in header]
    found: dict[str, int] = {}
    for field_name, names in mapping.items():
        for name in names:
            if name in cleaned:
                found[field_name] = cleaned.index(name)
                break
    return found


@register
class HotlineParser(ChannelParser):
    channel = "hotline"
    suffixes = (".csv", ".txt")

    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        mapping = {**DEFAULT_COLUMNS, **self.options.get("columns", {})}
        with open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise UnreadableFile("empty file")
            columns = resolve_columns(header, mapping)
            missing = [f for f in REQUIRED if f not in columns]
            if missing:
                names = " / ".join("|".join(mapping[f]) for f in missing)
                raise UnreadableFile(f"missing required column: {names}")
            for line_no, row in enumerate(reader, start=2):
                yield self._row(path, checksum, line_no, row, columns)

    def _row(
        self, path: Path, checksum: str, line_no: int, row: list[str], columns: dict[str, int]
    ) -> Item | Rejected:
        def cell(field_name: str) -> str:
            idx = columns.get(field_name)
            return row[idx].strip() if idx is not None and idx < len(row) else ""

        ticket = cell("ticket")
        ref = f"{path.name}:{line_no}"
        key = make_source_key(self.channel, ticket) if ticket else make_source_key(self.channel, checksum, line_no)
        raw = {"line": line_no, "cells": row}

        def reject(reason: str) -> Rejected:
            return Rejected(self.channel, key, ref, reason, path.name, ",".join(row)[:200])

        if not any(c.strip() for c in row):
            return reject("blank row")
        if any(has_undecodable(c) for c in row):
            return reject("undecodable bytes (mixed or wrong encoding)")
        if not ticket:
            return reject("missing 工单编号 (ticket number)")
        text = cell("text")
        if reason := check_text(text):
            return reject(reason)
        received = parse_datetime(cell("received")) if cell("received") else None
        if cell("received") and received is None:
            return reject(f"unreadable date {cell('received')!r}")
        return Item(
            channel=self.channel,
            source_key=key,
            source_ref=ticket,
            received_at=received or _file_time(path),
            title=cell("title"),
            text=text,
            source_file=path.name,
            file_checksum=checksum,
            area=cell("area") or None,
            contact=Contact(name=cell("name") or None, phone=cell("phone") or None),
            raw=raw,
        )


def _file_time(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
