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
    from minqing.i18n import _
    from tasks.index import index_status as status

    st = status()
    console.print(
        _("查重索引：%(entries)s 条记录，%(bands)s 个分段；参数 %(fingerprint)s")
        % {
            "entries": f"{st['entries']:,}",
            "bands": f"{st['band_rows']:,}",
            "fingerprint": st["fingerprint"],
        }
    )
    if st["stale_entries"]:
        console.print(
            "[yellow]"
            + _("%(n)s 条记录由不同的参数生成：请运行 `minqing index rebuild`")
            % {"n": f"{st['stale_entries']:,}"}
            + "[/yellow]"
        )


@index_app.command("prune")
def index_prune(
    limit: Annotated[int | None, typer.Option(help="Remove at most this many entries.")] = None,
) -> None:
    """Remove the entries of cases closed more than window_days + prune_grace_days ago (the
    nightly flow does this too)."""
    from minqing.i18n import _
    from tasks.index import prune_now

    done = prune_now(limit=limit)
    console.print(
        _("已移除 %(entries)s 条记录和 %(bands)s 个分段")
        % {"entries": f"{done['entries']:,}", "bands": f"{done['band_rows']:,}"}
    )


@index_app.command("rebuild")
def index_rebuild(
    yes: Annotated[bool, typer.Option("--yes", help="Do it (otherwise only say what).")] = False,
) -> None:
    """Re-index the submissions of open and recently closed cases with the current settings.
    Run it while no night is running (it holds one transaction)."""
    from minqing.i18n import _
    from tasks.index import index_status, rebuild_now

    st = index_status()
    if not yes:
        console.print(
            _(
                "将用未办结和近期办结案件的留言替换现有的 %(entries)s 条记录"
                "（其中 %(stale)s 条由不同的参数生成）；确认执行请加 --yes"
            )
            % {"entries": f"{st['entries']:,}", "stale": f"{st['stale_entries']:,}"}
        )
        return
    done = rebuild_now()
    console.print(
        _("查重索引已重建：%(entries)s 条留言，参数 %(fingerprint)s")
        % {"entries": f"{done['entries']:,}", "fingerprint": st["fingerprint"]}
    )
