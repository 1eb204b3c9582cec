"""Reasons kept for people (拒收原因、审核原因、文件读取失败): a code and its values are stored, and
the sentence is rendered from the catalogue in the reader's language when it is shown.

    reason("unreadable_date", value="2026-13-45")   # what a parser or a task records
    str(r)  /  render(r)                             # the sentence, in the current language

Rows written before reasons had codes keep their text: `stored(None, None, text)` shows it as
it was written. Also here: the words for a message that could not be delivered, put in front
of the mail server's own (English) error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minqing.i18n import N_, _, label, ngettext
from minqing.labels import (
    CASE_STATUS_LABELS,
    CATEGORY_SOURCE_LABELS,
    HANDOFF_KIND_LABELS,
    VERIFICATION_RESULT_LABELS,
)

Render = Callable[[Mapping[str, Any]], str]


def _labelled(msgid: str, **tables: Mapping[str, str]) -> Render:
    """A sentence whose named values are codes, shown by their labels."""

    def render(params: Mapping[str, Any]) -> str:
        values = dict(params)
        for name, table in tables.items():
            values[name] = label(table, values.get(name))
        return _(msgid) % values

    return render


def _extra_cells(params: Mapping[str, Any]) -> str:
    n = int(params["n"])
    return ngettext(
        "比表头多出 %(n)d 格：引号不成对或多了逗号",
        "比表头多出 %(n)d 格：引号不成对或多了逗号",
        n,
    ) % {"n": n}


# What a spreadsheet-looking file really was (sniffed from its first bytes).
FILE_KIND_LABELS: Mapping[str, str] = {
    "png": N_("PNG 图片"),
    "jpeg": N_("JPEG 图片"),
    "gif": N_("GIF 图片"),
    "pdf": N_("PDF 文档"),
    "rar": N_("RAR 压缩包"),
    "7z": N_("7z 压缩包"),
    "gzip": N_("gzip 压缩包"),
}

# Why an e-mail was taken for an automatic one (自动回复、群发、退信).
AUTOMATIC_MAIL_LABELS: Mapping[str, str] = {
    "auto_reply": N_("自动回复"),
    "bulk": N_("群发邮件"),
    "report": N_("退信或投递报告"),
}


def _automatic_mail(params: Mapping[str, Any]) -> str:
    kind = params.get("kind")
    what = (
        _("系统发件人 %(address)s") % {"address": params.get("address", "")}
        if kind == "system_sender"
        else label(AUTOMATIC_MAIL_LABELS, kind)
    )
    return _("自动发出的邮件（%(kind)s），不是群众来信") % {"kind": what}


def _no_route(params: Mapping[str, Any]) -> str:
    return _("分类“%(category)s”在“%(area)s”没有交办规则，请人工指定承办部门（routing.yaml）") % {
        "category": params.get("category"),
        "area": params.get("area") or _("未注明地区"),
    }


# code → the catalogue's sentence (N_-marked msgid with %(name)s values, or a function of the
# values when a value is itself a code or a count). Codes are stored; never rename one.
REASONS: Mapping[str, str | Render] = {
    # rows a channel cannot take (拒收)
    "empty_text": N_("内容为空"),
    "no_words": N_("内容只有标点或符号，没有文字"),
    "undecodable": N_("文字编码无法识别（文件混用了不同编码，或编码有误）"),
    "extra_cells": _extra_cells,
    "unreadable_date": N_("日期无法识别：“%(value)s”"),
    "missing_ticket": N_("缺少工单编号"),
    "automatic_mail": _automatic_mail,
    "mail_unreadable": N_("邮件无法读取"),
    "mail_corrupt": N_("邮件格式损坏，无法解析"),
    "record_corrupt": N_("记录格式损坏，无法读取（第 %(column)d 个字符附近）"),
    "not_a_message": N_("记录格式不对：不是一条留言"),
    "unreadable_submitted_at": N_("提交时间无法识别：“%(value)s”"),
    "before_first_message": N_(
        "第一条消息之前的文字（不是微信群聊导出文件，或消息抬头的格式无法识别）"
    ),
    "group_system_message": N_("群系统消息"),
    "staff_message": N_("工作人员发言，不是群众意见"),
    "photo_only": N_("只有照片，没有文字"),
    "voice_or_call": N_("语音或通话，没有文字"),
    "not_an_opinion": N_("不是意见建议（寒暄、表情、接龙等）"),
    "photo_attached": N_("只有照片：已附在 %(ref)s 的留言后"),
    # returned rows (答复、评价、回头看、代表评议) that cannot be taken
    "missing_case_number": N_("缺少案件编号"),
    "unknown_case": N_("没有案件编号为“%(case)s”的案件"),
    "unknown_outcome": N_("办理结果“%(value)s”无法识别（应为 A、B、C、D 或 不属职责）"),
    "unreadable_reply_time": N_("答复时间无法识别：“%(value)s”"),
    "empty_reply": N_("答复内容为空"),
    "reply_before_assignment": N_(
        "答复时间 %(replied)s 早于交办时间 %(assigned)s，请核对后重新报送"
    ),
    "reply_in_future": N_("答复时间 %(replied)s 晚于今天（%(today)s），请核对后重新报送"),
    "not_awaiting_reply": _labelled(
        N_("案件 %(case)s 当前为“%(status)s”，不在等待答复"), status=CASE_STATUS_LABELS
    ),
    "unknown_satisfaction": N_("满意度“%(value)s”无法识别（应为 满意、基本满意 或 不满意）"),
    "unknown_solved": N_("是否办成“%(value)s”无法识别（应为 是 或 否）"),
    "unreadable_rating_time": N_("评价时间无法识别：“%(value)s”"),
    "not_yet_replied": _labelled(
        N_("案件 %(case)s 当前为“%(status)s”，尚未答复，还不能评价"), status=CASE_STATUS_LABELS
    ),
    "unknown_verification": N_("核实结果“%(value)s”无法识别（应为 已核实 或 未核实）"),
    "unreadable_verification_time": N_("核实时间无法识别：“%(value)s”"),
    "unverified_needs_note": N_("未核实须填写说明：要告诉承办部门为什么退回重办"),
    "verification_recorded": _labelled(
        N_(
            "案件 %(case)s 的回头看已由 %(checker)s 记录为“%(result)s”；如需更正，请工作人员在"
            "工作台修改"
        ),
        result=VERIFICATION_RESULT_LABELS,
    ),
    "not_awaiting_verification": _labelled(
        N_("案件 %(case)s 当前为“%(status)s”，不在等待回头看"), status=CASE_STATUS_LABELS
    ),
    "unknown_department": N_("部门“%(value)s”不存在（应为 departments.yaml 中的部门名称或代码）"),
    "missing_representative": N_("缺少代表姓名"),
    "missing_department": N_("缺少部门"),
    "unknown_evaluation": N_("评价“%(value)s”无法识别（应为 满意、基本满意、不满意 或 0–100 分）"),
    "unknown_period": N_("期间“%(value)s”无法识别（例如 2026年、2026年第四季度、2026-11）"),
    # e-mail answers to minqing's own messages that wait for a clerk (not a new opinion)
    "mail_reply_other_case": N_(
        "这封邮件回复的是案件 %(answered)s 的消息，附件答复模板中却是案件 %(case)s（发件人 "
        "%(sender)s），未记为答复：请核对后请承办单位重新报送"
    ),
    "mail_reply_not_lead": N_(
        "这封邮件回复的是发给%(department)s的消息（发件人 %(sender)s），但案件 %(case)s 现由"
        "%(lead)s承办（已改派，或%(department)s是协办单位），未记为答复：请核对这封邮件"
    ),
    "mail_answer_no_case": _labelled(
        N_("对%(kind)s邮件的回复（发件人 %(sender)s），不是新的意见，未立案：请查看这封邮件"),
        kind=HANDOFF_KIND_LABELS,
    ),
    "mail_reply_no_template": N_(
        "对案件 %(case)s 交办单的邮件回复（发件人 %(sender)s），未附答复模板，未记为答复："
        "请查看这封邮件，并请承办单位用交办单中的答复链接或答复模板报送"
    ),
    "mail_rating_unclear": N_(
        "对案件 %(case)s 满意度回访的邮件回复（发件人 %(sender)s），看不出评价（应写明满意、"
        "基本满意或不满意，以及已办成或未办成），未记为评价：请查看这封邮件，必要时电话回访"
    ),
    "mail_answer_kept": _labelled(
        N_(
            "对案件 %(case)s %(kind)s邮件的回复（发件人 %(sender)s），不是新的意见，未立案："
            "请查看这封邮件"
        ),
        kind=HANDOFF_KIND_LABELS,
    ),
    # whole files that cannot be read (var/failed/…reason.txt)
    "empty_file": N_("空文件"),
    "not_a_table": _labelled(N_("不是表格文件，而是%(what)s"), what=FILE_KIND_LABELS),
    "old_excel": N_("旧版 Excel 97-2003（.xls）或加了密码的工作簿，请另存为 .xlsx"),
    "not_a_workbook": N_("不是 Excel 工作簿：%(suffix)s 文件内容不对"),
    "workbook_incomplete": N_("Excel 文件不完整或已损坏（技术信息：%(detail)s）"),
    "archive_not_workbook": N_("是压缩包，不是 Excel 工作簿"),
    "workbook_corrupt": N_("Excel 工作簿已损坏（技术信息：%(detail)s）"),
    "no_such_sheet": N_("没有名为“%(sheet)s”的工作表（现有：%(sheets)s）"),
    "sheet_corrupt": N_("工作表“%(sheet)s”第 %(row)d 行之后已损坏（技术信息：%(detail)s）"),
    "csv_corrupt": N_("CSV 文件第 %(line)d 行之后无法读取（技术信息：%(detail)s）"),
    "no_header": N_("文件里没有表头，也没有数据"),
    "missing_columns": N_("缺少必需的列：%(columns)s"),
    "missing_columns_near_top": N_("缺少必需的列：%(columns)s（已查看前 %(rows)d 行）"),
    "binary_not_text": N_("二进制文件，不是导出的文本或表格"),
    "unknown_encoding": N_("无法识别文字编码（既不是 UTF-8 也不是 GB18030）"),
    "not_a_maildir": N_("这个文件夹不是邮件目录（没有 cur/new/tmp）"),
    "binary_not_mail": N_("二进制文件，不是电子邮件"),
    "not_a_mail": N_("不是电子邮件（没有发件人、主题、日期等邮件头）"),
    # why a case waits for a person (审核原因)
    "no_category": N_("未能识别分类，请人工确定"),
    "low_confidence": _labelled(
        N_("分类把握不足：%(source)s的置信度 %(confidence).2f，低于 %(threshold).2f"),
        source=CATEGORY_SOURCE_LABELS,
    ),
    "no_route": _no_route,
    "not_responsible": N_("%(department)s答复不属职责：%(text)s"),
    "split_from": N_("由 %(number)s 拆分，请确认分类"),
    "reopened": N_("重办：%(reason)s"),
}


@dataclass(frozen=True)
class Reason:
    """A kept reason: a code of REASONS and its values, or (rows written before codes) the
    text as it was written, in `written`."""

    code: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    written: str | None = None

    def __str__(self) -> str:
        return render(self)


def reason(code: str, **params: Any) -> Reason:
    """The reason `code` with its values; an unknown code is a programming error."""
    if code not in REASONS:
        raise KeyError(f"unknown reason code {code!r}")
    return Reason(code, params)


def stored(code: str | None, params: Mapping[str, Any] | None, text: str | None) -> Reason | None:
    """The reason as a row keeps it: its code and values, else the text it was written with."""
    if code:
        return Reason(code, params or {}, text)
    return Reason(None, {}, text) if text else None


def columns(r: Reason | None) -> dict[str, Any]:
    """The columns `reason_code`, `reason_params` and `reason` (text: only a reason that has
    no code) that store `r`."""
    if r is None or not r.code:
        return {"reason_code": None, "reason_params": None, "reason": r.written if r else None}
    return {"reason_code": r.code, "reason_params": dict(r.params), "reason": None}


def render(r: Reason | str | None) -> str:
    """The reason's sentence in the current language; an old row's text as written."""
    if r is None:
        return ""
    if isinstance(r, str):
        return r
    entry = REASONS.get(r.code) if r.code else None
    if entry is None:
        return r.written or r.code or ""
    try:
        if callable(entry):
            return entry(r.params)
        return _(entry) % dict(r.params) if r.params else _(entry)
    except (KeyError, TypeError, ValueError):  # values that do not fit: say what is known
        return r.written or f"{_(entry) if isinstance(entry, str) else r.code} {dict(r.params)}"


# --- why a message was not delivered (the mail server's error, in the office's words) ----------

_DELIVERY_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(uncertain|interrupted)", re.I), N_("发送结果不明（邮件服务器可能已收到）")),
    (re.compile(r"^53[0-8]\b|Authentication", re.I), N_("邮件服务器身份验证失败")),
    (re.compile(r"timed? ?out", re.I), N_("邮件服务器超时")),
    (re.compile(r"\bSSL|\bTLS|certificate", re.I), N_("与邮件服务器的加密连接失败")),
    (re.compile(r"5\.3\.4|too (big|large)|size exceeds|exceeds .*size", re.I), N_("邮件过大被拒")),
    (re.compile(r"^4\d\d\b"), N_("邮件服务器暂时拒收")),
    (
        re.compile(r"^5(5[013]|1\d)\b|5\.1\.\d|recipient|mailbox|user unknown", re.I),
        N_("收件地址被拒"),
    ),
    (re.compile(r"^5\d\d\b"), N_("邮件服务器拒收")),
    (re.compile(r"Disconnected|reset by peer|broken pipe", re.I), N_("与邮件服务器的连接中断")),
    (
        re.compile(r"^connection|refused|gaierror|unreachable|Name or service", re.I),
        N_("无法连接邮件服务器"),
    ),
)


# A message the mailer could not build (mail/mailer.py `wire_bytes`): our own error, never the
# server's, so its words say all of it.
_UNBUILDABLE = "message cannot be built: "
_UNUSABLE_ADDRESS = re.compile(
    r"^message cannot be built: (?P<header>To|From): not a usable e-mail address: "
    r"(?P<q>['\"])(?P<address>.*)(?P=q)$",
    re.S,
)


def delivery_problem(error: str | None) -> str:
    """What went wrong sending a message, in the office's words, from the stored error; ""
    when there was no error."""
    if not error:
        return ""
    if unusable := _UNUSABLE_ADDRESS.match(error):
        if unusable["header"] == "From":
            return _(
                "发件地址“%(address)s”不是可用的邮箱地址，邮件无法生成；"
                "请更正 config/office.yaml 的 mail_from 后重发"
            ) % {"address": unusable["address"]}
        return _(
            "收件地址“%(address)s”不是可用的邮箱地址，邮件无法生成；"
            "请更正地址（承办单位的在 config/departments.yaml）后重发"
        ) % {"address": unusable["address"]}
    if error.startswith(_UNBUILDABLE):
        return _("邮件无法生成（标题、收件人或附件名中有不能使用的字符），未发出")
    for pattern, words in _DELIVERY_PROBLEMS:
        if pattern.search(error):
            return _(words)
    return _("发送出错")


def delivery_error(error: str | None, limit: int | None = None) -> str:
    """The classification with the server's own error beside it (cut to `limit` characters),
    for the engineer."""
    if not error:
        return ""
    if not server_error(error):
        return delivery_problem(error)
    raw = error if limit is None or len(error) <= limit else error[: limit - 1] + "…"
    return _("%(problem)s（%(error)s）") % {"problem": delivery_problem(error), "error": raw}


def server_error(error: str | None) -> str:
    """The stored error as the mail server (or the connection) gave it, for the engineer; ""
    for a message that could not be built, whose words in `delivery_problem` say all of it."""
    if not error or error.startswith(_UNBUILDABLE):
        return ""
    return error
