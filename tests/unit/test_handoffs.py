"""Handoffs as operators see them (minqing.handoffs) on literal data: figures whose totals are
the sums of their parts, tonight's counts apart from what is outstanding, who may resend or
confirm what, and the resend's table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

import minqing.handoffs as minqing_handoffs
from minqing.handoffs import (
    confirm_refusal,
    delivery_sentence,
    department_choices,
    handoff_row,
    kind_code,
    outstanding_sentence,
    problem_lines,
    resend_rows,
    resend_sentence,
    retry_refusal,
    status_codes,
)
from minqing.summary import summary_lines

NOW = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)
STALE = timedelta(minutes=15)


def numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def test_the_night_says_what_it_tried_tonight_apart_from_what_is_outstanding_and_each_adds_up():
    # The bad night of the issue: 88 undelivered in all, of which tonight's run produced only
    # some; the old line mixed the two ("88 封待处理（失败 39，放弃 38…）").
    f = {"sent": 270, "failed": 4, "dead": 2, "retry_later": 14, "interrupted": 1,
         "outstanding": {"pending": 14, "sending": 0, "failed": 39, "dead": 35}}  # fmt: skip
    lines = dict(summary_lines_of(f))
    tonight, outstanding = lines["发送邮件"], lines["未送达"]
    assert tonight == (
        "今晚尝试发送 290 封：已发送 270，发送失败 4，已放弃 2，稍后重试 14；"
        "另有 1 封上次发送中断，已转为发送失败，待核实"
    )
    total, *parts = numbers(tonight.split("；")[0])
    assert total == sum(parts) == 290
    assert outstanding == (
        "目前共 88 封（待发送 14，发送中 0，发送失败 39，已放弃 35）（明细见 failed-handoffs）"
    )
    total, *parts = numbers(outstanding)
    assert total == sum(parts) == 88


def summary_lines_of(f: dict) -> list[tuple[str, str]]:
    base = {"taken": 0, "by_channel": {}, "rejected": 0, "linked": 0, "new_cases": 0,
            "on_the_spot": 0, "needs_review": 0, "review_waiting": 0, "assigned": 0,
            "replies": 0, "lookbacks": 0, "reminders": 0, "escalations": 0, "verifications": 0,
            "ratings": 0, "satisfied": 0, "rated": 0, "rejections": []}  # fmt: skip
    return summary_lines({**base, **f})


@pytest.mark.parametrize(
    ("outstanding", "expected"),
    [
        ({}, "0 封（待发送 0，发送中 0，发送失败 0，已放弃 0）"),
        ({"dead": 3}, "3 封（待发送 0，发送中 0，发送失败 0，已放弃 3）"),
        ({"pending": 1, "sending": 2, "failed": 3, "dead": 4},
         "10 封（待发送 1，发送中 2，发送失败 3，已放弃 4）"),
    ],
)  # fmt: skip
def test_outstanding_messages_are_counted_by_status_and_the_total_is_their_sum(
    outstanding, expected
):
    assert outstanding_sentence(outstanding) == expected


def test_a_lookback_whose_every_message_was_refused_does_not_read_as_nothing_sent():
    refused = {"sent": 0, "failed": 14, "dead": 0, "retry_later": 0, "interrupted": 0,
               "problems": [{"handoff": i, "to": f"dept{i}@example.gov.cn", "status": "failed",
                             "error": "550 5.1.1 User unknown"} for i in range(14)]}  # fmt: skip
    assert delivery_sentence(refused) == (
        "尝试发送 14 封：已发送 0，发送失败 14，已放弃 0，稍后重试 0"
    )
    lines = problem_lines(refused["problems"], limit=10)
    assert lines[0] == (
        "消息 0 → dept0@example.gov.cn：发送失败，收件地址被拒（550 5.1.1 User unknown）"
    )
    assert lines[-1].startswith("……另有 4 封") and len(lines) == 11
    later = problem_lines([{"handoff": 7, "to": "a@b.cn", "status": "retry_later",
                            "error": "connection refused"}])  # fmt: skip
    assert later == ["消息 7 → a@b.cn：待发送，无法连接邮件服务器（connection refused）"]


@pytest.mark.parametrize(
    ("statuses", "dry_run", "operator", "refused"),
    [
        (["pending", "failed", "dead"], True, "", None),  # a preview needs no name
        (["pending"], False, "王小明", None),
        (["failed"], False, "", "真实重发必须填写操作人姓名"),
        (["dead"], False, "   ", "真实重发必须填写操作人姓名"),
        (["sent"], True, "王小明", "不能重发：已发送"),
        (["sending"], False, "王小明", "不能重发：发送中"),
    ],
)
def test_who_may_resend_what(statuses, dry_run, operator, refused):
    answer = retry_refusal(statuses, dry_run=dry_run, operator=operator)
    assert (answer is None) if refused is None else (refused in answer)


@pytest.mark.parametrize(
    ("status", "claimed_minutes_ago", "refused"),
    [
        ("failed", None, None),
        ("dead", None, None),
        ("pending", None, None),
        ("sending", 16, None),  # its deliverer is gone: the operator may settle it
        ("sending", 2, "正在发送中"),
        ("sent", None, "已发送成功，无需确认"),
    ],
)
def test_which_messages_may_be_confirmed_as_arrived(status, claimed_minutes_ago, refused):
    claimed = NOW - timedelta(minutes=claimed_minutes_ago) if claimed_minutes_ago else None
    answer = confirm_refusal(status, claimed, NOW, STALE, reason="电话核实已收到", operator="王")
    assert (answer is None) if refused is None else (refused in answer)


def test_confirming_needs_a_reason_and_a_name():
    assert "确认送达的依据" in confirm_refusal(
        "failed", None, NOW, STALE, reason=" ", operator="王"
    )
    assert "操作人" in confirm_refusal("failed", None, NOW, STALE, reason="电话", operator="")


SELECTED = [
    {"id": 3, "case_number": "MQ2026-000003", "kind": "assignment", "department_name": "区交通运输局",
     "to": "banli@jiaotong.example.gov.cn", "status": "pending", "error": "connection refused"},
    {"id": 5, "case_number": "", "kind": "survey", "department_name": "",
     "to": "citizen@example.com", "status": "failed", "error": "550 5.1.1 User unknown"},
]  # fmt: skip


def test_the_preview_table_lists_exactly_what_would_be_sent_in_chinese():
    assert resend_rows(SELECTED, dry_run=True) == [
        {"编号": 3, "案件编号": "MQ2026-000003", "类型": "交办", "承办单位": "区交通运输局",
         "收件地址": "banli@jiaotong.example.gov.cn",
         "上次错误": "无法连接邮件服务器（connection refused）"},
        {"编号": 5, "案件编号": "", "类型": "满意度回访", "承办单位": "",
         "收件地址": "citizen@example.com", "上次错误": "收件地址被拒（550 5.1.1 User unknown）"},
    ]  # fmt: skip
    assert resend_sentence(SELECTED, dry_run=True).startswith(
        "预览：符合条件的消息 2 封（待发送 1，发送失败 1，已放弃 0），未发送"
    )


def test_the_result_table_says_what_was_sent_and_what_failed_again():
    done = [
        {**SELECTED[0], "outcome": "sent", "new_error": None},
        {**SELECTED[1], "outcome": "failed", "new_error": "550 5.1.1 still unknown"},
    ]
    rows = resend_rows(done, dry_run=False)
    assert [(r["编号"], r["结果"], r["本次错误"]) for r in rows] == [
        (3, "已发送", ""),
        (5, "再次失败", "收件地址被拒（550 5.1.1 still unknown）"),
    ]
    sentence = resend_sentence(done, dry_run=False)
    assert sentence.startswith("重发 2 封：已发送 1，再次失败 1（发送失败 1，已放弃 0）")
    total, *parts = numbers(sentence.replace("（发送失败 1，已放弃 0）", ""))
    assert total == sum(parts)


def test_an_urgent_case_is_marked_in_the_resend_and_failed_messages_tables():
    urgent = {**SELECTED[0], "urgent": True, "status": "failed", "attempts": 1}
    assert resend_rows([urgent], dry_run=True)[0]["案件编号"] == "MQ2026-000003  急"
    assert resend_rows([urgent], dry_run=False)[0]["案件编号"] == "MQ2026-000003  急"
    assert handoff_row(urgent)["案件编号"] == "MQ2026-000003  急"
    assert handoff_row({**urgent, "urgent": False})["案件编号"] == "MQ2026-000003"


def test_kinds_are_taken_by_code_or_by_their_chinese_name():
    assert [kind_code(k) for k in ("assignment", "到期提醒", "值班提醒")] == [
        "assignment",
        "reminder",
        "duty",
    ]
    with pytest.raises(ValueError, match="未知的消息类型：mail（可选：交办、到期提醒、"):
        kind_code("mail")


def test_statuses_are_taken_by_code_or_by_their_chinese_name():
    assert status_codes(["pending", "发送失败", "已放弃"]) == ["pending", "failed", "dead"]
    with pytest.raises(ValueError, match="未知的消息状态：lost"):
        status_codes(["lost"])


def test_the_department_choices_come_from_config_with_all_first_and_unique_labels():
    assert department_choices([("zhujian", "区住建局"), ("a", "街道办"), ("b", "街道办")]) == {
        "all": "全部单位",
        "zhujian": "区住建局",
        "a": "街道办（a）",
        "b": "街道办（b）",
    }


def test_the_sentences_come_from_the_catalogue_and_read_in_english_when_chosen():
    from minqing.i18n import using

    d = {"sent": 1, "failed": 2, "dead": 0, "retry_later": 3, "interrupted": 0}
    with using("en"):
        assert delivery_sentence(d) == (
            "Tried to send 6 messages: sent 1, failed 2, given up 0, retry later 3"
        )
        assert "operator's name" in retry_refusal(["failed"], dry_run=False, operator="")


def test_a_message_never_tried_while_the_server_was_down_waits_and_has_no_error_of_its_own():
    from mail.mailer import CONNECTION_FAILED

    assert minqing_handoffs.CONNECTION_FAILED == CONNECTION_FAILED  # the mailer's prefix
    error = CONNECTION_FAILED + "ConnectionRefusedError: [Errno 111] Connection refused"
    held = {**SELECTED[0], "error": error, "attempts": 0}
    tried = {**held, "attempts": 1}
    (row,) = resend_rows([held], dry_run=True)
    assert row["上次错误"] == "等待邮件服务器恢复后发送"
    (row,) = resend_rows([tried], dry_run=True)
    assert row["上次错误"].startswith("无法连接邮件服务器（connection: ConnectionRefusedError")
    assert handoff_row(held)["原因"] == "等待邮件服务器恢复后发送"
    assert handoff_row(tried)["原因"] == "无法连接邮件服务器"
    # a failed message (or one resent after its own error) keeps its error
    assert handoff_row({**held, "status": "failed"})["原因"] == "无法连接邮件服务器"
    resent = {**SELECTED[1], "status": "pending", "attempts": 0}
    assert handoff_row(resent)["原因"] == "收件地址被拒"
    # after a resend: held again untried, it waits; tried again, it failed again
    again = {**held, "outcome": "pending", "new_error": error, "new_attempts": 0}
    assert resend_rows([again], dry_run=False)[0]["本次错误"] == "等待邮件服务器恢复后发送"
    again["new_attempts"] = 1
    assert resend_rows([again], dry_run=False)[0]["本次错误"].startswith("无法连接邮件服务器（")
