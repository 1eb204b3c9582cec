"""Opinions received in November, assigned, answered and rated in December: each month's report
counts one set of figures — its summary, sentence, funnel (table and sheet), handling times and
department scores agree — and says where a reader could be surprised."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select

from db.engine import Session
from db.models import Case, Person, Rating, Reply, Satisfaction, Submission
from minqing.states import CaseStatus, Outcome
from tasks.report import build_report_now

BJ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 10, 9, tzinfo=BJ).astimezone(UTC)


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ).astimezone(UTC)


def opinion(s, title, received, people, *, created, assigned, replied=None, ratings=()):
    """A case made of one submission per person, read in on `created`, assigned on `assigned`;
    replied (solved) on `replied`, with `ratings` (person index, satisfaction, date)."""
    case = Case(
        title=title, text=title, text_key=title, area_code="donghu", category="市政设施",
        lead_department="chengguan", created_at=created, assigned_at=assigned,
        due_at=bj(2026, 12, 16, 23, 59), replied_at=replied,
        status=CaseStatus.RATED if ratings else CaseStatus.REPLIED if replied else CaseStatus.ASSIGNED,
        outcome=Outcome.SOLVED if replied else None,
    )  # fmt: skip
    s.add(case)
    s.flush()
    for i, person in enumerate(people):
        s.add(
            Submission(
                source_key=f"p:{case.id}:{i}", channel="hotline", source_ref=f"GD{case.id}{i}",
                received_at=received, text=title, text_key=title, case_id=case.id,
                person_id=person.id,
            )
        )  # fmt: skip
    if replied:
        s.add(
            Reply(
                case_id=case.id, department_code="chengguan", received_at=replied,
                outcome=Outcome.SOLVED, text="已处理", via="import",
                source_key=f"r:{case.id}",
            )
        )  # fmt: skip
    for i, satisfaction, at in ratings:
        s.add(
            Rating(
                case_id=case.id, person_id=people[i].id, satisfaction=satisfaction,
                solved=satisfaction is not Satisfaction.DISSATISFIED, channel="phone",
                rated_at=at, source_key=f"rating:{case.id}:{i}",
            )
        )  # fmt: skip


def received_in_november_assigned_in_december():
    with Session() as s, s.begin():
        people = [Person(identity_key=f"phone:1390000000{i}", phone=f"1390000000{i}") for i in range(5)]  # fmt: skip
        s.add_all(people)
        s.flush()
        p = people
        read_in = bj(2026, 12, 2, 2)  # the November files were read in on 2 December
        # rated 满意: solved and satisfied
        opinion(s, "路灯不亮", bj(2026, 11, 28, 9), [p[0]], created=read_in, assigned=read_in,
                replied=bj(2026, 12, 4, 10),
                ratings=[(0, Satisfaction.SATISFIED, bj(2026, 12, 5, 10))])  # fmt: skip
        # two citizens (一案多诉), one 不满意: solved, not satisfied
        opinion(s, "井盖缺失", bj(2026, 11, 29, 9), [p[1], p[2]], created=read_in,
                assigned=read_in, replied=bj(2026, 12, 4, 11),
                ratings=[(0, Satisfaction.SATISFIED, bj(2026, 12, 5, 10)),
                         (1, Satisfaction.DISSATISFIED, bj(2026, 12, 5, 11))])  # fmt: skip
        opinion(s, "占道经营", bj(2026, 11, 30, 9), [p[3]], created=read_in, assigned=read_in)
        # December's own opinion
        opinion(s, "噪音扰民", bj(2026, 12, 3, 9), [p[4]], created=bj(2026, 12, 4, 2),
                assigned=bj(2026, 12, 4, 2))  # fmt: skip


def figures(result: dict) -> dict:
    """The same figures as each part of the report states them."""
    overview = result["overview"]
    workbook = Path(result["files"]["workbook"])
    funnel = pd.read_excel(workbook, sheet_name="办理漏斗").set_index("阶段")["件数"]
    handling = pd.read_excel(workbook, sheet_name="办理时长").set_index("部门")
    scores = pd.read_excel(workbook, sheet_name="部门评分")
    markdown = Path(result["files"]["markdown"]).read_text(encoding="utf-8")
    shown = {
        row.split(" | ")[0].lstrip("| "): int(row.split(" | ")[1])
        for row in markdown.split("## 办理漏斗")[1].split("## ")[0].splitlines()
        if row.startswith("| ") and row.split(" | ")[1].isdigit()
    }
    assert shown == funnel.to_dict()  # the summary's funnel table is the sheet's
    return {
        "collected": (
            result["annual"]["opinions_collected"],
            int(overview["收集社情民意"].split(" ")[0]),
            funnel["收集"],
        ),
        "opened": (int(overview["立案"].split(" ")[0]), funnel["立案"]),
        "assigned": (
            result["annual"]["suggestions_made"],
            int(overview["交办"].split(" ")[0]),
            funnel["交办"],
            handling.loc["合计", "交办件数"],
            scores["受理数"].sum(),
        ),
        "replied": (
            int(overview["答复"].split(" ")[0]),
            funnel["答复"],
            handling.loc["合计", "答复件数"],
            scores["回复数"].sum(),
        ),
        "satisfied": funnel["满意"],
        "rated": overview["满意率（满意+基本满意）"],
    }


def test_each_months_report_counts_one_set_of_figures_and_says_where_cases_cross_the_month(minq):
    received_in_november_assigned_in_december()
    november = build_report_now(date(2026, 11, 1), date(2026, 11, 30), now=NOW, artifacts=False)
    december = build_report_now(date(2026, 12, 1), date(2026, 12, 31), now=NOW, artifacts=False)

    nov = figures(november)
    assert nov["collected"] == (4, 4, 4)  # four citizens wrote about three matters
    assert nov["opened"] == (3, 3)
    # nothing was assigned in November: no figure of the report says otherwise
    assert nov["assigned"] == (0, 0, 0, 0, 0)
    assert nov["replied"] == (0, 0, 0, 0)
    assert nov["satisfied"] == 0 and nov["rated"] == "—（0 条评价）"
    assert "形成意见建议0条" in november["sentence"]
    assert november["notes"] == [
        "本期立案的3件均在本期结束后才交办，计入交办当期的交办、答复和满意率，不计入本期。"
    ]

    dec = figures(december)
    assert dec["collected"] == (1, 1, 1)
    assert dec["opened"] == (1, 1)
    assert dec["assigned"] == (4, 4, 4, 4, 4)  # November's three and December's one
    assert dec["replied"] == (2, 2, 2, 2)
    # 满意率 counts ratings (2 of 3); the funnel's 满意 the solved cases nobody rated 不满意
    assert dec["rated"] == "66.7%（3 条评价）" and dec["satisfied"] == 1
    assert "收集社情民意1条" in december["sentence"] and "形成意见建议4条" in december["sentence"]
    assert december["notes"] == [
        "本期交办的4件中有3件是本期以前收集的，所以形成意见建议（交办）可以多于本期收集的社情民意。"
    ]
    summary = Path(december["files"]["markdown"]).read_text(encoding="utf-8")
    assert december["notes"][0] in summary.split("## 概况")[0]  # under the sentence
    assert "交办及以后各阶段为本期交办的案件" in summary

    # the November case list still names the cases read in on 2 December
    with Session() as s:
        assert len(s.scalars(select(Case)).all()) == 4
    listed = pd.read_excel(Path(november["files"]["workbook"]), sheet_name="案件清单")
    assert len(listed) == 3
