"""Excel workbooks that office workers open: one sheet per table, headers in the reader's
language (a frame keyed by codes is headed by its table of labels), the header row frozen, and every text cell written as text — a citizen's "=HYPERLINK(...)" or "@cmd"
arrives as inert text (see minqing.channels.safe_cells), never as a formula.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from minqing.channels.safe_cells import defuse_formula
from minqing.i18n import _, label
from minqing.workdays import LOCAL_TZ

_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


@dataclass(frozen=True)
class Sheet:
    """One table of a workbook. `labels` (N_-marked, by column) heads the columns, translated
    when written; a column without a label is headed by its name. `percent` columns hold
    fractions shown as 83.3%; `choices` offers a drop-down list of allowed answers in a column
    (for forms filled in by hand). `percent`, `choices` and `widths` name the frame's columns."""

    name: str
    frame: pd.DataFrame
    percent: Sequence[str] = ()
    choices: Mapping[str, Sequence[str]] = field(default_factory=dict)
    widths: Mapping[str, int] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> Path:
    """Write `sheets` to `path` (.xlsx), replacing the file atomically."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    for sheet in sheets:
        _write_sheet(workbook, _sheet_name(sheet.name, used), sheet)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    workbook.save(partial)
    partial.replace(path)
    return path


def _sheet_name(name: str, used: set[str]) -> str:
    base = _SHEET_UNSAFE.sub("_", name).strip("'")[:31] or "Sheet"
    candidate, n = base, 2
    while candidate in used:
        suffix = f"({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def _write_sheet(workbook: Workbook, name: str, sheet: Sheet) -> None:
    ws = workbook.create_sheet(name)
    frame = sheet.frame
    columns = [str(c) for c in frame.columns]
    titles = [label(sheet.labels, c) for c in frame.columns]
    for j, title in enumerate(titles, start=1):
        cell = ws.cell(row=1, column=j)
        _put(cell, title)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    percent = {columns.index(c) for c in sheet.percent if c in columns}
    for i, values in enumerate(frame.itertuples(index=False, name=None), start=2):
        for j, value in enumerate(values):
            cell = ws.cell(row=i, column=j + 1)
            _put(cell, value)
            if j in percent and isinstance(cell.value, float):
                cell.number_format = "0.0%"
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(frame) + 1)}"
    for j, (column, title) in enumerate(zip(columns, titles, strict=True), start=1):
        ws.column_dimensions[get_column_letter(j)].width = sheet.widths.get(column) or _width(
            title, frame.iloc[:, j - 1]
        )
    for column, allowed in sheet.choices.items():
        if column not in columns:
            continue
        letter = get_column_letter(columns.index(column) + 1)
        rule = DataValidation(type="list", formula1='"' + ",".join(allowed) + '"', allow_blank=True)
        rule.add(f"{letter}2:{letter}{max(2, len(frame) + 1)}")
        ws.add_data_validation(rule)


def _put(cell: Cell, value: object) -> None:
    """Numbers as numbers (a fraction shown to one decimal, a percent column's as 80.0%), times
    as Beijing local time, everything else as defused text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return
    if isinstance(value, bool):
        cell.value = _("是") if value else _("否")
        cell.data_type = "s"
        return
    if isinstance(value, int):
        cell.value = value
        return
    if isinstance(value, float):
        if not (math.isnan(value) or math.isinf(value)):
            cell.value = float(value)  # kept whole for the clerk's own sums
            cell.number_format = "0.0"  # shown as 0.3 or 93.3, not 0.3483799725665509
        return
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        _put(cell, value.item())  # type: ignore[union-attr]
        return
    if isinstance(value, datetime):
        local = value.astimezone(LOCAL_TZ) if value.tzinfo else value
        cell.value = local.replace(tzinfo=None)
        cell.number_format = "yyyy-mm-dd hh:mm"
        return
    if isinstance(value, date):
        cell.value = value
        cell.number_format = "yyyy-mm-dd"
        return
    cell.value = defuse_formula(str(value))
    cell.data_type = "s"  # openpyxl would otherwise take a leading "=" as a formula


def _width(title: str, values: pd.Series) -> int:
    sample = [title, *(str(v) for v in values.head(200).tolist() if v is not None)]
    longest = max(
        (sum(2 if ord(ch) > 0x2E80 else 1 for ch in text[:60]) for text in sample), default=8
    )
    return max(8, min(60, longest + 2))
