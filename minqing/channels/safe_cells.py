"""Spreadsheet cells from citizens are text, never formulas (CSV/formula injection).

Parsers keep whatever a cell held as text: openpyxl is opened without evaluating anything and
a CSV field is a string. The danger is on the way *out*: an export that writes a citizen's
`=HYPERLINK("http://evil", "点击")` or `=cmd|' /C calc'!A0` into a CSV or .xlsx that an office
worker opens in Excel/WPS. Every export writer passes citizen text through `defuse_formula`.
"""

from __future__ import annotations

import re

# What Excel, WPS and LibreOffice start a formula or a DDE call with (OWASP "CSV Injection"),
# in ASCII and in full width (WPS accepts ＝ for =), after any leading whitespace or quotes.
_TRIGGERS = frozenset("=+-@\t\r\n＝＋－＠")
_LEADING_NOISE = ' \u3000\xa0"'  # not "'": a leading apostrophe is Excel's text mark
# A plain signed number is data, not a formula: "-5", "+3.5", "-1,200".
_SIGNED_NUMBER = re.compile(r"[+\-]\d{1,3}(?:,?\d{3})*(?:\.\d+)?%?|[+\-]\d+(?:\.\d+)?%?")


def looks_like_formula(value: object) -> bool:
    """True when a spreadsheet program could run `value` as a formula or DDE command."""
    if not isinstance(value, str) or not value:
        return False
    stripped = value.lstrip(_LEADING_NOISE)
    if not stripped or stripped[0] not in _TRIGGERS:
        return False
    return not _SIGNED_NUMBER.fullmatch(stripped.strip())


def defuse_formula(value: object) -> str:
    """`value` as a string that every spreadsheet program shows as text.

    A cell that could start a formula gets a leading apostrophe (Excel's own "this is text"
    mark, OWASP's advice); everything else, including plain negative numbers, is unchanged.
    None becomes "". Writers using openpyxl should also store the result as a string cell
    (`cell.data_type = "s"`), since openpyxl itself turns strings starting with "=" into formulas.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if looks_like_formula(text) else text
