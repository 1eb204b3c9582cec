"""The night's summary in the office's own terms (收集、合并、立案、交办、答复、回头看、满意率)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minqing.handoffs import delivery_sentence, outstanding_sentence
from minqing.i18n import N_, NP_, _, label, ngettext, npgettext, pgettext
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


# How things came in (the parts of 收集, 收到答复 and 评价), as the summary names them; shown
# with pgettext("way in", …).
WAYS_IN = {
    "inbox": NP_("way in", "收件箱文件"),
    "command": NP_("way in", "minqing ingest 导入"),
    "earlier": NP_("way in", "此前收录未统计"),
    "rehearsal": NP_("way in", "演练运行收录"),
    "import": NP_("way in", "文件"),
    "web": NP_("way in", "网页"),
    "email": NP_("way in", "邮件"),
    "phone": NP_("way in", "电话回访"),
}
WAY_ORDER = ("rehearsal", "inbox", "command", "earlier", "import", "web", "email", "phone")


def way_label(way: str) -> str:
    return pgettext("way in", WAYS_IN[way]) if way in WAYS_IN else way


def way_parts(counts: Mapping[str, int]) -> str:
    """'文件 2，网页 1': the ways in that brought something, in a fixed order."""
    ways = sorted(counts, key=lambda w: (WAY_ORDER.index(w) if w in WAY_ORDER else 99, w))
    return _("，").join(
        _("%(way)s %(n)d") % {"way": way_label(w), "n": counts[w]} for w in ways if counts[w]
    )


def with_parts(total: str, counts: Mapping[str, int]) -> str:
    """'3 件（文件 2，网页 1）', or the total alone when nothing came."""
    parts = way_parts(counts)
    return _("%(count)s（%(parts)s）") % {"count": total, "parts": parts} if parts else total


def taken_text(f: Mapping[str, Any]) -> str:
    """收集: the total, by way in when anything came otherwise than in tonight's inbox files,
    and by channel."""
    channels = _("，").join(
        _("%(channel)s %(n)d") % {"channel": channel_label(ch), "n": n}
        for ch, n in sorted(f["by_channel"].items())
        if n
    )
    taken = _items(f["taken"])
    ways = f.get("taken_by_way") or {}
    if any(n for w, n in ways.items() if w != "inbox"):
        return _("%(count)s（%(ways)s；%(by_channel)s）") % {
            "count": taken,
            "ways": way_parts(ways),
            "by_channel": channels,
        }
    if channels:
        return _("%(count)s（%(by_channel)s）") % {"count": taken, "by_channel": channels}
    return taken


def assigned_text(f: Mapping[str, Any]) -> str:
    """交办 with its parts: first assignments, 重办 and 改派 (they add up to the total)."""
    return ngettext(
        "%(n)d 件（新案 %(new)d，重办 %(reopened)d，改派 %(rerouted)d）",
        "%(n)d 件（新案 %(new)d，重办 %(reopened)d，改派 %(rerouted)d）",
        f["assigned"],
    ) % {
        "n": f["assigned"],
        "new": f.get("assigned_new", f["assigned"]),
        "reopened": f.get("assigned_reopened", 0),
        "rerouted": f.get("assigned_rerouted", 0),
    }


def review_text(f: Mapping[str, Any]) -> str:
    """待人工审核: the cases that entered the review queue since the last night, whatever sent
    them there (triage, dispatch, a 不属职责 reply, an operator), and all waiting in it now."""
    return ngettext(
        "新进入 %(new)d 件，目前共 %(waiting)d 件",
        "新进入 %(new)d 件，目前共 %(waiting)d 件",
        f["review_waiting"],
    ) % {"new": f["needs_review"], "waiting": f["review_waiting"]}


def rejected_text(f: Mapping[str, Any]) -> str:
    """拒收: points at the table below only when there is one."""
    if f["rejections"]:
        return ngettext("%(n)d 条（原因见下表）", "%(n)d 条（原因见下表）", f["rejected"]) % {
            "n": f["rejected"]
        }
    return _items(f["rejected"])


def summary_lines(f: dict[str, Any]) -> list[tuple[str, str]]:
    # a dry run's line says 演练 first: nothing of it was sent
    delivered = delivery_sentence(f)
    if f.get("rehearsed") is None:
        delivered = _("今晚%(sentence)s") % {"sentence": delivered}
    return [
        *rehearsal_line(f),
        *day_line(f),
        (_("收集"), taken_text(f)),
        (_("拒收"), rejected_text(f)),
        (_("合并重复"), _items(f["linked"])),
        (pgettext("summary", "新立案"), _cases(f["new_cases"])),
        (_("现场答复"), _cases(f["on_the_spot"])),
        (_("待人工审核"), review_text(f)),
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
        (pgettext("summary", "交办"), assigned_text(f)),
        (_("收到答复"), with_parts(_cases(f["replies"]), f.get("replies_by_way") or {})),
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
        (
            pgettext("summary", "评价"),
            with_parts(_items(f["ratings"]), f.get("ratings_by_way") or {}),
        ),
        (
            _("满意率"),
            # all ratings to date, not only tonight's: each citizen's current answer
            _("累计 %(rate)s（满意+基本满意 / 参评，按每位群众的最新评价）")
            % {"rate": percent(f["satisfied"], f["rated"])},
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


def rehearsal_line(f: dict[str, Any]) -> list[tuple[str, str]]:
    """演练: a dry run's night says that what it took in is real and is the next real night's
    to report; a real night says which rehearsals' figures its own include
    (minqing/rehearsals.py)."""
    if f.get("rehearsed") is not None:
        return [
            (
                _("演练"),
                _(
                    "本次为演练：下列收集、立案、交办等已实际生效（文件已归档、案件已立），"
                    "计入下一次正式夜间运行的摘要；消息均未发送，留待正式运行发出"
                ),
            )
        ]
    rehearsals = f.get("rehearsals") or []
    if not rehearsals:
        return []
    text = ngettext(
        "含 %(when)s 演练运行收录的 %(taken)d 条、立案 %(new_cases)d 件、交办 %(assigned)d 件"
        "（演练时未发送的消息本次发出）",
        "含 %(when)s 共 %(n)d 次演练运行收录的 %(taken)d 条、立案 %(new_cases)d 件、"
        "交办 %(assigned)d 件（演练时未发送的消息本次发出）",
        len(rehearsals),
    )
    return [
        (
            _("演练"),
            text
            % {
                "when": pgettext("separator", "、").join(r["at"] for r in rehearsals),
                "n": len(rehearsals),
                **{
                    k: sum(int(r[k]) for r in rehearsals)
                    for k in ("taken", "new_cases", "assigned")
                },
            },
        )
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
    """热点问题: how many of the top 5 the list below the table names (the full table is the
    hot-issues artifact), or the sentence that there are none."""
    if f.get("hot_issues_text") is None:
        return []
    n = len(f.get("hot_issues_items") or [])
    if not n:
        return [(_("热点问题"), _cell(f["hot_issues_text"]))]
    return [
        (
            _("热点问题"),
            ngettext(
                "前 %(n)d 件见下（全表见 hot-issues）", "前 %(n)d 件见下（全表见 hot-issues）", n
            )
            % {"n": n},
        )
    ]


def hot_issue_list(f: dict[str, Any]) -> list[str]:
    """The top hot issues as a numbered list under the table: a line each, which wraps on a
    phone, where one table cell holding all five ran off the screen."""
    items = f.get("hot_issues_items") or []
    if not items:
        return []
    heading = ngettext("热点问题（前 %(n)d 件）", "热点问题（前 %(n)d 件）", len(items))
    return ["", "## " + heading % {"n": len(items)}, ""] + [
        f"{i}. {item}" for i, item in enumerate(items, 1)
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
    lines += hot_issue_list(f)
    if "files" in f:
        lines += file_lines(
            [*f.get("rehearsal_files", []), *f["files"]], f.get("command_files", [])
        )
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


def file_lines(
    files: list[dict[str, Any]], command_files: list[dict[str, Any]] | None = None
) -> list[str]:
    """The 文件 section: each inbox file of the night, where it went and what it held, then the
    files `minqing ingest` read since the last night."""
    command_files = command_files or []
    if not files and not command_files:
        return ["", "## " + pgettext("summary", "文件"), "", _("今晚收件箱没有待收的文件。")]
    files = [*files, *({**x, "command": True} for x in command_files)]
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
        f"| {_file_outcome(x)} | {x['taken']} | {x['known']} "
        f"| {x['rejected']} | {_cell(x.get('reason') or '')} |"
        for x in files
    ]
    return lines


def _file_outcome(x: Mapping[str, Any]) -> str:
    outcome = label(KEPT_FILE_OUTCOMES if x.get("kept") else FILE_OUTCOMES, x["status"])
    if x.get("rehearsal"):
        return _("%(outcome)s（演练运行时读入）") % {"outcome": outcome}
    if x.get("command"):
        return _("%(outcome)s（由 minqing ingest 读入）") % {"outcome": outcome}
    return outcome


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
