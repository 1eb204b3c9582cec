"""Rows of a spreadsheet channel, whatever the office saved: .xlsx (streamed) or CSV.

The file's type is read from its first bytes, not its name: a .csv that is really a workbook is
read as one, and a zip, an image or an old .xls renamed .xlsx is refused with a clear reason.
Headers are found by name (configurable aliases), in any of the first rows, so a title line
above the table ("东湖站代表接待登记表") does not matter.
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from minqing.channels.textfile import has_undecodable, open_text
from minqing.reasons import reason
from minqing.records import UnreadableFile

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

HEADER_SEARCH_ROWS = 10

_OLD_EXCEL = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003, or an encrypted workbook
# What else a "spreadsheet" turns out to be (minqing.reasons.FILE_KIND_LABELS).
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"%PDF", "pdf"),
    (b"Rar!", "rar"),
    (b"7z\xbc\xaf", "7z"),
    (b"\x1f\x8b", "gzip"),
]


def sniff(path: Path) -> str:
    """'xlsx' or 'text'; raises UnreadableFile naming what the file really is otherwise."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise UnreadableFile(reason("empty_file"))
    if head.startswith(b"PK"):
        return "xlsx"
    if head.startswith(_OLD_EXCEL):
        raise UnreadableFile(reason("old_excel"))
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            raise UnreadableFile(reason("not_a_table", what=what))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise UnreadableFile(reason("not_a_workbook", suffix=path.suffix))
    return "text"


def cell_text(value: object) -> str:
    """A cell as text: numbers without a spurious '.0', dates in ISO form, None as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


@dataclass(frozen=True)
class Row:
    """One data row: its number in the file (1-based, as Excel shows it) and its cell values."""

    number: int
    values: Sequence[object]
    sheet: str | None = None


def iter_rows(path: Path, sheet: str | None = None) -> Iterator[Row]:
    """Every row of the workbook's sheet (default: the first) or of the CSV, streamed."""
    if sniff(path) == "xlsx":
        return _xlsx_rows(path, sheet)
    return _csv_rows(path)


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[Row]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UnreadableFile(reason("workbook_incomplete", detail=str(exc))) from None
    if "xl/workbook.xml" not in names:
        raise UnreadableFile(reason("archive_not_workbook"))

    from openpyxl import load_workbook

    # Opened as a file object: openpyxl refuses paths by their suffix (a workbook saved as
    # .csv), and the bytes already said what this is.
    with path.open("rb") as fh:
        try:
            # read_only streams the sheet XML; data_only=False keeps a formula as its text, so
            # nothing a citizen typed is ever evaluated.
            workbook = load_workbook(fh, read_only=True, data_only=False)
        except Exception as exc:  # openpyxl raises many kinds for broken parts
            raise UnreadableFile(
                reason("workbook_corrupt", detail=f"{type(exc).__name__}: {exc}")
            ) from None
        try:
            if sheet is not None and sheet not in workbook.sheetnames:
                raise UnreadableFile(
                    reason("no_such_sheet", sheet=sheet, sheets="、".join(workbook.sheetnames))
                )
            worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
            if hasattr(worksheet, "reset_dimensions"):
                # The stored dimensions are sometimes wrong; without them every row is read.
                worksheet.reset_dimensions()
            number = 0
            try:
                for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                    yield Row(number, values, worksheet.title)
            except (
                zipfile.BadZipFile,
                zlib.error,
                ParseError,
                EOFError,
                KeyError,
                ValueError,
            ) as exc:
                raise UnreadableFile(
                    reason(
                        "sheet_corrupt",
                        sheet=worksheet.title,
                        row=number,
                        detail=type(exc).__name__,
                    )
                ) from None
        finally:
            workbook.close()


def _csv_rows(path: Path) -> Iterator[Row]:
    with open_text(path) as lines:
        reader = csv.reader(lines)
        try:
            for values in reader:
                # reader.line_num counts physical lines; a quoted cell may span several.
                yield Row(reader.line_num, values)
        except csv.Error as exc:
            raise UnreadableFile(
                reason("csv_corrupt", line=reader.line_num, detail=str(exc))
            ) from None


def clean_header(value: object) -> str:
    """A header cell as a comparable name: NFKC, no spaces, no '*' or '(必填)' decorations."""
    text = unicodedata.normalize("NFKC", cell_text(value)).lstrip("\ufeff")
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"[(（\[【][^)）\]】]*(必填|选填|可选)[^)）\]】]*[)）\]】]", "", text)
    return text.strip("*：:")


def resolve_columns(
    header: Sequence[object], mapping: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Map each field to a column: exact header names first, then names that start with an alias
    ("联系电话(手机)" for 联系电话). A column serves one field only."""
    cleaned = [clean_header(h) for h in header]
    found: dict[str, int] = {}
    taken: set[int] = set()
    for exact in (True, False):
        for field_name, aliases in mapping.items():
            if field_name in found:
                continue
            for alias in aliases:
                alias = clean_header(alias)
                for idx, name in enumerate(cleaned):
                    if idx in taken or not name:
                        continue
                    if name == alias if exact else name.startswith(alias):
                        found[field_name] = idx
                        taken.add(idx)
                        break
                if field_name in found:
                    break
    return found


@dataclass
class Table:
    """The data rows of a spreadsheet channel file, with its resolved columns."""

    path: Path
    kind: str  # "xlsx" or "text"
    columns: dict[str, int]
    header_row: int
    width: int
    rows: Iterator[Row]

    def cell(self, row: Row, field_name: str) -> object:
        idx = self.columns.get(field_name)
        if idx is None or idx >= len(row.values):
            return None
        return row.values[idx]

    def text(self, row: Row, field_name: str) -> str:
        return cell_text(self.cell(row, field_name))


def open_table(
    path: Path,
    mapping: Mapping[str, Sequence[str]],
    required: Sequence[str],
    *,
    sheet: str | None = None,
    search_rows: int = HEADER_SEARCH_ROWS,
) -> Table:
    """Find the header row (the first of the first `search_rows` rows naming every required
    field) and return the rows after it. UnreadableFile names the missing column."""
    kind = sniff(path)
    rows = _xlsx_rows(path, sheet) if kind == "xlsx" else _csv_rows(path)
    best: tuple[int, dict[str, int]] = (0, {})
    seen = 0
    for row in rows:
        if seen >= search_rows:
            break
        if not any(cell_text(v) for v in row.values):
            continue
        seen += 1
        columns = resolve_columns(row.values, mapping)
        if all(f in columns for f in required):
            width = max(i for i, v in enumerate(row.values) if cell_text(v)) + 1
            return Table(path, kind, columns, row.number, width, rows)
        if len(columns) > len(best[1]):
            best = (row.number, columns)
    if seen == 0:
        raise UnreadableFile(reason("no_header"))
    missing = [f for f in required if f not in best[1]]
    names = "；".join("/".join(mapping[f]) for f in missing)
    raise UnreadableFile(reason("missing_columns_near_top", columns=names, rows=search_rows))


def row_excerpt(row: Row, limit: int = 200) -> str:
    return ",".join(cell_text(v) for v in row.values)[:limit]


def row_is_blank(row: Row) -> bool:
    return not any(cell_text(v) for v in row.values)


def row_undecodable(row: Row) -> bool:
    # One search over the row's text cells joined, not one per cell.
    return has_undecodable("".join(v for v in row.values if isinstance(v, str)))


def extra_cells(table: Table, row: Row) -> int:
    """Non-empty cells right of the header in a CSV: the mark of an unbalanced quote or of a
    comma in an unquoted field, which shift every cell after it. (A workbook's unlabelled
    note column is harmless.)"""
    if table.kind != "text":
        return 0
    return sum(1 for v in row.values[table.width :] if cell_text(v))


def raw_row(table: Table, row: Row, **extra: object) -> dict[str, Any]:
    """The row for the audit trail, JSON-safe (cells as text) and keyed by field name."""
    raw: dict[str, Any] = {"row": row.number}
    if row.sheet:
        raw["sheet"] = row.sheet
    raw["cells"] = {
        f: cell_text(row.values[i]) for f, i in table.columns.items() if i < len(row.values)
    }
    raw.update({k: v for k, v in extra.items() if v})
    return raw
