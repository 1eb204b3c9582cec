"""Sentences of the operator commands wrapped for a narrow terminal: broken between Chinese
characters or at spaces, but a label keeps its number and closing punctuation its line."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from cli.blocks import sentence_lines


@pytest.mark.parametrize("width", range(24, 81))
def test_a_sentence_breaks_only_where_a_reader_expects_it(width):
    text = (
        "重发 12 封：已发送 3，再次失败 4（发送失败 1，已放弃 3），稍后自动重试 5，发送中断 0；"
        "另一个夜间运行正在进行（2026年12月08日 02:00 开始，web01 进程 20313），本次重发未执行。"
    )
    lines = sentence_lines(text, width)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    assert all(cell_len(line) <= width for line in lines), lines
    for line in lines:
        assert not re.match(r"[\d。）)，、；：]", line), lines
    joined = "\n".join(lines)
    for whole in ("已放弃 3）", "稍后自动重试 5，", "进程 20313），", "2026年12月08日 02:00"):
        assert whole in joined, (width, lines)
