"""Kept reasons are codes worded when shown (minqing/reasons.py), in the reader's language."""

from __future__ import annotations

import re

import pytest

from minqing.handoffs import handoff_row
from minqing.i18n import using
from minqing.reasons import (
    REASONS,
    delivery_error,
    delivery_problem,
    reason,
    render,
    server_error,
    stored,
)
from minqing.urgency import waiting_reason

CJK = re.compile(r"[\u4e00-\u9fff]")

# Values for every code: each must word in both languages with no placeholder left over.
VALUES = {
    "extra_cells": {"n": 2},
    "unreadable_date": {"value": "2026-13-45"},
    "automatic_mail": {"kind": "system_sender", "address": "noreply@example.gov.cn"},
    "record_corrupt": {"column": 7},
    "unreadable_submitted_at": {"value": "x"},
    "photo_attached": {"ref": "群聊.txt:3"},
    "unknown_case": {"case": "MQ2026-000001"},
    "unknown_outcome": {"value": "E"},
    "unreadable_reply_time": {"value": "x"},
    "reply_before_assignment": {"replied": "2026-11-20 10:00", "assigned": "2026-11-27 02:00"},
    "reply_in_future": {"replied": "2026-12-08 00:00", "today": "2026-12-07"},
    "not_awaiting_reply": {"case": "MQ2026-000001", "status": "closed"},
    "unknown_satisfaction": {"value": "x"},
    "unknown_solved": {"value": "x"},
    "unreadable_rating_time": {"value": "x"},
    "not_yet_replied": {"case": "MQ2026-000001", "status": "assigned"},
    "unknown_verification": {"value": "x"},
    "unreadable_verification_time": {"value": "x"},
    "verification_recorded": {"case": "MQ2026-000001", "checker": "王", "result": "verified"},
    "not_awaiting_verification": {"case": "MQ2026-000001", "status": "assigned"},
    "unknown_department": {"value": "x"},
    "unknown_evaluation": {"value": "x"},
    "unknown_period": {"value": "x"},
    "not_a_table": {"what": "png"},
    "not_a_workbook": {"suffix": ".xlsx"},
    "workbook_incomplete": {"detail": "BadZipFile"},
    "workbook_corrupt": {"detail": "KeyError"},
    "no_such_sheet": {"sheet": "Sheet9", "sheets": "Sheet1"},
    "sheet_corrupt": {"sheet": "Sheet1", "row": 9, "detail": "KeyError"},
    "csv_corrupt": {"line": 9, "detail": "NUL"},
    "missing_columns": {"columns": "案件编号"},
    "missing_columns_near_top": {"columns": "工单编号", "rows": 10},
    "low_confidence": {"source": "model", "confidence": 0.41, "threshold": 0.6},
    "no_route": {"category": "市容环境", "area": None},
    "not_responsible": {"department": "区交通运输局", "text": "不归我局"},
    "split_from": {"number": "MQ2026-000001"},
    "reopened": {"reason": "群众不满意"},
    "mail_reply_no_template": {"case": "MQ2026-000210", "sender": "li@jiaotong.example.gov.cn"},
    "mail_rating_unclear": {"case": "MQ2026-000210", "sender": "wang@example.com"},
    "mail_answer_kept": {"case": "MQ2026-000210", "sender": "li@example.com", "kind": "reminder"},
    "mail_answer_no_case": {"sender": "duty@example.com", "kind": "duty"},
    "mail_reply_other_case": {
        "answered": "MQ2026-000256",
        "case": "MQ2026-000230",
        "sender": "li@example.com",
    },
    "mail_reply_not_lead": {
        "case": "MQ2026-000151",
        "sender": "li@example.com",
        "department": "区交通运输局",
        "lead": "区交通运输局",
    },
}
# What citizens and departments write stays as written; so do the input's own keywords (满意…).
DATA = re.compile(
    "群聊|王|市容环境|区交通运输局|不归我局|群众不满意|案件编号|工单编号"
    "|已核实|未核实|基本满意|不满意|满意|2026年第四季度|2026年|不属职责"
)


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_reason_is_worded_in_both_languages(code: str) -> None:
    r = reason(code, **VALUES.get(code, {}))
    chinese = str(r)
    with using("en"):
        english = str(r)
    assert CJK.search(chinese) and "%(" not in chinese
    assert "%(" not in english and not CJK.search(DATA.sub("", english)), english


def test_a_reason_keeps_its_code_and_values_and_is_worded_by_the_reader() -> None:
    r = reason("unreadable_date", value="2026-13-45")
    assert (r.code, dict(r.params)) == ("unreadable_date", {"value": "2026-13-45"})
    assert str(r) == "日期无法识别：“2026-13-45”"
    with using("en"):
        assert "2026-13-45" in str(r) and not CJK.search(str(r).replace("2026-13-45", ""))
    with pytest.raises(KeyError):
        reason("no_such_code")


def test_a_value_that_is_a_code_is_shown_by_its_label() -> None:
    r = reason("low_confidence", source="model", confidence=0.41, threshold=0.6)
    assert str(r) == "分类把握不足：分类模型的置信度 0.41，低于 0.60"
    assert str(reason("no_route", category="市容环境", area=None)).startswith(
        "分类“市容环境”在“未注明地区”没有交办规则"
    )


def test_a_row_written_before_codes_is_shown_as_written() -> None:
    old = stored(None, None, "low confidence: model 0.41 < 0.60")
    assert old is not None and render(old) == "low confidence: model 0.41 < 0.60"
    assert stored(None, None, None) is None and render(None) == ""
    coded = stored("empty_text", {}, None)
    assert coded is not None and render(coded) == "内容为空"
    unknown = stored("a_code_from_a_newer_version", {"n": 1}, None)
    assert unknown is not None and render(unknown) == "a_code_from_a_newer_version"


@pytest.mark.parametrize(
    ("why", "words"),
    [
        (reason("no_category"), "未能识别分类，请人工确定"),
        (
            reason("low_confidence", source="rule", confidence=0.5, threshold=0.6),
            "分类把握不足：关键词规则的置信度 0.50，低于 0.60",
        ),
        (
            reason("no_route", category="市容环境", area="东湖社区"),
            "分类“市容环境”在“东湖社区”没有交办规则，请人工指定承办部门（routing.yaml）",
        ),
        (reason("split_from", number="MQ2026-000001"), "由 MQ2026-000001 拆分，请确认分类"),
        (stored(None, None, "旧的审核原因"), "旧的审核原因"),
        (None, "待人工审核"),
    ],
)
def test_why_a_case_waits_comes_from_the_code_of_its_review_reason(why, words) -> None:
    assert waiting_reason(why) == words
    if why is not None and why.code:
        with using("en"):
            assert not CJK.search(DATA.sub("", waiting_reason(why).replace("东湖社区", "")))


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (
            "connection: ConnectionRefusedError: [Errno 111] Connection refused",
            "无法连接邮件服务器",
        ),
        ("connection: gaierror: [Errno -2] Name or service not known", "无法连接邮件服务器"),
        ("connection: TimeoutError: timed out", "邮件服务器超时"),
        (
            "connection: SMTPServerDisconnected: Connection unexpectedly closed",
            "与邮件服务器的连接中断",
        ),  # fmt: skip
        (
            "connection: SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number",
            "与邮件服务器的加密连接失败",
        ),  # fmt: skip
        ("535 5.7.8 Authentication credentials invalid", "邮件服务器身份验证失败"),
        ("550 5.1.1 <nobody@example.gov.cn>: Recipient address rejected", "收件地址被拒"),
        ("553 5.1.3 mailbox name not allowed", "收件地址被拒"),
        ("552 5.3.4 Message size exceeds fixed limit", "邮件过大被拒"),
        ("554 5.7.1 Spam message rejected", "邮件服务器拒收"),
        ("451 4.3.0 Temporary failure, try again later", "邮件服务器暂时拒收"),
        ("uncertain: the connection failed after the message was handed over", "发送结果不明"),
        ("interrupted during sending: the SMTP server may have accepted it", "发送结果不明"),
        ("something nobody expected", "发送出错"),
    ],
)
def test_an_undelivered_message_says_what_went_wrong_in_the_office_s_words(error, problem) -> None:
    assert delivery_problem(error).startswith(problem)
    assert delivery_error(error) == f"{delivery_problem(error)}（{error}）"
    with using("en"):
        assert not CJK.search(delivery_error(error)) and error in delivery_error(error)


def test_no_error_no_words() -> None:
    assert delivery_problem(None) == delivery_error("") == ""
    assert delivery_error("x" * 200, 80).endswith("…）")


def unbuildable(to: str) -> str:
    """The error the mailer stores for a message it cannot build for `to`."""
    from mail.mailer import OutgoingMessage, SendError, wire_bytes

    message = OutgoingMessage(to=to, subject="s", text="t", html="h", message_id="<x@minqing>")
    with pytest.raises(SendError) as refused:
        wire_bytes(message, "minqing@street.example.gov.cn", "民情直通车")
    assert not refused.value.transient
    return str(refused.value)


@pytest.mark.parametrize(
    "address", ["banli@jiedao，example.gov.cn", "banli@jiedao.example.gov.cn。", "o'neil，@x.cn"]
)
def test_a_message_that_cannot_be_built_says_so_in_chinese_naming_the_address(address) -> None:
    error = unbuildable(address)
    problem = f"收件地址“{address}”不是可用的邮箱地址，邮件无法生成；"
    assert delivery_problem(error).startswith(problem)
    assert "config/departments.yaml" in delivery_problem(error)
    # our own error, not the server's: no English beside the words
    assert delivery_error(error) == delivery_problem(error) and server_error(error) == ""
    assert handoff_row({"id": 1, "kind": "assignment", "to": address, "status": "failed",
                        "error": error})["服务器原文"] == ""  # fmt: skip


def test_a_message_whose_subject_cannot_be_built_is_not_worded_as_a_server_error() -> None:
    error = "message cannot be built: Subject contains a line break or control character: 'a'"
    assert (
        delivery_problem(error) == "邮件无法生成（标题、收件人或附件名中有不能使用的字符），未发出"
    )
