"""`minqing index status|prune|rebuild`: the near-duplicate index (查重索引) — how big it is,
removing the entries of long-closed cases now instead of at night, and rebuilding it after
config/triage.yaml's shingle/MinHash settings changed (tasks/index.py).

Wired into the main CLI by `index_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

console = Console()
index_app = typer.Typer(
    help="The near-duplicate index (查重索引): status, prune, rebuild.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")


@index_app.command("status")
def index_status() -> None:
    """Entries and band rows in the index, and whether they match config/triage.yaml."""
    from tasks.index import index_status as status

    st = status()
    console.print(
        f"entries {st['entries']:,}, band rows {st['band_rows']:,}; settings {st['fingerprint']}"
    )
    if st["stale_entries"]:
        console.print(
            f"[yellow]{st['stale_entries']:,} entries were made with other settings: "
            "run `minqing index rebuild`[/yellow]"
        )


@index_app.command("prune")
def index_prune(
    limit: Annotated[int | None, typer.Option(help="Remove at most this many entries.")] = None,
) -> None:
    """Remove the entries of cases closed more than window_days + prune_grace_days ago (the
    nightly flow does this too)."""
    from tasks.index import prune_now

    done = prune_now(limit=limit)
    console.print(f"removed {done['entries']:,} entries and {done['band_rows']:,} band rows")


@index_app.command("rebuild")
def index_rebuild(
    yes: Annotated[bool, typer.Option("--yes", help="Do it (otherwise only say what).")] = False,
) -> None:
    """Re-index the submissions of open and recently closed cases with the current settings.
    Run it while no night is running (it holds one transaction)."""
    from tasks.index import index_status, rebuild_now

    st = index_status()
    if not yes:
        console.print(
            f"would replace {st['entries']:,} entries ({st['stale_entries']:,} made with other "
            f"settings) by the open and recently closed cases' submissions; add --yes to do it"
        )
        return
    done = rebuild_now()
    console.print(f"index rebuilt: {done['entries']:,} submissions, settings {st['fingerprint']}")
