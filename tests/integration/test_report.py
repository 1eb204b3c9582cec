"""The report and the 件件有回复 check on a real database (SQLite and PostgreSQL): every number
comes from the rows, a reopened case is scored on its first round, the representatives'
evaluation is imported with superseding, and the night lists every case still owing an answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import select

from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Lookback,
    LookbackKind,
    Person,
    Rating,
    Reply,
    RepresentativeEvaluation,
    Satisfaction,
    Submission,
    Survey,
)
from minqing.charts import NO_CJK_WARNING
from minqing.states import CaseStatus, Outcome
from tasks.context import context
from tasks.evaluations import import_evaluations_now
from tasks.metrics import publish_now, unanswered_items
from tasks.report import build_report_now

BJ = ZoneInfo("Asia/Shanghai")


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ).astimezone(UTC)


def add_case(
    s,
    title,
    *,
    dept="chengguan",
    created,
    assigned=None,
    due=None,
    replied=None,
    closed=None,
    status=CaseStatus.ASSIGNED,
    outcome=None,
    reopen_count=0,
    people=(),
    channel="hotline",
) -> Case:
    case = Case(
        title=title,
        text=title,
        text_key=title,
        area_code="donghu",
        category="市政设施",
        lead_department=dept,
        status=status,
        outcome=outcome,
        created_at=created,
        assigned_at=assigned,
        due_at=due,
        replied_at=replied,
        closed_at=closed,
        reopen_count=reopen_count,
    )
    s.add(case)
    s.flush()
    for i, person in enumerate(people or [None]):
        s.add(
            Submission(
                source_key=f"t:{case.id}:{i}",
                channel=channel,
                source_ref=f"R{case.id}-{i}",
                received_at=created,
                text=title,
                text_key=title,
                case_id=case.id,
                person_id=person.id if person else None,
            )
        )
    return case


def reply(s, case, when, outcome=Outcome.SOLVED):
    s.add(
        Reply(
            case_id=case.id,
            department_code=case.lead_department,
            received_at=when,
            outcome=outcome,
            text="已处理",
            via="import",
            source_key=f"r:{case.id}:{when.isoformat()}",
        )
    )


def november(minq):
    """Cases of November 2026, one of them reopened, and one of October."""
    with Session() as s, s.begin():
        p1 = Person(identity_key="phone:13900000001", phone="13900000001")
        p2 = Person(identity_key="phone:13900000002", phone="13900000002")
        s.add_all([p1, p2])
        s.flush()
        a = add_case(
            s,
            '=HYPERLINK("http://evil","A")',
            created=bj(2026, 11, 2, 8),
            assigned=bj(2026, 11, 2, 9),
            due=bj(2026, 11, 16, 23, 59),
            replied=bj(2026, 11, 4, 9),
            closed=bj(2026, 11, 20, 9),
            status=CaseStatus.CLOSED,
            outcome=Outcome.SOLVED,
            people=[p1],
        )
        reply(s, a, bj(2026, 11, 4, 9))
        s.add(
            Rating(
                case_id=a.id,
                person_id=p1.id,
                satisfaction=Satisfaction.SATISFIED,
                solved=True,
                channel="phone",
                rated_at=bj(2026, 11, 5, 9),
                source_key="rating:a",
            )
        )
        # B: first round late (due 17th, replied 20th), reopened, re-assigned on the 25th
        b = add_case(
            s,
            "B",
            created=bj(2026, 11, 3, 8),
            assigned=bj(2026, 11, 25, 9),
            due=bj(2026, 12, 9, 23, 59),
            replied=bj(2026, 11, 28, 9),
            status=CaseStatus.REPLIED,
            outcome=Outcome.SOLVED,
            reopen_count=1,
            people=[p2],
        )
        reply(s, b, bj(2026, 11, 20, 9))
        reply(s, b, bj(2026, 11, 28, 9))
        s.add(
            Rating(
                case_id=b.id,
                person_id=p2.id,
                satisfaction=Satisfaction.DISSATISFIED,
                solved=False,
                channel="phone",
                rated_at=bj(2026, 11, 21, 9),
                source_key="rating:b",
            )
        )
        for at, due in (
            (bj(2026, 11, 3, 9), bj(2026, 11, 17, 23, 59)),
            (bj(2026, 11, 25, 9), bj(2026, 12, 9, 23, 59)),
        ):
            event = AuditEvent(
                actor="system:dispatch",
                case_id=b.id,
                entity="case",
                entity_id=b.id,
                action="assigned",
                to_state="assigned",
                detail={"due_at": due.isoformat()},
            )
            event.at = at
            s.add(event)
        add_case(
            s,
            "C",
            dept="jiaoyu",
            created=bj(2026, 11, 5, 8),
            assigned=bj(2026, 11, 5, 9),
            due=bj(2026, 11, 19, 23, 59),
        )
        add_case(
            s,
            "D",
            created=bj(2026, 11, 6, 10),
            replied=bj(2026, 11, 6, 10),
            closed=bj(2026, 11, 6, 10),
            status=CaseStatus.CLOSED,
            outcome=Outcome.ON_THE_SPOT,
            dept=None,
            channel="register",
        )
        add_case(s, "E", created=bj(2026, 11, 7, 10), status=CaseStatus.MERGED, channel="register")
        add_case(
            s,
            "F",
            created=bj(2026, 10, 20, 10),
            assigned=bj(2026, 10, 20, 11),
            due=bj(2026, 11, 3, 23, 59),
            replied=bj(2026, 10, 22, 9),
            status=CaseStatus.REPLIED,
            outcome=Outcome.SOLVED,
        )
        s.add(
            Submission(
                source_key="visit",
                channel="register",
                source_ref="V1",
                received_at=bj(2026, 11, 9, 10),
                text="来访咨询",
                text_key="v",
            )
        )
    (minq.inbox("evaluations") / "代表评议.csv").write_text(
        "代表,部门,评价,期间\n李秀英,区城市管理局,满意,2026年11月\n张伟,chengguan,80,2026-11\n"
        "王磊,区教育局,不满意,2026年\n陈静,区不存在局,满意,2026年11月\n",
        encoding="gb18030",
    )
    (minq.inbox("evaluations") / "代表评议_更正.csv").write_text(
        "代表,部门,评价,期间\n李秀英,区城市管理局,基本满意,2026年11月\n", encoding="utf-8"
    )


def test_the_monthly_report_computes_each_number_from_the_database(minq):
    november(minq)
    imported = import_evaluations_now()
    assert imported["evaluations"] == 4
    assert [r["原因"] for r in imported["rejections"]] == [
        "部门“区不存在局”不存在（应为 departments.yaml 中的部门名称或代码）"
    ]
    with Session() as s:
        first, *_, newest = s.scalars(
            select(RepresentativeEvaluation).order_by(RepresentativeEvaluation.id)
        )
        assert (first.representative, first.score) == ("李秀英", "满意")
        assert newest.score == "基本满意" and newest.supersedes_id == first.id

    result = build_report_now(
        date(2026, 11, 1), date(2026, 11, 30), now=bj(2026, 12, 1, 7), artifacts=False
    )
    assert result["period"] == "2026-11" and result["title"] == "2026年11月"
    assert result["annual"] == {
        "citizens_received": 3,
        # every opinion received in November: A–E (E since merged into another case) and the
        # visit V1 not yet triaged; 立案 counts the four cases A–D
        "opinions_collected": 6,
        "answered_on_the_spot": 1,
        "suggestions_made": 3,
        "matters_solved": 1,
    }
    assert (
        result["sentence"]
        == "接待选民群众3人次，收集社情民意6条，现场答复1条，形成意见建议3条，推动解决群众身边小事、急事、难事1件。"
    )

    assert result["overview"]["收集社情民意"] == "6 条（现场答复 1 条）"
    assert result["overview"]["立案"] == "4 件"
    folder = minq.settings.reports_dir / "2026-11"
    scores = pd.read_excel(folder / "report.xlsx", sheet_name="部门评分").set_index("部门")
    city = scores.loc["区城市管理局"]
    assert (city["受理数"], city["回复数"]) == (2, 2)
    assert city["按期办结率"] == 0.5  # B's first reply came after its first deadline
    assert city["平均办理工作日"] == 7.5  # A 2 days, B 13 working days to its first reply
    assert city["重办率"] == 0.5 and city["满意率(满意+基本满意)"] == 0.5
    assert city["代表评议得分"] == 80  # 李秀英's correction replaced her 满意; 张伟 80
    school = scores.loc["区教育局"]
    assert (school["受理数"], school["回复数"], school["按期办结率"]) == (1, 0, 0)
    assert pd.isna(school["代表评议得分"])  # the yearly evaluation is not a November one

    wb = load_workbook(folder / "report.xlsx")
    assert wb.sheetnames == [
        "概况",
        "部门评分",
        "办理时长",
        "办理漏斗",
        "分类趋势",
        "代表评议",
        "案件清单",
    ]
    assert all(ws.freeze_panes == "A2" for ws in wb.worksheets)
    listed = {row[0].value: row[1] for row in wb["案件清单"].iter_rows(min_row=2)}
    assert len(listed) == 4 and all(cell.data_type == "s" for cell in listed.values())
    assert '\'=HYPERLINK("http://evil","A")' in {c.value for c in listed.values()}
    funnel = pd.read_excel(folder / "report.xlsx", sheet_name="办理漏斗")
    assert funnel["件数"].tolist() == [6, 4, 3, 2, 2, 1]
    summary = (folder / "report.md").read_text(encoding="utf-8")
    assert result["sentence"] in summary and "| 按期办结率 | 33.3% |" in summary
    # how departments are scored, in the report itself (its reader has no docs/ folder)
    assert "综合得分 = 群众评价得分" in summary and "docs/" not in summary
    overview = pd.read_excel(folder / "report.xlsx", sheet_name="概况").set_index("项目")
    assert overview.loc["评分办法", "数值"].startswith("综合得分 = 群众评价得分")
    assert "“推动解决”只计本期办结且已解决的" in overview.loc["办理漏斗", "数值"]
    assert "<img" in (folder / "report.html").read_text(encoding="utf-8")


def test_on_a_machine_without_a_chinese_font_the_report_draws_no_chart_and_says_so_first(
    minq, tmp_path
):
    november(minq)
    # matplotlib's own switch hides the system's fonts: a bare server without any CJK font
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "MPL_IGNORE_SYSTEM_FONTS": "1",
           "COLUMNS": "400"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", "from cli.main import app; app()", "report", "--from", "2026-11-01",
         "--to", "2026-11-30"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"⚠ {NO_CJK_WARNING}" in done.stdout
    folder = minq.settings.reports_dir / "2026-11"
    assert not list(folder.glob("*.png"))
    summary = (folder / "report.md").read_text(encoding="utf-8")
    assert summary.split("\n## ")[1].startswith(f"⚠️ 注意\n\n> ⚠️ {NO_CJK_WARNING}")
    assert "<img" not in (folder / "report.html").read_text(encoding="utf-8")


def test_with_english_chosen_minqing_report_prints_and_writes_english(minq, tmp_path):
    november(minq)
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "MPL_IGNORE_SYSTEM_FONTS": "1",
           "COLUMNS": "400", "MINQING_LANGUAGE": "en"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", "from cli.main import app; app()", "report", "--from", "2026-11-01",
         "--to", "2026-11-30"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Evaluation report 2026-11" in done.stdout and "Opinions collected" in done.stdout
    assert "No font with Chinese characters" in done.stdout  # the warning, first
    departments = {d.name for d in context().ref.departments}
    printed = done.stdout
    for name in departments | {"群众身边小事、急事、难事"}:
        printed = printed.replace(name, "")
    # what the office's files say: their names, and a value quoted from a refused row
    printed = re.sub(r"\S+\.csv|“[^”]*”", "", printed)
    assert not re.search(r"[\u4e00-\u9fff]", printed), printed
    book = load_workbook(minq.settings.reports_dir / "2026-11" / "report.xlsx")
    assert book.sheetnames[:2] == ["Overview", "Department scores"]
    assert [c.value for c in book["Handling funnel"][1]] == [
        "Stage", "Cases", "Share of previous stage", "Share of collected"
    ]  # fmt: skip
    assert [r[0].value for r in book["Handling funnel"].iter_rows(min_row=2)] == [
        "Collected", "Cases opened", "Assigned", "Replied", "Solved", "Satisfied"
    ]  # fmt: skip


def stages(**lookback) -> dict:
    zero = {"rejected": 0, "rejections": []}
    return {
        "ingest": {"taken": 0, "by_channel": {}, **zero},
        "imports": {"replies": 0, "ratings": 0, **zero},
        "triage": {"linked": 0, "new_cases": 0, "on_the_spot": 0, "needs_review": 0},
        "dispatch": {"needs_review": 0, "assigned": 0},
        "lookback": {"reminders": 0, "escalations": 0, "verifications": 0, **lookback},
        "surveys": {"emailed": 0, "callback": 0},
        "deliver": {"sent": 0, "failed": 0, "dead": 0, "retry_later": 0},
    }


def test_every_case_that_still_owes_an_answer_is_listed_once_per_missing_step(minq):
    now = bj(2026, 12, 1, 2)
    with Session() as s, s.begin():
        p = Person(identity_key="email:a@example.com", email="a@example.com")
        quiet = Person(identity_key="phone:13900000009", phone="13900000009", contact_ok=False)
        s.add_all([p, quiet])
        s.flush()
        late = add_case(
            s,
            "超期",
            created=bj(2026, 11, 2, 8),
            assigned=bj(2026, 11, 2, 9),
            due=bj(2026, 11, 16, 23, 59),
        )
        add_case(
            s,
            "未到期",
            created=bj(2026, 11, 20, 8),
            assigned=bj(2026, 11, 20, 9),
            due=bj(2026, 12, 4, 23, 59),
        )
        unasked = add_case(
            s,
            "未回访",
            created=bj(2026, 11, 2, 8),
            assigned=bj(2026, 11, 2, 9),
            replied=bj(2026, 11, 27, 9),
            status=CaseStatus.REPLIED,
            outcome=Outcome.SOLVED,
            people=[p],
        )
        add_case(
            s,
            "不愿回访",
            created=bj(2026, 11, 2, 8),
            assigned=bj(2026, 11, 2, 9),
            replied=bj(2026, 11, 27, 9),
            status=CaseStatus.REPLIED,
            outcome=Outcome.SOLVED,
            people=[quiet],
        )
        unchecked = add_case(
            s,
            "回头看",
            created=bj(2026, 10, 1, 8),
            assigned=bj(2026, 10, 1, 9),
            replied=bj(2026, 10, 20, 9),
            status=CaseStatus.RATED,
            outcome=Outcome.SOLVED,
        )
        s.add(
            Lookback(
                case_id=unchecked.id,
                kind=LookbackKind.VERIFICATION,
                due_at=bj(2026, 11, 20, 9),
                done_at=bj(2026, 11, 20, 2),
                result="sent",
            )
        )
        s.add(
            Lookback(
                case_id=unchecked.id,
                kind=LookbackKind.VERIFICATION,
                due_at=bj(2026, 11, 27, 9),
                done_at=bj(2026, 11, 27, 2),
                result="sent",
            )
        )  # still within 5 working days
        s.add(
            Lookback(case_id=late.id, kind=LookbackKind.REMINDER, due_at=bj(2026, 11, 12, 9))
        )  # missed
        bounced = add_case(
            s,
            "回访退信",
            created=bj(2026, 11, 2, 8),
            assigned=bj(2026, 11, 2, 9),
            replied=bj(2026, 11, 10, 9),
            status=CaseStatus.REPLIED,
            outcome=Outcome.SOLVED,
            people=[p],
        )
        h = Handoff(
            case_id=bounced.id,
            kind=HandoffKind.SURVEY,
            recipient="a@example.com",
            subject="回访",
            body_text="",
            body_html="",
            idempotency_key="survey:x",
            status=HandoffStatus.FAILED,
            message_id="<x@y>",
        )
        s.add(h)
        s.flush()
        s.add(Survey(case_id=bounced.id, person_id=p.id, round=0, channel="email", handoff_id=h.id))
    with Session() as s:
        rows = unanswered_items(s, context(), now)
    found = {(r["标题"], r["待跟进事项"]) for r in rows}
    assert found == {
        ("超期", "超期未答复"),
        ("超期", "督办未执行"),
        ("未回访", "已答复未回访"),
        ("回头看", "回头看未完成"),
        ("回访退信", "回访邮件发送失败"),
    }
    assert next(r for r in rows if r["待跟进事项"] == "超期未答复")["说明"] == "已超期 11 个工作日"
    assert unasked.number in {r["案件编号"] for r in rows}
    f = publish_now(stages(), now=now, artifacts=False)
    assert f["unanswered"] == 4 and "| 件件有回复 | 待跟进 4 件" in f["markdown"]
    # the night's failed-message table names the case by the number people quote
    [failed] = f["failed_handoff_rows"]
    assert failed["编号"] == h.id and failed["案件编号"] == bounced.number
