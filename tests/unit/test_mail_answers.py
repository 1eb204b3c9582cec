"""Answers to minqing's own mail, the part without a database: what the e-mail channel notices
(what a message answers, its attached tables), the words of a survey answer, and what an
answer becomes."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from minqing.channels.email import answered_case, message_to_item
from minqing.records import Item
from minqing.returns import answer_action, rating_in_words

WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def item_of(msg: EmailMessage) -> Item:
    item = message_to_item(msg, source_file="a.eml", checksum="c", ref="a.eml", fallback_time=WHEN)
    assert isinstance(item, Item)
    return item


def mail(subject: str, body: str = "正文", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "李工 <li@jiaotong.example.gov.cn>"
    msg["To"] = "minqing@street.example.gov.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = "<a@client.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


@pytest.mark.parametrize(
    ("subject", "case"),
    [
        ("回复：【交办·承办】MQ2026-000210 路灯坏了", "MQ2026-000210"),
        ("答复: 【到期提醒】MQ2026-000210", "MQ2026-000210"),
        ("Re: Re: 【满意度回访】您反映的问题已答复（MQ2026-000007）", "MQ2026-000007"),
        ("RE：mq2026-000210", "MQ2026-000210"),
        ("转发：【交办·协办】MQ2026-000210 路灯坏了", "MQ2026-000210"),
        ("Fwd: MQ2026-000210", "MQ2026-000210"),
        ("【交办·承办】MQ2026-000210 路灯坏了", None),  # not a reply: a citizen quoting a number
        ("关于MQ2026-000210的问题又出现了", None),
        ("回复：路灯又坏了", None),
    ],
)
def test_a_case_number_counts_only_in_a_replys_or_forwards_subject(subject, case):
    assert answered_case(subject) == case


def test_an_answer_carries_what_it_answers_and_its_attached_tables():
    msg = mail(
        "回复：【交办·承办】MQ2026-000210 路灯坏了",
        "已处理。\n\n-----原始邮件-----\n> 问题交办单",
        In_Reply_To="<minqing.abc@street.example.gov.cn>",
        References="<minqing.old@street.example.gov.cn> <minqing.abc@street.example.gov.cn>",
    )
    msg.add_attachment(b"\xef\xbb\xbf" + "案件编号\r\n".encode(), maintype="text", subtype="csv",
                       filename="答复模板_MQ2026-000210.csv")  # fmt: skip
    msg.add_attachment(b"\xff\xd8\xff", maintype="image", subtype="jpeg", filename="现场.jpg")
    answer = item_of(msg).answer
    assert answer is not None
    assert answer.references == (
        "<minqing.abc@street.example.gov.cn>",
        "<minqing.old@street.example.gov.cn>",
    )
    assert answer.case_ref == "MQ2026-000210"
    assert (answer.sender, answer.sender_name, answer.text) == (
        "li@jiaotong.example.gov.cn",
        "李工",
        "已处理。",
    )
    assert [name for name, _ in answer.tables] == ["答复模板_MQ2026-000210.csv"]


def test_a_message_that_answers_nothing_carries_no_answer():
    assert item_of(mail("小区门口垃圾没人清运", "垃圾三天没人清运了。")).answer is None


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("满意，已办成", ("满意", True)),
        ("满意\n已办成\n谢谢！", ("满意", True)),
        ("基本满意，已办成", ("基本满意", True)),
        ("不满意，未办成。路灯晚上还是不亮。", ("不满意", False)),
        ("没有办成，不满意", ("不满意", False)),
        ("非常满意！问题已办成", ("满意", True)),
        ("滿意，已辦成", ("满意", True)),  # traditional characters
        ("满意", ("满意", None)),  # as a rating file row with 是否办成 left empty
        ("满意，也不满意", None),  # contradictory
        ("基本满意还是满意呢", None),
        ("不太满意，已办成", None),  # a negation other than 不满意: not read as 满意
        ("满意，已办成，又好像没办成", None),
        ("收到，谢谢", None),  # no answer at all
        ("", None),
        ("Satisfied, solved. Thank you!", ("满意", True)),  # the English survey's words
        ("basically satisfied\nnot solved", ("基本满意", False)),
        ("Not satisfied at all", ("不满意", None)),
        ("satisfied or dissatisfied?", None),
        ("谢谢\n一\n二\n三\n四\n满意", None),  # beyond the first lines
    ],
)
def test_a_survey_answer_in_words_is_read_only_when_it_says_one_thing(text, rating):
    assert rating_in_words(text) == rating


@pytest.mark.parametrize(
    ("answered", "survey", "tables", "action"),
    [
        ("survey", True, False, "rating"),
        ("survey", True, True, "rating"),
        ("survey", False, False, "kept"),
        ("assignment", False, True, "reply_file"),
        ("assignment", False, False, "no_template"),
        ("reminder", False, True, "reply_file"),
        ("reopen", False, False, "no_template"),
        ("withdrawal", False, True, "kept"),
        ("verification", False, False, "kept"),
        (None, True, False, "rating"),  # subject only, from the surveyed citizen's address
        (None, False, True, "reply_file"),
        (None, False, False, "kept"),
    ],
)
def test_what_an_answer_to_our_mail_becomes(answered, survey, tables, action):
    assert answer_action(answered, survey, tables) == action
