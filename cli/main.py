"""`minqing`: the operator's command line — demo, database, nightly run, intake, handoffs,
the local SMTP sink and serving the Prefect deployments.

Prefect is imported lazily, after cli/prefect_env.py has looked for the user's Prefect: a
configured API (environment, .env, prefect.toml, the active profile) is used as it is; only
when there is none does minqing run Prefect embedded, its database under var/prefect.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.blocks import print_sentence
from cli.help import App
from minqing.i18n import N_

app = App(help=N_("民情直通车：件件有回复——收集、交办、督办、评议。"), no_args_is_help=True)
db_app = App(help=N_("数据库结构。"), no_args_is_help=True)
mail_app = App(help=N_("本机 SMTP 收件箱（内置的默认发信方式）。"), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(mail_app, name="mail")
console = Console()


@app.callback()
def _setup() -> None:
    """Point Prefect at the user's server when one is configured (environment, .env,
    prefect.toml, the active profile), else at the embedded local mode under var/prefect."""
    from cli.prefect_env import choose_prefect
    from minqing.settings import get_settings

    choose_prefect(get_settings())


@db_app.command("upgrade", help=N_("执行数据库迁移，并把 config 中的配置载入参照表。"))
def db_upgrade() -> None:
    from db.migrate import current_revision, upgrade
    from minqing.i18n import _
    from tasks.reference import sync_reference_now

    upgrade()
    sync_reference_now()
    console.print(
        _("数据库已升级到版本 [bold]%(revision)s[/bold]") % {"revision": current_revision()}
    )


@app.command("check-config", help=N_("检查 config/*.yaml；有错时列出文件、键和问题。"))
def check_config() -> None:
    """Exit status 2 when any config file is wrong; every problem is listed."""
    from minqing.configcheck import check_config_dir, config_warnings
    from minqing.i18n import _
    from minqing.reference import ConfigError
    from minqing.settings import get_settings
    from tasks.context import context

    config_dir = get_settings().resolved_config_dir

    def warn() -> None:  # likely slips, said but not refused (a calendar year listed in part)
        for problem in config_warnings(config_dir):
            line = _("注意：%(problem)s") % {"problem": problem}
            console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)

    try:
        check_config_dir(config_dir)
        ref = context().ref
    except ConfigError as exc:
        # One problem a line, never broken: an operator searches the file for what it says.
        console.print(str(exc), style="red", markup=False, highlight=False, soft_wrap=True)
        warn()
        raise typer.Exit(2) from None

    console.print(
        _("配置无误：部门 %(d)d 个，社区 %(a)d 个，分类 %(c)d 个，交办规则 %(r)d 条")
        % {
            "d": len(ref.departments),
            "a": len(ref.areas),
            "c": len(ref.flat_categories),
            "r": len(ref.rules),
        }
    )
    warn()


BUSY_EXIT = 3  # the exit status of a run that did not start because another run was going


@app.command(help=N_("立即运行一次夜间流程（另一次运行尚未结束时先等待，见 --wait）。"))
def nightly(
    wait: Annotated[
        float | None,
        typer.Option(
            help=N_(
                "另一次运行尚未结束时最多等待的分钟数（默认取 MINQING_RUN_WAIT_MINUTES，"
                "为 60）；0 表示立即放弃。"
            )
        ),
    ] = None,
) -> None:
    """Exit status BUSY_EXIT when another run holds the lease past --wait."""
    from cli.prefect_env import current_target, describe, prefect_for_flows
    from minqing.i18n import _
    from minqing.reference import ConfigError
    from minqing.settings import get_settings

    console.print(describe(current_target()))
    try:
        with prefect_for_flows(get_settings()), one_run("nightly", wait):
            state = run_night()
    except ConfigError as exc:  # the night refused a broken config file before touching anything
        console.print(str(exc), style="red", markup=False, highlight=False, soft_wrap=True)
        console.print(_("改好后运行 minqing check-config 确认无误，再运行 minqing nightly。"))
        raise typer.Exit(2) from None
    print_verdict(state, _("本次夜间运行"))


def run_night() -> Any:
    """One night through the flow; its final state. A night that failed raises its error (a
    ConfigError is answered by the caller)."""
    from flows.nightly import nightly as nightly_flow

    state = nightly_flow(return_state=True)
    if state.is_failed() or state.is_crashed():
        state.result()
    return state


def print_verdict(state: Any, what: str) -> None:
    """The last line of a night run from the terminal: how it ended, as the Prefect runs list
    shows it (部分失败 / 演练 / 已跳过 with its reasons and what to do, or 完成), so an operator
    who reads only the end of the output is not told it simply finished."""
    from cli.blocks import print_sentence
    from minqing.i18n import _
    from minqing.runstate import PARTIAL

    text = state.message or _("完成")
    style = "yellow" if state.name == PARTIAL else ""
    print_sentence(console, _("%(what)s：%(text)s") % {"what": what, "text": text}, style=style)


@contextlib.contextmanager
def one_run(entry: str, wait_minutes: float | None) -> Iterator[None]:
    """Hold the run lease for a command's run, or print why not and exit with BUSY_EXIT (0 when
    the run it waited for did the work meanwhile)."""
    from tasks.lease import DoneMeanwhile, run_lease_or_refusal

    wait = None if wait_minutes is None else wait_minutes * 60
    # "…web01 进程 20313…" wrapped so that a label keeps its number at 80 columns
    say = lambda text: print_sentence(console, text)  # noqa: E731
    with run_lease_or_refusal(entry, say, wait=wait) as refusal:
        if refusal is None:
            yield
            return
    print_sentence(console, str(refusal), style="yellow")
    raise typer.Exit(0 if isinstance(refusal, DoneMeanwhile) else BUSY_EXIT)


@app.command(help=N_("用自带的样例数据演示两个夜间流程（SQLite 数据库，本机 SMTP 收件箱）。"))
def demo(
    fresh: Annotated[bool, typer.Option(help=N_("从空的数据库和收件箱开始。"))] = False,
) -> None:
    from db.migrate import upgrade
    from mail.sink import SmtpSink, count_messages
    from minqing.i18n import _, ngettext
    from minqing.settings import get_settings
    from tasks.reference import sync_reference_now

    settings = get_settings()
    if settings.mail_mode != "sink":
        console.print(
            "[red]" + _("演示只发往本机的 SMTP 收件箱：请取消设置 MINQING_MAIL_MODE") + "[/red]"
        )
        raise typer.Exit(2)
    if fresh:
        for sub in (
            "minqing.db",
            "minqing.db-wal",
            "minqing.db-shm",
            "mail",
            "inbox",
            "archive",
            "failed",
        ):
            target = settings.var_dir / sub
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    upgrade()
    sync_reference_now()
    sample = Path(__file__).resolve().parent.parent / "sample"
    from cli.prefect_env import prefect_for_flows

    with (
        prefect_for_flows(settings),
        SmtpSink(settings.mail_dir, settings.sink_host, settings.sink_port),
    ):
        before = count_messages(settings.mail_dir)
        verdicts = []
        for night in ("night1", "night2"):
            copied = _copy_inbox(sample / night / "inbox", settings.inbox_dir, _demo_reply_day())
            console.rule(
                ngettext(
                    "[bold]%(night)s[/bold]：%(n)d 个文件已放入收件箱",
                    "[bold]%(night)s[/bold]：%(n)d 个文件已放入收件箱",
                    copied,
                )
                % {"night": night, "n": copied}
            )
            verdicts.append((night, run_night()))
        time.sleep(0.2)  # let the sink finish writing the last message
        after = count_messages(settings.mail_dir)
    console.rule("[bold]" + _("完成") + "[/bold]")
    console.print(
        ngettext(
            "本次本机 SMTP 收件箱收到 [bold]%(n)d[/bold] 封邮件（存于 %(folder)s）",
            "本次本机 SMTP 收件箱收到 [bold]%(n)d[/bold] 封邮件（存于 %(folder)s）",
            after - before,
        )
        % {"n": after - before, "folder": settings.mail_dir}
    )
    for night, state in verdicts:
        print_verdict(state, night)
    console.print(_("数据库：%(url)s") % {"url": settings.resolved_database_url})
    console.print(
        _(
            "查看邮件：[bold]minqing mail list[/bold]；未送达的消息：[bold]minqing handoffs list[/bold]"
        )
    )


# The day the sample's departments and citizens answer (答复时间, 评价时间). A reply dated
# before its case was assigned is refused, and the demo assigns on the day it runs, so the demo
# dates the answers on the day its first night assigned the cases.
SAMPLE_ANSWER_DAY = "2026-11-28"
ANSWER_FOLDERS = ("replies", "ratings")


def _demo_reply_day() -> str:
    from sqlalchemy import func, select

    from db.engine import Session
    from db.models import Case
    from minqing.workdays import LOCAL_TZ

    with Session() as s:
        first = s.scalar(select(func.min(Case.assigned_at)))
    return (first or datetime.now(UTC)).astimezone(LOCAL_TZ).date().isoformat()


def _copy_inbox(source: Path, inbox: Path, answer_day: str) -> int:
    copied = 0
    for path in sorted(source.glob("*/*")):
        if path.is_file() and not path.name.startswith("."):
            target = inbox / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.parent.name in ANSWER_FOLDERS:
                data = path.read_bytes().replace(SAMPLE_ANSWER_DAY.encode(), answer_day.encode())
                target.write_bytes(data)
            else:
                shutil.copy2(path, target)
            copied += 1
    return copied


def refuse_unknown_channel(channel: str) -> None:
    """Stop with the known channels (label and code) when `channel` is none of them."""
    from minqing.channels.base import registered_channels
    from minqing.i18n import _
    from minqing.labels import channel_label
    from minqing.messages import listing

    known = registered_channels()
    if channel in known:
        return
    names = (_("%(label)s（%(code)s）") % {"label": channel_label(c), "code": c} for c in known)
    print_sentence(  # wrapped between names, never inside "（wechat）"
        console,
        _("没有“%(channel)s”这个渠道。可用的渠道：%(known)s。")
        % {"channel": channel, "known": listing(names)},
        style="red",
    )
    raise typer.Exit(2)


@app.command(
    help=N_(
        "立即把一个渠道的文件（或文件夹）读入数据库，并显示进度。\n\n"
        "有文件无法读取时，退出状态为 1（原因会打印出来）。"
    )
)
def ingest(
    path: Annotated[Path, typer.Argument(exists=True, help=N_("一个文件，或一个文件夹。"))],
    channel: Annotated[
        str,
        typer.Option(help=N_("渠道代码：hotline、qrform、register、wechat、visits、email 等。")),
    ],
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from minqing.i18n import _, label
    from minqing.settings import get_settings
    from minqing.summary import FILE_OUTCOMES, KEPT_FILE_OUTCOMES
    from tasks.context import context
    from tasks.inbox import in_inbox
    from tasks.ingest import ingest_file, record_command_file
    from tasks.reference import sync_reference_now

    refuse_unknown_channel(channel)
    sync_reference_now()
    ref, settings = context().ref, get_settings()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    failed = 0
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        for f in files:
            bar = progress.add_task(f.name, total=None)
            report = ingest_file(
                channel, f, ref, progress=lambda n, bar=bar: progress.advance(bar, n)
            )
            kept = not in_inbox(settings, f)
            record_command_file(report, kept=kept)
            # the result on a line of its own: a bar's description is cut to the terminal
            progress.remove_task(bar)
            print_sentence(  # each count stays with its label ("拒收 0") at any width
                progress.console,
                _("%(file)s：%(outcome)s，收录 %(taken)d，已有 %(known)d，拒收 %(rejected)d")
                % {
                    "file": f.name,
                    "outcome": label(
                        KEPT_FILE_OUTCOMES if kept else FILE_OUTCOMES,
                        report.status,
                    ),
                    "taken": report.taken,
                    "known": report.known,
                    "rejected": report.rejected,
                },
            )
            if report.answers:
                progress.console.print(
                    _("%(file)s：%(n)d 封是对本系统邮件的回复，未立案（答复、评价或待人工处理）")
                    % {"file": f.name, "n": report.answers},
                    markup=False,
                )
            for returned in report.returned:
                progress.console.print(
                    _("%(file)s：答复附件 %(name)s，%(outcome)s，收录 %(taken)d，拒收 %(rejected)d")
                    % {
                        "file": f.name,
                        "name": returned["name"],
                        "outcome": label(FILE_OUTCOMES, returned["status"]),
                        "taken": returned["taken"],
                        "rejected": returned["rejected"],
                    },
                    markup=False,
                )
            if report.reason:
                console.print(f"{f.name}: {report.reason}", style="red", markup=False)
            failed += report.status == "failed"
    if failed:  # a script or cron job must see that a file was not read
        raise typer.Exit(1)


PerSecond = Annotated[
    float | None,
    typer.Option(help=N_("每秒最多发送的邮件数（默认取 MINQING_SMTP_RATE_PER_SECOND，为 5）。")),
]
Burst = Annotated[int | None, typer.Option(help=N_("一次最多连续发送的邮件数（默认：一秒的量）。"))]


@app.command(
    "setup-limits",
    help=N_(
        "在 Prefect 上创建或更新全局并发限制 `smtp`（发信的速率限制）。\n\n"
        "请对工作进程所用的 Prefect 服务器运行；设置 MINQING_SMTP_RATE_LIMIT=on 后，"
        "发送才遵守此限制（见 docs/delivery.md）。"
    ),
)
def setup_limits(
    per_second: PerSecond = None,
    burst: Burst = None,
) -> None:
    from tasks.limits import configure_smtp_limit

    try:
        _print_limit(configure_smtp_limit(per_second, burst))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _print_limit(limit: dict) -> None:
    from minqing.i18n import _
    from tasks.limits import RateLimitSettings

    console.print(
        _(
            "%(action)s Prefect 全局并发限制 [bold]%(name)s[/bold]：每秒 %(rate)s 封，"
            "一次至多 %(burst)s 封"
        )
        % {
            "action": _action(limit["action"]),
            "name": limit["name"],
            "rate": limit["slot_decay_per_second"],
            "burst": limit["limit"],
        }
    )
    if RateLimitSettings().smtp_rate_limit == "off":
        console.print(_("设置 MINQING_SMTP_RATE_LIMIT=on 之前，发送不受此限制"))


def _action(action: str) -> str:
    """What setup did to a Prefect object ("created" / "updated"), in the reader's language."""
    from minqing.i18n import label

    return label(SETUP_ACTIONS, action)


SETUP_ACTIONS = {"created": N_("已创建"), "updated": N_("已更新")}


@mail_app.command("sink", help=N_("在前台运行本机 SMTP 收件箱（邮件存于 var/mail）。"))
def mail_sink() -> None:
    from mail.sink import SmtpSink
    from minqing.i18n import _
    from minqing.settings import get_settings

    settings = get_settings()
    with SmtpSink(settings.mail_dir, settings.sink_host, settings.sink_port):
        console.print(
            _("本机 SMTP 收件箱在 %(host)s:%(port)s 接收，邮件存于 %(folder)s；按 Ctrl-C 停止")
            % {"host": settings.sink_host, "port": settings.sink_port, "folder": settings.mail_dir}
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@mail_app.command("list", help=N_("本机 SMTP 收件箱最近收到的邮件。"))
def mail_list(
    limit: Annotated[int, typer.Option(help=N_("最多显示多少封。"))] = 30,
) -> None:
    from email.utils import parsedate_to_datetime

    from rich.table import Column
    from rich.text import Text

    from mail.sink import stored_messages
    from minqing.i18n import _, ngettext
    from minqing.settings import get_settings
    from tasks.outbox import local_text

    messages = stored_messages(get_settings().mail_dir)
    shown = messages[-limit:] if limit > 0 else []
    title = ngettext("%(n)d 封邮件", "%(n)d 封邮件", len(messages)) % {"n": len(messages)}
    if len(shown) < len(messages):  # the title counts them all: say which are listed
        title += _("，显示最近 %(shown)d 封") % {"shown": len(shown)}
    # Beijing time, as every other date the office reads; the subject (with its case number)
    # above its recipient, so that both fit an 80-column terminal whole.
    table = Table(
        Column(_("日期"), no_wrap=True), Column(_("主题") + " / " + _("收件人")), title=title
    )
    for m in shown:
        try:
            sent = local_text(parsedate_to_datetime(str(m["Date"])), with_time=True)
        except (TypeError, ValueError):
            sent = str(m["Date"] or "")
        table.add_row(sent, Text(f"{m['Subject']}\n{m['To']}"))
    console.print(table)
    if len(shown) < len(messages):
        print_sentence(
            console,
            _("仅显示最近 %(shown)d 封；查看全部请用 minqing mail list --limit %(n)d。")
            % {"shown": len(shown), "n": len(messages)},
        )


@app.command(
    help=N_(
        "运行全部部署（`nightly`、`deliver`、`retry-handoffs` 等），无需工作池；"
        "连接 Prefect 服务器时，先创建或更新提醒值班联系人的自动化"
        "（与 `minqing setup-prefect` 相同）。"
    )
)
def serve() -> None:
    from cli.prefect_env import current_target, describe, prefect_for_flows
    from flows.serve import serve_all
    from minqing.i18n import _
    from minqing.settings import get_settings

    target = current_target()
    console.print(describe(target))
    if target.embedded:
        console.print(
            _(
                "未配置 Prefect 服务器：在内置的 Prefect 上运行，没有自动化提醒"
                "（要用界面和值班提醒，请让某个配置文件或 PREFECT_API_URL 指向服务器）"
            )
        )
        with prefect_for_flows(get_settings()):
            serve_all()
        return
    serve_all(before_serving=lambda: _report_setup(_run_setup_prefect()))


@app.command(
    "setup-prefect",
    help=N_(
        "在 Prefect 服务器上创建或更新：速率限制 `smtp`、每个值班群机器人的通知块，"
        "以及提醒值班联系人的自动化。可重复运行。\n\n"
        "使用工作池时：请在 `prefect deploy --all` 之后运行（值班邮件提醒会启动 "
        "`duty-alert` 部署），并在那里设置好机器人网址的变量。"
    ),
)
def setup_prefect_command(
    per_second: PerSecond = None,
    burst: Burst = None,
) -> None:
    from cli.prefect_env import current_target, describe
    from minqing.i18n import _

    target = current_target()
    console.print(describe(target))
    if target.embedded:
        console.print(
            "[red]"
            + _(
                "未配置 Prefect 服务器，自动化需要服务器。请让某个配置文件"
                "（`prefect config set PREFECT_API_URL=…`）或 PREFECT_API_URL 指向它。"
            )
            + "[/red]"
        )
        raise typer.Exit(2)
    try:
        _report_setup(_run_setup_prefect(per_second, burst))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _run_setup_prefect(per_second: float | None = None, burst: int | None = None) -> dict:
    from tasks.automations import setup_prefect

    return setup_prefect(per_second=per_second, burst=burst)


def _report_setup(done: dict) -> None:
    from minqing.i18n import _

    _print_limit(done["limit"])
    console.print(
        _("值班群机器人（由 Prefect 服务器推送）：%(robots)s")
        % {"robots": _("、").join(done["robots"]) or "—"}
    )
    if not done["email"]:
        console.print(
            "[yellow]"
            + _(
                "值班邮件：未启用（没有值班联系人，或 duty-alert 部署尚未部署："
                "请先运行 `prefect deploy --all`，再运行本命令）"
            )
            + "[/yellow]"
        )
    for a in done["automations"]:
        console.print(
            _("%(action)s自动化 [bold]%(name)s[/bold]")
            % {"action": _action(a["action"]), "name": a["name"]}
        )


def _register_command_modules() -> None:
    """Each topic's commands live in their own module with a `register(app)` function."""
    import importlib

    for name in (
        "model_cmds",
        "cases_cmds",
        "review_cmds",
        "report_cmds",
        "web_cmds",
        "index_cmds",
        "catalogue_cmds",
        "handoffs_cmds",
    ):
        try:
            module = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.{name}":
                raise
            continue
        module.register(app)


_register_command_modules()
