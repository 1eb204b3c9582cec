"""热点问题 as a pure function over small literal frames, and the hotline's optional likes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from minqing.channels import file_checksum, get_parser
from minqing.channels.hotline import _likes
from minqing.hotissues import headers, hot_issue_table, summary_text
from minqing.records import Item

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    return NOW - timedelta(days=n)


CASES = pd.DataFrame(
    {
        "case_id": [1, 2, 3, 4, 5],
        "number": ["MQ2026-000001", "MQ2026-000002", "MQ2026-000003", "MQ2026-000004", "MQ2026-000005"],
        "title": ["路灯", "噪音", "欠薪", "旧事", "并入1"],
        "category": ["市政设施", "噪声污染", None, "市政设施", "市政设施"],
        "status": ["assigned", "needs_review", "triaged", "closed", "merged"],
    }
)  # fmt: skip


def subs(rows: list[tuple[int, datetime, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["case_id", "received_at", "likes"])


def test_attention_is_submissions_plus_likes_and_both_are_shown():
    table = hot_issue_table(
        subs(
            [
                (1, day(1), None),
                (1, day(2), None),
                (1, day(40), None),  # 3 people, no likes
                (2, day(3), 5),  # one message, 5 likes: 6 people concerned
                (3, day(4), 0),
                (3, day(5), 1),  # 2 people + 1 like
            ]
        ),  # fmt: skip
        CASES,
        NOW,
        status_labels={"assigned": "已交办"},
    )
    assert table["number"].tolist() == ["MQ2026-000002", "MQ2026-000001", "MQ2026-000003"]
    assert table["attention"].tolist() == [6, 3, 3]
    assert table["submissions"].tolist() == [1, 3, 2] and table["likes"].tolist() == [5, 0, 1]
    assert table["recent"].tolist() == [1, 2, 2] and headers(30)["recent"] == "近30天反映"
    assert table.loc[1, "status"] == "已交办" and table.loc[2, "category"] == "未分类"
    assert table["rank"].tolist() == [1, 2, 3]


def test_only_cases_raised_or_joined_in_the_window_count_and_merged_cases_never():
    table = hot_issue_table(
        subs([(4, day(31), 100), (4, day(45), None), (5, day(1), 50), (1, day(29), None)]),
        CASES,
        NOW,
    )
    # case 4 grew last 31 days ago; case 5 was merged (its submissions moved elsewhere)
    assert table["number"].tolist() == ["MQ2026-000001"]
    grown = hot_issue_table(subs([(4, day(31), 100), (4, day(2), None)]), CASES, NOW)
    assert grown["number"].tolist() == ["MQ2026-000004"] and grown.loc[0, "attention"] == 102


def test_ties_go_to_more_people_then_more_recent_then_the_lower_number_and_top_cuts():
    table = hot_issue_table(
        subs([(1, day(9), 1), (2, day(1), None), (2, day(8), None), (3, day(2), 1)]),
        CASES,
        NOW,
        top=2,
    )
    # all three have attention 2; case 2 has two people; of 1 and 3, case 3 is more recent
    assert table["number"].tolist() == ["MQ2026-000002", "MQ2026-000003"]


def test_no_case_in_the_window_gives_an_empty_table_and_says_so():
    table = hot_issue_table(subs([(1, day(60), 3)]), CASES, NOW)
    assert table.empty and "rank" in table.columns
    assert summary_text(table) == "近30天没有新反映的问题"
    assert hot_issue_table(subs([]), CASES, NOW).empty


def test_the_summary_line_names_the_top_five_with_people_and_likes():
    rows = [(1, day(1), None)] * 2 + [(2, day(1), 7), (3, day(1), None)]
    text = summary_text(hot_issue_table(subs(rows), CASES, NOW))
    assert text.startswith("MQ2026-000002 噪音（1 人反映，点赞 7）；MQ2026-000001 路灯（2 人反映）")
    assert text.count("；") == 2


@pytest.mark.parametrize(
    ("cell", "likes"),
    [("12", 12), (12, 12), (12.0, 12), ("1,024", 1024), ("", None), (None, None),
     ("很多", None), ("-3", None), ("2.5", None), ("nan", None)],
)  # fmt: skip
def test_a_like_count_is_read_when_it_is_a_whole_number(cell, likes):
    assert _likes(cell) == likes


def test_the_hotline_reads_an_optional_likes_column(tmp_path: Path):
    path = tmp_path / "留言板.csv"
    path.write_text(
        "工单编号,受理时间,标题,诉求内容,点赞数\n"
        "A1,2026-11-27 09:30,路灯,路灯坏了,12\n"
        "A2,2026-11-27 09:31,噪音,工地噪音,不详\n",
        encoding="utf-8",
    )
    items = [i for i in get_parser("hotline").parse(path, file_checksum(path))]
    assert all(isinstance(i, Item) for i in items)
    assert [i.likes for i in items] == [12, None]
    plain = tmp_path / "12345.csv"
    plain.write_text("工单编号,诉求内容\nB1,路灯坏了\n", encoding="utf-8")
    assert [i.likes for i in get_parser("hotline").parse(plain, file_checksum(plain))] == [None]
