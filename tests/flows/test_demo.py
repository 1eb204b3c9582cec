"""The README's first command: the demo runs two nights on the sample data, and running it again
takes nothing new, opens no case and sends no e-mail (counted at the SMTP sink)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

import tasks.metrics
from cli.main import demo
from db.engine import Session, reset_engine
from db.models import Case, Handoff, Rejection, Submission
from mail.sink import count_messages
from minqing.settings import get_settings, reset_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_home(tmp_path, monkeypatch):
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MINQING_HOME", str(tmp_path))
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.setenv("MINQING_SINK_PORT", str(port))
    monkeypatch.delenv("MINQING_DATABASE_URL", raising=False)
    monkeypatch.delenv("MINQING_MAIL_MODE", raising=False)
    reset_settings()
    reset_engine()
    yield tmp_path
    reset_engine()
    reset_settings()


def counts() -> list[int]:
    with Session() as s:
        return [
            s.scalar(select(func.count()).select_from(m))
            for m in (Submission, Case, Handoff, Rejection)
        ]


def test_the_demo_runs_two_nights_and_a_second_demo_sends_nothing(demo_home, capsys, monkeypatch):
    nights: list[dict] = []  # each night's published figures, as they were printed
    publish = tasks.metrics.publish_now
    monkeypatch.setattr(
        tasks.metrics, "publish_now", lambda *a, **k: nights.append(publish(*a, **k)) or nights[-1]
    )
    # Called directly rather than through CliRunner: Prefect's log handlers keep the stream of
    # the first invocation, which CliRunner closes.
    demo(fresh=False)
    mail_dir = get_settings().mail_dir
    sent = count_messages(mail_dir)
    # the nights' summaries count every message the sink received, duty alerts included
    said = [int(re.search(r"\| 发送邮件 \| 今晚尝试发送 \d+ 封：已发送 (\d+)", f["markdown"])[1])
            for f in nights]  # fmt: skip
    assert len(said) == 2 and sum(said) == sent, (said, sent)
    before = counts()
    assert sent > 100 and before[0] >= 200, (sent, before)
    assert before[3] > 0, "the sample's malformed rows are rejected with reasons"
    assert not any((demo_home / "var" / "inbox").rglob("*.*")), "every sample file left the inbox"

    # the end of the output says how each night ended, as the Prefect runs list would
    said_end = " ".join(capsys.readouterr().out.split()).split("完成 ─")[-1]
    for night in ("night1", "night2"):
        assert re.search(rf"{night}：(完成|部分失败：[^：]+。处理：)", said_end), said_end
    demo(fresh=False)
    assert count_messages(mail_dir) == sent
    assert counts() == before
    output = " ".join(capsys.readouterr().out.split())
    assert "本次本机 SMTP 收件箱收到 0 封邮件" in output
