"""The report on real data: 2,816 messages of the TipDM 2020 C set (留言 + 答复 with their times)
imported as replied cases; the handling-time figures of the report (workbook and department
scores) must equal an independent pandas computation on the Chinese working-day calendar."""

from __future__ import annotations

from pathlib import Path

import chinese_calendar
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from db.engine import Session
from db.models import Case, Reply, Submission
from minqing.channels.base import parse_datetime
from minqing.classify import classify_by_keywords
from minqing.routing import route
from minqing.states import CaseStatus, Outcome
from minqing.workdays import due_at
from tasks.context import context
from tasks.report import build_report_now

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tipdm2020c"
MESSAGES = DATA / "messages_with_replies.csv"


@pytest.fixture(scope="module")
def messages() -> pd.DataFrame:
    if not MESSAGES.exists():
        pytest.skip(f"real data not found: {MESSAGES.resolve()} (the shared TipDM 2020 C set)")
    frame = pd.read_csv(MESSAGES, dtype=str)
    return frame


def import_messages(frame: pd.DataFrame) -> pd.DataFrame:
    """Each message as a case assigned when it was posted and replied when it was answered.

    Department and deadline come from the office's own keyword rules and routing table (the
    data names neither); the outcome class is not in the data either, so every reply is
    recorded as D (for reference) rather than inventing solved cases.
    """
    ctx = context()
    cats = ctx.ref.flat_categories
    rows = []
    for r in frame.itertuples(index=False):
        posted, answered = parse_datetime(r.留言时间), parse_datetime(r.答复时间)
        category = classify_by_keywords(f"{r.留言主题}\n{r.留言详情}", cats).category
        decision = route(category, None, ctx.ref)
        days = ctx.ref.category_by_name[category].deadline_days if category else 10
        rows.append(
            {
                "id": int(r.留言编号),
                "title": r.留言主题[:500],
                "text": r.留言详情,
                "text_key": str(r.留言编号),
                "category": category,
                "lead_department": decision.lead if decision else None,
                "status": CaseStatus.REPLIED,
                "created_at": posted,
                "assigned_at": posted,
                "due_at": due_at(posted, days, ctx.calendar),
                "replied_at": answered,
                "outcome": Outcome.FOR_REFERENCE,
                "deadline_days": days,
                "reply": r.答复意见,
            }
        )
    with Session() as s, s.begin():
        s.execute(
            insert(Case),
            [{k: v for k, v in row.items() if k not in ("deadline_days", "reply")} for row in rows],
        )
        # each message is one citizen's opinion, received when it was posted (收集)
        s.execute(insert(Submission), [
            {"source_key": f"tipdm-message:{row['id']}", "channel": "hotline",
             "source_ref": str(row["id"]), "received_at": row["created_at"], "title": row["title"],
             "text": row["text"], "text_key": row["text_key"], "case_id": row["id"],
             "link_method": "new"} for row in rows])  # fmt: skip
        s.execute(insert(Reply), [
            {"case_id": row["id"], "department_code": row["lead_department"], "received_at": row["replied_at"],
             "outcome": Outcome.FOR_REFERENCE, "text": row["reply"] or "", "via": "import",
             "source_key": f"tipdm:{row['id']}"} for row in rows])  # fmt: skip
    names = {d.code: d.name for d in ctx.ref.departments}
    return pd.DataFrame(
        {"department": [names.get(r["lead_department"], "（未指定部门）") for r in rows],
         "deadline_days": [r["deadline_days"] for r in rows]}
    )  # fmt: skip


def independent_working_days(frame: pd.DataFrame, deadline_days: pd.Series) -> pd.DataFrame:
    """Working days (assignment day excluded, reply day included) from chinese_calendar alone."""
    posted = pd.to_datetime(frame["留言时间"], format="mixed")  # Beijing time as written
    answered = pd.to_datetime(frame["答复时间"], format="mixed")
    days = pd.date_range(
        posted.min().normalize(), answered.max().normalize() + pd.Timedelta(days=60)
    )
    is_work = np.array([chinese_calendar.is_workday(d.date()) for d in days])
    count = pd.Series(np.cumsum(is_work), index=days)
    a, b = count[posted.dt.normalize()].to_numpy(), count[answered.dt.normalize()].to_numpy()
    # the deadline is the day on which the count first reaches a + N working days
    work_days = days[is_work]
    due_day = work_days[np.searchsorted(count[work_days].to_numpy(), a + deadline_days.to_numpy())]
    return pd.DataFrame({
        "working_days": b - a,
        "calendar_days": (answered - posted).dt.total_seconds() / 86400,
        "on_time": answered.dt.normalize().to_numpy() <= due_day.to_numpy(),
    })  # fmt: skip


def test_the_report_on_real_replies_matches_an_independent_count_of_working_days(minq, messages):
    assigned = import_messages(messages)
    expected = pd.concat(
        [assigned, independent_working_days(messages, assigned["deadline_days"])], axis=1
    )
    result = build_report_now(
        pd.Timestamp("2011-01-01").date(), pd.Timestamp("2020-12-31").date(), artifacts=False
    )

    folder = Path(result["folder"])
    assert folder == minq.settings.reports_dir / "2011-01-01_2020-12-31"
    handling = pd.read_excel(folder / "report.xlsx", sheet_name="办理时长").set_index("部门")
    per_department = expected.groupby("department").agg(
        n=("working_days", "size"), mean=("working_days", "mean"), median=("working_days", "median"),
        longest=("working_days", "max"), natural=("calendar_days", "mean"), on_time=("on_time", "sum"),
    )  # fmt: skip
    per_department.loc["合计"] = [
        len(expected), expected["working_days"].mean(), expected["working_days"].median(),
        expected["working_days"].max(), expected["calendar_days"].mean(), expected["on_time"].sum(),
    ]  # fmt: skip
    got = handling.loc[per_department.index]
    assert got["答复件数"].tolist() == per_department["n"].astype(int).tolist()
    np.testing.assert_allclose(got["平均办理工作日"], per_department["mean"], rtol=1e-9)
    np.testing.assert_allclose(got["中位办理工作日"], per_department["median"], rtol=1e-9)
    np.testing.assert_allclose(got["最长办理工作日"], per_department["longest"], rtol=1e-9)
    np.testing.assert_allclose(got["平均办理自然日"], per_department["natural"], rtol=1e-6)
    assert got["按期答复"].tolist() == per_department["on_time"].astype(int).tolist()
    assert (got["按期答复"] + got["超期答复"] == got["答复件数"]).all()

    scores = pd.read_excel(folder / "report.xlsx", sheet_name="部门评分").set_index("部门")
    departments = [d for d in per_department.index if d != "合计"]
    np.testing.assert_allclose(
        scores.loc[departments, "平均办理工作日"],
        per_department.loc[departments, "mean"],
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        scores.loc[departments, "按期办结率"],
        (per_department.loc[departments, "on_time"] / per_department.loc[departments, "n"]).astype(float), rtol=1e-9,
    )  # fmt: skip

    assert (
        result["annual"]["opinions_collected"]
        == result["annual"]["suggestions_made"]
        == len(messages)
    )
    mean_days = f"{expected['working_days'].mean():.1f}"
    assert result["overview"]["平均办理工作日"] == mean_days
    summary = (folder / "report.md").read_text(encoding="utf-8")
    assert (
        f"收集社情民意{len(messages)}条" in summary
        and f"| 平均办理工作日 | {mean_days} |" in summary
    )
    for chart in ("satisfaction_by_department.png", "cases_by_category.png", "funnel.png"):
        assert (folder / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
