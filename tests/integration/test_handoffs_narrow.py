"""`minqing handoffs list` and `handoffs retry` on an 80-column terminal, on both databases: a
label keeps its number ("已放弃 0）", "稍后自动重试 0", "进程 20313") and closing punctuation
stays at the end of its line, instead of rich breaking at the space before the number."""

from __future__ import annotations

import os
import re
import signal

from rich.cells import cell_len
from typer.testing import CliRunner

from tasks.deliver import deliver_now
from tests.integration.children import start_child
from tests.integration.test_handoffs_operator import assign, cli

# A line may start with a number only where a sentence does ("3 封（待发送 3…" of the list).
TITLE = re.compile(r"^\d+ 封（")


def at_80(*args: str) -> object:
    return CliRunner(env={"COLUMNS": "80"}).invoke(cli(), ["handoffs", *args])


def badly_broken(output: str) -> list[str]:
    """Lines that begin with a number torn from its label, or with closing punctuation."""
    return [
        line
        for line in output.splitlines()
        if re.match(r"\s*[\d。）)，、；：]", line) and not TITLE.match(line.strip())
    ]


def test_the_lists_and_the_resend_keep_labels_with_their_numbers_at_80_columns(minq):
    assign("jiaotong", "renshe", "jiaotong", "renshe")
    deliver_now()  # nothing listens on the sink's port: one tried, the others wait
    outputs = {
        "list": at_80("list"),
        "list --limit": at_80("list", "--limit", "1"),
        "preview": at_80("retry", "--status", "pending", "--dry-run"),
        "resend": at_80("retry", "--operator", "李工"),  # the server is still down
        "unknown department": at_80("list", "--department", "nosuch"),
    }
    for name, result in outputs.items():
        assert result.exit_code in (0, 1, 2), (name, result.output)  # 1: some not delivered
        assert badly_broken(result.output) == [], (name, result.output)
        assert max(cell_len(line) for line in result.output.splitlines()) <= 80, name
    # the sentences whose parts rich used to split, each part whole on a line
    resent = outputs["resend"].output
    for part in ("已放弃 0）", "稍后自动重试 4", "发送中断 0"):
        assert any(part in line for line in resent.splitlines()), (part, resent)
    preview = outputs["preview"].output
    for part in ("已放弃 0）", "未发送。"):
        assert any(part in line for line in preview.splitlines()), (part, preview)


def test_a_refused_resend_names_the_holders_process_whole_on_a_narrow_terminal(minq):
    proc, _ = start_child(minq, "tests.integration.lease_child", "nightly", "120", ready="HELD")
    try:
        for columns in range(40, 81):  # wherever the line ends, "进程" keeps its number
            result = CliRunner(env={"COLUMNS": str(columns)}).invoke(
                cli(), ["handoffs", "retry", "--operator", "李工", "--wait", "0"]
            )
            assert result.exit_code != 0, result.output
            lines = result.output.splitlines()
            assert any(f"进程 {proc.pid}" in line for line in lines), (columns, result.output)
            assert badly_broken(result.output) == [], (columns, result.output)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
