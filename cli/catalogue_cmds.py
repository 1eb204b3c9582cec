"""`minqing catalogue update|compile|check`: keep the message catalogue (消息目录, minqing/i18n.py)
in step with the code — for whoever adds or changes a text people read.

Wired into the main CLI by `catalogue_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
catalogue_app = typer.Typer(
    help="The message catalogue (消息目录): update, compile, check.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(catalogue_app, name="catalogue")


@catalogue_app.command("update")
def catalogue_update() -> None:
    """Extract the marked texts from the code and templates and merge them into each .po."""
    from minqing.catalogue import po_path, update

    for language, waiting in update().items():
        console.print(f"{po_path(language)}: {waiting} text(s) to translate")


@catalogue_app.command("compile")
def catalogue_compile() -> None:
    """Compile each .po into the .mo the application reads."""
    from minqing.catalogue import compile_mo

    for path in compile_mo():
        console.print(f"wrote {path}")


@catalogue_app.command("check")
def catalogue_check() -> None:
    """Fail when a text is missing, untranslated or stale, or a .mo is behind its .po."""
    from minqing.catalogue import problems

    found = problems()
    for line in found:
        console.print(line, markup=False, highlight=False)
    if found:
        raise typer.Exit(1)
    console.print("catalogue in step with the code")
