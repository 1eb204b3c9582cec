"""What the office calls each code the database keeps (状态、渠道、消息类型…): tables of N_-marked
labels, translated when shown with `minqing.i18n.label(TABLE, code)` or the helpers below.

Codes stay in the database and in config; only these labels are shown to people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from minqing.i18n import N_, _, label
from minqing.states import OUTCOME_LABELS, CaseStatus

CASE_STATUS_LABELS: Mapping[str, str] = {
    CaseStatus.NEW: N_("新立案"),
    CaseStatus.TRIAGED: N_("已分类"),
    CaseStatus.NEEDS_REVIEW: N_("待人工审核"),
    CaseStatus.ASSIGNED: N_("已交办"),
    CaseStatus.REPLIED: N_("已答复"),
    CaseStatus.VERIFIED: N_("已回头看"),
    CaseStatus.RATED: N_("已评价"),
    CaseStatus.CLOSED: N_("已办结"),
    CaseStatus.REOPENED: N_("重办"),
    CaseStatus.MERGED: N_("已合并"),
}

HANDOFF_STATUS_LABELS: Mapping[str, str] = {
    "pending": N_("待发送"),
    "sending": N_("发送中"),
    "sent": N_("已发送"),
    "failed": N_("发送失败"),
    "dead": N_("已放弃"),
}

HANDOFF_KIND_LABELS: Mapping[str, str] = {
    "assignment": N_("交办"),
    "reminder": N_("到期提醒"),
    "escalation": N_("超期督办"),
    "leader": N_("领导领衔督办"),
    "reopen": N_("重办通知"),
    "withdrawal": N_("改派撤回"),
    "survey": N_("满意度回访"),
    "verification": N_("回头看"),
    "deadline": N_("办理时限调整"),
    "duty": N_("值班提醒"),
}

# What a representative's 回头看 found (Lookback.result, and the verification file's values).
VERIFICATION_RESULT_LABELS: Mapping[str, str] = {
    "verified": N_("已核实"),
    "not_verified": N_("未核实"),
}

LOOKBACK_KIND_LABELS: Mapping[str, str] = {
    "reminder": N_("到期提醒"),
    "escalation": N_("超期督办"),
    "leader": N_("领导领衔督办"),
    "verification": N_("回头看"),
}

# Where an opinion came in (收集渠道) and the return files the office imports.
CHANNEL_LABELS: Mapping[str, str] = {
    "hotline": N_("12345热线"),
    "qrform": N_("扫码留言"),
    "register": N_("家站点接待"),
    "wechat": N_("随手拍"),
    "visits": N_("走访企业/进网格"),
    "email": N_("电子邮件"),
    "replies": N_("部门答复"),
    "ratings": N_("满意度评价"),
    "verifications": N_("回头看结果"),
    "evaluations": N_("代表评议"),
}

# Who decided a case's category (分类来源).
CATEGORY_SOURCE_LABELS: Mapping[str, str] = {
    "rule": N_("关键词规则"),
    "model": N_("分类模型"),
    "operator": N_("人工"),
}

SATISFACTION_LABELS: Mapping[str, str] = {
    "满意": N_("满意"),
    "基本满意": N_("基本满意"),
    "不满意": N_("不满意"),
}

PRIORITY_LABELS: Mapping[str, str] = {
    "normal": N_("一般"),
    "urgent": N_("紧急"),
}


def status_label(status: Any) -> str:
    return label(CASE_STATUS_LABELS, status)


def handoff_status_label(status: Any) -> str:
    return label(HANDOFF_STATUS_LABELS, status)


def handoff_kind_label(kind: Any) -> str:
    return label(HANDOFF_KIND_LABELS, kind)


def channel_label(channel: Any) -> str:
    return label(CHANNEL_LABELS, channel)


def outcome_label(outcome: Any) -> str:
    return label(OUTCOME_LABELS, outcome) if outcome else ""


# The column headers of the tables the office reads (the night's artifacts, the command line's
# tables): rows are built with these Chinese keys, and `table_rows` labels them when shown.
COLUMN_LABELS: Mapping[str, str] = {
    "编号": N_("编号"),
    "案件编号": N_("案件编号"),
    "标题": N_("标题"),
    "类型": N_("类型"),
    "承办单位": N_("承办单位"),
    "收件地址": N_("收件地址"),
    "状态": N_("状态"),
    "尝试次数": N_("尝试次数"),
    "下次重试": N_("下次重试"),
    "原因": N_("原因"),
    "服务器原文": N_("服务器原文"),
    "上次错误": N_("上次错误"),
    "结果": N_("结果"),
    "本次错误": N_("本次错误"),
    "渠道": N_("渠道"),
    "文件": N_("文件"),
    "来源": N_("来源"),
    "待跟进事项": N_("待跟进事项"),
    "应办时间": N_("应办时间"),
    "说明": N_("说明"),
    "周": N_("周"),
    "分类": N_("分类"),
    "模型分类": N_("模型分类"),
    "自动分派": N_("自动分派"),
    "自动分派率": N_("自动分派率"),
    "已有结果": N_("已有结果"),
    "分错": N_("分错"),
    "准确率": N_("准确率"),
    "95%区间": N_("95%区间"),
    "尚无结果": N_("尚无结果"),
}


def column_label(column: str) -> str:
    return label(COLUMN_LABELS, column)


def table_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with their column headers in the reader's language (values as they are)."""
    return [{column_label(k): v for k, v in row.items()} for row in rows]


def marked_case(number: str, urgent: bool) -> str:
    """The case number, with 急 beside it when the case is urgent (as the console marks it)."""
    return number + ("  " + _("急") if urgent else "")
