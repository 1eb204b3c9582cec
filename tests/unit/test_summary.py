"""The night's summary (minqing.summary) on literal figures: the 文件 section beside the
existing lines."""

from __future__ import annotations

import re
from typing import Any

from minqing.summary import summary_lines, summary_markdown

FIGURES: dict[str, Any] = {
    "taken": 5,
    "by_channel": {"hotline": 4, "qrform": 1},
    "rejected": 1,
    "rejections": [
        {
            "渠道": "hotline",
            "文件": "12345_20261127.csv",
            "来源": "12345_20261127.csv:5",
            "原因": "empty text",
        }
    ],
    "linked": 1,
    "new_cases": 4,
    "on_the_spot": 0,
    "needs_review": 0,
    "review_waiting": 0,
    "assigned": 4,
    "replies": 0,
    "lookbacks": 0,
    "reminders": 0,
    "escalations": 0,
    "verifications": 0,
    "ratings": 0,
    "satisfied": 0,
    "rated": 0,
    "sent": 4,
    "failed": 0,
    "dead": 0,
    "retry_later": 0,
    "outstanding": {"pending": 0, "sending": 0, "failed": 0, "dead": 0},
    "files": [
        {
            "channel": "hotline",
            "name": "12345_20261127.csv",
            "status": "taken",
            "taken": 4,
            "known": 2,
            "rejected": 1,
            "reason": None,
        },
        {
            "channel": "qrform",
            "name": "qr_20261127.jsonl",
            "status": "already_taken",
            "taken": 0,
            "known": 0,
            "rejected": 0,
            "reason": None,
        },
        {
            "channel": "hotline",
            "name": "导出|副本.xlsx",
            "status": "failed",
            "taken": 0,
            "known": 0,
            "rejected": 0,
            "reason": "truncated or damaged .xlsx (not a complete zip archive)\nFile is not a zip file",
        },
    ],
}


def section(markdown: str, title: str) -> list[str]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line]


def test_the_summary_lists_each_file_with_where_it_went_and_what_it_held() -> None:
    markdown = summary_markdown(FIGURES, "东湖街道人大工委", "2026-11-27 23:00")
    assert section(markdown, "文件") == [
        "## 文件（3 个：归档 2，失败 1）",
        "| 渠道 | 文件 | 去向 | 收录 | 已有 | 拒收 | 原因 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| 12345热线 | 12345_20261127.csv | 已收录，已归档 | 4 | 2 | 1 |  |",
        "| 扫码留言 | qr_20261127.jsonl | 此前已收录，已归档（未重读） | 0 | 0 | 0 |  |",
        "| 12345热线 | 导出\\|副本.xlsx | 未能读取，已移至 failed/ | 0 | 0 | 0 "
        "| truncated or damaged .xlsx (not a complete zip archive) File is not a zip file |",
    ]


def test_the_existing_lines_and_rejections_stay() -> None:
    markdown = summary_markdown(FIGURES, "东湖街道人大工委", "2026-11-27 23:00")
    assert markdown.startswith("# 东湖街道人大工委 民情直通车 · 2026-11-27 23:00 夜间运行摘要\n")
    assert "| 收集 | 5 条（12345热线 4，扫码留言 1） |" in markdown
    assert "| 拒收 | 1 条（原因见下表） |" in markdown
    assert (
        "| 发送邮件 | 今晚尝试发送 4 封：已发送 4，发送失败 0，已放弃 0，稍后重试 0 |" in markdown
    )
    assert section(markdown, "拒收明细")[-1] == (
        "| hotline | 12345_20261127.csv | 12345_20261127.csv:5 | empty text |"
    )
    # the files come after the figures and before the rejected rows
    assert markdown.index("| 未送达 |") < markdown.index("## 文件") < markdown.index("## 拒收明细")


def test_a_night_without_files_says_so() -> None:
    markdown = summary_markdown({**FIGURES, "files": []}, "工委", "2026-11-28 23:00")
    assert section(markdown, "文件") == ["## 文件", "今晚收件箱没有待收的文件。"]


def test_figures_without_a_files_entry_still_render() -> None:
    figures = {k: v for k, v in FIGURES.items() if k != "files"}
    assert "## 文件" not in summary_markdown(figures, "工委", "2026-11-28 23:00")


def test_the_days_intake_has_its_own_first_line_and_none_without_a_daytime_run():
    day = {"runs": 2, "taken": 3, "new_cases": 3, "assigned": 1, "urgent": 1, "duty_told": 1,
           "sent": 2, "by_channel": {"qrform": 3}}  # fmt: skip
    first, *_ = summary_lines({**FIGURES, "day": day})
    assert first == (
        "白天随到随办",
        "收集 3 条，新立案 3 件，交办 1 件（紧急 1 件），告知值班 1 件，发送邮件 2 封（不计入下列各项）",
    )
    quiet = {**day, "runs": 0}
    assert summary_lines({**FIGURES, "day": quiet})[0][0] == "收集"
    assert summary_lines(FIGURES)[0][0] == "收集"


def test_in_english_the_summary_reads_english_around_the_data() -> None:
    from minqing.i18n import using

    with using("en"):
        markdown = summary_markdown(FIGURES, "东湖街道人大工委", "2026-11-27 23:00")
    assert markdown.startswith("# 东湖街道人大工委 民情直通车 · night run summary of 2026-11-27")
    assert "| Collected | 5 items (12345 hotline 4, QR code form 1) |" in markdown
    assert "| Rejected | 1 item (reasons in the table below) |" in markdown
    assert (
        "| Satisfaction rate | — (0/0) to date (satisfied + basically satisfied / rated, "
        "each citizen's latest rating) |" in markdown
    )
    assert "| Awaiting review | 0 new since the last night; 0 cases waiting now |" in markdown
    assert "## Files (3: archived 2, failed 1)" in markdown
    assert "| 12345 hotline | 12345_20261127.csv | Taken in, archived | 4 | 2 | 1 |  |" in markdown
    text = (
        markdown.replace("东湖街道人大工委", "")
        .replace("民情直通车", "")
        .replace("导出\\|副本", "")
    )
    assert not re.search(r"[\u4e00-\u9fff]", text), text
