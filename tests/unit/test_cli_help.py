"""`minqing --help` and the help of every command group and command read in the reader's
language: Chinese by default — with option names, argument names, codes, file names and product
names as they are — and English with MINQING_LANGUAGE=en, switched when the help is shown, not
when the command line is imported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from minqing.i18n import using
from tests.integration.test_untranslated import chinese_left, latin_words

REPO = Path(__file__).resolve().parents[2]

# Codes and names the help quotes, which the operator types or reads in config as they are.
CODES = {
    # statuses, message kinds, channels and department codes
    "pending", "sending", "sent", "failed", "dead", "assignment", "reminder", "escalation",
    "survey", "hotline", "qrform", "register", "wechat", "visits", "email", "zhujian",
    "chengguan",
    # config keys and the columns `minqing classify` writes
    "config", "needs_review", "review_threshold", "window_days", "prune_grace_days",
    # products, formats and protocols
    "SQLite", "argon2", "shell", "X-Forwarded-For", ".po", ".mo",
}  # fmt: skip
CODE_PATTERNS = [
    r"`[^`]+`",  # a command, a deployment or a Prefect object, as typed
    r"\bMINQING_\w+(?:=\w+)?",  # settings
    r"\b(?:config|var|docs)/[\w./*-]+",  # files and folders of the project
    r"默认：[^。]*。",  # a default value, as it is typed
]


def command_paths(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple]:
    """Every group and command of the CLI, as the words typed before --help."""
    yield prefix, group
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = list(command_paths(typer.main.get_command(app)))  # type: ignore[arg-type]


def names(command) -> set[str]:
    """What the help may quote of the command line itself: its command, option and argument
    names (the usage line, and texts like “见 --wait”)."""
    found = {command.name or ""}
    for param in command.params:
        found |= {*param.opts, *param.secondary_opts, (param.name or "").upper()}
    for sub in getattr(command, "commands", {}).values():
        found |= names(sub)
    return found


ALL_NAMES = set().union(*(names(c) for _, c in COMMANDS)) | {"--help", "--install-completion"}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI as an operator runs it; the root callback points Prefect somewhere in the
    environment, which is restored afterwards."""
    monkeypatch.setenv("COLUMNS", "200")  # one help line per option: nothing broken mid-name
    saved = dict(os.environ)
    yield CliRunner()
    os.environ.clear()
    os.environ.update(saved)


def help_page(runner: CliRunner, words: tuple[str, ...], language: str) -> str:
    with using(language):
        result = runner.invoke(app, [*words, "--help"], prog_name="minqing")
    assert result.exit_code == 0, result.output
    return result.output


def english_left_in_chinese(text: str) -> list[str]:
    for pattern in CODE_PATTERNS:
        text = re.sub(pattern, " ", text)
    return latin_words(text, ALL_NAMES | CODES)


def test_every_group_command_option_and_argument_has_a_help_text():
    missing = [
        " ".join(words) + (f" {param.name}" if param else "")
        for words, command in COMMANDS
        for param in [None, *(p for p in command.params if not getattr(p, "hidden", False))]
        if not (param.help if param else command.help)
    ]
    assert missing == []


@pytest.mark.parametrize("words", [w for w, _ in COMMANDS], ids=lambda w: " ".join(w) or "minqing")
def test_the_help_reads_chinese_by_default_and_english_when_chosen(runner, words):
    chinese = help_page(runner, words, "zh_CN")
    assert chinese.startswith("用法：minqing"), chinese
    assert english_left_in_chinese(chinese) == [], chinese
    english = help_page(runner, words, "en")
    assert english.startswith("Usage: minqing"), english
    assert chinese_left(english, {}, punctuation=True) == [], english


def test_the_language_is_chosen_when_the_help_is_shown_not_when_the_cli_is_imported(runner):
    words = ("handoffs", "retry")
    assert "重发未送达的消息" in help_page(runner, words, "zh_CN")
    english = help_page(runner, words, "en")
    assert (
        "Resend undelivered messages" in english and "Your name, kept in the case trail." in english
    )
    assert "您的姓名，记入办理轨迹。" in help_page(runner, words, "zh_CN")


def test_the_help_shows_defaults_and_required_options_in_the_readers_words(runner):
    listing = help_page(runner, ("handoffs", "list"), "zh_CN")
    assert "默认：200。" in listing
    assert "必填。" in help_page(runner, ("handoffs", "mark-delivered"), "zh_CN")
    assert "Default: 200." in help_page(runner, ("handoffs", "list"), "en")


def test_an_option_asked_for_when_left_out_is_not_marked_required(runner):
    page = help_page(runner, ("operators", "add"), "zh_CN")
    line = next(x for x in page.splitlines() if x.strip().startswith("--password"))
    assert "不给出时会提示输入。" in line and "必填" not in line


def test_options_that_take_a_value_show_what_they_take_and_flags_do_not(runner):
    options = {
        line.split()[0]: line.split()[1]
        for line in help_page(runner, ("handoffs", "retry"), "zh_CN").splitlines()
        if line.startswith("  --")
    }
    assert options["--id"] == "编号" and options["--since"] == "时间"
    assert options["--operator"] == "姓名" and options["--wait"] == "数"
    assert options["--dry-run"] == "只列出将要重发的消息，不发送。"  # a flag: its text follows
    english = help_page(runner, ("handoffs", "retry"), "en")
    assert re.search(r"^  --id ID +Message number", english, re.M)
    assert re.search(r"^  --since TIME +Only messages", english, re.M)
    assert re.search(r"^  --dry-run +Only list", english, re.M)


def test_a_process_started_with_english_chosen_shows_english_help():
    env = {**os.environ, "MINQING_LANGUAGE": "en", "COLUMNS": "200"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.main import app; app(prog_name='minqing')",
            "handoffs",
            "--help",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: minqing handoffs [OPTIONS] COMMAND [ARGS]...")
    assert "mark-delivered  Confirm delivery:" in result.stdout
    assert chinese_left(result.stdout, {}, punctuation=True) == []


def test_the_report_refuses_a_half_given_period_in_the_readers_words(runner):
    with using("zh_CN"):
        half = runner.invoke(app, ["report", "--from", "2026-11-01"], prog_name="minqing")
    with using("en"):
        reversed_ = runner.invoke(
            app, ["report", "--from", "2026-11-30", "--to", "2026-11-01"], prog_name="minqing"
        )
    assert half.exit_code == reversed_.exit_code == 2
    assert "请同时给出 --from 和 --to" in half.output
    assert "--to is before --from." in reversed_.output
