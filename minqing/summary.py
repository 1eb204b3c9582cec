"""The night's summary in the office's own terms (收集、合并、立案、交办、答复、回头看、满意率)."""

from __future__ import annotations

from typing import Any

from minqing.handoffs import delivery_sentence, outstanding_sentence
from minqing.i18n import N_, _, label, ngettext, npgettext, pgettext
from minqing.labels import channel_label, column_label


def percent(numerator: int, denominator: int) -> str:
    """'83.3%（25/30）', or '—（0/0）' when there is nothing to divide by."""
    if denominator == 0:
        return _("—（0/0）")
    return _("%(rate).1f%%（%(n)d/%(d)d）") % {
        "rate": 100 * numerator / denominator,
        "n": numerator,
        "d": denominator,
    }


def _items(n: int) -> str:
    return npgettext("summary", "%(n)d 条", "%(n)d 条", n) % {"n": n}


def _cases(n: int) -> str:
    return npgettext("summary", "%(n)d 件", "%(n)d 件", n) % {"n": n}


def summary_lines(f: dict[str, Any]) -> list[tuple[str, str]]:
    parts = [
        _("%(channel)s %(n)d") % {"channel": channel_label(ch), "n": n}
        for ch, n in sorted(f["by_channel"].items())
        if n
    ]
    taken = _items(f["taken"])
    if parts:
        taken = _("%(count)s（%(by_channel)s）") % {
            "count": taken,
            "by_channel": _("，").join(parts),
        }
    # a dry run's line says 演练 first: nothing of it was sent
    delivered = delivery_sentence(f)
    if f.get("rehearsed") is None:
        delivered = _("今晚%(sentence)s") % {"sentence": delivered}
    return [
        *day_line(f),
        (_("收集"), taken),
        (
            _("拒收"),
            ngettext("%(n)d 条（原因见下表）", "%(n)d 条（原因见下表）", f["rejected"])
            % {"n": f["rejected"]},
        ),
        (_("合并重复"), _items(f["linked"])),
        (pgettext("summary", "新立案"), _cases(f["new_cases"])),
        (_("现场答复"), _cases(f["on_the_spot"])),
        (_("待人工审核"), _cases(f["needs_review"])),
        *(
            [
                (
                    pgettext("summary", "自动分派准确率"),
                    _("%(text)s（按周明细见 routing-precision）")
                    % {"text": f["routing_precision_text"]},
                )
            ]
            if f.get("routing_precision_text")
            else []
        ),
        (pgettext("summary", "交办"), _cases(f["assigned"])),
        (_("收到答复"), _cases(f["replies"])),
        (
            pgettext("summary", "回头看"),
            ngettext(
                "%(n)d 件（到期提醒 %(reminders)d，超期督办 %(escalations)d，"
                "领导督办 %(leaders)d，回头看核实 %(verifications)d）",
                "%(n)d 件（到期提醒 %(reminders)d，超期督办 %(escalations)d，"
                "领导督办 %(leaders)d，回头看核实 %(verifications)d）",
                f["lookbacks"],
            )
            % {
                "n": f["lookbacks"],
                "reminders": f["reminders"],
                "escalations": f["escalations"],
                "leaders": f.get("leaders", 0),
                "verifications": f["verifications"],
            },
        ),
        (pgettext("summary", "评价"), _items(f["ratings"])),
        (
            _("满意率"),
            _("%(rate)s（满意+基本满意 / 参评）") % {"rate": percent(f["satisfied"], f["rated"])},
        ),
        (
            _("件件有回复"),
            ngettext(
                "待跟进 %(n)d 件（明细见 every-item-answered）",
                "待跟进 %(n)d 件（明细见 every-item-answered）",
                f.get("unanswered", 0),
            )
            % {"n": f.get("unanswered", 0)},
        ),
        (_("发送邮件"), delivered),
        (
            _("未送达"),
            _("目前共 %(messages)s（明细见 failed-handoffs）")
            % {"messages": outstanding_sentence(f["outstanding"])},
        ),
        *hot_issue_line(f),
    ]


def day_line(f: dict[str, Any]) -> list[tuple[str, str]]:
    """白天随到随办: what the daytime intake runs did since the last night (counted there, so
    the night's own lines below do not repeat it)."""
    day = f.get("day") or {}
    if not day.get("runs"):
        return []
    text = _(
        "收集 %(taken)d 条，新立案 %(new_cases)d 件，交办 %(assigned)d 件"
        "（紧急 %(urgent)d 件），告知值班 %(duty_told)d 件，发送邮件 %(sent)d 封（不计入下列各项）"
    )
    return [(_("白天随到随办"), text % {k: int(day.get(k) or 0) for k in DAY_KEYS})]


DAY_KEYS = ("runs", "taken", "new_cases", "assigned", "urgent", "duty_told", "sent")


def hot_issue_line(f: dict[str, Any]) -> list[tuple[str, str]]:
    """热点问题: the night's top 5 (the full table is the hot-issues artifact)."""
    if f.get("hot_issues_text") is None:
        return []
    return [
        (
            _("热点问题"),
            _("%(issues)s（前 5 件，全表见 hot-issues）") % {"issues": _cell(f["hot_issues_text"])},
        )
    ]


def summary_markdown(f: dict[str, Any], office: str, night: str) -> str:
    lines = [
        "# "
        + _("%(office)s 民情直通车 · %(night)s 夜间运行摘要") % {"office": office, "night": night},
        "",
        _row([_("项目"), _("数量")]),
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary_lines(f)]
    for warning in f.get("warnings", []):
        lines += ["", f"> ⚠️ {warning}"]
    if "files" in f:
        lines += file_lines(f["files"])
    if f["rejections"]:
        n = len(f["rejections"])
        lines += [
            "",
            "## " + ngettext("拒收明细（%(n)d 条）", "拒收明细（%(n)d 条）", n) % {"n": n},
            "",
            _row([column_label(c) for c in ("渠道", "文件", "来源", "原因")]),
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['渠道']} | {r['文件']} | {r['来源']} | {_cell(r['原因'])} |"
            for r in f["rejections"][:200]
        ]
    return "\n".join(lines) + "\n"


FILE_OUTCOMES = {
    "taken": N_("已收录，已归档"),
    "already_taken": N_("此前已收录，已归档（未重读）"),
    "failed": N_("未能读取，已移至 failed/"),
}
# The same for a file `minqing ingest` read from outside the inbox: the operator's own file,
# which stays where it is (a copy is archived).
KEPT_FILE_OUTCOMES = {
    "taken": N_("已收录，副本已归档，原文件未动"),
    "already_taken": N_("此前已收录，未重读，原文件未动"),
    "failed": N_("未能读取，原文件未动"),
}


def file_lines(files: list[dict[str, Any]]) -> list[str]:
    """The 文件 section: each inbox file of the night, where it went and what it held."""
    if not files:
        return ["", "## " + pgettext("summary", "文件"), "", _("今晚收件箱没有待收的文件。")]
    failed = sum(1 for x in files if x["status"] == "failed")
    heading = ngettext(
        "文件（%(n)d 个：归档 %(filed)d，失败 %(failed)d）",
        "文件（%(n)d 个：归档 %(filed)d，失败 %(failed)d）",
        len(files),
    ) % {"n": len(files), "filed": len(files) - failed, "failed": failed}
    columns = [column_label("渠道"), column_label("文件"), _("去向"), _("收录"), _("已有")]
    columns += [_("拒收"), column_label("原因")]
    lines = [
        "",
        "## " + heading,
        "",
        _row(columns),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {channel_label(x['channel'])} | {_cell(x['name'])} "
        f"| {label(FILE_OUTCOMES, x['status'])} | {x['taken']} | {x['known']} "
        f"| {x['rejected']} | {_cell(x.get('reason') or '')} |"
        for x in files
    ]
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
