"""One run of the pipeline's stages at a time: what each entry does when another run holds the
run lease (db/lease.py), and what it says then.

Entries that an office waits for (the night, the morning look-back, an operator's retry, a
triage on Dask, the daytime intake) wait for the other run to finish, up to
`MINQING_RUN_WAIT_MINUTES`; the 15-minute delivery does not wait — the next one comes soon — and
ends at once. Either way a run that did not get the lease did nothing and ends in the state
已跳过 with the message below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from minqing.i18n import N_, _

# The run state's name (a Completed state: nothing went wrong, nothing ran); like 部分失败 it
# stays the same in every language, so the runs list can be filtered by it.
SKIPPED = "已跳过"
# An operator's request refused before anything ran (a real resend without the operator's name):
# nothing broke, so it must not look like, or alert as, a failed run.
REFUSED = "未执行"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Holder:
    """Who holds the run lease: the entry that took it, when (UTC), and which process."""

    entry: str
    started_at: datetime
    host: str
    pid: int


@dataclass(frozen=True)
class Entry:
    """An entry that runs stages: its Chinese name (N_-marked) and whether a second run
    waits."""

    label: str
    waits: bool


ENTRIES: dict[str, Entry] = {
    "nightly": Entry(N_("夜间运行"), waits=True),
    "lookback": Entry(N_("回头督办"), waits=True),
    "deliver": Entry(N_("定时发送"), waits=False),
    "retry-handoffs": Entry(N_("重发消息"), waits=True),
    "triage-dask": Entry(N_("整理（Dask）"), waits=True),
    "intake": Entry(N_("日间收集"), waits=True),
}


def label(entry: str) -> str:
    known = ENTRIES.get(entry)
    return _(known.label) if known else entry


def wait_seconds(entry: str, wait_minutes: float) -> float:
    """How long a run of `entry` waits for the lease (0 = it does not wait)."""
    known = ENTRIES.get(entry)
    return max(wait_minutes, 0.0) * 60 if known is None or known.waits else 0.0


def busy_message(entry: str, holder: Holder | None) -> str:
    """What a run that found the lease held says, e.g. "另一个夜间运行正在进行（12月07日
    02:00 开始，web01 进程 4711），本次回头督办未执行"."""
    if holder is None:  # it ended a moment ago, or has not said who it is yet
        return _("另一个运行正在进行，本次%(entry)s未执行") % {"entry": label(entry)}
    return _(
        "另一个%(other)s正在进行（%(started)s 开始，%(host)s 进程 %(pid)d），本次%(entry)s未执行"
    ) % _about(entry, holder)


def waiting_message(entry: str, holder: Holder | None) -> str:
    """What a run says while it waits for the other to finish."""
    if holder is None:
        return _("另一个运行正在进行，本次%(entry)s等待其结束") % {"entry": label(entry)}
    return _(
        "另一个%(other)s正在进行（%(started)s 开始，%(host)s 进程 %(pid)d），本次%(entry)s等待其结束"
    ) % _about(entry, holder)


def done_message(entry: str, finished_at: datetime) -> str:
    """What a run says that waited while another did its work (e.g. a second night started
    beside the scheduled one): it does not do it again."""
    return _(
        "本次%(entry)s等待期间，另一个%(entry)s已于 %(finished)s 完成，本次未重复执行；"
        "如需再运行一次，请重新启动"
    ) % {"entry": label(entry), "finished": _when(finished_at)}


def _when(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return _("%(month)02d月%(day)02d日 %(time)s") % {
        "month": local.month,
        "day": local.day,
        "time": f"{local:%H:%M}",
    }


def _about(entry: str, holder: Holder) -> dict[str, object]:
    return {
        "other": label(holder.entry),
        "started": _when(holder.started_at),
        "host": holder.host,
        "pid": holder.pid,
        "entry": label(entry),
    }


def run_name(label: str) -> Callable[[], str]:
    """A flow's run name in the Prefect runs list: what it is and when it started, Beijing time
    (夜间运行 12-07 02:00), instead of Prefect's two random words. `label`: an N_() msgid."""

    def name() -> str:
        return f"{_(label)} {datetime.now(LOCAL_TZ):%m-%d %H:%M}"

    return name
