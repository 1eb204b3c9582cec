"""Outgoing messages (handoffs) as an operator sees them: the Chinese names of their kinds and
statuses, which undelivered ones an operator may resend or confirm as arrived, and the rows and
sentences that report a delivery or a resend — plain data in, plain data out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from minqing.i18n import N_, _, label
from minqing.labels import (
    HANDOFF_KIND_LABELS,
    HANDOFF_STATUS_LABELS,
    handoff_kind_label,
    handoff_status_label,
    marked_case,
)
from minqing.reasons import delivery_error, delivery_problem, server_error

# How the stored error of a message that never reached the SMTP server's DATA starts (the
# prefix of mail/mailer.py CONNECTION_FAILED, kept here so this module needs no mailer).
CONNECTION_FAILED = "connection: "
# A pending message not tried since a pass found the SMTP server unreachable (tasks/deliver.py
# `_note_unreachable` writes that pass's error on it, not an error of its own).
WAITING_FOR_SERVER = N_("等待邮件服务器恢复后发送")

# The form's status choices and `status_codes` use the catalogue's Chinese ids (stable values,
# whatever language the labels are shown in).
STATUS_LABELS: Mapping[str, str] = HANDOFF_STATUS_LABELS
# Not delivered (yet): what `minqing handoffs list` and the failed-handoffs table show.
UNDELIVERED: tuple[str, ...] = ("pending", "sending", "failed", "dead")
# What an operator may resend: pending ones too (waiting for their backoff, e.g. after a night
# with the SMTP server down), but never one in flight.
RETRYABLE: tuple[str, ...] = ("pending", "failed", "dead")
# What an operator may confirm as arrived (the recipient says it came): everything undelivered;
# a `sending` row only when its deliverer is gone (claimed longer ago than the stale limit).
CONFIRMABLE: tuple[str, ...] = UNDELIVERED
# A resend's outcome per message, as the result table says it.
RESEND_OUTCOMES: Mapping[str, str] = {
    "sent": N_("已发送"),
    "pending": N_("暂未送达，稍后自动重试"),
    "sending": N_("发送中断，待核实"),
    "failed": N_("再次失败"),
    "dead": N_("再次失败，已放弃"),
}


kind_label = handoff_kind_label
status_label = handoff_status_label


def _listing(items: Iterable[str]) -> str:
    return _("、").join(items)


def _counts(counts: Mapping[str, int], statuses: Sequence[str]) -> str:
    """'待发送 14，发送失败 2' — each status with its count (zeros too, so the parts are all
    there to add up)."""
    return _("，").join(
        _("%(label)s %(n)d") % {"label": status_label(s), "n": counts.get(s, 0)} for s in statuses
    )


def status_codes(values: Iterable[str]) -> list[str]:
    """Statuses as an operator typed them (code or Chinese label) → codes; unknown → ValueError."""
    by_label = {label: code for code, label in STATUS_LABELS.items()}
    codes = []
    for value in values:
        code = value if value in STATUS_LABELS else by_label.get(value)
        if code is None:
            raise ValueError(
                _("未知的消息状态：%(value)s（可选：%(choices)s）")
                % {"value": value, "choices": _listing(STATUS_LABELS.values())}
            )
        codes.append(code)
    return codes


def kind_code(value: str) -> str:
    """A message kind as an operator typed it (code or Chinese label) → its code; unknown →
    ValueError naming the choices."""
    by_label = {label: code for code, label in HANDOFF_KIND_LABELS.items()}
    code = value if value in HANDOFF_KIND_LABELS else by_label.get(value)
    if code is None:
        raise ValueError(
            _("未知的消息类型：%(value)s（可选：%(choices)s）")
            % {"value": value, "choices": _listing(map(kind_label, HANDOFF_KIND_LABELS))}
        )
    return code


def retry_refusal(statuses: Sequence[str], *, dry_run: bool, operator: str | None) -> str | None:
    """Why this resend must not run (in the operator's words), or None."""
    wrong = [s for s in statuses if s not in RETRYABLE]
    if wrong:
        return _("只能重发%(allowed)s的消息，不能重发：%(wrong)s") % {
            "allowed": _listing(status_label(s) for s in RETRYABLE),
            "wrong": _listing(status_label(s) for s in wrong),
        }
    if not dry_run and not (operator or "").strip():
        return _("真实重发必须填写操作人姓名（记入办理轨迹）；仅预览时可以不填。")
    return None


def confirm_refusal(
    status: str,
    sending_at: datetime | None,
    now: datetime,
    stale_after: timedelta,
    *,
    reason: str,
    operator: str,
) -> str | None:
    """Why an operator may not mark this message as arrived, or None.

    Confirming counts the message as delivered without sending it again; a message already sent
    needs no confirmation, and one a deliverer is sending right now has an answer coming.
    """
    if not reason.strip():
        return _("请填写确认送达的依据（例如：已电话核实对方收到）。")
    if not operator.strip():
        return _("请填写操作人姓名（记入办理轨迹）。")
    if status == "sent":
        return _("该消息已发送成功，无需确认送达。")
    if status not in CONFIRMABLE:
        return _("该消息当前为“%(status)s”，不能确认送达。") % {"status": status_label(status)}
    if status == "sending" and (sending_at is None or sending_at > now - stale_after):
        return _("该消息正在发送中，请等本次发送结束后再确认。")
    return None


def waiting_for_server(status: Any, attempts: Any, error: Any) -> bool:
    """Whether a message is pending untried (no attempt since it was queued or resent) with the
    error of a pass that could not reach the SMTP server: it waits for the server; it did not
    fail itself."""
    return status == "pending" and not attempts and str(error or "").startswith(CONNECTION_FAILED)


def _waiting(h: Mapping[str, Any]) -> bool:
    return waiting_for_server(h.get("status"), h.get("attempts", 0), h.get("error"))


def undelivered_problem(h: Mapping[str, Any]) -> str:
    """Why a message is not delivered, in the office's words: that it waits for the mail server
    (never tried while the server was down), or what went wrong when it was tried."""
    return _(WAITING_FOR_SERVER) if _waiting(h) else delivery_problem(h.get("error"))


def undelivered_reason(h: Mapping[str, Any], limit: int | None = None) -> str:
    """`undelivered_problem` with the server's own error beside it (cut to `limit`) when the
    message was tried; a message waiting for the server has no error of its own to show."""
    return _(WAITING_FOR_SERVER) if _waiting(h) else delivery_error(h.get("error"), limit)


def handoff_row(h: Mapping[str, Any]) -> dict[str, Any]:
    """One undelivered message as the failed-handoffs table shows it: why it is undelivered, in
    the office's words, before the address, so it is in view on a 1,400 px screen (the Prefect
    UI cuts a wide table at the right); the mail server's own error last, for the engineer.

    `h`: id, case_number, urgent, kind, department_name, to, status, attempts, next_attempt
    (text), error."""
    return {
        "编号": h["id"],
        "案件编号": marked_case(h.get("case_number") or "", h.get("urgent", False)),
        "类型": kind_label(h["kind"]),
        "承办单位": h.get("department_name") or "",
        "状态": status_label(h["status"]),
        "原因": undelivered_problem(h),
        "下次重试": h.get("next_attempt") or "",
        "尝试次数": h.get("attempts", 0),
        "收件地址": h["to"],
        "服务器原文": server_error(h.get("error")),
    }


def resend_rows(
    selected: Sequence[Mapping[str, Any]], *, dry_run: bool, limit: int | None = 200
) -> list[dict[str, Any]]:
    """The resend's table: exactly what a dry run would send, or what the real run sent and
    what failed again (with the new error) — each error in the office's words, the server's
    own text (cut to `limit` characters) in brackets after them."""
    rows = []
    for h in selected:
        row = {
            "编号": h["id"],
            "案件编号": marked_case(h.get("case_number") or "", h.get("urgent", False)),
            "类型": kind_label(h["kind"]),
            "承办单位": h.get("department_name") or "",
            "收件地址": h["to"],
            "上次错误": undelivered_reason(h, limit),
        }
        if not dry_run:
            outcome = h.get("outcome") or h["status"]
            row["结果"] = label(RESEND_OUTCOMES, outcome)
            row["本次错误"] = "" if outcome == "sent" else undelivered_reason(_resent(h), limit)
        rows.append(row)
    return rows


def _resent(h: Mapping[str, Any]) -> dict[str, Any]:
    """A `retry_now` row as the message stands after the resend (status, attempts, error)."""
    return {
        "status": h.get("outcome") or h["status"],
        "attempts": h.get("new_attempts"),
        "error": h.get("new_error"),
    }


def resend_failure(h: Mapping[str, Any]) -> str:
    """What became of one resent message that did not get through, and why, in the office's
    words (h: a `retry_now` row with its outcome and new error)."""
    return _("重发未成功：%(outcome)s（%(why)s）。") % {
        "outcome": label(RESEND_OUTCOMES, h["outcome"]),
        "why": undelivered_problem(_resent(h)) or _("原因不明"),
    }


def resend_counts(selected: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """After a real resend: how many of the chosen messages ended in each status."""
    counts = {"sent": 0, "pending": 0, "sending": 0, "failed": 0, "dead": 0}
    for h in selected:
        counts[h.get("outcome") or h["status"]] += 1
    return counts


def resend_sentence(
    selected: Sequence[Mapping[str, Any]], *, dry_run: bool, next_step: str = ""
) -> str:
    """The resend's result line; its parts add up to its total. A preview ends with
    `next_step`: how to send for real where the operator is (the form or the command line)."""
    n = len(selected)
    if dry_run:
        by_status = {s: sum(1 for h in selected if h["status"] == s) for s in RETRYABLE}
        preview = _("预览：符合条件的消息 %(n)d 封（%(parts)s），未发送。") % {
            "n": n,
            "parts": _counts(by_status, RETRYABLE),
        }
        return preview + next_step if n else preview
    c = resend_counts(selected)
    return _(
        "重发 %(n)d 封：已发送 %(sent)d，再次失败 %(again)d（发送失败 %(failed)d，已放弃 "
        "%(dead)d），稍后自动重试 %(pending)d，发送中断 %(sending)d"
    ) % {"n": n, "again": c["failed"] + c["dead"], **c}


def attempted(d: Mapping[str, Any]) -> bool:
    """Whether a delivery run changed anything an operator sees (a send tried, or a crashed
    send found)."""
    return bool(
        d["sent"]
        + d["failed"]
        + d["dead"]
        + d["retry_later"]
        + d.get("interrupted", 0)
        + d.get("postponed", 0)
    )


def delivery_sentence(d: Mapping[str, Any]) -> str:
    """One delivery run in the office's words: every message it tried, by outcome (the parts add
    up to the total), and the ones a crash had left unsure. Never "发送 0 封" alone when
    messages failed. A dry run (MINQING_MAIL_MODE=dry-run) says 演练 and that nothing left."""
    if d.get("rehearsed") is not None:
        return _("演练：未发送 %(n)d 封（已生成，留待正式发送）") % {"n": d["rehearsed"]}
    duty = int(d.get("duty_sent") or 0)  # of `sent`: the duty alerts, sent at once by tell-duty
    sent = d["sent"]
    tried = sent + d["failed"] + d["dead"] + d["retry_later"]
    if duty:
        text = _(
            "尝试发送 %(tried)d 封：已发送 %(sent)d（其中值班提醒 %(duty)d），发送失败 %(failed)d，"
            "已放弃 %(dead)d，稍后重试 %(later)d"
        ) % {"tried": tried, "sent": sent, "duty": duty, "failed": d["failed"],
             "dead": d["dead"], "later": d["retry_later"]}  # fmt: skip
    else:
        text = _(
            "尝试发送 %(tried)d 封：已发送 %(sent)d，发送失败 %(failed)d，已放弃 %(dead)d，"
            "稍后重试 %(later)d"
        ) % {"tried": tried, "sent": sent, "failed": d["failed"], "dead": d["dead"],
             "later": d["retry_later"]}  # fmt: skip
    if d.get("postponed"):
        text += _("；邮件服务器无法连接，其余 %(n)d 封本次未尝试，下次发送") % {"n": d["postponed"]}
    if d.get("interrupted"):
        text += _("；另有 %(n)d 封上次发送中断，已转为发送失败，待核实") % {"n": d["interrupted"]}
    return text


def sent_now_sentence(rows: Sequence[Mapping[str, Any]]) -> str:
    """What sending an action's messages at once did (`--send-now`): every message it queued,
    sent or not delivered by status — the parts add up to the total."""
    counts = {s: sum(1 for h in rows if h["status"] == s) for s in ("sent", *UNDELIVERED)}
    undelivered = len(rows) - counts["sent"]
    return _("通知 %(n)d 封：已发送 %(sent)d，未送达 %(undelivered)d（%(parts)s）") % {
        "n": len(rows),
        "sent": counts["sent"],
        "undelivered": undelivered,
        "parts": _counts(counts, UNDELIVERED),
    }


def undelivered_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per message not delivered: which, to whom, its status and why, in the office's
    words (`describe` rows)."""
    return [
        _("消息 %(id)s（%(kind)s → %(to)s）：%(status)s，%(why)s")
        % {
            "id": h["id"],
            "kind": kind_label(h["kind"]),
            "to": h["to"],
            "status": status_label(h["status"]),
            "why": undelivered_problem(h) or _("原因不明"),
        }
        for h in rows
        if h["status"] != "sent"
    ]


def problem_lines(problems: Sequence[Mapping[str, Any]], limit: int = 20) -> list[str]:
    """What failed in a delivery run, one line per message (the first `limit`), for the log."""
    lines = [
        _("消息 %(id)s → %(to)s：%(status)s，%(error)s")
        % {
            "id": p["handoff"],
            "to": p["to"],
            "error": delivery_error(p["error"]),
            "status": status_label(_problem_status(p["status"])),
        }  # fmt: skip
        for p in problems[:limit]
    ]
    if len(problems) > limit:
        lines.append(
            _("……另有 %(n)d 封，见 failed-handoffs 或 minqing handoffs list")
            % {"n": len(problems) - limit}
        )
    return lines


def _problem_status(outcome: str) -> str:
    return "pending" if outcome == "retry_later" else outcome


def outstanding_sentence(
    outstanding: Mapping[str, int], statuses: Sequence[str] = UNDELIVERED
) -> str:
    """Every undelivered message now (or those of `statuses`), by status; the total is the sum
    of the parts."""
    total = sum(outstanding.get(s, 0) for s in statuses)
    return _("%(n)d 封（%(parts)s）") % {"n": total, "parts": _counts(outstanding, statuses)}


ALL_DEPARTMENTS = "all"


def department_choices(departments: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The department dropdown of the resend form: code → what the operator reads (the name;
    with the code when two departments share a name), "全部单位" first."""
    pairs = list(departments)
    names = [name for _, name in pairs]
    choices = {ALL_DEPARTMENTS: "全部单位"}
    for code, name in pairs:
        choices[code] = name if names.count(name) == 1 else f"{name}（{code}）"
    return choices
