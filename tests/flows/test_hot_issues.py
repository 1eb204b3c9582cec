"""The nightly flow publishes 热点问题: the `hot-issues` table artifact and the top of it in
the night's summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prefect.artifacts import Artifact

from flows.nightly import nightly
from minqing.workdays import LOCAL_TZ

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域,点赞数"
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"


def test_the_night_publishes_the_hot_issue_table_and_names_the_top_in_the_summary(minq):
    when = (datetime.now(UTC) - timedelta(days=2)).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    rows = [
        f"H1,张三,13912340001,路灯坏了,{when},{LAMP},东湖社区,3",
        f"H2,李四,13912340002,路灯不亮,{when},{LAMP}谢谢。,东湖社区,",
        f"H3,王五,13912340003,噪音,{when},南苑社区工地夜间施工噪音扰民，影响休息。,南苑社区,0",
    ]
    (minq.inbox("hotline") / "12345.csv").write_text(
        "\n".join([HEADER, *rows]) + "\n", encoding="gb18030"
    )
    with minq.sink():
        figures = nightly()
    top = figures["hot_issues"]
    assert [(r["标题"], r["反映人数"], r["点赞数"], r["关注度"]) for r in top] == [
        ("路灯坏了", 2, 3, 5),
        ("噪音", 1, 0, 1),
    ]
    table = Artifact.get("hot-issues", _sync=True)
    assert table is not None
    assert [r["案件编号"] for r in json.loads(table.data)] == [r["案件编号"] for r in top]
    summary = Artifact.get("nightly-summary", _sync=True)
    assert summary is not None
    assert "| 热点问题 | 前 2 件见下（全表见 hot-issues） |" in summary.data
    assert (
        f"## 热点问题（前 2 件）\n\n1. {top[0]['案件编号']} 路灯坏了（2 人反映，点赞 3）\n2. "
        in (summary.data)
    )
