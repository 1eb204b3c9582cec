"""办理轨迹 in words: the audit events' codes become sentences that name cases and messages."""

from __future__ import annotations

import pytest

from minqing.i18n import using
from minqing.trail import (
    Names,
    action_label,
    actor_label,
    event_text,
    lookback_cancelled,
    lookback_result_label,
)

NAMES = Names(
    departments={"jiaotong": "区交通运输局", "chengguan": "区城市管理局"},
    cases={7: "MQ2026-000007", 9: "MQ2026-000009"},
    submissions={27: "GD20261127001", 28: "QR-8F3K2A"},
)


@pytest.mark.parametrize(
    ("action", "detail", "text"),
    [
        (
            "created",
            {"submission": 27, "channel": "hotline"},
            "立案（来源：12345热线，留言 GD20261127001）",
        ),
        (
            "linked_duplicate",
            {"submission": 28, "matched_submission": 27, "method": "near", "similarity": 0.8312},
            "留言 QR-8F3K2A 与留言 GD20261127001 相似（相似度 0.83），并入本案",
        ),
        (
            "classified",
            {"category": "路灯", "confidence": 0.5, "top": "城乡建设", "source": "rule"},
            "分类为“路灯”（关键词规则，置信度 0.50）",
        ),
        (
            "assigned",
            {"lead": "chengguan", "co": ["jiaotong"], "due_at": "2026-12-04T01:00:00+00:00"},
            "交办区城市管理局，办理时限 2026-12-04 09:00；协办：区交通运输局",
        ),
        ("merged", {"into": 9, "reason": "同一路灯"}, "合并到 MQ2026-000009。理由：同一路灯"),
        ("replied", {"outcome": "solved", "handler": "刘工"}, "答复：A 已解决（经办人 刘工）"),
        ("rated", {"satisfaction": "不满意", "solved": False}, "群众评价：不满意，未办成"),
        ("not_responsible", {"department": "jiaotong"}, "区交通运输局答复不属职责，转人工审核"),
    ],
)
def test_each_event_reads_as_a_sentence_with_numbers_and_names(action, detail, text):
    assert event_text(action, detail, NAMES) == text


def test_actors_are_named_for_people():
    assert actor_label("system:triage") == "系统（整理）"
    assert actor_label("system:someday") == "系统"
    assert actor_label("system:intake") == "系统（白天收集）"
    assert actor_label("system:nightly") == "系统（夜间运行）"  # e.g. the night telling the duty
    assert actor_label("王小明") == "王小明"
    assert actor_label("jiaotong·张工", NAMES) == "区交通运输局·张工"
    assert actor_label("citizen:survey:3") == "群众（评价链接）"
    assert action_label("linked_duplicate") == "合并重复反映"


def test_lookback_results_are_words_not_codes():
    assert lookback_cancelled("cancelled: reopened") and not lookback_cancelled("sent")
    assert not lookback_cancelled(None)
    assert lookback_result_label("verified") == "已核实"
    assert lookback_result_label("cancelled: replied") == "已取消：部门已答复"
    assert lookback_result_label("cancelled: case is replied") == "已取消：案件已是“已答复”"
    assert lookback_result_label("cancelled: duplicate of 2026-12-01") == "已取消：与另一次提醒重复"
    assert lookback_result_label(None) == ""


def test_an_action_without_a_sentence_shows_its_codes_so_tests_find_it():
    assert event_text("teleported", {"to": "moon"}, NAMES) == "to=moon"


def test_the_trail_reads_english_in_english():
    with using("en"):
        text = event_text("created", {"submission": 27, "channel": "hotline"}, NAMES)
        assert text == "Case opened from 12345 hotline message GD20261127001"
        assert actor_label("system:triage") == "System (triage)"
