"""Keyword classification, delivery backoff and message rendering."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from minqing.classify import classify_by_keywords
from minqing.delivery import after_failure
from minqing.messages import render, safe_subject
from minqing.reference import load_reference
from minqing.states import CaseStatus
from minqing.triage import triage_status

REF = load_reference(Path(__file__).resolve().parents[2] / "config")


def test_keywords_pick_a_sub_category_and_its_first_level_category():
    c = classify_by_keywords("小区物业不管电梯，物业费照收", REF.flat_categories)
    assert (c.category, c.top, c.source) == ("物业管理", "城乡建设", "rule")
    assert c.confidence == 1.0


def test_a_longer_keyword_is_one_mention_not_also_one_of_the_keyword_inside_it():
    # 物业费 is a keyword of 物业管理 only: 1 hit for 城乡建设. 噪音 is a keyword of 环境保护 and
    # of its child 噪声污染: 2 hits. Counting 物业 inside 物业费 too (in 城乡建设 and 物业管理)
    # would make it 3 against 2 and send a noise complaint to the housing side.
    c = classify_by_keywords("物业费太高，楼下噪音也大", REF.flat_categories)
    assert dict(c.top3) == {"环境保护": 0.667, "城乡建设": 0.333}
    assert c.category == "噪声污染"


def test_a_text_with_hits_in_two_categories_goes_to_review():
    c = classify_by_keywords("学校门口的公交太挤", REF.flat_categories)
    assert c.top3[0][1] == 0.5
    assert triage_status(c, 0.9)[0] is CaseStatus.NEEDS_REVIEW


def test_a_text_without_any_keyword_goes_to_review_with_the_reason():
    status, reason = triage_status(
        classify_by_keywords("请问这个事情怎么办", REF.flat_categories), 0.9
    )
    assert status is CaseStatus.NEEDS_REVIEW and reason is not None
    assert reason.code == "no_category" and str(reason) == "未能识别分类，请人工确定"


def test_permanent_errors_fail_at_once_and_transient_ones_back_off_then_die():
    now = datetime(2026, 11, 28, tzinfo=UTC)
    assert (
        after_failure(
            transient=False, attempts=1, max_attempts=5, backoff_seconds=60, now=now
        ).status
        == "failed"
    )
    first = after_failure(
        transient=True,
        attempts=1,
        max_attempts=5,
        backoff_seconds=60,
        now=now,
        rng=random.Random(1),
    )
    third = after_failure(
        transient=True,
        attempts=3,
        max_attempts=5,
        backoff_seconds=60,
        now=now,
        rng=random.Random(1),
    )
    assert first.status == "pending" and timedelta(
        seconds=30
    ) <= first.next_attempt_at - now <= timedelta(seconds=90)
    assert timedelta(seconds=120) <= third.next_attempt_at - now <= timedelta(seconds=360)
    assert (
        after_failure(
            transient=True, attempts=5, max_attempts=5, backoff_seconds=60, now=now
        ).status
        == "dead"
    )


def test_citizen_text_is_escaped_in_html_and_kept_verbatim_in_plain_text():
    case = {
        "number": "MQ2026-000001",
        "title": "<b>标题</b>",
        "area": None,
        "category": None,
        "supporters": 1,
        "due": "",
        "text": "<script>alert(1)</script> /etc/passwd",
    }
    r = render(
        "assignment",
        "交办",
        office="工委",
        heading="交办",
        department="住建局",
        role="lead",
        lead="住建局",
        lead_email="banli@zhujian.example.gov.cn",
        co="",
        case=case,
        history=[],
        reply_link=None,
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html and "<script>" not in r.html
    assert "<script>alert(1)</script> /etc/passwd" in r.text


def test_subjects_lose_line_breaks_so_no_header_can_be_injected():
    assert safe_subject("交办\r\nBcc: x@evil.example") == "交办 Bcc: x@evil.example"
    assert len(safe_subject("长" * 500)) == 120
