"""What the e-mails say, in both languages: the subjects, the look-back notices and the
templates, rendered as the office reads them (zh_CN) and as an English reader does."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from minqing.followups import (
    FROM_OFFICE,
    FROM_RATING,
    FROM_VERIFICATION,
    complaint_leaders_notice,
    complaint_note,
    escalation_notice,
    overdue_leaders_notice,
    reassignment_notice,
    reminder_notice,
    reopen_notice,
    verification_request,
)
from minqing.i18n import using
from minqing.messages import (
    assignment_subject,
    case_subject,
    deadline_text,
    excerpt,
    listing,
    render,
)

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


# The end of Wednesday 9 December 2026, Beijing time, as dispatch sets a deadline.
DUE = datetime(2026, 12, 9, 15, 59, 59, tzinfo=UTC)
SALUTATION = {"zh_CN": "城管科：", "en": "Dear 城管科,"}


def test_a_deadline_names_its_day_weekday_and_the_hour_it_ends_in_either_language():
    with using("zh_CN"):
        assert deadline_text(DUE) == "2026年12月09日（星期三）23:59"
        assert reminder_notice("MQ1", deadline_text(DUE)) == (
            "案件 MQ1 将于 2026年12月09日（星期三）23:59 到期，请抓紧办理并按时答复。"
        )
        due = deadline_text(DUE)
        text = render("assignment", "s", **assignment_context(case={**CASE, "due": due})).text
        assert "办理时限：请于2026年12月09日（星期三）23:59前答复" in text
    with using("en"):
        assert deadline_text(DUE) == "Wednesday 2026-12-09, 23:59"
        assert deadline_text(None) == ""
        due = deadline_text(DUE)
        text = render("assignment", "s", **assignment_context(case={**CASE, "due": due})).text
        assert "Deadline: reply by Wednesday 2026-12-09, 23:59\n" in text


def assignment_context(**changes):
    return {
        "office": "示例街道",
        "heading": "交办单",
        "case": CASE,
        "department": "城管科",
        "role": "lead",
        "lead": "城管科",
        "lead_email": "a@example.cn",
        "co": "住建科",
        "history": [],
        "reply_link": None,
        "urgent": None,
        "urgent_days": 2,
        **changes,
    }


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_an_urgent_assignment_says_at_the_top_that_it_is_urgent_why_and_what_is_expected(language):
    with using(language):
        due = deadline_text(DUE)
        case = {**CASE, "due": due}
        reason = "政策词“燃气泄漏”" if language == "zh_CN" else 'policy word "燃气泄漏"'
        lead = render("assignment", "s", **assignment_context(case=case, urgent=reason))
        co = render(
            "assignment", "s", **assignment_context(case=case, urgent=reason, role="co",
                                                    department="住建科", lead="城管科")
        )  # fmt: skip
        calm = render("assignment", "s", **assignment_context(case=case))
    if language == "zh_CN":
        banner = "【紧急件】紧急原因：政策词“燃气泄漏”"
        expected = (
            "请立即处置并尽快答复，最迟于2026年12月09日（星期三）23:59前答复"
            "（紧急件办理时限为 2 个工作日）。"
        )
        co_expected = "请立即配合主办单位城管科处置，并尽快将协办意见和办理情况反馈主办单位。"
    else:
        banner = 'Urgent because of: policy word "燃气泄漏"'
        expected = "reply as soon as possible, by Wednesday 2026-12-09, 23:59 at the latest"
        co_expected = "Please help the lead department, 城管科, deal with it at once"
    for body in (lead.text, lead.html):
        body = body.replace("&#34;", '"')
        assert banner in body and expected in body, body
        assert body.index(banner) < body.index(expected) < body.index(SALUTATION[language])
    co_salutation = SALUTATION[language].replace("城管科", "住建科")
    for body in (co.text, co.html):
        body = body.replace("&#34;", '"')
        assert banner in body and co_expected in body, body
        assert body.index(co_expected) < body.index(co_salutation)
        assert expected not in body  # the co-handler answers the lead, not the office
    assert lead.text.startswith(banner) or lead.text.startswith("[URGENT]")
    for body in (calm.text, calm.html):
        assert "燃气泄漏" not in body and "紧急件" not in body and "URGENT" not in body


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_lead_is_told_the_attached_reply_template_answers_as_well_as_the_link(language):
    with using(language):
        rendered = render(
            "assignment",
            "s",
            **assignment_context(
                reply_link="https://x.example/r/abc", reply_template="答复模板_MQ1.csv"
            ),
        )
    for body in (rendered.text, rendered.html):
        assert "https://x.example/r/abc" in body
        if language == "zh_CN":
            assert "也可填写本邮件附件“答复模板_MQ1.csv”" in body
            assert "发回本邮箱。两种方式任选其一即可。" in body
        else:
            assert (
                "Or fill in the reply template attached to this e-mail, “答复模板_MQ1.csv”" in body
            )
            assert "send it back to this address. Either way is enough" in body


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_a_co_handler_is_shown_the_lead_and_the_other_co_handlers_but_not_itself(language):
    with using(language):
        case = {**CASE, "due": deadline_text(DUE)}
        co = render(
            "assignment", "s", **assignment_context(
                case=case, role="co", department="住建科", lead="城管科",
                co=listing(["住建科", "街道办"]), others=listing(["街道办"]),
            ),
        )  # fmt: skip
    if language == "zh_CN":
        others = "其他协办单位：街道办"
        due = "办理时限：请于2026年12月09日（星期三）23:59前将协办意见送交主办单位"
    else:
        others = "Other co-handling departments: 街道办"
        due = "Deadline: send your input to the lead department by Wednesday 2026-12-09, 23:59"
    assert others in co.text and others in co.html
    assert due in co.text
    body = co.text.replace("住建科", "", 1)  # the salutation names it; nothing else does
    assert "住建科" not in body


def test_a_reassignment_after_a_complaint_says_it_is_reopened_which_time_and_why():
    with using("zh_CN"):
        assert assignment_subject("MQ1", "路灯", lead=False, reopened=True) == (
            "【重办】【交办·协办】MQ1 路灯"
        )
        assert assignment_subject("MQ1", "路灯", lead=True, urgent=True, reopened=True) == (
            "【紧急】【重办】【交办·承办】MQ1 路灯"
        )
        assert reassignment_notice(FROM_VERIFICATION, 2, "未修") == (
            "【重办】本案经回头看核实未通过，退回重办（第 2 次）。代表核实说明：未修。"
            "请针对核实发现的问题重新办理。"
        )
    with using("en"):
        assert assignment_subject("MQ1", "路灯", lead=True, reopened=True) == (
            "[Reopened] [Assignment · lead] MQ1 路灯"
        )
        for source in (FROM_RATING, FROM_VERIFICATION, FROM_OFFICE):
            said = reassignment_notice(source, 1, "未修")
            assert said.startswith("[Reopened]") and "reopening no. 1" in said
            assert not CHINESE.search(said.replace("未修", "")), said


def test_the_failed_run_alert_says_failed_in_chinese_without_prefects_english_wrapper():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from minqing.alerts import alert_rules

    with using("zh_CN"):
        (rule,) = [r for r in alert_rules("http://ui.example") if r.key == "run-failed"]
    message = "Flow run encountered an exception: ConfigError: 配置有误：\n  config/classifier.yaml"
    rendered = (
        ImmutableSandboxedEnvironment()
        .from_string(rule.text)
        .render(
            flow={"name": "nightly"},
            flow_run={
                "name": "夜间运行 12-08 02:00",
                "state": {"name": "Failed", "message": message},
            },
        )
    )
    assert rendered.startswith(
        "夜间运行（nightly，运行 夜间运行 12-08 02:00）失败：配置有误：\n"
    ), rendered
    assert "Flow run encountered" not in rendered and "ConfigError:" not in rendered
    assert "运行 minqing check-config" in rendered  # the advice still knows it is a config error


def test_without_a_contact_the_footer_only_says_who_sent_the_message():
    with using("zh_CN"):
        rendered = render(
            "duty", "subject", office="示例街道", heading="值班提醒", recipient="值班室",
            message="测试", link=None,
        )  # fmt: skip
    for part in (rendered.text, rendered.html):
        assert "本邮件由示例街道通过“民情直通车”系统自动发送。" in part
        assert "如有疑问" not in part and "请勿直接回复" not in part
