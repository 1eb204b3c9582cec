"""triage-dask on a LocalCluster gives the cases, links and similarities of triage_now: the
same night is triaged both ways from the same database state (reset in between).

Real messages (TipDM 2020 C) make the history and the night, with perturbed copies of both so
that submissions join history cases and earlier items of the night, across chunk and slice
boundaries (CHUNK is lowered so the night is several chunks).
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect_dask import DaskTaskRunner
from sqlalchemy import bindparam, delete, func, select, update

import tasks.triage
from db.engine import Session
from db.models import AuditEvent, Case, DedupBand, DedupEntry, Reply, Submission
from flows.triage_dask import triage_dask
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now
from tasks.triage_dask import split_plan

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tipdm2020c"
LIKES = DATA / "messages_with_likes.csv"
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
HEADER = ["工单编号", "受理时间", "来电人", "标题", "诉求内容", "所属区域"]


def write_hotline(minq, name: str, rows: list[list[str]]) -> None:
    with (minq.inbox("hotline") / name).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)


def perturb(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 40)):
        del chars[rng.randrange(len(chars))]
    return rng.choice(["您好，", "领导好！", ""]) + "".join(chars) + rng.choice(["谢谢。", ""])


def row(ticket: str, when: datetime, title: str, text: str, n: int) -> list[str]:
    local = when + timedelta(hours=8)
    return [ticket, f"{local:%Y-%m-%d %H:%M:%S}", "", title, text, ["东湖社区", "南苑社区"][n % 2]]


def night_rows() -> tuple[list[list[str]], list[list[str]]]:
    with LIKES.open(encoding="utf-8-sig", newline="") as fh:
        real = [(m["留言主题"], m["留言详情"]) for m in csv.DictReader(fh)][:900]
    rng = random.Random(5)
    start = NOW - timedelta(days=20)
    history = [row(f"H{i}", start + timedelta(minutes=i), t, d, i)
               for i, (t, d) in enumerate(real[:450])]  # fmt: skip
    night: list[tuple[str, str]] = list(real[450:])
    for _ in range(250):  # copies of history texts and of earlier items of the night
        title, text = rng.choice(real[:450] if rng.random() < 0.5 else night)
        night.insert(rng.randrange(len(night) + 1), (title, perturb(text, rng)))
    first = NOW - timedelta(hours=20)
    return history, [row(f"N{i}", first + timedelta(seconds=70 * i), t, d, i)
                     for i, (t, d) in enumerate(night)]  # fmt: skip


def outcome() -> dict[str, object]:
    """Every submission's case (named by the ticket of its first submission), link method and
    similarity; every case's category, status, supporters and review reason."""
    with Session() as s:
        subs = s.execute(
            select(Submission.source_ref, Submission.case_id, Submission.link_method,
                   Submission.similarity).order_by(Submission.received_at, Submission.id)
        ).all()  # fmt: skip
        cases = {c.id: c for c in s.scalars(select(Case))}
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    anchor: dict[int, str] = {}
    for ref, case_id, _m, _s in subs:
        anchor.setdefault(case_id, ref)
    return {
        "links": {ref: (anchor[c], m, sim) for ref, c, m, sim in subs},
        "cases": {
            anchor[i]: (
                c.category,
                c.status.value,
                c.supporters,
                c.review_reason_code,
                c.review_reason_params,
            )
            for i, c in cases.items()
        },  # fmt: skip
        "events": events,
    }


class Snapshot:
    """The database before the night's triage; `restore` undoes a triage run."""

    def __init__(self) -> None:
        with Session() as s:
            self.case = s.scalar(select(func.max(Case.id))) or 0
            self.event = s.scalar(select(func.max(AuditEvent.id))) or 0
            self.supporters = dict(s.execute(select(Case.id, Case.supporters)).all())
            self.night = list(s.scalars(select(Submission.id).where(Submission.case_id.is_(None))))

    def restore(self) -> None:
        with Session() as s, s.begin():
            s.execute(delete(DedupBand).where(DedupBand.submission_id.in_(self.night)))
            s.execute(delete(DedupEntry).where(DedupEntry.submission_id.in_(self.night)))
            s.execute(
                update(Submission)
                .where(Submission.id.in_(self.night))
                .values(case_id=None, link_method=None, similarity=None)
            )
            s.execute(delete(AuditEvent).where(AuditEvent.id > self.event))
            s.execute(delete(Reply).where(Reply.case_id > self.case))
            s.execute(delete(Case).where(Case.id > self.case))
            s.connection().execute(
                update(Case.__table__)
                .where(Case.__table__.c.id == bindparam("cid"))
                .values(supporters=bindparam("n")),
                [{"cid": k, "n": v} for k, v in self.supporters.items()],
            )


def test_split_plan_keeps_the_order_and_the_chunks_of_triage_now():
    plan = split_plan(list(range(11)), chunk=5, partitions=2)
    assert plan == [[[0, 1], [2, 3, 4]], [[5, 6], [7, 8, 9]], [[10]]]
    assert split_plan([], 5, 2) == []


@pytest.mark.skipif(not LIKES.exists(), reason=f"real data not found at {LIKES.resolve()}")
def test_triage_on_dask_workers_links_exactly_like_the_single_process_run(minq, monkeypatch):
    history, night = night_rows()
    write_hotline(minq, "history.csv", history)
    ingest_inbox_now()
    triage_now(NOW - timedelta(days=1))
    write_hotline(minq, "night.csv", night)
    ingest_inbox_now()
    monkeypatch.setattr(tasks.triage, "CHUNK", 300)  # 950 items: four chunks
    before = Snapshot()
    assert len(before.night) == len(night)

    single = triage_now(NOW)
    expected = outcome()
    before.restore()
    with Session() as s, s.begin():  # as PostgreSQL leaves the unlogged band table after a crash
        s.execute(delete(DedupBand))
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "processes": False})
    on_dask = triage_dask.with_options(task_runner=runner)(partitions=3, now=NOW)

    assert single["warnings"] == [] and {**on_dask, "warnings": []} == single
    restored = on_dask["warnings"]
    assert len(restored) == 1 and "重建" in restored[0]  # rebuilt before anything was linked
    assert outcome() == expected
    links = expected["links"]
    night_links = [links[f"N{i}"] for i in range(len(night))]
    assert sum(m == "near" for _a, m, _s in night_links) >= 150
    assert any(a.startswith("H") for a, m, _s in night_links if m == "near")  # history cases
    assert any(a.startswith("N") for a, m, _s in night_links if m == "near")  # tonight's
