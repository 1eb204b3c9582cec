"""Pure parts of 回头督办, 评议 and the report: periods, tables from small literal frames,
decisions, parsers of the returned files, the workbook writer and the summary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from minqing.evaluations import parse_evaluations, parse_period, parse_score
from minqing.followups import (
    Complaint,
    after_complaint,
    deferred_until,
    is_complaint,
    parse_verifications,
    ready_to_close,
)
from minqing.records import Rejected
from minqing.report import (
    SUMMARY_SCORE_COLUMNS,
    Period,
    categories_over_time,
    handling_times,
    summary_html,
    summary_markdown,
    summary_sections,
)
from minqing.scores import funnel
from minqing.workbooks import Sheet, write_workbook
from minqing.workdays import LOCAL_TZ, WorkCalendar

CAL = WorkCalendar.from_config(Path(__file__).resolve().parents[2] / "config" / "calendar.yaml")


def bj(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=LOCAL_TZ)).tz_convert("UTC")


@pytest.mark.parametrize(
    ("start", "end", "label", "title"),
    [
        (date(2026, 11, 1), date(2026, 11, 30), "2026-11", "2026年11月"),
        (date(2026, 10, 1), date(2026, 12, 31), "2026-Q4", "2026年第四季度"),
        (date(2026, 1, 1), date(2026, 6, 30), "2026-H1", "2026年上半年"),
        (date(2026, 1, 1), date(2026, 12, 31), "2026", "2026年"),
        (
            date(2026, 11, 3),
            date(2026, 11, 20),
            "2026-11-03_2026-11-20",
            "2026年11月3日至2026年11月20日",
        ),
        (
            date(2026, 2, 1),
            date(2026, 3, 31),
            "2026-02-01_2026-03-31",
            "2026年2月1日至2026年3月31日",
        ),
    ],
)
def test_a_period_is_named_for_its_folder_and_its_title(start, end, label, title):
    period = Period(start, end)
    assert (period.label, period.title) == (label, title)
    first, after = period.bounds()
    assert first == datetime(start.year, start.month, start.day, tzinfo=LOCAL_TZ).astimezone(UTC)
    assert (after - first).days == (end - start).days + 1


def test_the_default_period_is_the_previous_month_and_a_reversed_one_is_refused():
    assert Period.previous_month(date(2026, 1, 1)) == Period(date(2025, 12, 1), date(2025, 12, 31))
    assert Period.previous_month(date(2026, 3, 15)) == Period(date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ValueError, match="ends"):
        Period(date(2026, 2, 1), date(2026, 1, 31))


def _cases(rows):
    frame = pd.DataFrame(
        rows, columns=["department", "assigned_at", "due_at", "replied_at", "handling_working_days"]
    )
    frame["handling_calendar_days"] = (
        frame["replied_at"] - frame["assigned_at"]
    ).dt.total_seconds() / 86400
    return frame


def test_handling_times_count_replied_cases_and_late_open_ones_per_department_and_in_total():
    cases = _cases([
        ("甲", bj(2026, 11, 2, 9), bj(2026, 11, 6, 23, 59), bj(2026, 11, 4, 9), 2.0),
        ("甲", bj(2026, 11, 2, 9), bj(2026, 11, 6, 23, 59), bj(2026, 11, 10, 9), 6.0),
        ("甲", bj(2026, 11, 2, 9), bj(2026, 11, 6, 23, 59), pd.NaT, np.nan),  # late by as_of, open
        ("乙", bj(2026, 11, 2, 9), bj(2026, 11, 30, 23, 59), pd.NaT, np.nan),  # not due yet
    ])  # fmt: skip
    table = handling_times(cases, datetime(2026, 11, 20, tzinfo=UTC)).set_index("department")
    assert table.loc[
        "甲", ["assigned", "replied", "replied_on_time", "replied_late", "overdue_unreplied"]
    ].tolist() == [3, 2, 1, 1, 1]
    assert (
        table.loc["甲", "mean_working_days"] == 4.0 and table.loc["甲", "max_working_days"] == 6.0
    )
    assert table.loc["甲", "mean_calendar_days"] == pytest.approx(5.0)
    assert (
        np.isnan(table.loc["乙", "mean_working_days"]) and table.loc["乙", "overdue_unreplied"] == 0
    )
    assert table.loc["合计", ["assigned", "replied", "overdue_unreplied"]].tolist() == [4, 2, 1]


def test_categories_follow_the_configured_order_with_the_uncategorised_last_and_weeks_for_a_month():
    created = pd.DataFrame({
        "created_at": [bj(2026, 11, 2, 9), bj(2026, 11, 4, 9), bj(2026, 11, 10, 9), bj(2026, 11, 11, 9)],
        "top_category": ["环境保护", "未分类", "城乡建设", "环境保护"],
    })  # fmt: skip
    table = categories_over_time(
        created, Period(date(2026, 11, 1), date(2026, 11, 30)), ["城乡建设", "环境保护"]
    )
    assert list(table.columns) == ["week", "城乡建设", "环境保护", "未分类", "total"]
    assert table.to_dict("records") == [
        {"week": "2026-11-02", "城乡建设": 0, "环境保护": 1, "未分类": 1, "total": 2},
        {"week": "2026-11-09", "城乡建设": 1, "环境保护": 1, "未分类": 0, "total": 2},
    ]
    yearly = categories_over_time(created, Period(date(2026, 1, 1), date(2026, 12, 31)))
    assert yearly["month"].tolist() == ["2026-11"] and yearly["total"].tolist() == [4]


def test_complaints_reopen_until_max_reopen_then_go_to_the_leaders():
    assert [after_complaint(n, 1) for n in (0, 1, 2)] == [
        Complaint.REOPEN,
        Complaint.LEADERS,
        Complaint.LEADERS,
    ]
    assert after_complaint(0, 0) is Complaint.LEADERS
    assert [is_complaint(s, d) for s, d in [("满意", True), ("基本满意", None), ("基本满意", False), ("不满意", True)]] == [
        False, False, True, True]  # fmt: skip


@pytest.mark.parametrize(
    ("settled", "answers", "contactable", "closes"),
    [
        (True, [("满意", True)], 1, True),
        (False, [("满意", True)], 1, False),  # 回头看 not done
        (True, [], 1, False),  # the citizen has not answered yet
        (True, [], 0, True),  # nobody can be asked
        (True, [("满意", True), ("不满意", None)], 2, False),
        (True, [("基本满意", False)], 1, False),  # not solved
    ],
)
def test_a_case_closes_only_when_verified_and_the_citizens_are_content(
    settled, answers, contactable, closes
):
    assert ready_to_close(settled, answers, contactable) is closes


def test_look_backs_wait_for_the_next_working_day_on_rest_days():
    saturday = datetime(2026, 11, 21, 2, tzinfo=LOCAL_TZ)
    assert deferred_until(saturday, CAL) == datetime(2026, 11, 23, 9, tzinfo=LOCAL_TZ).astimezone(
        UTC
    )
    assert deferred_until(datetime(2026, 11, 23, 2, tzinfo=LOCAL_TZ), CAL) is None


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("2026", (date(2026, 1, 1), date(2026, 12, 31))),
        ("2026年度", (date(2026, 1, 1), date(2026, 12, 31))),
        ("2026年下半年", (date(2026, 7, 1), date(2026, 12, 31))),
        ("2026年第四季度", (date(2026, 10, 1), date(2026, 12, 31))),
        ("2026-Q1", (date(2026, 1, 1), date(2026, 3, 31))),
        ("2026年2月", (date(2026, 2, 1), date(2026, 2, 28))),
        ("2026-11", (date(2026, 11, 1), date(2026, 11, 30))),
        ("2026-01-01至2026-06-30", (date(2026, 1, 1), date(2026, 6, 30))),
        ("明年", None),
        ("2026-06-30至2026-01-01", None),
    ],
)
def test_evaluation_periods_are_read_as_the_office_writes_them(text, span):
    assert parse_period(text) == span


def test_evaluation_scores_are_the_three_words_or_a_number_from_0_to_100():
    assert [parse_score(x) for x in ("满意", "基本满意", " 不满意", "85", "92.50", "90分", "101", "-1", "好", "nan")] == [
        "满意", "基本满意", "不满意", "85", "92.5", "90", None, None, None, None]  # fmt: skip


def test_returned_files_are_parsed_with_a_reason_for_every_bad_row(tmp_path):
    evaluations = tmp_path / "评议.csv"
    evaluations.write_text(
        "代表,部门,评价,期间\n李秀英,区城市管理局,满意,2026年\n张伟,区教育局,120,2026年\n王磊,,满意,2026年\n陈静,区教育局,85,某年\n",
        encoding="gb18030",
    )
    rows = list(parse_evaluations(evaluations, "x"))
    assert rows[0].score == "满意" and rows[0].period_end == date(2026, 12, 31)
    assert [str(r.reason) for r in rows[1:]] == [
        "评价“120”无法识别（应为 满意、基本满意、不满意 或 0–100 分）", "缺少部门",
        "期间“某年”无法识别（例如 2026年、2026年第四季度、2026-11）"]  # fmt: skip
    verifications = tmp_path / "回头看.csv"
    verifications.write_text(
        "案件编号,核实结果,说明,核实人,核实时间\nMQ2026-000001,已核实,,李秀英,2026-12-08 10:00\n"
        "MQ2026-000002,未核实,仍漏水,李秀英,2026-13-40\n",
        encoding="utf-8-sig",
    )
    good, bad = parse_verifications(verifications, "y")
    assert good.verified and good.checked_at == datetime(2026, 12, 8, 2, tzinfo=UTC)
    assert isinstance(bad, Rejected) and str(bad.reason) == "核实时间无法识别：“2026-13-40”"


def test_the_workbook_keeps_citizens_formulas_as_text_with_a_frozen_header(tmp_path):
    frame = pd.DataFrame({"标题": ['=HYPERLINK("http://evil","点我")', "@SUM(A1)", "-5", "普通"],
                          "率": [0.5, np.nan, 1.0, 0.25], "时间": [bj(2026, 11, 2, 9)] * 4})  # fmt: skip
    path = write_workbook(tmp_path / "t.xlsx", [Sheet("表/一", frame, percent=["率"])])
    ws = load_workbook(path)["表_一"]
    assert ws.freeze_panes == "A2" and [c.value for c in ws[1]] == ["标题", "率", "时间"]
    titles = [ws.cell(row=r, column=1) for r in range(2, 6)]
    assert [c.value for c in titles] == [
        '\'=HYPERLINK("http://evil","点我")',
        "'@SUM(A1)",
        "-5",
        "普通",
    ]
    assert all(c.data_type == "s" for c in titles)
    assert ws["B2"].number_format == "0.0%" and ws["B3"].value is None
    assert ws["C2"].value == datetime(2026, 11, 2, 9)  # shown in Beijing time


def test_the_workbook_shows_a_fraction_to_one_decimal_and_keeps_it_whole(tmp_path):
    frame = pd.DataFrame({"平均办理自然日": [0.3483799725665509], "受理数": [178]})
    ws = load_workbook(write_workbook(tmp_path / "t.xlsx", [Sheet("部门", frame)]))["部门"]
    assert (ws["A2"].value, ws["A2"].number_format) == (0.3483799725665509, "0.0")
    assert (ws["B2"].value, ws["B2"].number_format) == (178, "General")


def test_the_scoring_rule_is_said_in_the_offices_terms_not_as_a_file_to_look_up():
    from minqing.scores import ScorePolicy

    assert ScorePolicy().rule() == (
        "综合得分 = 群众评价得分 × 0.7 + 代表评议得分 × 0.3；群众评价得分是每条评价按满意 100 分、"
        "基本满意 80 分、不满意 0 分计分的平均；评价少于 10 条或缺少评议得分的部门列出但不排名。"
    )
    only_citizens = ScorePolicy(min_rated=5, weight_citizen=2, weight_representative=0)
    assert only_citizens.rule().startswith("综合得分 = 群众评价得分；")
    assert "评价少于 5 条" in only_citizens.rule()
    assert (
        "× 0.5 + 代表评议得分 × 0.5"
        in ScorePolicy(weight_citizen=1, weight_representative=1).rule()
    )


def test_the_summary_escapes_what_it_shows(tmp_path):
    from minqing.report import Report

    scores = pd.DataFrame({c: [np.nan] for c in ("received", "reply_rate", "on_time_rate", "mean_working_days", "satisfaction_rate",
                                               "solved_rate_rated", "citizen_score", "representative_score", "composite_score")})  # fmt: skip
    scores.insert(0, "department", ["<script>x</script>|部"])
    scores.insert(0, "rank", [pd.NA])
    scores["unranked_reason"] = ["评价数不足（0 < 10）"]
    empty_funnel = funnel(pd.DataFrame(columns=["case_id", "assigned_at", "replied_at", "outcome"]))
    report = Report(Period(date(2026, 11, 1), date(2026, 11, 30)), datetime(2026, 12, 1, tzinfo=UTC), scores,
                    pd.Series(dtype=object), pd.DataFrame({"department": ["合计"]}), empty_funnel, pd.DataFrame(),
                    pd.DataFrame(), pd.DataFrame(), {}, "收集社情民意0条。", [("收集社情民意", "0 条")])  # fmt: skip
    sections = summary_sections(report, {"漏斗": "funnel.png"})
    html = summary_html(report, "工委", sections)
    markdown = summary_markdown(report, "工委", sections)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;|部" in html
    assert "<script>" not in markdown and "&lt;script>x&lt;/script>\\|部" in markdown
    assert "| — | &lt;script>" in markdown and "![漏斗](funnel.png)" in markdown


def test_a_warning_opens_the_summary_and_replaces_the_charts():
    from minqing.charts import NO_CJK_WARNING
    from minqing.report import Report

    scores = pd.DataFrame(
        {"department": ["区城市管理局"], "rank": [pd.NA], "rated": [0], "unranked_reason": ["—"]}
    )
    for column in SUMMARY_SCORE_COLUMNS:
        scores[column] = scores.get(column, np.nan)
    empty_funnel = funnel(pd.DataFrame(columns=["case_id", "assigned_at", "replied_at", "outcome"]))
    report = Report(Period(date(2026, 11, 1), date(2026, 11, 30)), datetime(2026, 12, 1, tzinfo=UTC), scores,
                    pd.Series(dtype=object), pd.DataFrame({"department": ["合计"]}), empty_funnel, pd.DataFrame(),
                    pd.DataFrame(), pd.DataFrame(), {}, "收集社情民意0条。", [("收集社情民意", "0 条")])  # fmt: skip
    sections = summary_sections(report, {}, ["说明一"], warnings=[NO_CJK_WARNING])
    markdown = summary_markdown(report, "工委", sections)
    html = summary_html(report, "工委", sections)
    first = markdown.split("## ")[1]
    assert first.startswith("⚠️ 注意") and f"> ⚠️ {NO_CJK_WARNING}" in first
    assert "![" not in markdown and "本期未生成图表" in markdown
    assert f'<p class="warning">{NO_CJK_WARNING}</p>' in html and "<img" not in html
