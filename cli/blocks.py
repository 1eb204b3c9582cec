"""The operator lists' shared pieces (`minqing handoffs list`, `review list`, `handoffs retry`):
for a terminal too narrow for their table, one block per row instead of columns a few
characters wide that cut case numbers to "MQ2026-…" (each command decides below which width
its table no longer fits); for a wide one, a table whose numbers stay whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from cli.help import _CLOSING, _OPENING, _UNIT
from minqing.i18n import _

# A date (2026年12月08日 09:30) is one unit; otherwise help's: a Latin word with its punctuation,
# or one Chinese character with its punctuation.
_SENTENCE_UNIT = re.compile(
    rf"[{_OPENING}]*(?:\d{{4}}年)?\d{{1,2}}月\d{{1,2}}日(?: \d{{1,2}}:\d{{2}})?[{_CLOSING}]*|{_UNIT.pattern}"
)
_NUMBER = re.compile(rf"^[+-]?\d[\d.,:%]*[{_CLOSING}]*$")


def sentence_lines(text: str, width: int) -> list[str]:
    """`text` in lines at most `width` cells wide, broken at a space where the line has one,
    else between Chinese characters — but never before a number ("已放弃 0）", "进程 20313",
    "共3封") nor after one that a word follows ("3 封"), nor before closing punctuation ("。",
    "）"). rich would break at any space and leave "已放弃" at a line's end, "0）" on the next."""
    chunks: list[tuple[str, str]] = []  # (whitespace before it, text): never broken inside
    space, previous = "", ""
    for unit in _SENTENCE_UNIT.findall(text.replace("\n", " ")):
        if unit.isspace():
            space = unit if chunks else ""
            continue
        glued = unit[0].isdigit() or (bool(space) and bool(_NUMBER.match(previous)))
        if chunks and glued:
            before, joined = chunks[-1]
            chunks[-1] = (before, joined + space + unit)
            if space:  # "已放弃 0）": the number's label, the word before it, comes along
                _take_label(chunks)
        else:
            chunks.append((space, unit))
        space, previous = "", unit
    lines: list[str] = []
    line: list[tuple[str, str]] = []
    for sep, chunk in chunks:
        while line and _cells(line) + cell_len(sep) + cell_len(chunk) > width:
            # break at the line's last space if it has one (as rich would), else here
            at = max((i for i, (before, _c) in enumerate(line) if i and before), default=0)
            if (
                at
                and _cells(line[at:]) - cell_len(line[at][0]) + cell_len(sep) + cell_len(chunk)
                <= width
            ):
                # the space stays at the end of its line (as rich leaves it) when it fits
                space = line[at][0] if _cells(line[:at]) + cell_len(line[at][0]) <= width else ""
                lines.append(_joined(line[:at]) + space)
                line = [("", line[at][1]), *line[at + 1 :]]
            else:
                lines.append(_joined(line))
                line, sep = [], ""
        line.append((sep if line else "", chunk))
    return [*lines, _joined(line)] if line else lines


def _cells(line: list[tuple[str, str]]) -> int:
    return sum(cell_len(sep) + cell_len(chunk) for sep, chunk in line)


def _joined(line: list[tuple[str, str]]) -> str:
    return "".join(sep + chunk for sep, chunk in line)


_LETTER = re.compile(rf"[{_OPENING}]*[\u4e00-\u9fff]")
LABEL = 6  # the most Chinese characters taken along as a number's label


def _take_label(chunks: list[tuple[str, str]]) -> None:
    """Join to the last chunk the Chinese characters written right before it (the label of its
    number), up to LABEL of them and never past a space or punctuation."""
    taken = 1
    while (
        taken < LABEL
        and len(chunks) > 1
        and chunks[-1][0] == ""
        and _LETTER.fullmatch(chunks[-2][1])
    ):
        sep, letter = chunks[-2]
        chunks[-2:] = [(sep, letter + chunks[-1][1])]
        taken += 1
        if letter[0] in _OPENING:  # "（发送失败 0": the label starts after its bracket
            break


def print_sentence(console: Console, text: str, *, indent: int = 0, style: str = "") -> None:
    """`text` (no markup) wrapped by `sentence_lines` at the console's width, each line after
    `indent` spaces."""
    for line in sentence_lines(str(text), max(console.width - indent, 20)) or [""]:
        # a line still too wide (one long address) is folded by rich
        console.print(" " * indent + line, style=style or None, markup=False, highlight=False,
                      overflow="fold")  # fmt: skip


# One block: its head line (the numbers and marks an operator types or looks for), then its
# other lines; an empty line is left out.
Block = tuple[str, list[str]]


def print_blocks(console: Console, blocks: Iterable[Block]) -> None:
    """Each block after a blank line: the head line as it is, the other lines indented by
    four — every line wraps whole at the terminal's width, nothing is cut."""
    for head, lines in blocks:
        console.print()
        console.print(head, markup=False, highlight=False)
        for line in lines:
            if line:  # wrapped lines keep the indent
                print_sentence(console, line, indent=4)


def labelled(column: str, value: str) -> str:
    """A table's cell as a line of a block: its column's header, then its value."""
    return _("%(column)s：%(value)s") % {"column": column, "value": value}


def fitted_table(
    headers: list[str], rows: Iterable[list[str]], whole: set[int], title: str | None = None
) -> Table:
    """A table whose columns at the indices `whole` (numbers, marks) are never wrapped and
    whose others fold their text: nothing is cut with "…"."""
    table = Table(title=title)
    for i, header in enumerate(headers):
        if i in whole:
            table.add_column(header, no_wrap=True, overflow="ignore")
        else:
            table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table
