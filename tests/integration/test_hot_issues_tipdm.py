"""热点问题 on real citizens' messages (TipDM 2020 C, messages_with_likes.csv): the 4,326
messages arrive as a hotline export with its 点赞数 column, are triaged (near-duplicates
linked), and the table of the 30 days before 2 March 2019 is checked against the database."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.engine import Session
from db.models import Case, Submission
from minqing.channels.base import parse_datetime
from tasks.hotissues import TOP, hot_issues_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tipdm2020c"
LIKES = DATA / "messages_with_likes.csv"
NOW = datetime(2019, 3, 2, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not LIKES.exists(),
    reason=f"real data not found at {LIKES.resolve()} (shared/data/tipdm2020c beside the repository)",
)


def messages_until(now: datetime) -> list[dict[str, str]]:
    """The messages posted before `now` (Beijing time in the file): the office's database on
    that night holds nothing later."""
    with LIKES.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [m for m in rows if parse_datetime(m["留言时间"]) < now]


def test_hot_issues_of_real_messages_rank_every_active_case_by_people_and_likes(minq):
    rows = messages_until(NOW)
    assert 500 < len(rows) < 4326
    path = minq.inbox("hotline") / "留言板_点赞.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工单编号", "受理时间", "来电人", "标题", "诉求内容", "点赞数"])
        for m in rows:
            w.writerow([m["留言编号"], m["留言时间"], m["留言用户"], m["留言主题"],
                        m["留言详情"], m["点赞数"]])  # fmt: skip
    ingest_inbox_now()
    totals = triage_now(NOW)
    assert totals["linked"] > 0  # the board has reposts
    likes_of = {m["留言编号"]: int(m["点赞数"]) for m in rows}
    with Session() as s:
        # the optional likes column came through the parser into every submission
        assert s.scalar(select(func.sum(Submission.likes))) == sum(likes_of.values())
        subs = s.execute(
            select(Submission.case_id, Submission.source_ref, Submission.received_at)
        ).all()
        numbers = {c.id: c.number for c in s.scalars(select(Case))}
    people: Counter[int] = Counter()
    likes: Counter[int] = Counter()
    recent: dict[int, bool] = defaultdict(bool)
    for case_id, ticket, received in subs:
        people[case_id] += 1
        likes[case_id] += likes_of[ticket]
        recent[case_id] |= received >= NOW - timedelta(days=30)

    table = hot_issues_now(NOW)["rows"]

    assert len(table) == TOP
    by_number = {numbers[c]: c for c in people}
    attention = {c: people[c] + likes[c] for c in people}
    for row in table:
        case_id = by_number[row["案件编号"]]
        assert recent[case_id], "only cases raised or joined in the window"
        assert (row["反映人数"], row["点赞数"]) == (people[case_id], likes[case_id])
        assert row["关注度"] == attention[case_id]
    shown = [r["关注度"] for r in table]
    assert shown == sorted(shown, reverse=True)
    left_out = [attention[c] for c in people if recent[c] and numbers[c] not in
                {r["案件编号"] for r in table}]  # fmt: skip
    assert max(left_out) <= shown[-1], "no active case with more attention is left out"
    # the three 58车贷 petitions of late February 2019 (821, 790 and 733 likes) lead
    assert all("58车贷" in r["标题"] for r in table[:3])
