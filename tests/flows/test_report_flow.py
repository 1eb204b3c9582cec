"""The report and lookback flows (and the night's 件件有回复 artifact) under Prefect's harness."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from prefect.artifacts import Artifact
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Handoff, HandoffKind, HandoffStatus, Lookback, LookbackKind, Reply
from flows.lookback import lookback
from flows.nightly import nightly
from flows.report import report
from minqing.states import CaseStatus, Outcome
from tasks.context import context

BJ = ZoneInfo("Asia/Shanghai")


def a_case(title: str, **values) -> int:
    with Session() as s, s.begin():
        case = Case(title=title, text=title, text_key=title, area_code="donghu", category="市政设施",
                    lead_department="chengguan", **values)  # fmt: skip
        s.add(case)
        s.flush()
        return case.id


def test_the_report_flow_imports_evaluations_writes_the_files_and_publishes_artifacts(minq):
    assigned = datetime(2026, 11, 2, 9, tzinfo=BJ).astimezone(UTC)
    case_id = a_case("路灯", status=CaseStatus.REPLIED, outcome=Outcome.SOLVED, created_at=assigned,
                     assigned_at=assigned, due_at=assigned + timedelta(days=14), replied_at=assigned + timedelta(days=2))  # fmt: skip
    with Session() as s, s.begin():
        s.add(Reply(case_id=case_id, department_code="chengguan", received_at=assigned + timedelta(days=2),
                    outcome=Outcome.SOLVED, text="已修复", via="import", source_key="r1"))  # fmt: skip
    (minq.inbox("evaluations") / "评议.csv").write_text(
        "代表,部门,评价,期间\n李秀英,区城市管理局,90,2026年11月\n", encoding="utf-8"
    )
    result = report(period_from=date(2026, 11, 1), period_to=date(2026, 11, 30))
    assert result["period"] == "2026-11" and not list(minq.inbox("evaluations").iterdir())
    assert result["overview"]["代表集体评议"] == "1 条"
    assert {p.rsplit("/", 1)[1] for p in result["files"].values()} >= {
        "report.xlsx",
        "report.md",
        "funnel.png",
    }
    summary = Artifact.get("report-summary", _sync=True)
    assert summary is not None and result["sentence"] in summary.data
    scores = json.loads(Artifact.get("report-department-scores", _sync=True).data)
    city = next(row for row in scores if row["部门"] == "区城市管理局")
    assert city["受理数"] == 1 and city["代表评议得分"] == 90


def test_the_lookback_flow_sends_a_due_reminder_once(minq):
    now = datetime.now(UTC)
    case_id = a_case("井盖", status=CaseStatus.ASSIGNED, created_at=now - timedelta(days=3),
                     assigned_at=now - timedelta(days=3), due_at=now + timedelta(days=3))  # fmt: skip
    with Session() as s, s.begin():
        s.add(
            Lookback(case_id=case_id, kind=LookbackKind.REMINDER, due_at=now - timedelta(minutes=5))
        )
    working_day = context().calendar.is_working_day(now.astimezone(BJ).date())
    with minq.sink():
        first, second = lookback(), lookback()
    assert (first["lookback"]["reminders"], first["lookback"]["deferred"]) == (
        (1, 0) if working_day else (0, 1)
    )
    assert second["lookback"]["reminders"] == 0 and second["deliver"]["sent"] == 0
    with Session() as s:
        sent = s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.REMINDER)).all()
    assert len(sent) == (1 if working_day else 0)
    assert all(h.status is HandoffStatus.SENT for h in sent)


def test_the_night_publishes_the_every_item_answered_list(minq):
    now = datetime.now(UTC)
    case_id = a_case("超期未复", status=CaseStatus.ASSIGNED, created_at=now - timedelta(days=30),
                     assigned_at=now - timedelta(days=30), due_at=now - timedelta(days=10))  # fmt: skip
    with minq.sink():
        figures = nightly()
    assert figures["unanswered"] == 1
    rows = json.loads(Artifact.get("every-item-answered", _sync=True).data)
    with Session() as s:
        number = s.get(Case, case_id).number
    assert [(r["案件编号"], r["待跟进事项"]) for r in rows] == [(number, "超期未答复")]
    assert "| 件件有回复 | 待跟进 1 件" in Artifact.get("nightly-summary", _sync=True).data
