"""The nightly flow under Prefect's test harness: summary artifacts, idempotence, crash safety."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from prefect.artifacts import Artifact
from sqlalchemy import func, select

import tasks.context
import tasks.deliver
import tasks.dispatch
import tasks.metrics
from db.engine import Session
from db.models import Case, Handoff, HandoffStatus, Submission
from flows.nightly import nightly
from mail.sink import stored_messages
from minqing.settings import reset_settings
from minqing.states import CaseStatus

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
ROWS = [
    "GD101,张三,13912340001,路灯,2026-11-27 09:30,东湖社区惠民小区3栋门口路灯坏了，晚上很黑。,东湖社区",
    "GD102,李四,13912340002,噪音,2026-11-27 10:30,南苑社区工地夜间施工噪音扰民，影响休息。,南苑社区",
    "GD103,王五,13912340003,欠薪,2026-11-27 11:30,北塘社区某公司拖欠工资三个月，社保也没交。,北塘社区",
    "GD104,赵六,13912340004,医院,2026-11-27 12:30,新华社区卫生服务中心挂号排队太久，医生太少。,新华社区",
    "GD105,,,,2026-11-27 12:30,,新华社区",
]


def drop_hotline(minq, rows=ROWS):
    (minq.inbox("hotline") / "12345.csv").write_text(
        "\n".join([HEADER, *rows]) + "\n", encoding="gb18030"
    )


def message_ids(minq) -> Counter[str]:
    time.sleep(0.1)
    return Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir))


def test_the_nightly_flow_reports_the_night_in_the_offices_terms_and_publishes_artifacts(minq):
    drop_hotline(minq)
    with minq.sink():
        figures = nightly()
    assert figures["taken"] == 4 and figures["by_channel"] == {"hotline": 4}
    assert figures["rejected"] == 1 and figures["rejections"][0]["原因"] == "内容为空"
    assert figures["new_cases"] == 4 and figures["assigned"] == 4
    assert figures["sent"] == sum(message_ids(minq).values()) > 0
    summary = Artifact.get("nightly-summary", _sync=True)
    assert summary is not None and "收集 | 4 条（12345热线 4）" in summary.data
    assert "发送邮件 | " in summary.data and "满意率" in summary.data
    assert Artifact.get("nightly-rejections", _sync=True) is not None


def test_a_crash_inside_dispatch_leaves_no_half_assigned_case_and_the_next_run_finishes(
    minq, monkeypatch
):
    drop_hotline(minq)
    real = tasks.dispatch.queue_handoff
    calls = {"n": 0}

    def failing_queue(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash in the middle of dispatch")
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.dispatch, "queue_handoff", failing_queue)
    with minq.sink(), pytest.raises(RuntimeError, match="simulated crash"):
        nightly()
    with Session() as s:
        # the chunk's transaction rolled back: no case is assigned without its handoffs
        assert s.scalar(select(func.count()).select_from(Handoff)) == 0
        assert (
            s.scalar(
                select(func.count()).select_from(Case).where(Case.status == CaseStatus.ASSIGNED)
            )
            == 0
        )
        assert s.scalar(select(func.count()).select_from(Submission)) == 4
    monkeypatch.setattr(tasks.dispatch, "queue_handoff", real)
    with minq.sink():
        figures = nightly()
    # the crashed night stored the 4 and showed nothing: this night counts them, as earlier
    assert figures["taken"] == 4 and figures["assigned"] == 4
    assert figures["taken_by_way"] == {"inbox": 0, "command": 0, "earlier": 4}
    ids = message_ids(minq)
    assert max(ids.values()) == 1
    with Session() as s:
        assert sorted(ids) == sorted(s.scalars(select(Handoff.message_id)))


def test_a_crash_after_the_server_accepted_a_message_never_sends_it_twice(minq, monkeypatch):
    drop_hotline(minq)
    real = tasks.deliver._record_sent
    calls = {"n": 0}

    def crash_after_send(handoff_id, when):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash between SMTP accept and the sent mark")
        return real(handoff_id, when)

    monkeypatch.setattr(tasks.deliver, "_record_sent", crash_after_send)
    with minq.sink(), pytest.raises(RuntimeError, match="simulated crash"):
        nightly()
    monkeypatch.setattr(tasks.deliver, "_record_sent", real)
    with minq.sink():
        nightly()
    ids = message_ids(minq)
    assert max(ids.values()) == 1, "a message reached the server twice"
    with Session() as s:
        statuses = Counter(s.scalars(select(Handoff.status)))
        total = s.scalar(select(func.count()).select_from(Handoff))
    # everything but the uncertain one was delivered; the uncertain one waits for an operator
    assert statuses[HandoffStatus.SENT] == total - 1 == len(ids) - 1
    assert (
        statuses[HandoffStatus.SENT]
        + statuses[HandoffStatus.SENDING]
        + statuses[HandoffStatus.FAILED]
        == total
    )


def test_running_the_flow_again_on_the_same_night_sends_nothing(minq):
    drop_hotline(minq)
    with minq.sink():
        first = nightly()
        drop_hotline(minq)
        second = nightly()
    assert first["sent"] > 0
    assert (second["taken"], second["new_cases"], second["assigned"], second["sent"]) == (
        0,
        0,
        0,
        0,
    )
    assert sum(message_ids(minq).values()) == first["sent"]


def test_a_machine_without_a_chinese_font_ends_the_night_completed_with_a_note(minq, monkeypatch):
    monkeypatch.setattr(tasks.metrics, "cjk_font", lambda: None)  # no font with Chinese glyphs
    tasks.context._calendar.cache_clear()  # as in a fresh process: no year relied on yet
    drop_hotline(minq)
    with minq.sink():
        state = nightly(return_state=True)
    # the night's work is done: no 部分失败 (nobody is paged), but the state message says it
    assert state.name == "Completed", state.message
    assert state.message.startswith("全部完成，但请注意：本机未安装中文字体")
    assert "fonts-noto-cjk" in state.message and "failed-handoffs" not in state.message
    summary = Artifact.get("nightly-summary", _sync=True)
    assert summary is not None and "> ⚠️ 本机未安装中文字体" in summary.data


def test_a_dry_run_night_is_named_rehearsal_in_the_runs_list(minq, monkeypatch):
    """A dry run sends nothing on purpose: the runs list must not show it as a plain Completed
    night, which an operator would take for mail that went out."""
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    reset_settings()
    # a dry run with nothing to send (a daytime intake that found nothing) is named so too,
    # not a plain Completed that would read as work done for real
    from flows.intake import intake

    quiet = intake(return_state=True)
    assert quiet.is_completed() and quiet.name == "演练", quiet.message
    drop_hotline(minq)
    with minq.sink():
        state = nightly(return_state=True)
    assert state.is_completed() and state.name == "演练", state.message
    assert "演练：未发送" in state.message
    assert stored_messages(minq.mail_dir) == []


GAS_ROW = "GD106,孙七,13912340006,燃气,2026-11-27 13:30,东湖社区惠民小区2栋楼道里燃气泄漏，味道很大。,东湖社区"


def test_the_nights_own_duty_alert_counts_in_what_it_tried_and_left_undelivered(minq):
    """The mail server is down: the night's 值班提醒, tried at once after the delivery pass,
    is one of the messages the night left behind — in the state message's 本次, and equal to
    what the summary says waits (no "目前共" beside it)."""
    drop_hotline(minq, [*ROWS, GAS_ROW])
    state = nightly(return_state=True)  # no SMTP server listening
    with Session() as s:
        pending = s.scalar(
            select(func.count()).select_from(Handoff).where(Handoff.status == HandoffStatus.PENDING)
        )
        duty = s.scalar(select(func.count()).select_from(Handoff).where(Handoff.kind == "duty"))
    assert duty == 1
    assert state.name == "部分失败" and f"本次 {pending} 封消息未送达（" in state.message
    assert "目前共" not in state.message
    figures = state.result()
    assert figures["failed_handoffs"] == pending


def test_the_summarys_sent_mail_is_what_the_server_received_duty_alert_included(minq):
    drop_hotline(minq, [*ROWS, GAS_ROW])
    with minq.sink():
        figures = nightly()
    received = sum(message_ids(minq).values())
    assert figures["sent"] == received and figures["duty_sent"] == 1
    summary = Artifact.get("nightly-summary", _sync=True)
    assert summary is not None
    assert (
        f"| 发送邮件 | 今晚尝试发送 {received} 封：已发送 {received}（其中值班提醒 1）"
        in summary.data
    )
