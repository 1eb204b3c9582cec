"""The night's summary counts everything since the last night, each total with its parts
(minqing.summary on literal figures): 收集 by way in, 交办 by kind, 收到答复 and 评价 by where
they came from, 发送邮件 with the duty alerts, and 拒收 pointing at a table only when there
is one."""

from __future__ import annotations

from typing import Any

from minqing.handoffs import delivery_sentence
from minqing.summary import summary_lines, summary_markdown
from tests.unit.test_summary import FIGURES


def lines(figures: dict[str, Any]) -> dict[str, str]:
    return dict(summary_lines(figures))


def test_work_that_came_otherwise_than_in_tonights_inbox_is_counted_with_its_way_in() -> None:
    figures = {
        **FIGURES,
        "taken": 2,
        "by_channel": {"hotline": 2},
        "taken_by_way": {"inbox": 0, "command": 2, "earlier": 0},
    }
    assert lines(figures)["收集"] == "2 条（minqing ingest 导入 2；12345热线 2）"
    figures["taken_by_way"] = {"inbox": 4, "command": 0, "earlier": 0}
    figures["by_channel"], figures["taken"] = {"hotline": 4}, 4
    assert lines(figures)["收集"] == "4 条（12345热线 4）"  # the inbox alone: as before


def test_replies_and_ratings_say_where_they_came_from() -> None:
    figures = {
        **FIGURES,
        "replies": 3,
        "replies_by_way": {"web": 1, "import": 2},
        "ratings": 1,
        "ratings_by_way": {"web": 1},
    }
    assert lines(figures)["收到答复"] == "3 件（文件 2，网页 1）"
    assert lines(figures)["评价"] == "1 条（网页 1）"
    assert lines({**figures, "replies": 0, "replies_by_way": {}})["收到答复"] == "0 件"


def test_assignments_show_new_cases_redone_and_rerouted() -> None:
    figures = {
        **FIGURES,
        "assigned": 4,
        "assigned_new": 0,
        "assigned_reopened": 3,
        "assigned_rerouted": 1,
    }
    assert lines(figures)["交办"] == "4 件（新案 0，重办 3，改派 1）"


def test_the_rejected_line_points_at_a_table_only_when_there_is_one() -> None:
    assert lines(FIGURES)["拒收"] == "1 条（原因见下表）"
    none = {**FIGURES, "rejected": 0, "rejections": []}
    assert lines(none)["拒收"] == "0 条"
    assert "拒收明细" not in summary_markdown(none, "工委", "2026-11-28 23:00")


def test_duty_alerts_are_counted_in_the_mail_sent_as_their_own_part() -> None:
    """`sent` is every message the night sent, its duty alerts included (runstate.combined);
    `duty_sent` says how many of them were duty alerts."""
    figures = {**FIGURES, "sent": 300, "duty_sent": 2}
    assert lines(figures)["发送邮件"] == (
        "今晚尝试发送 300 封：已发送 300（其中值班提醒 2），发送失败 0，已放弃 0，稍后重试 0"
    )
    assert delivery_sentence({**figures, "duty_sent": 0}).startswith(
        "尝试发送 300 封：已发送 300，"
    )


def test_files_read_by_minqing_ingest_are_listed_with_the_nights_files() -> None:
    command = {"channel": "hotline", "name": "热线补录.csv", "status": "taken", "taken": 2,
               "known": 0, "rejected": 0, "reason": None}  # fmt: skip
    markdown = summary_markdown(
        {**FIGURES, "files": [], "command_files": [command]}, "工委", "2026-11-28 23:00"
    )
    assert (
        "| 12345热线 | 热线补录.csv | 已收录，已归档（由 minqing ingest 读入） | 2 | 0 | 0 |  |"
        in (markdown)
    )
    assert "今晚收件箱没有待收的文件" not in markdown
    kept = {**command, "name": "下载的导出.csv", "kept": True}  # read from outside the inbox
    markdown = summary_markdown(
        {**FIGURES, "files": [], "command_files": [kept]}, "工委", "2026-11-28 23:00"
    )
    assert (
        "| 下载的导出.csv | 已收录，副本已归档，原文件未动（由 minqing ingest 读入） |" in markdown
    )


def test_in_english_the_parts_read_english() -> None:
    from minqing.i18n import using

    figures = {**FIGURES, "replies": 3, "replies_by_way": {"web": 1, "import": 2},
               "assigned": 4, "assigned_new": 0, "assigned_reopened": 4, "assigned_rerouted": 0,
               "sent": 300, "duty_sent": 2}  # fmt: skip
    with using("en"):
        english = lines(figures)
    assert english["Replies received"] == "3 cases (file 2, web page 1)"
    assert english["Assigned"] == "4 cases (new 0, reopened 4, re-routed 0)"
    assert "sent 300 (of which duty alerts 2)" in english["E-mails sent"]
