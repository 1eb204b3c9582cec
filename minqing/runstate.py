"""What a finished run tells the operator: all done (完成), or partly done (部分失败) with the
reasons in Chinese — messages left undelivered, the SMTP server unreachable, a stage that ran
degraded (a refused model, a year missing from the holiday calendar, an unreadable file).

A partial run is not a crashed one: everything that could be done was done and committed, and
running it again does not fix the rest (the SMTP server must come back, an operator must act).
So it ends as Prefect's Completed with its own name, 部分失败, and this message; a stage that
raises still fails the run. The flows' shared helper (tasks/runstate.py) turns the verdict into
that state; this module only decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minqing.i18n import N_, _, ngettext

PARTIAL = "部分失败"  # the state's name in the Prefect UI's runs list
DONE = "Completed"


def mail_advice() -> str:
    """What to do about undelivered messages (the advice of a partial run that left some)."""
    return _(
        "邮件服务器恢复后，待发消息由 deliver 定时发送，也可运行 retry-handoffs"
        "（消息状态选待发送、发送失败、已放弃）或 minqing handoffs retry"
    )


def warning_advice() -> str:
    """What to do about a stage that ran degraded (its warning says what and where)."""
    return _("按摘要中的警告处理（如在 config/calendar.yaml 补充节假日安排）")


def file_advice() -> str:
    """What to do about an input file that could not be read."""
    return _("查看 var/failed 中同名的 .reason.txt，改好后放回收件箱")


@dataclass(frozen=True)
class Delivery:
    """The counts of one delivery pass (tasks/deliver.py's result), as plain numbers."""

    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    dead: int = 0
    interrupted: int = 0
    unreachable: int = 0  # sends that could not even reach the SMTP server
    postponed: int = 0  # not tried: the server was unreachable earlier in the same pass

    @classmethod
    def of(cls, result: Mapping[str, Any] | None) -> Delivery:
        result = result or {}
        return cls(**{k: int(result.get(k) or 0) for k in cls.__dataclass_fields__})

    @property
    def undelivered(self) -> int:
        return self.retry_later + self.failed + self.dead + self.interrupted + self.postponed


@dataclass(frozen=True)
class RunVerdict:
    """`partial` runs carry one Chinese sentence per problem in `reasons`."""

    reasons: tuple[str, ...] = field(default_factory=tuple)
    advice: tuple[str, ...] = field(default_factory=tuple)  # what to do, one line per kind

    @property
    def partial(self) -> bool:
        return bool(self.reasons)

    @property
    def state_name(self) -> str:
        return PARTIAL if self.partial else DONE

    @property
    def message(self) -> str:
        """The state message shown in the Prefect UI beside the run (and in the alerts)."""
        if not self.partial:
            return _("全部完成")
        return _("部分失败：%(reasons)s。处理：%(what_to_do)s") % {
            "reasons": _("；").join(self.reasons),
            "what_to_do": _("；").join(
                [_("查看本次运行的摘要和 failed-handoffs 表"), *self.advice]
            ),
        }


def delivery_reasons(d: Delivery) -> list[str]:
    """Why a delivery pass left messages behind, in the office's words."""
    reasons = []
    if d.unreachable:
        reasons.append(_("邮件服务器无法连接（%(n)d 次连接失败）") % {"n": d.unreachable})
    if d.undelivered:
        parts = [
            _("%(label)s %(n)d") % {"label": _(label), "n": n}
            for label, n in (
                (N_("稍后重试"), d.retry_later),
                (N_("发送失败"), d.failed),
                (N_("已放弃"), d.dead),
                (N_("发送中断"), d.interrupted),
                (N_("未尝试"), d.postponed),
            )
            if n
        ]
        reasons.append(
            _("本次 %(n)d 封消息未送达（%(parts)s）")
            % {"n": d.undelivered, "parts": _("，").join(parts)}
        )
    return reasons


def judge_run(
    delivery: Mapping[str, Any] | None = None,
    warnings: Iterable[str] = (),
    files: Iterable[Mapping[str, Any]] = (),
) -> RunVerdict:
    """The verdict on a run from what its stages returned.

    Partial when the run's delivery left any message undelivered (to retry later, failed,
    dead, interrupted) or could not reach the SMTP server, when a stage reported a warning
    (it ran degraded: a refused model, a calendar year without holidays, …), or when an input
    file could not be read at all (`files`: the intake's file reports, status "failed").
    """
    reasons = delivery_reasons(Delivery.of(delivery))
    advice = [mail_advice()] if reasons else []
    failed_files = sum(1 for f in files if f.get("status") == "failed")
    if failed_files:
        reasons.append(
            ngettext("%(n)d 个文件无法读取", "%(n)d 个文件无法读取", failed_files)
            % {"n": failed_files}
        )
        advice.append(file_advice())
    degraded = [w.rstrip("。") for w in dict.fromkeys(warnings)]
    if degraded:
        reasons += degraded
        advice.append(warning_advice())
    return RunVerdict(tuple(reasons), tuple(advice))
