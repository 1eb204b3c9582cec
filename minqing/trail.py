"""办理轨迹 (a case's trail) in words: who did what, as sentences a clerk reads, from the audit
events' codes (actor, action, detail) and the look-backs' result codes.

The database keeps the codes (`system:triage`, `linked_duplicate`, `submission=27`); the console
shows `actor_label`, `action_label` and `event_text`, which name cases by number, messages
(留言) by their receipt or ticket number and departments by name. An action without a
sentence here is shown by its code, so a test over a realistic night finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minqing.i18n import N_, NP_, _, label, pgettext
from minqing.labels import (
    CATEGORY_SOURCE_LABELS,
    CHANNEL_LABELS,
    HANDOFF_KIND_LABELS,
    SATISFACTION_LABELS,
    VERIFICATION_RESULT_LABELS,
    handoff_status_label,
    outcome_label,
    status_label,
)
from minqing.reasons import delivery_problem, render, server_error, stored
from minqing.workdays import LOCAL_TZ


@dataclass(frozen=True)
class Names:
    """What the codes in a trail point at: department names, case numbers, message refs."""

    departments: Mapping[str, str] = field(default_factory=dict)  # code → name
    cases: Mapping[int, str] = field(default_factory=dict)  # id → MQ number
    submissions: Mapping[int, str] = field(default_factory=dict)  # id → receipt/ticket number

    def department(self, code: Any) -> str:
        return self.departments.get(str(code), str(code)) if code else ""

    def case(self, case_id: Any) -> str:
        return self.cases.get(case_id, str(case_id)) if case_id is not None else ""

    def submission(self, sub_id: Any) -> str:
        return self.submissions.get(sub_id, str(sub_id)) if sub_id is not None else ""


# The actor of what an e-mail answer did: "email:<the sender's address>" (tasks/mail_answers.py).
MAIL_ACTOR = "email:"

ACTOR_LABELS: Mapping[str, str] = {
    "system:triage": N_("系统（整理）"),
    "system:dispatch": N_("系统（交办）"),
    "system:deliver": N_("系统（发送）"),
    "system:lookback": N_("系统（回头督办）"),
    "system:import": N_("系统（导入回收文件）"),
    "system:surveys": N_("系统（满意度回访）"),
    "system:verification": N_("系统（回头看）"),
    "system:evaluations": N_("系统（代表评议）"),
    "system:intake": N_("系统（白天收集）"),
    "system:nightly": N_("系统（夜间运行）"),
    "system:metrics": N_("系统（统计）"),
    "cli": N_("命令行"),
}

ACTION_LABELS: Mapping[str, str] = {
    "created": NP_("trail", "立案"),
    "classified": NP_("trail", "分类"),
    "answered_on_the_spot": NP_("trail", "现场答复"),
    "linked_duplicate": NP_("trail", "合并重复反映"),
    "marked_urgent": NP_("trail", "标为紧急"),
    "no_route": NP_("trail", "无交办规则"),
    "assigned": NP_("trail", "交办"),
    "category_confirmed": NP_("trail", "确认分类"),
    "category_corrected": NP_("trail", "更正分类"),
    "deadline_extended": NP_("trail", "延长时限"),
    "deadline_recounted": NP_("trail", "按节假日重算时限"),
    "verification_recounted": NP_("trail", "按节假日重算回头看日期"),
    "rerouted": NP_("trail", "改派"),
    "merged": NP_("trail", "合并到他案"),
    "merged_in": NP_("trail", "他案并入"),
    "split": NP_("trail", "拆分"),
    "split_out": NP_("trail", "拆分立案"),
    "reopened": NP_("trail", "重办"),
    "escalated_to_leaders": NP_("trail", "提请领导领衔督办"),
    "replied": NP_("trail", "答复"),
    "not_responsible": NP_("trail", "答复不属职责"),
    "rated": NP_("trail", "群众评价"),
    "verified": NP_("trail", "回头看核实"),
    "verification_recorded": NP_("trail", "记录回头看"),
    "closed": NP_("trail", "办结"),
    "survey_created": NP_("trail", "满意度回访"),
    "handoff_sent": NP_("trail", "消息已发送"),
    "handoff_pending": NP_("trail", "发送未成，稍后重试"),
    "handoff_failed": NP_("trail", "消息发送失败"),
    "handoff_dead": NP_("trail", "消息放弃发送"),
    "handoff_interrupted": NP_("trail", "发送中断"),
    "handoff_retry": NP_("trail", "重新发送"),
    "handoff_confirmed_delivered": NP_("trail", "确认已送达"),
    "handoff_readdressed": NP_("trail", "更改收件地址"),
    "handoff_queued": NP_("trail", "发出消息"),
    "lookback_reminder": NP_("trail", "到期提醒"),
    "lookback_escalation": NP_("trail", "超期督办"),
    "lookback_leader": NP_("trail", "领导领衔督办"),
    "lookback_verification": NP_("trail", "请代表回头看"),
    "lookback_leader_failed": NP_("trail", "领导督办未能发出"),
    "duty_alerted": NP_("trail", "通知值班人员"),
    "mail_answer": NP_("trail", "收到邮件回复"),
    "representative_evaluation": NP_("trail", "代表评议"),
    "intake_run": NP_("trail", "白天收集"),
    "night_summary": NP_("trail", "夜间统计"),
    "login": NP_("trail", "登录"),
    "logout": NP_("trail", "退出登录"),
    "operator_added": NP_("trail", "新增工作台账号"),
    "operator_disabled": NP_("trail", "停用工作台账号"),
    "operator_password_reset": NP_("trail", "重置工作台密码"),
}

LINK_METHOD_LABELS: Mapping[str, str] = {
    "new": N_("首次反映"),
    "exact": N_("完全重复"),
    "near": N_("相似"),
    "operator": N_("人工合并"),
}

# Lookback.result codes (回头督办的结果) and the reasons a look-back was cancelled.
LOOKBACK_RESULT_LABELS: Mapping[str, str] = {
    "sent": N_("已发出"),
    **VERIFICATION_RESULT_LABELS,
    "failed: no leader e-mail": N_("未能发出：没有领导的电子邮箱"),
}
CANCEL_REASON_LABELS: Mapping[str, str] = {
    "replied": N_("部门已答复"),
    "reopened": N_("案件已重办"),
    "rerouted": N_("案件已改派"),
    "merged": N_("案件已合并"),
    "deadline extended": N_("时限已延长"),
    "deadline too close": N_("离时限太近"),
    "no representative": N_("本社区没有回头看代表"),
    "no deadline": N_("没有办理时限"),
    "deadline passed": N_("时限已过"),
    "deadline moved": N_("时限已变更"),
}

SURVEY_CHANNEL_LABELS: Mapping[str, str] = {
    "email": N_("电子邮件"),
    "phone": N_("电话回访"),
    "web": N_("评价链接"),
    "import": N_("回访清单"),
}
REPLY_VIA_LABELS: Mapping[str, str] = {
    "import": N_("答复文件"),
    "web": N_("答复链接"),
    "email": N_("电子邮件"),
    "on_the_spot": N_("现场答复"),
}


def actor_label(actor: str, names: Names | None = None) -> str:
    """系统（整理）, an operator's name, 区交通运输局·张工 (a department's reply link)…"""
    if actor in ACTOR_LABELS:
        return _(ACTOR_LABELS[actor])
    if actor.startswith("system:"):
        return _("系统")
    if actor.startswith("citizen:"):
        return _("群众（评价链接）")
    if actor.startswith(MAIL_ACTOR):
        return _("邮件 %(address)s") % {"address": actor.removeprefix(MAIL_ACTOR)}
    code, dot, person = actor.partition("·")
    if dot and names is not None and code in names.departments:
        return f"{names.department(code)}·{person}"
    return actor


def action_label(action: str) -> str:
    """立案, 交办, 改派… as the trail's 事项 (context "trail": the same words on a form's
    button may be translated differently)."""
    text = ACTION_LABELS.get(action)
    return pgettext("trail", text) if text is not None else action


def lookback_cancelled(result: str | None) -> bool:
    """The look-back was cancelled (its `done_at` is when), not done."""
    return (result or "").startswith("cancelled")


def lookback_result_label(result: str | None) -> str:
    if not result:
        return ""
    if result in LOOKBACK_RESULT_LABELS:
        return _(LOOKBACK_RESULT_LABELS[result])
    head, colon, why = result.partition(": ")
    if head == "cancelled" and colon:
        if why.startswith("duplicate of"):
            return _("已取消：与另一次提醒重复")
        if why.startswith("case is "):
            return _("已取消：案件已是“%(status)s”") % {
                "status": status_label(why.removeprefix("case is "))
            }
        return _("已取消：%(why)s") % {"why": label(CANCEL_REASON_LABELS, why)}
    return result


def _day(value: Any) -> str:
    """An ISO time in the detail as Beijing time (minutes)."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is not None:
        when = when.astimezone(LOCAL_TZ)
    return f"{when:%Y-%m-%d %H:%M}"


def _with_reason(text: str, d: Mapping[str, Any]) -> str:
    reason = d.get("reason") or d.get("note")
    return _("%(what)s。理由：%(reason)s") % {"what": text, "reason": reason} if reason else text


def _solved(value: Any) -> str:
    if value is None:
        return ""
    return _("已办成") if value else _("未办成")


def _created(d: Mapping[str, Any], n: Names) -> str:
    if d.get("split_from") is not None:
        return _("从 %(case)s 拆分出留言 %(ref)s，立为新案") % {
            "case": n.case(d["split_from"]),
            "ref": n.submission(d.get("submission")),
        }
    return _("立案（来源：%(channel)s，留言 %(ref)s）") % {
        "channel": label(CHANNEL_LABELS, d.get("channel")),
        "ref": n.submission(d.get("submission")),
    }


def _classified(d: Mapping[str, Any], n: Names) -> str:
    text = _("分类为“%(category)s”（%(source)s，置信度 %(confidence).2f）") % {
        "category": d.get("category") or _("未分类"),
        "source": label(CATEGORY_SOURCE_LABELS, d.get("source")),
        "confidence": float(d.get("confidence") or 0.0),
    }
    if d.get("urgent"):
        text += _("；紧急：%(why)s") % {"why": d["urgent"]}
    return text


def _linked(d: Mapping[str, Any], n: Names) -> str:
    values: dict[str, Any] = {
        "ref": n.submission(d.get("submission")),
        "matched": n.submission(d.get("matched_submission")),
    }
    if d.get("method") == "exact":
        return _("留言 %(ref)s 与留言 %(matched)s 内容相同，并入本案") % values
    if d.get("similarity") is not None:
        values["similarity"] = float(d["similarity"])
        return (
            _("留言 %(ref)s 与留言 %(matched)s 相似（相似度 %(similarity).2f），并入本案") % values
        )
    return _("留言 %(ref)s 并入本案") % values


def _assigned(d: Mapping[str, Any], n: Names) -> str:
    text = _("交办%(lead)s，办理时限 %(due)s") % {
        "lead": n.department(d.get("lead")),
        "due": _day(d.get("due_at")),
    }
    if d.get("co"):
        text += _("；协办：%(co)s") % {"co": "、".join(n.department(c) for c in d["co"])}
    if d.get("urgent"):
        text += _("；紧急：%(why)s") % {"why": d["urgent"]}
    elif d.get("priority") == "urgent":
        text += _("；紧急件")
    return text


def _category_changed(d: Mapping[str, Any], n: Names) -> str:
    if d.get("corrected") and d.get("previous"):
        return _("分类由“%(previous)s”更正为“%(category)s”") % {
            "previous": d["previous"],
            "category": d.get("category"),
        }
    return _("确认分类“%(category)s”") % {"category": d.get("category")}


def _reopened(d: Mapping[str, Any], n: Names) -> str:
    source = d.get("source")
    if source == "verification":
        text = _("回头看未通过，退回重办")
    elif source == "rating":
        text = _("群众不满意或未办成，退回重办")
    elif d.get("round") is not None:
        text = _("工作人员决定重办（第 %(round)s 轮）") % {"round": d["round"]}
    else:
        text = _("退回重办")
    return _with_reason(text, d)


def _handoff_problem(d: Mapping[str, Any], n: Names) -> str:
    """A failed send in the office's words; the server's own text is `server_text` (the
    console folds it beneath the sentence, for the engineer)."""
    return _("第 %(attempts)s 次发送未成功：%(problem)s") % {
        "attempts": d.get("attempts", "?"),
        "problem": delivery_problem(d.get("error")) or "—",
    }


def _rated(d: Mapping[str, Any], n: Names) -> str:
    parts = [label(SATISFACTION_LABELS, d.get("satisfaction")), _solved(d.get("solved"))]
    text = _("群众评价：%(answer)s") % {"answer": "，".join(p for p in parts if p)}
    if d.get("status"):
        text += _("（案件当时为“%(status)s”，只作记录）") % {"status": status_label(d["status"])}
    return text


def _verification(d: Mapping[str, Any], n: Names) -> str:
    text = _("回头看：%(result)s（核实人 %(by)s）") % {
        "result": lookback_result_label(d.get("result")),
        "by": d.get("by") or "—",
    }
    return _with_reason(text, d)


def _mail_answer(d: Mapping[str, Any], n: Names) -> str:
    """An e-mail answer to one of our messages (tasks/mail_answers.py): what it became."""
    values = {
        "sender": d.get("sender") or "—",
        "kind": label(HANDOFF_KIND_LABELS, d.get("answered")) or _("本案"),
    }
    if d.get("result") == "reply_file":
        return _(
            "%(sender)s 回复%(kind)s邮件，附件“%(file)s”按答复文件导入（收录 %(taken)s 条，"
            "拒收 %(rejected)s 条）"
        ) % {**values, "file": d.get("file"), "taken": d.get("taken", 0),
             "rejected": d.get("rejected", 0)}  # fmt: skip
    if d.get("result") == "rating":
        parts = [label(SATISFACTION_LABELS, d.get("satisfaction")), _solved(d.get("solved"))]
        return _("%(sender)s 回复满意度回访邮件，记为评价：%(answer)s") % {
            **values,
            "answer": "，".join(p for p in parts if p),
        }
    why = stored(d.get("reason_code"), d.get("reason_params"), None)
    return _("%(sender)s 回复%(kind)s邮件，未立案，待工作人员处理：%(reason)s") % {
        **values,
        "reason": render(why),
    }


Describe = Callable[[Mapping[str, Any], Names], str]

DESCRIPTIONS: Mapping[str, Describe] = {
    "created": _created,
    "classified": _classified,
    "answered_on_the_spot": lambda d, n: _("接待时已现场答复，办结"),
    "linked_duplicate": _linked,
    "marked_urgent": lambda d, n: (
        _("同一问题的新反映提到紧急情况：%(why)s") % {"why": d.get("urgent")}
    ),
    "no_route": lambda d, n: (
        _("分类“%(category)s”在“%(area)s”没有交办规则，转人工审核")
        % {"category": d.get("category"), "area": d.get("area") or _("未注明地区")}
    ),
    "assigned": _assigned,
    "category_confirmed": _category_changed,
    "category_corrected": _category_changed,
    "deadline_recounted": lambda d, n: (
        (
            _("当年节假日安排已配置，办理时限由暂定的 %(previous)s 改为 %(due)s")
            if d.get("moved")
            else _("当年节假日安排已配置，办理时限 %(due)s 不变")
        )
        % {"previous": _day(d.get("previous")), "due": _day(d.get("due_at"))}
    ),
    "verification_recounted": lambda d, n: (
        _("当年节假日安排已配置，回头看日期由 %(previous)s 改为 %(due)s")
        % {"previous": _day(d.get("previous")), "due": _day(d.get("due_at"))}
    ),
    "deadline_extended": lambda d, n: _with_reason(
        (
            _("办理时限由 %(previous)s 延至 %(due)s（批准人：%(approver)s）")
            if d.get("approver")
            else _("办理时限由 %(previous)s 延至 %(due)s")
        )
        % {
            "previous": _day(d.get("previous")),
            "due": _day(d.get("due_at")),
            "approver": d.get("approver"),
        },  # fmt: skip
        d,
    ),
    "rerouted": lambda d, n: _with_reason(
        _("由%(previous)s改派%(lead)s，新时限 %(due)s")
        % {
            "previous": n.department(d.get("previous")) or _("（未交办）"),
            "lead": n.department(d.get("lead")),
            "due": _day(d.get("due_at")),
        },
        d,
    ),
    "merged": lambda d, n: _with_reason(_("合并到 %(case)s") % {"case": n.case(d.get("into"))}, d),
    "merged_in": lambda d, n: _with_reason(
        _("%(case)s 并入本案") % {"case": n.case(d.get("source"))}, d
    ),
    "split": lambda d, n: _with_reason(
        _("留言 %(ref)s 拆分为新案 %(case)s")
        % {"ref": n.submission(d.get("submission")), "case": n.case(d.get("new_case"))},
        d,
    ),
    "split_out": lambda d, n: _with_reason(
        _("从 %(case)s 拆分而来") % {"case": n.case(d.get("split_from"))}, d
    ),
    "reopened": _reopened,
    "escalated_to_leaders": lambda d, n: _with_reason(
        _("已重办 %(n)s 次仍未解决，提请领导领衔督办") % {"n": d.get("reopen_count", "?")}, d
    ),
    "replied": lambda d, n: (
        _("答复：%(outcome)s（经办人 %(handler)s）")
        % {"outcome": outcome_label(d.get("outcome")), "handler": d.get("handler") or "—"}
    ),
    "not_responsible": lambda d, n: (
        _("%(department)s答复不属职责，转人工审核")
        % {"department": n.department(d.get("department"))}
    ),
    "rated": _rated,
    "verified": lambda d, n: (
        _("回头看核实：问题已解决（核实人 %(by)s）") % {"by": d.get("by") or "—"}
    ),
    "verification_recorded": _verification,
    "closed": lambda d, n: _("办结：%(outcome)s") % {"outcome": outcome_label(d.get("outcome"))},
    "survey_created": lambda d, n: (
        _("向反映人发出满意度回访（%(channel)s）")
        % {"channel": label(SURVEY_CHANNEL_LABELS, d.get("channel"))}
    ),
    "handoff_sent": lambda d, n: (
        _("%(kind)s已发给 %(to)s")
        % {"kind": label(HANDOFF_KIND_LABELS, d.get("kind")), "to": d.get("to") or "—"}
    ),
    "handoff_pending": _handoff_problem,
    "handoff_failed": _handoff_problem,
    "handoff_dead": _handoff_problem,
    "handoff_interrupted": lambda d, n: _("发送过程中断，对方是否收到不明：请与对方核实后再处理"),
    "handoff_retry": lambda d, n: (
        _("重新发送（上次错误：%(error)s）")
        % {"error": delivery_problem(d.get("previous_error")) or "—"}
    ),
    "handoff_confirmed_delivered": lambda d, n: _with_reason(_("确认对方已收到，不再发送"), d),
    "handoff_readdressed": lambda d, n: (
        _("收件地址由 %(previous)s 改为 %(recipient)s")
        % {"previous": d.get("previous") or "—", "recipient": d.get("recipient") or "—"}
    ),
    "handoff_queued": lambda d, n: _with_reason(
        _("%(kind)s发给%(to)s")
        % {"kind": label(HANDOFF_KIND_LABELS, d.get("kind")), "to": n.department(d.get("to"))},
        d,
    ),
    "lookback_reminder": lambda d, n: _("办理时限将到，已提醒承办单位"),
    "lookback_escalation": lambda d, n: _("已超期，已向承办单位负责人督办"),
    "lookback_leader": lambda d, n: _("已提请领导领衔督办"),
    "lookback_verification": lambda d, n: _("已请社区代表回头看"),
    "lookback_leader_failed": lambda d, n: _(
        "领导督办未能发出：没有留电子邮箱的领导（office.yaml）"
    ),
    "duty_alerted": lambda d, n: (
        _("已通知值班人员（邮件 %(emails)s 封，群机器人 %(robots)s 个）")
        % {"emails": d.get("emails", 0), "robots": len(d.get("robots") or [])}
    ),
    "mail_answer": _mail_answer,
}


def state_label(entity: str | None, state: str | None) -> str:
    """A state of the trail's 状态变化 by its label: a message's (待发送、发送失败…) when the
    event is about a message, else a case's."""
    if not state:
        return ""
    return handoff_status_label(state) if entity == "handoff" else status_label(state)


def server_text(entity: str | None, detail: Mapping[str, Any] | None) -> str:
    """The mail server's own error an event about a message keeps (for the engineer; the
    sentence says it in the office's words), or ""."""
    if entity != "handoff" or not detail:
        return ""
    return server_error(str(detail.get("error") or detail.get("previous_error") or ""))


def event_text(action: str, detail: Mapping[str, Any] | None, names: Names) -> str:
    """The trail line's 详情: a sentence; an action without one shows its details as they are."""
    d = detail or {}
    describe = DESCRIPTIONS.get(action)
    if describe is not None:
        return describe(d, names)
    return "；".join(f"{k}={v}" for k, v in d.items())
