"""What the e-mails say, in both languages: the subjects, the look-back notices and the
templates, rendered as the office reads them (zh_CN) and as an English reader does."""

from __future__ import annotations

import re

import pytest

from minqing.followups import (
    FROM_RATING,
    FROM_VERIFICATION,
    complaint_leaders_notice,
    complaint_note,
    escalation_notice,
    overdue_leaders_notice,
    reminder_notice,
    reopen_notice,
    verification_request,
)
from minqing.i18n import using
from minqing.messages import assignment_subject, case_subject, excerpt, listing, render

CHINESE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
CASE = {
    "number": "MQ2026-000012",
    "title": "路灯不亮",
    "text": "东湖路的路灯坏了一个星期。",
    "area": None,
    "category": None,
    "supporters": 3,
    "due": "2026-12-08",
    "due_provisional": True,
}


def test_the_subjects_read_as_the_office_writes_them():
    with using("zh_CN"):
        assert assignment_subject("MQ1", "路灯", lead=True) == "【交办·承办】MQ1 路灯"
        assert assignment_subject("MQ1", "路灯", lead=False) == "【交办·协办】MQ1 路灯"
        assert assignment_subject("MQ1", "路灯", lead=True, urgent=True) == (
            "【紧急】【交办·承办】MQ1 路灯"
        )
        assert case_subject("到期提醒", "MQ1", "路灯") == "【到期提醒】MQ1 路灯"
        assert listing(["城管科", "住建科"]) == "城管科、住建科"
    with using("en"):
        assert assignment_subject("MQ1", "路灯", lead=False, urgent=True) == (
            "[Urgent] [Assignment · co-handling] MQ1 路灯"
        )
        assert case_subject("Deadline reminder", "MQ1", "路灯") == "[Deadline reminder] MQ1 路灯"
        assert listing(["城管科", "住建科"]) == "城管科, 住建科"


def test_the_look_back_notices_are_whole_sentences_in_either_language():
    with using("zh_CN"):
        assert reminder_notice("MQ1", "2026年12月08日") == (
            "案件 MQ1 将于 2026年12月08日 到期，请抓紧办理并按时答复。"
        )
        assert escalation_notice("城管科", "MQ1", "2026年12月08日", 3) == (
            "城管科承办的案件 MQ1 已于 2026年12月08日 超过办理时限（已超期 3 个工作日），"
            "至今未答复，请您督促办理。"
        )
        assert reopen_notice(FROM_RATING, "MQ1", 1, "还是不亮") == (
            "案件 MQ1 经群众评价不满意或未办成，退回重办（第 1 次）。群众评价意见：还是不亮。"
            "请重新办理；系统将重新交办并设定新的办理期限。"
        )
        assert complaint_leaders_notice(FROM_VERIFICATION, "MQ1", 1, "未修") == (
            "案件 MQ1 已重办 1 次，仍回头看核实未通过（代表核实说明：未修），提请领导领衔督办。"
        )
    with using("en"):
        one = escalation_notice("城管科", "MQ1", "2026-12-08", 1)
        many = overdue_leaders_notice("城管科", "MQ1", "2026-12-08", 12)
        assert "(1 working day overdue)" in one and "12 working days after" in many
        texts = [
            one,
            many,
            reminder_notice("MQ1", "2026-12-08"),
            verification_request("MQ1"),
            reopen_notice(FROM_VERIFICATION, "MQ1", 2, "未修"),
            reopen_notice(FROM_RATING, "MQ1", 2, "未修"),
            complaint_leaders_notice(FROM_RATING, "MQ1", 1, "未修"),
            complaint_leaders_notice(FROM_VERIFICATION, "MQ1", 2, "未修"),
        ]
        for text in texts:  # the department's name and the note are the only Chinese
            assert not CHINESE.search(text.replace("城管科", "").replace("未修", "")), text
        assert "reopened 1 time and" in texts[6] and "reopened 2 times and" in texts[7]


def test_a_complaint_is_quoted_without_its_own_stop_and_an_empty_one_says_so():
    assert complaint_note("路灯还是不亮。") == "路灯还是不亮"
    with using("zh_CN"):
        assert complaint_note(None) == complaint_note("。") == "（未填写）"
    with using("en"):
        assert complaint_note("") == "(none given)"


@pytest.mark.parametrize("kind", ["assignment", "followup", "survey", "duty"])
def test_every_template_renders_in_english_around_the_data(kind):
    context = {
        "office": "示例街道",
        "heading": "Case assignment",
        "case": CASE,
        "department": "城管科",
        "role": "lead",
        "lead": "城管科",
        "lead_email": "a@example.cn",
        "co": "住建科",
        "history": [{"when": "2026-11-30", "what": "[Assignment · lead] MQ1", "to": "城管科"}],
        "reply_link": None,
        "recipient": "城管科",
        "message": "Case MQ1 is due.",
        "link": "https://x.example/v/1",
        "citizen": "张三",
        "reply": "已修好。",
        "rating_link": None,
    }
    data = ("示例街道", "城管科", "住建科", "张三", "已修好。", CASE["title"], CASE["text"])
    with using("en"):
        rendered = render(kind, "subject", **context)
    assert '<html lang="en">' in rendered.html
    for part in (rendered.text, rendered.html):
        for value in data:
            part = part.replace(value, "")
        assert not CHINESE.search(part), part
    with using("zh_CN"):
        assert '<html lang="zh-CN">' in render(kind, "subject", **context).html


def test_a_long_opinion_is_cut_with_a_note_in_the_readers_language():
    with using("zh_CN"):
        assert excerpt("长" * 10, limit=4).endswith("……（原文共 10 字，已截断，全文见系统）")
    with using("en"):
        assert (
            excerpt("长" * 10, limit=4)
            == "长长长长… (cut here: the full text of 10 characters is in the system)"
        )


def test_the_duty_alerts_words_follow_the_language_for_robots_and_automations():
    from minqing.alerts import alert_rules
    from minqing.duty import alert_text

    with using("en"):
        rules = alert_rules("http://ui.example")
        text = alert_text(
            "Night run partly failed", "One file was refused.", "http://x", "示例街道"
        )
    for rule in rules:  # what the Prefect server renders into the alert
        for words in (rule.name, rule.description, rule.title, rule.text):
            assert not CHINESE.search(words), (rule.key, words)
    assert text.splitlines()[0] == "[示例街道 · minqing] Night run partly failed"
    assert text.splitlines()[-1] == "See and fix: http://x"
