"""热点问题 hot issues: the cases that most citizens raised or endorsed among those raised or
joined in the last days (30 by default) — the night's table, DataFrames in, DataFrame out.

A case's 关注度 (attention) is the citizens behind it: one per submission (一案多诉 links many
people's submissions to one case) plus the likes of its submissions where the channel has
likes (a like is a citizen saying "me too"). minqing.neardup.hot_issues ranks by submissions
first, which on a message board puts two unliked copies above a message eight hundred people
endorsed; here both count, and both are shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pandas as pd

from minqing.workdays import LOCAL_TZ

WINDOW_DAYS = 30
COLUMNS = (
    "排名", "案件编号", "标题", "分类", "状态", "关注度", "反映人数", "点赞数",
    f"近{WINDOW_DAYS}天反映", "最近反映",
)  # fmt: skip


def hot_issue_table(
    submissions: pd.DataFrame,
    cases: pd.DataFrame,
    now: datetime,
    *,
    days: int = WINDOW_DAYS,
    top: int = 20,
    status_labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The `top` hot issues at `now`.

    `submissions`: one row per submission of the candidate cases — case_id, received_at
    (aware UTC), likes (empty where the channel has none); a case takes part when one of its
    submissions was received in the `days` before `now` (opened or grown in the window, by the
    citizens' own times). `cases`: case_id, number, title, category, status; merged cases are
    left out. Ranked by 关注度 (submissions + likes), then submissions, then submissions in the
    window, then the latest submission, then the case number.
    """
    since = now - timedelta(days=days)
    recent_label = f"近{days}天反映"
    columns = [*COLUMNS[:8], recent_label, COLUMNS[-1]]
    live = cases[cases["status"].astype(str) != "merged"]
    subs = submissions[submissions["case_id"].isin(live["case_id"])]
    if subs.empty:
        return pd.DataFrame(columns=columns)
    subs = subs.assign(
        likes=pd.to_numeric(subs["likes"], errors="coerce").fillna(0).clip(lower=0),
        recent=subs["received_at"] >= since,
    )
    g = subs.groupby("case_id", sort=False)
    per_case = pd.DataFrame(
        {
            "submissions": g.size(),
            "likes": g["likes"].sum().astype("int64"),
            "recent": g["recent"].sum().astype("int64"),
            "last": g["received_at"].max(),
        }
    )
    per_case = per_case[per_case["recent"] > 0]
    per_case["attention"] = per_case["submissions"] + per_case["likes"]
    table = per_case.join(live.set_index("case_id"), how="inner").reset_index()
    table = table.sort_values(
        ["attention", "submissions", "recent", "last", "number"],
        ascending=[False, False, False, False, True],
        kind="stable",
    ).head(top)
    labels = status_labels or {}
    out = pd.DataFrame(
        {
            "排名": range(1, len(table) + 1),
            "案件编号": table["number"].to_numpy(),
            "标题": table["title"].to_numpy(),
            "分类": table["category"].fillna("未分类").to_numpy(),
            "状态": [labels.get(str(s), str(s)) for s in table["status"]],
            "关注度": table["attention"].to_numpy(),
            "反映人数": table["submissions"].to_numpy(),
            "点赞数": table["likes"].to_numpy(),
            recent_label: table["recent"].to_numpy(),
            "最近反映": [
                pd.Timestamp(t).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d") for t in table["last"]
            ],
        }
    )
    return out[columns].reset_index(drop=True)


def summary_text(table: pd.DataFrame, top: int = 5, days: int = WINDOW_DAYS) -> str:
    """The summary's 热点问题 line: the first `top` rows, most attention first."""
    if table.empty:
        return f"近{days}天没有新反映的问题"
    parts = [
        f"{r['案件编号']} {r['标题']}（{r['反映人数']} 人反映" + (f"，点赞 {r['点赞数']}" if r["点赞数"] else "") + "）"
        for r in table.head(top).to_dict(orient="records")
    ]  # fmt: skip
    return "；".join(parts)
