"""MINQING_MAIL_MODE=dry-run ("render, send nothing") rehearses the night's mail without using
up the outbox: nothing reaches the SMTP server, every message stays pending, the summary says
演练：未发送 N 封 — and the next real night sends every one of them, once."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from db.engine import Session
from db.models import Handoff, HandoffStatus
from mail.sink import stored_messages
from minqing.runstate import judge_run
from minqing.settings import reset_settings
from tasks.metrics import publish_now
from tests.integration.test_pipeline import night, write_hotline


def statuses() -> Counter[HandoffStatus]:
    with Session() as s:
        return Counter(s.scalars(select(Handoff.status)))


def test_a_dry_run_night_sends_nothing_and_the_next_real_night_sends_everything_once(
    minq, monkeypatch
):
    write_hotline(minq)
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    reset_settings()
    with minq.sink():  # listening, to show that nothing arrives
        rehearsal = night()
    queued = sum(statuses().values())
    assert queued >= 3  # the night's assignments (lead and co-handling departments)
    assert rehearsal["deliver"]["sent"] == 0
    assert rehearsal["deliver"]["rehearsed"] == queued
    assert statuses() == {HandoffStatus.PENDING: queued}
    assert stored_messages(minq.mail_dir) == []
    summary = publish_now(rehearsal, artifacts=False)["markdown"]
    assert f"| 发送邮件 | 演练：未发送 {queued} 封（" in summary
    # the run's state in the Prefect UI says it was a rehearsal, not a plain 全部完成
    verdict = judge_run(rehearsal["deliver"])
    assert not verdict.partial
    assert verdict.state_name == "演练"
    assert verdict.message == (
        f"全部完成，但请注意：演练：未发送 {queued} 封（已生成，留待正式发送）。"
        "处理：去掉 MINQING_MAIL_MODE=dry-run 后正式运行，这些消息才会发出"
    )

    monkeypatch.setenv("MINQING_MAIL_MODE", "sink")
    reset_settings()
    with minq.sink():
        real = night()
    assert real["deliver"]["sent"] == queued and "rehearsed" not in real["deliver"]
    assert judge_run(real["deliver"]).message == "全部完成"
    assert judge_run(real["deliver"]).state_name == "Completed"
    assert statuses() == {HandoffStatus.SENT: queued}
    with Session() as s:
        expected = Counter(s.scalars(select(Handoff.message_id)))
    assert Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir)) == expected
    assert (
        f"| 发送邮件 | 今晚尝试发送 {queued} 封：已发送 {queued}，"
        in (publish_now(real, artifacts=False)["markdown"])
    )
