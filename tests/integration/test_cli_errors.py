"""What an operator reads when the command line is used wrongly or the database is not ready:
the mistake in the reader's language (option and file names as typed), the usage line and
where the help is, exit status 2 — and for a database never set up or not upgraded after an
update, what to run instead of a traceback, on both databases."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from db.migrate import head_revision, upgrade
from minqing.i18n import using

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI as an operator runs it; the root callback points Prefect somewhere in the
    environment, which is restored afterwards."""
    monkeypatch.setenv("COLUMNS", "80")
    saved = dict(os.environ)
    yield CliRunner()
    os.environ.clear()
    os.environ.update(saved)


def run(runner: CliRunner, *words: str, language: str = "zh_CN") -> tuple[int, str]:
    with using(language):
        result = runner.invoke(app, list(words), prog_name="minqing")
    return result.exit_code, result.output


# (what was typed, the help the error points to — None when the mistake is found before the
# command is known — and what it says)
MISTAKES = [
    (("handoffs", "retry", "--limt", "3"), "minqing handoffs retry",
     "错误：没有选项 --limt。您要的是不是：--id, --wait？"),
    (("nosuch",), "minqing", "错误：没有命令 nosuch。"),
    (("cases", "reroute"), "minqing cases reroute", "错误：缺少参数 CASE。"),
    (("handoffs", "list", "--limit", "abc"), "minqing handoffs list",
     "错误：--limit 的值不对：'abc' 应为整数。"),
    (("handoffs", "list", "--limit"), None, "错误：选项 --limit 后面要跟一个值。"),
    (("ingest", "/nonexistent/12345.csv"), "minqing ingest",
     "错误：PATH 的值不对：路径 '/nonexistent/12345.csv' 不存在。"),
    (("handoffs", "list", "extra"), "minqing handoffs list", "错误：多余的参数：extra。"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("words", "help_of", "said"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES]
)
def test_mistakes_are_told_in_chinese(
    runner: CliRunner, words: tuple[str, ...], help_of: str | None, said: str
):
    code, output = run(runner, *words)
    assert code == 2, output
    assert said in output
    assert not {"Error", "Try", "Invalid", "Missing", "Usage"} & set(
        re.findall(r"[A-Za-z]+", output)
    )
    if help_of:
        assert output.startswith(f"用法：{help_of} ")
        assert f"运行 {help_of} --help 查看帮助。" in output


def test_a_date_in_the_wrong_form_shows_the_right_form(runner: CliRunner):
    code, output = run(runner, "report", "--from", "2026/11/01")
    assert code == 2
    assert "错误：--from 的值不对：'2026/11/01' 的格式不对，应如 20" in output
    example = output.split("应如 ")[1].split("。")[0]
    assert len(example) == 10 and example[4] == example[7] == "-", example


def test_english_readers_read_english(runner: CliRunner):
    code, output = run(runner, "handoffs", "retry", "--limt", "3", language="en")
    assert code == 2
    assert "Error: no option --limt. Did you mean: --id, --wait?" in output, output
    assert "Run minqing handoffs retry --help for help." in output


def test_a_group_without_its_command_shows_its_help(runner: CliRunner):
    code, output = run(runner, "cases")
    assert code == 2
    assert output.startswith("用法：minqing cases [选项] 命令 [参数]...")
    assert "错误" not in output


def test_an_unknown_message_kind_or_department_is_refused_by_name(minq, runner: CliRunner):
    code, output = run(runner, "handoffs", "list", "--kind", "bogus")
    assert code == 2
    assert "未知的消息类型：bogus（可选：交办、到期提醒" in output
    assert "Traceback" not in output
    code, output = run(runner, "handoffs", "list", "--kind", "交办")
    assert code == 0, output
    code, output = run(runner, "handoffs", "retry", "--department", "nope", "--dry-run")
    assert code == 2
    assert "未知的承办单位代码：nope（见 config/departments.yaml，如 " in output
    assert "zhujian" in output or "chengguan" in output


@pytest.fixture
def empty(database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database of each kind (tests/integration/conftest.py) with the shipped config."""
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(REPO / "config"))
    return database


def test_a_database_never_set_up_says_to_upgrade(empty: str, runner: CliRunner):
    for words in (("review", "list"), ("handoffs", "list")):
        code, output = run(runner, *words)
        assert code == 1
        assert output.strip() == (
            "错误：数据库还没有建立：请先运行 minqing db upgrade（或运行 minqing demo 看演示）。"
        ), output


def test_a_database_behind_the_program_says_which_versions(database: str, runner: CliRunner):
    upgrade("0008")  # before the review reasons' codes (0009)
    code, output = run(runner, "review", "list")
    assert code == 1
    assert output.strip() == (
        f"错误：数据库的结构落后于程序（数据库版本 0008，程序需要 {head_revision()}）："
        "请先运行 minqing db upgrade。"
    ), output
    upgrade()
    code, output = run(runner, "review", "list")
    assert code == 0, output
