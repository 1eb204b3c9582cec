"""A real night's figures include the rehearsal nights' since the last real night
(minqing.rehearsals on literal figures): each count and breakdown added once, 收集 with the
rehearsals as a way in, and one line saying when they ran."""

from __future__ import annotations

from minqing.rehearsals import Rehearsal, rehearsal_record, with_rehearsals
from minqing.summary import summary_lines
from tests.unit.test_summary import FIGURES


def rehearsal(at: str, taken: int, new_cases: int, assigned: int) -> Rehearsal:
    f = {
        **FIGURES,
        "taken": taken,
        "by_channel": {"hotline": taken},
        "taken_by_way": {"inbox": taken},
        "new_cases": new_cases,
        "assigned": assigned,
        "assigned_new": assigned,
        "rejected": 1,
        "rejections": [{"渠道": "12345热线", "文件": "a.csv", "来源": "第 3 行", "原因": "内容为空"}],
        "files": [{"channel": "hotline", "name": "a.csv", "status": "taken", "taken": taken,
                   "known": 0, "rejected": 1}],
        "day": {"runs": 1, "taken": 2, "by_channel": {"qrform": 2}},
    }  # fmt: skip
    return Rehearsal(at, rehearsal_record(f))


def test_a_real_night_adds_each_rehearsal_since_the_last_real_night_once() -> None:
    night = {
        **FIGURES,
        "taken": 4,
        "by_channel": {"hotline": 3, "wechat": 1},
        "taken_by_way": {"inbox": 4},
        "new_cases": 4,
        "assigned": 2,
        "assigned_new": 2,
        "rejected": 0,
        "rejections": [],
        "day": {"runs": 0},
    }
    merged = with_rehearsals(
        night, [rehearsal("12月07日 22:00", 12, 9, 7), rehearsal("12月07日 23:10", 3, 2, 1)]
    )
    assert merged["taken"] == 19 and merged["by_channel"] == {"hotline": 18, "wechat": 1}
    assert merged["taken_by_way"] == {"inbox": 4, "rehearsal": 15}
    assert (merged["new_cases"], merged["assigned"], merged["assigned_new"]) == (15, 10, 10)
    assert merged["rejected"] == len(merged["rejections"]) == 2
    assert [x["rehearsal"] for x in merged["rehearsal_files"]] == [True, True]
    assert merged["day"] == {"runs": 2, "taken": 4, "by_channel": {"qrform": 4}}
    lines = dict(summary_lines(merged))
    assert lines["演练"] == (
        "含 12月07日 22:00、12月07日 23:10 共 2 次演练运行收录的 15 条、立案 11 件、交办 8 件"
        "（演练时未发送的消息本次发出）"
    )
    assert lines["收集"] == "19 条（演练运行收录 15，收件箱文件 4；12345热线 18，随手拍 1）"
    assert with_rehearsals(night, []) == night  # a real night after a real night: as it was


def test_a_rehearsal_says_its_intake_is_real_and_the_next_real_night_reports_it() -> None:
    line = dict(summary_lines({**FIGURES, "rehearsed": 3}))["演练"]
    assert "已实际生效" in line and "计入下一次正式夜间运行的摘要" in line
    assert "演练" not in dict(summary_lines(FIGURES))
