"""The operator lists' shared pieces (`minqing handoffs list`, `review list`, `handoffs retry`):
for a terminal too narrow for their table, one block per row instead of columns a few
characters wide that cut case numbers to "MQ2026-…" (each command decides below which width
its table no longer fits); for a wide one, a table whose numbers stay whole.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from minqing.i18n import _

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
                console.print(Padding(Text(line), (0, 0, 0, 4)))


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
