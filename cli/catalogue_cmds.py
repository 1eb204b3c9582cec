"""`minqing catalogue update|compile|check`: keep the message catalogue (消息目录, minqing/i18n.py)
in step with the code — for whoever adds or changes a text people read.

Wired into the main CLI by `catalogue_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

import typer
from rich.console import Console

from cli.help import App
from minqing.i18n import N_

console = Console()
catalogue_app = App(help=N_("消息目录：更新、编译、检查。"), no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(catalogue_app, name="catalogue")


@catalogue_app.command(
    "update", help=N_("从代码和模板中提取标记的文本，合并进每种语言的 .po 文件。")
)
def catalogue_update() -> None:
    from minqing.catalogue import po_path, update

    for language, waiting in update().items():
        console.print(f"{po_path(language)}: {waiting} text(s) to translate")


@catalogue_app.command("compile", help=N_("把每个 .po 文件编译为程序读取的 .mo 文件。"))
def catalogue_compile() -> None:
    from minqing.catalogue import compile_mo

    for path in compile_mo():
        console.print(f"wrote {path}")


@catalogue_app.command("check", help=N_("有文本缺失、未翻译或已过时，或 .mo 落后于 .po 时报错。"))
def catalogue_check() -> None:
    from minqing.catalogue import problems

    found = problems()
    for line in found:
        console.print(line, markup=False, highlight=False)
    if found:
        raise typer.Exit(1)
    console.print("catalogue in step with the code")
