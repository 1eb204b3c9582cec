"""A dry run's night (演练) takes in for real — it archives the inbox, opens and assigns the
cases — and sends nothing: the next real night's published summary counts what the rehearsals
took in (each once) and sends their mail; a real night after it counts nothing again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from prefect.artifacts import Artifact
from sqlalchemy import func, select

from db.engine import Session
from db.models import AuditEvent, Handoff, HandoffStatus, Submission
from flows.nightly import nightly
from mail.sink import stored_messages
from minqing.settings import reset_settings
from tasks.outbox import local_text
from tasks.urgent import NIGHT_COUNTED
from tests.flows.test_nightly import drop_hotline, message_ids

SAMPLE = Path(__file__).resolve().parents[2] / "sample"


def copy_night(minq: Any, night: str) -> None:
    for folder in (SAMPLE / night / "inbox").iterdir():
        for path in folder.iterdir():
            shutil.copy(path, minq.inbox(folder.name) / path.name)


def run_night(minq: Any, monkeypatch: Any, mode: str) -> tuple[dict[str, Any], str]:
    """One nightly flow run with the SMTP sink listening: its figures and published summary."""
    monkeypatch.setenv("MINQING_MAIL_MODE", mode)
    reset_settings()
    with minq.sink():
        state = nightly(return_state=True)
    assert state.is_completed(), state.message
    summary = Artifact.get("nightly-summary", _sync=True)
    assert summary is not None and isinstance(summary.data, str)
    return state.result(), summary.data


def rows(markdown: str) -> dict[str, str]:
    """The summary table's rows: 项目 → 数量."""
    cells = (line.split(" | ", 1) for line in markdown.splitlines() if line.startswith("| "))
    return {k[2:]: v.removesuffix(" |") for k, v in cells}


def count(model: Any, *where: Any) -> int:
    with Session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_the_real_night_after_two_rehearsals_reports_all_they_took_in_and_sends_their_mail(
    minq, monkeypatch
):
    copy_night(minq, "night1")  # the bundled sample: 237 opinions, 22 rejected
    first, first_summary = run_night(minq, monkeypatch, "dry-run")
    assert (first["taken"], first["rejected"], first["new_cases"]) == (237, 22, 214)
    assert first["assigned"] > 0
    # the rehearsal says its intake is real and whose it is to report
    assert rows(first_summary)["演练"].startswith(
        "本次为演练：下列收集、立案、交办等已实际生效（文件已归档、案件已立），"
        "计入下一次正式夜间运行的摘要"
    )
    drop_hotline(minq)  # the tests' hotline export: 4 opinions, 1 empty row
    second, _ = run_night(minq, monkeypatch, "dry-run")
    assert (second["taken"], second["rejected"]) == (4, 1)  # its own only
    assert stored_messages(minq.mail_dir) == []  # the rehearsals sent nothing
    queued = count(Handoff)
    assert queued == count(Handoff, Handoff.status == HandoffStatus.PENDING) > 0

    real, summary = run_night(minq, monkeypatch, "sink")
    table = rows(summary)
    taken = first["taken"] + second["taken"]
    assert taken == count(Submission) == 241
    assert table["收集"] == (
        "241 条（演练运行收录 241；12345热线 132，扫码留言 68，家站点接待 19，"
        "走访企业/进网格 14，随手拍 8）"
    )
    assert table["拒收"] == "23 条（原因见下表）"
    assert "## 拒收明细（23 条）" in summary
    new_cases = first["new_cases"] + second["new_cases"]
    assert table["新立案"] == f"{new_cases} 件" and real["new_cases"] == new_cases
    assert table["合并重复"] == f"{first['linked'] + second['linked']} 条"
    assigned = first["assigned"] + second["assigned"]
    assert table["交办"].startswith(f"{assigned} 件（新案 {assigned}，")
    with Session() as s:
        marks = list(
            s.scalars(
                select(AuditEvent.at)
                .where(AuditEvent.entity == "run", AuditEvent.action == NIGHT_COUNTED)
                .order_by(AuditEvent.id)
            )
        )
    when = "、".join(local_text(at, with_time=True) for at in marks[:2])
    assert table["演练"] == (
        f"含 {when} 共 2 次演练运行收录的 241 条、立案 {new_cases} 件、交办 {assigned} 件"
        "（演练时未发送的消息本次发出）"
    )
    assert "（演练运行时读入）" in summary  # the rehearsals' files in the 文件 section
    # everything the rehearsals queued left now, once each, and the summary says so
    received = message_ids(minq)
    assert sum(received.values()) == len(received) == count(Handoff) >= queued
    assert real["sent"] == sum(received.values())
    assert f"| 发送邮件 | 今晚尝试发送 {real['sent']} 封：已发送 {real['sent']}" in summary

    after, again = run_night(minq, monkeypatch, "sink")  # a real night after a real night
    table = rows(again)
    assert "演练" not in table
    assert (table["收集"], table["拒收"], table["新立案"]) == ("0 条", "0 条", "0 件")
    assert table["交办"].startswith("0 件") and after["sent"] == 0
