"""What a finished run tells the operator: all done (完成), or partly done (部分失败) with the
reasons in Chinese — messages left undelivered, the SMTP server unreachable, a stage that ran
degraded (a refused model, a year missing from the holiday calendar, an unreadable file).

A partial run is not a crashed one: everything that could be done was done and committed, and
running it again does not fix the rest (the SMTP server must come back, an operator must act).
So it ends as Prefect's Completed with its own name, 部分失败, and this message; a stage that
raises still fails the run. The flows' shared helper (tasks/runstate.py) turns the verdict into
that state; this module only decides.

Each reason carries its own advice (`RunWarning.advice`; a plain sentence gets the generic "see
the summary's warnings"), and the failed-handoffs table is pointed at only when messages were
left undelivered.

Not every warning makes a run partial. A missing Chinese font (charts.NO_CJK_NIGHT_WARNING) is
a lasting installation problem, not tonight's failure: the night's work is all done, only the
report's charts would be missing. Marking every night 部分失败 for it would page the duty team
each night for the same font, so it is a *note* (`partial=False`): said at the top of the
summary and in the state message ("全部完成，但请注意：…。处理：安装中文字体…"), with the run
still 完成. A year missing from the holiday calendar stays a reason for 部分失败: deadlines are
being counted Monday–Friday (暂定) until config/calendar.yaml gains the year, and it is fixed by
an edit, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minqing.i18n import N_, _, ngettext

PARTIAL = "部分失败"  # the state's name in the Prefect UI's runs list
REHEARSAL = "演练"  # a dry run (MINQING_MAIL_MODE=dry-run) that left nothing else behind
DONE = "Completed"


def mail_advice(d: Delivery) -> list[str]:
    """What to do about the messages a pass left undelivered: wait for the server (or resend)
    when it could not be reached or asked to try later; check the addresses when messages were
    refused (550 user unknown), interrupted or given up."""
    advice = []
    if d.unreachable or d.retry_later or d.postponed:
        advice.append(
            _(
                "邮件服务器恢复后，待发消息由 deliver 定时发送，也可运行 retry-handoffs"
                "（消息状态选待发送、发送失败、已放弃）或 minqing handoffs retry"
            )
        )
    if d.failed or d.dead or d.interrupted:
        advice.append(
            _(
                "发送失败、已放弃的消息不会自动重发：被拒收的核对 config/departments.yaml 中的收件地址，"
                "发送中断的先向对方核实（已收到的在控制台确认送达），再运行 retry-handoffs "
                "或 minqing handoffs retry"
            )
        )
    return advice


def warning_advice() -> str:
    """What to do about a stage that ran degraded (its warning says what and where)."""
    return _("按摘要中的警告处理")


def calendar_advice(year: int) -> str:
    """What to do about a year missing from the holiday calendar."""
    return _("补充 config/calendar.yaml 的 %(year)d 年节假日安排，已发出的暂定期限会自动重算") % {
        "year": year
    }


def font_advice() -> str:
    """What to do about a machine without a Chinese font."""
    return _("在运行 minqing 的机器上安装中文字体（如 Debian 的 fonts-noto-cjk）")


def duty_advice() -> str:
    """What to do about urgent cases the duty contacts could not be told of."""
    return _("在 config/office.yaml 的 duty 下配置值班联系人的邮箱或群机器人，并检查群机器人地址")


def run_warning(text: str, advice: str | None = None, *, partial: bool = True) -> dict[str, Any]:
    """A stage's warning with what to do about it; `partial=False`: a note that does not make
    the run 部分失败 (see the module). Plain data, so it travels as a task's result."""
    return {"text": text, "advice": advice, "partial": partial}


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


def combined(*results: Mapping[str, Any] | None) -> dict[str, Any]:
    """The delivery results of one run's passes — its delivery stage and the duty alert's own
    send — as one: counts added, problems joined, `rehearsed` when a pass was a dry run. The
    run's 本次…未送达, its summary's 尝试发送 and its events then count every message it tried."""
    out: dict[str, Any] = dict.fromkeys(Delivery.__dataclass_fields__, 0)
    out["problems"] = []
    for result in results:
        if not result:
            continue
        for key in Delivery.__dataclass_fields__:
            out[key] += int(result.get(key) or 0)
        out["problems"] += list(result.get("problems") or [])
        if result.get("rehearsed") is not None:
            out["rehearsed"] = int(out.get("rehearsed") or 0) + int(result["rehearsed"])
    return out


@dataclass(frozen=True)
class RunVerdict:
    """`partial` runs carry one Chinese sentence per problem in `reasons`."""

    reasons: tuple[str, ...] = field(default_factory=tuple)
    advice: tuple[str, ...] = field(default_factory=tuple)  # what to do, one line per kind
    notes: tuple[str, ...] = field(default_factory=tuple)  # said, but the run stays 完成
    note_advice: tuple[str, ...] = field(default_factory=tuple)
    rehearsal: bool = False  # a dry run: its runs-list entry says 演练, not Completed
    summarised: bool = True  # the run publishes a summary (the night); else its log says more

    @property
    def partial(self) -> bool:
        return bool(self.reasons)

    @property
    def state_name(self) -> str:
        if self.partial:
            return PARTIAL
        return REHEARSAL if self.rehearsal else DONE

    @property
    def message(self) -> str:
        """The state message shown in the Prefect UI beside the run (and in the alerts)."""
        if not self.partial:
            if not self.notes:
                return _("全部完成")
            return _("全部完成，但请注意：%(notes)s。处理：%(what_to_do)s") % {
                "notes": _("；").join(self.notes),
                "what_to_do": _("；").join(self.note_advice),
            }
        parts = {
            "reasons": _("；").join(self.reasons),
            "what_to_do": _("；").join(
                [
                    _("查看本次运行的摘要") if self.summarised else _("查看本次运行的日志"),
                    *self.advice,
                ]
            ),
        }
        if not self.notes:
            return _("部分失败：%(reasons)s。处理：%(what_to_do)s") % parts
        return _(
            "部分失败：%(reasons)s。处理：%(what_to_do)s。另请注意：%(notes)s。处理：%(note_advice)s"
        ) % {
            **parts,
            "notes": _("；").join(self.notes),
            "note_advice": _("；").join(self.note_advice),
        }


def delivery_reasons(d: Delivery, outstanding: int | None = None) -> list[str]:
    """Why a delivery pass left messages behind, in the office's words; with `outstanding`
    (all undelivered messages now, the night's summary's 未送达) when it is more than the
    pass left (messages waiting out a backoff, earlier nights' failures)."""
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
        sentence = _("本次 %(n)d 封消息未送达（%(parts)s）") % {
            "n": d.undelivered,
            "parts": _("，").join(parts),
        }
        if outstanding is not None and outstanding > d.undelivered:
            sentence = _("%(pass)s，目前共 %(total)d 封未送达") % {
                "pass": sentence,
                "total": outstanding,
            }
        reasons.append(sentence)
    return reasons


def judge_run(
    delivery: Mapping[str, Any] | None = None,
    warnings: Iterable[str | Mapping[str, Any]] = (),
    files: Iterable[Mapping[str, Any]] = (),
    outstanding: int | None = None,
    *,
    summarised: bool = True,
) -> RunVerdict:
    """The verdict on a run from what its stages returned.

    Partial when the run's delivery left any message undelivered (to retry later, failed,
    dead, interrupted) or could not reach the SMTP server, when a stage reported a warning
    (it ran degraded: a refused model, a calendar year without holidays, …), or when an input
    file could not be read at all (`files`: the intake's file reports, status "failed").

    `outstanding`: every undelivered message now (the summary's 未送达), said beside the
    pass's own count when it is more, so the state message and the summary agree.
    `summarised`: the run publishes a summary to read first (the night); else its log.

    A warning is a sentence (generic advice) or a `run_warning(...)` with its own advice; one
    with `partial=False` is a note: in the message, but the run stays 完成. A dry run's
    delivery (`rehearsed`) is a note too: nothing left, on purpose.
    """
    counts = Delivery.of(delivery)
    reasons = delivery_reasons(counts, outstanding)
    advice = [_("查看 failed-handoffs 表"), *mail_advice(counts)] if reasons else []
    failed_files = sum(1 for f in files if f.get("status") == "failed")
    if failed_files:
        reasons.append(
            ngettext("%(n)d 个文件无法读取", "%(n)d 个文件无法读取", failed_files)
            % {"n": failed_files}
        )
        advice.append(file_advice())
    notes: list[str] = []
    note_advice: list[str] = []
    rehearsed = (delivery or {}).get("rehearsed")
    if rehearsed is not None:  # MINQING_MAIL_MODE=dry-run: a Completed state that says so
        notes.append(_("演练：未发送 %(n)d 封（已生成，留待正式发送）") % {"n": rehearsed})
        note_advice.append(_("去掉 MINQING_MAIL_MODE=dry-run 后正式运行，这些消息才会发出"))
    seen: set[str] = set()
    for w in warnings:
        warning = run_warning(w) if isinstance(w, str) else w
        text = warning["text"].rstrip("。.")
        if text in seen:
            continue
        seen.add(text)
        what_to_do = warning.get("advice") or warning_advice()
        if warning.get("partial", True):
            reasons.append(text)
            advice += [] if what_to_do in advice else [what_to_do]
        else:
            notes.append(text)
            note_advice += [] if what_to_do in note_advice else [what_to_do]
    return RunVerdict(
        tuple(reasons),
        tuple(advice),
        tuple(notes),
        tuple(note_advice),
        rehearsed is not None,
        summarised,
    )
