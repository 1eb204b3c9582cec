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
from typing import Any

import pandas as pd

from minqing.i18n import N_, _, ngettext, pgettext
from minqing.workdays import LOCAL_TZ

WINDOW_DAYS = 30
UNCATEGORISED = N_("未分类")
# The table's columns and their labels (translated by `headers`; "recent" names the window).
LABELS: Mapping[str, str] = {
    "rank": N_("排名"),
    "number": N_("案件编号"),
    "title": N_("标题"),
    "category": N_("分类"),
    "status": N_("状态"),
    "attention": N_("关注度"),
    "submissions": N_("反映人数"),
    "likes": N_("点赞数"),
    "recent": N_("近%(days)d天反映"),
    "last_received": N_("最近反映"),
}
COLUMNS = tuple(LABELS)


def headers(days: int = WINDOW_DAYS) -> dict[str, str]:
    """The columns' labels in the reader's language, for the table's readers."""
    out = {code: _(text) for code, text in LABELS.items()}
    out["recent"] = ngettext("近%(days)d天反映", "近%(days)d天反映", days) % {"days": days}
    return out


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
    window, then the latest submission, then the case number. Columns: `COLUMNS` (codes;
    `headers(days)` labels them), "recent" counting the submissions of the window.
    """
    since = now - timedelta(days=days)
    columns = list(COLUMNS)
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
            "rank": range(1, len(table) + 1),
            "number": table["number"].to_numpy(),
            "title": table["title"].to_numpy(),
            "category": table["category"].fillna(_(UNCATEGORISED)).to_numpy(),
            "status": [labels.get(str(s), str(s)) for s in table["status"]],
            "attention": table["attention"].to_numpy(),
            "submissions": table["submissions"].to_numpy(),
            "likes": table["likes"].to_numpy(),
            "recent": table["recent"].to_numpy(),
            "last_received": [
                pd.Timestamp(t).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d") for t in table["last"]
            ],
        }
    )
    return out[columns].reset_index(drop=True)


def summary_text(table: pd.DataFrame, top: int = 5, days: int = WINDOW_DAYS) -> str:
    """The summary's 热点问题 line: the first `top` rows, most attention first."""
    if table.empty:
        return ngettext("近%(days)d天没有新反映的问题", "近%(days)d天没有新反映的问题", days) % {
            "days": days
        }
    return pgettext("list", "；").join(summary_items(table, top))


def summary_items(table: pd.DataFrame, top: int = 5) -> list[str]:
    """The first `top` rows as the summary lists them, one sentence each."""
    return [_summary_item(r) for r in table.head(top).to_dict("records")]


def _summary_item(row: Mapping[str, Any]) -> str:
    n, likes = int(row["submissions"]), int(row["likes"])
    values = {"number": row["number"], "title": row["title"], "n": n, "likes": likes}
    if likes:
        return (
            ngettext(
                "%(number)s %(title)s（%(n)d 人反映，点赞 %(likes)d）",
                "%(number)s %(title)s（%(n)d 人反映，点赞 %(likes)d）",
                n,
            )
            % values
        )
    return (
        ngettext("%(number)s %(title)s（%(n)d 人反映）", "%(number)s %(title)s（%(n)d 人反映）", n)
        % values
    )
