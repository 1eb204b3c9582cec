"""The command line's errors (a mistyped option, a missing argument, a file that is not there)
in the reader's language, like its help (cli/help.py).

typer brings its own copy of click, whose messages are English and not in any catalogue; the
command groups (`HelpGroup`) hand every error they meet to `in_reader_language`, which says the
same thing from the catalogue. Option names, file names and values stay as typed; a message
nothing here recognises (a command's own refusal, already in the reader's language) is kept.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import IO, Any

from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    ClickException,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer._click.utils import echo

from minqing.i18n import N_, _, gettext, label

PATH_KINDS = {"file": N_("文件"), "dir": N_("文件夹"), "path": N_("路径")}
_PATH_PROBLEMS = {
    "does not exist": N_("%(kind)s %(path)s 不存在。"),
    "is a file": N_("%(path)s 是文件，这里要的是文件夹。"),
    "is a directory": N_("%(path)s 是文件夹，这里要的是文件。"),
    "is not readable": N_("%(kind)s %(path)s 无法读取（没有权限）。"),
    "is not writable": N_("%(kind)s %(path)s 无法写入（没有权限）。"),
}
_PATH = re.compile(r"(file|dir|path) ('.*') (" + "|".join(_PATH_PROBLEMS) + r")\.")
_FORMATS = re.compile(r"(?:Value error, )?('.*') does not match the formats ('.*')\.")
# What a value should have looked like, by the kind of pydantic's first complaint about it.
VALUE_KINDS = {
    "int_parsing": N_("应为整数"),
    "int_from_float": N_("应为整数"),
    "float_parsing": N_("应为数字"),
    "bool_parsing": N_("应为 true 或 false"),
    "datetime_parsing": N_("应为时间，如 2026-12-07 或 2026-12-07T08:00"),
    "datetime_from_date_parsing": N_("应为时间，如 2026-12-07 或 2026-12-07T08:00"),
    "date_parsing": N_("应为日期，如 2026-12-07"),
    "date_from_datetime_parsing": N_("应为日期，如 2026-12-07"),
}


class ReaderError(UsageError):
    """A command-line error as the reader reads it: the usage line, where to find help, and
    what was wrong."""

    def __init__(self, message: str, ctx: Any, exit_code: int) -> None:
        super().__init__(message, ctx)
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        lines = []
        if self.ctx is not None:
            lines.append(self.ctx.get_usage())
            if self.ctx.command.get_help_option(self.ctx) is not None:
                command = f"{self.ctx.command_path} {self.ctx.help_option_names[0]}"
                lines.append(_("运行 %(command)s 查看帮助。") % {"command": command})
            lines.append("")
        lines.append(_("错误：%(message)s") % {"message": self.message})
        echo("\n".join(lines), file=file, err=file is None)


def in_reader_language(error: ClickException) -> ClickException:
    """`error` saying the same in the reader's language (itself when it already is, and a
    group's help shown for want of a command)."""
    if isinstance(error, ReaderError | NoArgsIsHelpError):
        return error
    ctx = getattr(error, "ctx", None)
    return ReaderError(_message(error), ctx, error.exit_code)


def _message(error: ClickException) -> str:
    if isinstance(error, NoSuchOption):
        if not error.possibilities:
            return _("没有选项 %(option)s。") % {"option": error.option_name}
        return _("没有选项 %(option)s。您要的是不是：%(options)s？") % {
            "option": error.option_name,
            "options": ", ".join(sorted(error.possibilities)),
        }
    if isinstance(error, MissingParameter):
        kind = error.param_type or getattr(error.param, "param_type_name", "")
        missing = _("缺少选项 %(name)s。") if kind == "option" else _("缺少参数 %(name)s。")
        return missing % {"name": _hint(error)}
    if isinstance(error, BadParameter):
        return _("%(name)s 的值不对：%(problem)s") % {
            "name": _hint(error),
            "problem": _problem(error),
        }
    if isinstance(error, BadOptionUsage):
        if "requires" in error.message:
            return _("选项 %(option)s 后面要跟一个值。") % {"option": error.option_name}
        if "does not take a value" in error.message:
            return _("选项 %(option)s 不带值。") % {"option": error.option_name}
    if match := re.fullmatch(r"No such command '(.*)'\.", error.message):
        return _("没有命令 %(command)s。") % {"command": match.group(1)}
    if match := re.fullmatch(r"Got unexpected extra argument(?:\(s\)|s)? \((.*)\)", error.message):
        return _("多余的参数：%(arguments)s。") % {"arguments": match.group(1)}
    if error.message == "Missing command.":
        return _("缺少命令。")
    return error.message


def _hint(error: BadParameter) -> str:
    """The option or argument as the reader typed or sees it: --limit, PATH."""
    if error.param_hint is not None:
        hints = [error.param_hint] if isinstance(error.param_hint, str) else error.param_hint
        return " / ".join(hints)
    if error.param is not None:
        opts = getattr(error.param, "opts", None) or [error.param.name or ""]
        if error.param.param_type_name == "argument":
            return (error.param.name or "").upper()
        return " / ".join(opts)
    return ""


def _problem(error: BadParameter) -> str:
    """What was wrong with the value: the path's problem, or what the value should have been."""
    if match := _PATH.fullmatch(error.message):
        kind, path, problem = match.groups()
        return gettext(_PATH_PROBLEMS[problem]) % {"kind": label(PATH_KINDS, kind), "path": path}
    if match := _FORMATS.fullmatch(error.message):
        value, formats = match.groups()
        examples = [datetime.now().strftime(f) for f in re.findall(r"'([^']*)'", formats)]
        return _("%(value)s 的格式不对，应如 %(examples)s。") % {
            "value": value,
            "examples": _("或").join(examples),
        }
    complaints: list[dict[str, Any]] = getattr(
        error.__cause__, "errors", list
    )()  # pydantic's, when it refused
    if complaints and complaints[0].get("type") in VALUE_KINDS:
        return _("%(value)r %(expected)s。") % {
            "value": complaints[0].get("input"),
            "expected": label(VALUE_KINDS, complaints[0]["type"]),
        }
    return error.message
