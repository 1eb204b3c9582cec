"""Two nights at the same time on one database, inbox and SMTP server, with 5,000 real
citizens' messages (TipDM 2020 C) as a 12345 export: each case is assigned once and each
message arrives once at the server — whether the run lease keeps the second night out (two
`minqing nightly` commands) or only the stages' own claims keep two nights apart (two processes
running the stages without the lease, started at the same moment)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from itertools import cycle
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from db.engine import Session
from db.lease import RUN, holder_of
from db.models import AuditEvent, Case, Handoff, HandoffKind, HandoffStatus, IngestedFile
from mail.sink import stored_messages
from minqing.states import CaseStatus
from tasks.urgent import NIGHT_COUNTED

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "tipdm2020c"
LIKES, REPLIES = DATA / "messages_with_likes.csv", DATA / "messages_with_replies.csv"
AREAS = ["东湖社区", "西城社区", "南苑社区", "北塘社区", "滨江社区"]
ROWS = 5000

pytestmark = pytest.mark.skipif(
    not (LIKES.exists() and REPLIES.exists()),
    reason=f"real data not found at {DATA} (shared/data/tipdm2020c beside the repository)",
)


def real_hotline(path: Path, n: int = ROWS) -> None:
    """A GB18030 12345 export of `n` real messages (the board's with likes, then with replies)."""
    messages = []
    for prefix, source in (("L", LIKES), ("R", REPLIES)):
        with source.open(encoding="utf-8-sig", newline="") as fh:
            messages += [(prefix, m) for m in csv.DictReader(fh)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="gb18030", errors="replace", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["工单编号", "受理时间", "来电人", "标题", "诉求内容", "所属区域"])
        for (prefix, m), area in zip(messages[:n], cycle(AREAS), strict=False):
            out.writerow(
                [f"{prefix}{m['留言编号']}", m["留言时间"], m["留言用户"], m["留言主题"],
                 m["留言详情"], area]
            )  # fmt: skip


def child_env(minq, name: str) -> dict[str, str]:
    """A worker's environment: this test's MINQING_* settings, its own Prefect home."""
    return {
        **os.environ,
        "PREFECT_HOME": str(minq.home / "var" / f"prefect-{name}"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # each `minqing nightly` starts Prefect's temporary server; a loaded machine is slow
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }


def assert_everything_once(minq) -> dict[str, int]:
    """Each case assigned at most once, each (case, department) assignment queued once, and
    each queued message at the SMTP server exactly once."""
    time.sleep(0.3)  # the sink writes the last message after answering 250
    with Session() as s:
        assigned_twice = s.execute(
            sql_select(AuditEvent.case_id)
            .where(AuditEvent.to_state == CaseStatus.ASSIGNED.value)
            .group_by(AuditEvent.case_id)
            .having(func.count() > 1)
        ).all()
        per_department = Counter(
            s.execute(
                sql_select(Handoff.case_id, Handoff.department_code).where(
                    Handoff.kind == HandoffKind.ASSIGNMENT
                )
            ).all()
        )
        handoffs = s.execute(sql_select(Handoff.message_id, Handoff.status)).all()
        cases = s.scalar(
            sql_select(func.count()).select_from(Case).where(Case.status == CaseStatus.ASSIGNED)
        )
        files = s.scalar(sql_select(func.count()).select_from(IngestedFile))
    arrived = Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir))
    assert assigned_twice == []
    assert max(per_department.values()) == 1
    assert {status for _, status in handoffs} == {HandoffStatus.SENT}
    assert arrived == Counter(message_id for message_id, _ in handoffs)  # each exactly once
    return {"cases": cases, "handoffs": len(handoffs), "files": files}


def test_two_nights_running_the_stages_at_once_assign_and_send_everything_once(minq):
    """No lease here: two processes run ingest → … → deliver, each stage starting in both at
    the same moment, so the file claim, the case claim, the outbox keys and the delivery claim
    must keep them apart."""
    real_hotline(minq.inbox("hotline") / "12345_real.csv")
    barriers = minq.home / "barriers"
    barriers.mkdir()
    with minq.sink():
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.integration.night_child", str(barriers), name, "2"],
                cwd=REPO,
                env=child_env(minq, name),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        results = []
        for child in children:
            out, err = child.communicate(timeout=900)
            assert child.returncode == 0, err[-3000:]
            results.append(json.loads(out.split("DONE ", 1)[1]))
        found = assert_everything_once(minq)
    # Every row was taken by exactly one of them, every case assigned by exactly one.
    assert sum(r["files"] for r in results) == found["files"] == 1
    assert sum(r["taken"] for r in results) == ROWS
    assert sum(r["assigned"] for r in results) == found["cases"] > 1000
    assert sum(r["sent"] for r in results) == found["handoffs"]


def test_minqing_nightly_started_twice_runs_one_night_and_tells_the_second_why_not(minq):
    real_hotline(minq.inbox("hotline") / "12345_real.csv", 2000)
    minqing = [sys.executable, "-c", "from cli.main import app; app()"]
    with minq.sink():
        first = subprocess.Popen(
            [*minqing, "nightly"],
            cwd=REPO,
            env=child_env(minq, "first"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while (holder := holder_of(RUN)) is None and first.poll() is None:
            assert time.monotonic() < deadline, "the first night never took the lease"
            time.sleep(0.05)
        assert holder is not None and holder.pid == first.pid
        # An operator's `minqing nightly --wait 0` beside it: refused at once, with the reason.
        refused = subprocess.run(
            [*minqing, "nightly", "--wait", "0"],
            cwd=REPO,
            env=child_env(minq, "refused"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        # A second `minqing nightly` that waits: the first does the night meanwhile, so it does
        # not run another (an empty night would replace the night's summary with zeros).
        waiting = subprocess.Popen(
            [*minqing, "nightly", "--wait", "30"],
            cwd=REPO,
            env=child_env(minq, "waiting"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        first_out, _ = first.communicate(timeout=900)
        waiting_out, _ = waiting.communicate(timeout=900)
        found = assert_everything_once(minq)
    assert first.returncode == 0, first_out[-3000:]
    assert "\n本次夜间运行：完成\n" in first_out  # how the night ended, said last
    assert refused.returncode == 3, refused.stdout + refused.stderr[-3000:]
    said = " ".join(refused.stdout.split())  # after a line saying which Prefect it would use
    assert "另一个夜间运行正在进行（" in said and f"进程 {first.pid}）" in said
    assert said.endswith("本次夜间运行未执行")
    assert waiting.returncode == 0, waiting_out[-3000:]
    waited = " ".join(waiting_out.split())
    assert "本次夜间运行等待其结束" in waited
    assert "本次夜间运行等待期间，另一个夜间运行已于 " in waited
    assert "完成，本次未重复执行；如需再运行一次，请重新启动" in waited
    with Session() as s:
        nights = s.scalars(
            sql_select(AuditEvent).where(
                AuditEvent.entity == "run", AuditEvent.action == NIGHT_COUNTED
            )
        ).all()
    assert len(nights) == 1  # one night's summary, the first's
    assert found["cases"] > 500 and found["files"] == 1
