"""The night's summary in the office's own terms (收集、合并、立案、交办、答复、回头看、满意率)."""

from __future__ import annotations

from typing import Any

from minqing.handoffs import delivery_sentence, outstanding_sentence
from minqing.i18n import _
from minqing.labels import channel_label


def percent(numerator: int, denominator: int) -> str:
    """'83.3%（25/30）', or '—（0/0）' when there is nothing to divide by."""
    if denominator == 0:
        return "—（0/0）"
    return f"{100 * numerator / denominator:.1f}%（{numerator}/{denominator}）"


def summary_lines(f: dict[str, Any]) -> list[tuple[str, str]]:
    by_channel = "，".join(
        f"{channel_label(ch)} {n}" for ch, n in sorted(f["by_channel"].items()) if n
    )
    return [
        *day_line(f),
        ("收集", f"{f['taken']} 条" + (f"（{by_channel}）" if by_channel else "")),
        ("拒收", f"{f['rejected']} 条（原因见下表）"),
        ("合并重复", f"{f['linked']} 条"),
        ("新立案", f"{f['new_cases']} 件"),
        ("现场答复", f"{f['on_the_spot']} 件"),
        ("待人工审核", f"{f['needs_review']} 件"),
        *(
            [
                (
                    _("自动分派准确率"),
                    _("%(text)s（按周明细见 routing-precision）")
                    % {"text": f["routing_precision_text"]},
                )
            ]
            if f.get("routing_precision_text")
            else []
        ),
        ("交办", f"{f['assigned']} 件"),
        ("收到答复", f"{f['replies']} 件"),
        (
            "回头看",
            f"{f['lookbacks']} 件（到期提醒 {f['reminders']}，超期督办 {f['escalations']}，"
            f"领导督办 {f.get('leaders', 0)}，回头看核实 {f['verifications']}）",
        ),
        ("评价", f"{f['ratings']} 条"),
        ("满意率", percent(f["satisfied"], f["rated"]) + "（满意+基本满意 / 参评）"),
        ("件件有回复", f"待跟进 {f.get('unanswered', 0)} 件（明细见 every-item-answered）"),
        # a dry run's line says 演练 first: nothing of it was sent
        ("发送邮件", ("" if f.get("rehearsed") is not None else "今晚") + delivery_sentence(f)),
        (
            "未送达",
            "目前共 " + outstanding_sentence(f["outstanding"]) + "（明细见 failed-handoffs）",
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
    return [("热点问题", _cell(f["hot_issues_text"]) + "（前 5 件，全表见 hot-issues）")]


def summary_markdown(f: dict[str, Any], office: str, night: str) -> str:
    lines = [
        f"# {office} 民情直通车 · {night} 夜间运行摘要",
        "",
        "| 项目 | 数量 |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary_lines(f)]
    for warning in f.get("warnings", []):
        lines += ["", f"> ⚠️ {warning}"]
    if "files" in f:
        lines += file_lines(f["files"])
    if f["rejections"]:
        lines += [
            "",
            f"## 拒收明细（{len(f['rejections'])} 条）",
            "",
            "| 渠道 | 文件 | 来源 | 原因 |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['渠道']} | {r['文件']} | {r['来源']} | {_cell(r['原因'])} |"
            for r in f["rejections"][:200]
        ]
    return "\n".join(lines) + "\n"


FILE_OUTCOMES = {
    "taken": "已收录，已归档",
    "already_taken": "此前已收录，已归档（未重读）",
    "failed": "未能读取，已移至 failed/",
}


def file_lines(files: list[dict[str, Any]]) -> list[str]:
    """The 文件 section: each inbox file of the night, where it went and what it held."""
    if not files:
        return ["", "## 文件", "", "今晚收件箱没有待收的文件。"]
    failed = sum(1 for x in files if x["status"] == "failed")
    lines = [
        "",
        f"## 文件（{len(files)} 个：归档 {len(files) - failed}，失败 {failed}）",
        "",
        "| 渠道 | 文件 | 去向 | 收录 | 已有 | 拒收 | 原因 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {channel_label(x['channel'])} | {_cell(x['name'])} "
        f"| {FILE_OUTCOMES.get(x['status'], x['status'])} | {x['taken']} | {x['known']} "
        f"| {x['rejected']} | {_cell(x.get('reason') or '')} |"
        for x in files
    ]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
