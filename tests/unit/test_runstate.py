"""Which runs end 部分失败 and what their state message tells the operator (minqing/runstate.py)."""

from __future__ import annotations

import pytest

from minqing.charts import NO_CJK_NIGHT_WARNING
from minqing.i18n import _, using
from minqing.runstate import PARTIAL, calendar_advice, font_advice, judge_run, run_warning
from minqing.workdays import fallback_warning

CLEAN = {"sent": 12, "retry_later": 0, "failed": 0, "dead": 0, "interrupted": 0}


@pytest.mark.parametrize(
    ("delivery", "warnings", "files", "expected"),
    [
        (CLEAN, [], [], []),
        (None, [], [{"status": "taken"}, {"status": "already_taken"}], []),
        (
            {**CLEAN, "retry_later": 14, "unreachable": 14},
            [],
            [],
            ["邮件服务器无法连接（14 次连接失败）", "本次 14 封消息未送达（稍后重试 14）"],
        ),
        (
            {**CLEAN, "failed": 2, "dead": 1, "interrupted": 1},
            [],
            [],
            ["本次 4 封消息未送达（发送失败 2，已放弃 1，发送中断 1）"],
        ),
        (
            CLEAN,
            [
                "2027 年节假日安排未配置，按周一至周五计算。",
                "2027 年节假日安排未配置，按周一至周五计算。",
            ],
            [],
            ["2027 年节假日安排未配置，按周一至周五计算"],
        ),
        (
            CLEAN,
            [],
            [{"status": "failed", "reason": "not a spreadsheet"}],
            ["1 个文件无法读取"],
        ),
    ],
)
def test_a_run_is_partial_exactly_when_something_was_left_undone(
    delivery, warnings, files, expected
):
    verdict = judge_run(delivery, warnings, files)
    assert list(verdict.reasons) == expected
    assert verdict.partial == bool(expected)
    assert verdict.state_name == (PARTIAL if expected else "Completed")


def test_the_state_message_says_what_went_wrong_and_where_to_fix_it():
    message = judge_run({"retry_later": 3, "unreachable": 3}).message
    assert message.startswith("部分失败：邮件服务器无法连接（3 次连接失败）；本次 3 封消息未送达")
    assert "retry-handoffs" in message and "failed-handoffs" in message


def test_the_advice_fits_what_went_wrong():
    year = run_warning(fallback_warning(2027), calendar_advice(2027))
    calendar = judge_run(CLEAN, [year]).message
    assert calendar == (
        "部分失败：2027 年节假日安排未配置，按周一至周五计算。处理：查看本次运行的摘要；"
        "补充 config/calendar.yaml 的 2027 年节假日安排，已发出的暂定期限会自动重算"
    )
    unread = judge_run(CLEAN, [], [{"status": "failed"}]).message
    assert ".reason.txt" in unread and "retry-handoffs" not in unread
    assert "failed-handoffs" not in unread and "calendar.yaml" not in unread
    other = judge_run(CLEAN, ["x"]).message  # a warning without its own advice: the generic one
    assert other == "部分失败：x。处理：查看本次运行的摘要；按摘要中的警告处理"
    # a run without a summary (a resend, the 15-minute delivery) sends the reader to its log
    resend = judge_run({"retry_later": 1}, summarised=False).message
    assert "处理：查看本次运行的日志；" in resend and "摘要" not in resend
    everything = judge_run({"retry_later": 1}, ["x", year], [{"status": "failed"}]).message
    assert all(
        w in everything
        for w in ("failed-handoffs", "retry-handoffs", ".reason.txt", "2027 年节假日")
    )


def test_a_missing_font_is_said_but_does_not_make_the_run_partial():
    font = run_warning(_(NO_CJK_NIGHT_WARNING), font_advice(), partial=False)
    verdict = judge_run(CLEAN, [font])
    assert not verdict.partial and verdict.state_name == "Completed" and not verdict.reasons
    assert verdict.message.startswith("全部完成，但请注意：本机未安装中文字体")
    assert "fonts-noto-cjk" in verdict.message and "failed-handoffs" not in verdict.message
    both = judge_run(CLEAN, [font, "x"])
    assert both.partial and list(both.reasons) == ["x"]
    assert both.message.startswith(
        "部分失败：x。处理：查看本次运行的摘要；按摘要中的警告处理。另请注意：本机未安装中文字体"
    )


def test_messages_not_tried_after_the_server_proved_unreachable_count_as_undelivered():
    verdict = judge_run({"retry_later": 1, "unreachable": 1, "postponed": 283})
    assert list(verdict.reasons) == [
        "邮件服务器无法连接（1 次连接失败）",
        "本次 284 封消息未送达（稍后重试 1，未尝试 283）",
    ]


def test_a_clean_run_says_so():
    assert judge_run(CLEAN).message == "全部完成"


def test_the_undelivered_sentence_gives_the_total_the_summary_shows_when_it_is_more():
    """The pass left 59 behind, but 60 wait (a duty alert waiting out its backoff): the state
    message and the duty mail say both, as the night's summary says 目前共 60."""
    delivery = {"retry_later": 1, "unreachable": 1, "postponed": 58}
    assert "本次 59 封消息未送达（稍后重试 1，未尝试 58），目前共 60 封未送达" in (
        judge_run(delivery, outstanding=60).message
    )
    same = judge_run(delivery, outstanding=59).message
    assert "本次 59 封消息未送达（稍后重试 1，未尝试 58）" in same and "目前共" not in same
    with using("en"):
        assert "60" in judge_run(delivery, outstanding=60).message


def test_refused_messages_get_the_address_advice_not_the_wait_for_the_server_one():
    """550 user unknown: waiting for the server fixes nothing; the address must be checked."""
    refused = judge_run({"failed": 3}).message
    assert "config/departments.yaml" in refused and "邮件服务器恢复后" not in refused
    down = judge_run({"retry_later": 2, "unreachable": 1}).message
    assert "邮件服务器恢复后" in down and "config/departments.yaml" not in down
    both = judge_run({"retry_later": 1, "unreachable": 1, "dead": 1}).message
    assert "邮件服务器恢复后" in both and "config/departments.yaml" in both
