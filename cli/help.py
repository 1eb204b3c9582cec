"""The command line's help (`minqing … --help`) in the reader's language.

Every help text — of the app, a command group, a command, an option or an argument — is a
catalogue message declared with N_(): typer keeps it as declared, and it is translated here when
the help is shown, so it follows MINQING_LANGUAGE (and `using()`) of the run that asks for it,
not of the import. The layout's own words (用法, 选项, 默认…) come from the catalogue too;
option names, argument names and codes stay as they are.

Declare the commands through `App`, a typer.Typer whose groups and commands show this help::

    handoffs_app = App(help=N_("发出的消息……"))

    @handoffs_app.command("list", help=N_("列出未送达的消息……"))
    def handoffs_list(limit: Annotated[int, typer.Option(help=N_("最多显示多少封。"))] = 200):
        ...

A command's docstring is for engineers and is not shown when `help=` is given.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from typing import Any

import typer
from rich.cells import cell_len
from typer._click.exceptions import ClickException
from typer.core import TyperCommand, TyperGroup

from cli.usage_errors import ReaderError, in_reader_language
from minqing.i18n import N_, NP_, _, gettext, label, pgettext

# Options typer and click add by themselves, by parameter name.
BUILT_IN_HELP = {
    "help": N_("显示本帮助并退出。"),
    "install_completion": N_("为当前 shell 安装命令补全。"),
    "show_completion": N_("显示当前 shell 的命令补全脚本，以便复制或自行安装。"),
}
MAX_WIDTH = 100
MAX_NAME = 24  # the widest option or command name beside its text; longer ones stand above it
# What an option that takes a value shows after its name (--id 编号), by parameter name, else
# by the value's type; a flag (--dry-run) shows nothing.
VALUE_NAMES = {
    "operator": NP_("value", "姓名"),
    "approver": NP_("value", "姓名"),
    "password": NP_("value", "密码"),
    "reason": NP_("value", "理由"),
    "ids": NP_("value", "编号"),
    "into": NP_("value", "案件编号"),
    "since": NP_("value", "时间"),
    "period_from": NP_("value", "日期"),
    "period_to": NP_("value", "日期"),
    "channel": NP_("value", "渠道代码"),
    "department": NP_("value", "部门代码"),
    "to": NP_("value", "部门代码"),
    "kind": NP_("value", "类型"),
    "status": NP_("value", "状态"),
    "category": NP_("value", "分类"),
    "categories": NP_("value", "分类"),
    "text_column": NP_("value", "列名"),
    "title_column": NP_("value", "列名"),
    "label_column": NP_("value", "列名"),
    "host": NP_("value", "地址"),
    "proxy": NP_("value", "地址"),
}
VALUE_TYPES = {
    "int": NP_("value", "数"),
    "float": NP_("value", "数"),
    "Path": NP_("value", "路径"),
    "datetime": NP_("value", "时间"),
}
TEXT_VALUE = NP_("value", "文本")
# Help texts several commands share.
OPERATOR_HELP = N_("您的姓名，记入办理轨迹。")
CASE_HELP = N_("案件编号（如 MQ2026-000123）或渠道自己的编号。")


def usage_line(command: Any, ctx: Any) -> str:
    """用法：minqing handoffs mark-delivered [选项] HANDOFF_ID"""
    pieces = [ctx.command_path]
    if any(_is_option(p) for p in command.get_params(ctx)):
        pieces.append(_("[选项]"))
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            pieces.append(_argument_name(param))
    if isinstance(command, TyperGroup):
        pieces.append(_("命令 [参数]..."))
    return _("用法：%(usage)s") % {"usage": " ".join(pieces)}


def help_text(command: Any) -> str:
    """The command's (or group's) help in the reader's language; "" when it has none."""
    return gettext(command.help.strip()) if command.help else ""


def render_help(command: Any, ctx: Any, width: int | None = None) -> str:
    """The whole help page of `command` as plain text, `width` columns wide."""
    width = width or min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH)
    lines = wrap(usage_line(command, ctx), width)
    for paragraph in help_text(command).split("\n\n") if command.help else []:
        lines += ["", *wrap(paragraph, width)]
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    arguments = [p for p in params if p.param_type_name == "argument"]
    lines += _section(
        _("参数"), [(_argument_name(p), _param_help(p, ctx)) for p in arguments], width
    )
    options = [p for p in params if _is_option(p)]
    lines += _section(_("选项"), [(_option_names(p), _param_help(p, ctx)) for p in options], width)
    if isinstance(command, TyperGroup):
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows.append((name, help_text(sub).split("\n\n")[0]))
        lines += _section(_("命令"), rows, width)
    return "\n".join(lines) + "\n"


_CJK = "\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"
_OPENING, _CLOSING = "（「『《“", "，。；：、）」』》”！？"
# What a line may not be broken inside: a Latin word (an option, a code, a file name) with the
# punctuation around it, or one Chinese character with its punctuation.
_UNIT = re.compile(rf"\s+|[{_OPENING}]*(?:[^\s{_CJK}]+|[{_CJK}])[{_CLOSING}]*")


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines at most `width` terminal cells wide (a Chinese character takes two),
    broken between Chinese characters or at spaces, never inside a Latin word."""
    lines: list[str] = []
    line, used, space = "", 0, False
    for unit in _UNIT.findall(text.replace("\n", " ")):
        if unit.isspace():
            space = bool(line)
            continue
        sep = " " if space else ""
        if line and used + len(sep) + cell_len(unit) > width:
            lines.append(line)
            line, used = unit, cell_len(unit)
        else:
            line, used = line + sep + unit, used + len(sep) + cell_len(unit)
        space = False
    return [*lines, line] if line else lines


def _section(title: str, rows: list[tuple[str, str]], width: int) -> list[str]:
    """A titled list: each name, then its text wrapped in a column of its own."""
    if not rows:
        return []
    indent = min(max(cell_len(name) for name, _text in rows), MAX_NAME) + 4
    out = ["", title]
    for name, text in rows:
        texts = wrap(text, max(width - indent, 20)) or [""]
        if cell_len(name) + 4 > indent:  # a long name has its text on the next line
            out.append("  " + name)
            out += [" " * indent + t for t in texts]
            continue
        out.append("  " + name + " " * (indent - 2 - cell_len(name)) + texts[0])
        out += [" " * indent + t for t in texts[1:]]
    return [line.rstrip() for line in out]


def _is_option(param: Any) -> bool:
    return param.param_type_name == "option" and not getattr(param, "hidden", False)


def _argument_name(param: Any) -> str:
    """HANDOFF_ID, or [CASE] when it may be left out."""
    name = param.metavar or (param.name or "").upper()
    return name if param.required else f"[{name}]"


def _option_names(param: Any) -> str:
    names = ", ".join(param.opts)
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    value = _value_name(param)
    return f"{names} {value}" if value else names


def _value_name(param: Any) -> str:
    """What an option takes, in the reader's language (编号, 时间); "" for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.metavar:
        return gettext(param.metavar)
    word = VALUE_NAMES.get(param.name or "")
    if word is None:
        bare = param.bare_type() if callable(getattr(param, "bare_type", None)) else ""
        word = VALUE_TYPES.get(str(bare).removeprefix("list[").removesuffix("]"), TEXT_VALUE)
    return pgettext("value", word)


def _param_help(param: Any, ctx: Any) -> str:
    """An option's or argument's help, then its default and whether it must be given."""
    if param.name in BUILT_IN_HELP:
        text = label(BUILT_IN_HELP, param.name)
    else:
        text = gettext(param.help.strip()) if param.help else ""
    extra = []
    default = _shown_default(param, ctx)
    if default:
        extra.append(_("默认：%(value)s。") % {"value": default})
    if param.required and param.param_type_name == "option" and not getattr(param, "prompt", None):
        extra.append(_("必填。"))  # an option asked for when left out is not marked 必填
    for sentence in extra:  # Chinese sentences follow each other without a space
        text += sentence if not text or text.endswith(("。", "）", "；")) else " " + sentence
    return text


def _shown_default(param: Any, ctx: Any) -> str:
    """The default worth showing: a value, not a flag's False, None or an empty list."""
    show = getattr(param, "show_default", None)
    if isinstance(show, str):
        return gettext(show)
    if show is False or getattr(param, "is_flag", False):
        return ""
    value = param.get_default(ctx, call=False)
    if value is None or isinstance(value, bool) or callable(value) or value in ("", [], ()):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


class HelpCommand(TyperCommand):
    """A typer command whose help is shown in the reader's language."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write(usage_line(self, ctx) + "\n")

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx))


class HelpGroup(TyperGroup):
    """A typer command group whose help, and the errors met while reading its command line
    (cli/usage_errors.py), are shown in the reader's language; a database not set up or not
    upgraded is told as what to run, not as a traceback."""

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except ClickException as error:
            raise in_reader_language(error) from error

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClickException as error:
            raise in_reader_language(error) from error
        except Exception as error:
            from db.migrate import schema_problem

            problem = schema_problem(error)
            if problem is None:
                raise
            raise ReaderError(problem, None, 1) from error

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write(usage_line(self, ctx) + "\n")

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx))


class App(typer.Typer):
    """typer.Typer whose groups and commands show their help in the reader's language."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", HelpGroup)
        # Without rich markup, typer shows a usage error with the usage line above and the help
        # a group prints when called without a command (both formatted here).
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(  # type: ignore[override]
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        kwargs.setdefault("cls", HelpCommand)
        return super().command(name, **kwargs)
