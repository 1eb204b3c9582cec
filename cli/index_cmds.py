"""`minqing index status|prune|rebuild`: the near-duplicate index (查重索引) — how big it is,
removing the entries of long-closed cases now instead of at night, and rebuilding it after
config/triage.yaml's shingle/MinHash settings changed (tasks/index.py).

Wired into the main CLI by `index_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cli.help import App
from minqing.i18n import N_

console = Console()
index_app = App(help=N_("查重索引：状态、清理、重建。"), no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")


@index_app.command(
    "status", help=N_("索引中的记录数和分段数，以及它们是否与 config/triage.yaml 的参数一致。")
)
def index_status() -> None:
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


@index_app.command(
    "prune",
    help=N_("移除办结已超过 window_days + prune_grace_days 天的案件的记录（夜间流程也会做）。"),
)
def index_prune(
    limit: Annotated[int | None, typer.Option(help=N_("最多移除多少条记录。"))] = None,
) -> None:
    from minqing.i18n import _
    from tasks.index import prune_now

    done = prune_now(limit=limit)
    console.print(
        _("已移除 %(entries)s 条记录和 %(bands)s 个分段")
        % {"entries": f"{done['entries']:,}", "bands": f"{done['band_rows']:,}"}
    )


@index_app.command(
    "rebuild",
    help=N_(
        "按当前参数重新索引未办结和近期办结案件的留言。"
        "请在没有夜间流程运行时执行（它在一个事务中完成）。"
    ),
)
def index_rebuild(
    yes: Annotated[
        bool, typer.Option("--yes", help=N_("确认执行（不加时只说明将做什么）。"))
    ] = False,
) -> None:
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
