"""Commands of the web app: `minqing web` (serve it), `minqing qr` (print the stations' QR
codes) and `minqing operators add|list|disable` (who may log in to the console).

Wired into the main CLI by `web_cmds.register(app)` in cli/main.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.help import App
from minqing.i18n import N_, _

console = Console()
operators_app = App(help=N_("工作台的工作人员账号。"), no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("web", help=N_("提供各表单（扫码提交、答复、评价、回头看）和工作台的网页服务。"))(
        web
    )
    app.command(
        "qr",
        help=N_(
            "为 config/stations.yaml 中的站点生成可打印的二维码（PNG 和 PDF，码下印站点名称）。"
        ),
    )(qr)
    app.add_typer(operators_app, name="operators")


def web(
    host: Annotated[str, typer.Option(help=N_("监听的地址。"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=N_("监听的端口。"))] = 8000,
    workers: Annotated[int, typer.Option(help=N_("工作进程数。"))] = 1,
    proxy: Annotated[
        str | None,
        typer.Option(help=N_("可信反向代理的地址；只相信它发来的 X-Forwarded-For。")),
    ] = None,
) -> None:
    import uvicorn

    from web.app import MissingSecret, create_app

    try:
        create_app()  # fail here, with the reason, rather than inside a worker
    except MissingSecret as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy is not None,
        forwarded_allow_ips=proxy,
        access_log=False,  # paths carry the signed tokens of the links in mail
        server_header=False,
    )


def qr(
    out: Annotated[Path | None, typer.Option(help=N_("存放文件的文件夹（默认：var/qr）。"))] = None,
) -> None:
    from cli.blocks import labelled, print_blocks
    from minqing.settings import get_settings
    from tasks.context import context
    from web.qr import write_codes

    settings = get_settings()
    ref = context().ref
    if not ref.stations:
        console.print(_("没有站点：请在 config/stations.yaml 中添加"), style="red")
        raise typer.Exit(2)
    folder = out or settings.var_dir / "qr"
    files, combined, has_font = write_codes(ref.stations, settings.public_url, folder)
    # One block per station, its name first: links and paths are never cut at any width.
    names = {station.code: station.name for station in ref.stations}
    print_blocks(
        console,
        [
            (
                _("%(name)s（%(code)s）")
                % {"name": names.get(f.station, f.station), "code": f.station},
                [
                    labelled(_("链接"), f.url),
                    labelled("PNG", str(f.png)),
                    labelled("PDF", str(f.pdf)),
                ],
            )
            for f in files
        ],
    )
    console.print(_("全部站点合为一个文件：%(file)s") % {"file": combined})
    if not has_font:
        console.print(
            _(
                "没有找到中文字体：二维码下方只能印站点代码。请安装中文字体"
                "（apt-get install fonts-wqy-zenhei）后重新生成"
            ),
            style="yellow",
        )
    if settings.public_url.startswith("http://127.0.0.1") or "localhost" in settings.public_url:
        console.print(_("MINQING_PUBLIC_URL 指向本机：群众的手机打不开这些二维码"), style="yellow")


@operators_app.command(
    "add", help=N_("添加工作人员账号（或用 --reset 重设密码）；密码以 argon2 哈希保存。")
)
def operators_add(
    name: Annotated[str, typer.Argument(help=N_("登录名，显示在办理轨迹中。"))],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help=N_("不给出时会提示输入。"),
        ),
    ],
    reset: Annotated[bool, typer.Option("--reset", help=N_("为已有的账号设置新密码。"))] = False,
) -> None:
    """The password is at least 10 characters; a reset ends the operator's sessions."""
    from sqlalchemy import select

    from db.engine import Session
    from db.models import Operator
    from db.queries import audit
    from web.security import hash_password

    name = name.strip()
    if not name or len(name) > 60:
        console.print(_("账号名称须为 1–60 个字符"), style="red")
        raise typer.Exit(2)
    if len(password) < 10:
        console.print(_("密码至少 10 个字符"), style="red")
        raise typer.Exit(2)
    with Session() as s, s.begin():
        op = s.scalar(select(Operator).where(Operator.name == name))
        if op is not None and not reset:
            console.print(
                _("账号“%(name)s”已存在；重设密码请加 --reset") % {"name": name}, style="red"
            )
            raise typer.Exit(2)
        if op is None:
            s.add(Operator(name=name, password_hash=hash_password(password)))
            audit(s, "cli", "operator_added", entity="operator", operator=name)
        else:
            op.password_hash, op.active = hash_password(password), True
            op.session_version += 1
            audit(
                s,
                "cli",
                "operator_password_reset",
                entity="operator",
                entity_id=op.id,
                operator=name,
            )
    console.print((_("已更新账号“%(name)s”") if op else _("已添加账号“%(name)s”")) % {"name": name})


@operators_app.command("list", help=N_("工作人员账号、是否启用和最近登录时间。"))
def operators_list() -> None:
    from sqlalchemy import select

    from db.engine import Session
    from db.models import Operator
    from tasks.outbox import local_text

    table = Table(_("账号"), _("状态"), _("最近登录"))
    with Session() as s:
        for op in s.scalars(select(Operator).order_by(Operator.name)):
            table.add_row(
                op.name,
                _("启用") if op.active else _("停用"),
                local_text(op.last_login_at, with_time=True),
            )
    console.print(table)


@operators_app.command(
    "disable", help=N_("停用账号：不能再登录，现有会话随即结束；办理轨迹中保留其名称。")
)
def operators_disable(name: Annotated[str, typer.Argument(help=N_("登录名。"))]) -> None:
    from sqlalchemy import select

    from db.engine import Session
    from db.models import Operator
    from db.queries import audit

    with Session() as s, s.begin():
        op = s.scalar(select(Operator).where(Operator.name == name))
        if op is None:
            console.print(_("没有账号“%(name)s”") % {"name": name}, style="red")
            raise typer.Exit(2)
        op.active = False
        op.session_version += 1
        audit(s, "cli", "operator_disabled", entity="operator", entity_id=op.id, operator=name)
    console.print(_("已停用账号“%(name)s”") % {"name": name})
