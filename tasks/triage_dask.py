"""整理 with Dask: the CPU-heavy half of triage — shingles, MinHash signatures, band hashes
and classification — runs on Dask workers over slices of each chunk; linking and writing stay
in one task per chunk, chunk after chunk, in triage_now's order (a night's duplicates link to
the earliest item of the night, so order matters).

The chunks are triage_now's (tasks.triage.CHUNK submissions by received time, id) and the
functions are the same (prepare_batch and the classifier are per item), so the cases, links
and similarities are those of the single-process run. A worker reads its slice's texts by id
(read-only); no text passes through the scheduler, only ids and the prepared arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import distributed
import numpy as np
from prefect import task
from sqlalchemy import select

import tasks.triage as triage
from db.bulk import lock_for_triage
from db.engine import Session
from db.models import Submission
from minqing.classify import Classification
from minqing.neardup import PreparedBatch, ShingleSets, prepare_batch
from tasks.context import context


@dataclass(frozen=True)
class PreparedSlice:
    """One slice of a chunk, computed by a worker: its submission ids (in triage order),
    their prepared batch and their classifications."""

    ids: list[int]
    prepared: PreparedBatch
    classified: list[Classification]


def split_plan(ids: Sequence[int], chunk: int, partitions: int) -> list[list[list[int]]]:
    """Ids in triage order cut into chunks of `chunk`, each cut into at most `partitions`
    contiguous slices of nearly equal size."""
    plan = []
    for start in range(0, len(ids), chunk):
        part = list(ids[start : start + chunk])
        bounds = np.linspace(0, len(part), min(partitions, len(part)) + 1).round().astype(int)
        plan.append([part[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a])
    return plan


def concat_slices(slices: Sequence[PreparedSlice]) -> PreparedSlice:
    return PreparedSlice(
        [i for s in slices for i in s.ids],
        PreparedBatch(
            ShingleSets.concat([s.prepared.shingles for s in slices]),
            np.concatenate([s.prepared.band_hashes for s in slices]),
            np.concatenate([s.prepared.sketches for s in slices]),
        ),
        [c for s in slices for c in s.classified],
    )


def take(whole: PreparedSlice, positions: Sequence[int]) -> PreparedSlice:
    at = np.asarray(positions, dtype=np.int64)
    p = whole.prepared
    return PreparedSlice(
        [whole.ids[k] for k in positions],
        PreparedBatch(p.shingles.take(at), p.band_hashes[at], p.sketches[at]),
        [whole.classified[k] for k in positions],
    )


@task(name="dask-threads")
def cluster_threads() -> int:
    """How many worker threads the Dask cluster has now (run on one of its workers)."""
    return sum(distributed.get_client().nthreads().values())


@task(name="triage-index-check")
def check_triage_index() -> list[str]:
    """triage.check_index before anything is linked: band rows lost in a PostgreSQL crash are
    rebuilt, an index made with other settings is reported."""
    return triage.check_index(triage.dedup_params(context()))


@task(name="triage-plan")
def plan_triage(partitions: int) -> list[list[list[int]]]:
    """The unlinked submissions' ids in triage order: triage_now's chunks, each in slices."""
    with Session() as s:
        ids = s.scalars(
            select(Submission.id)
            .where(Submission.case_id.is_(None))
            .order_by(Submission.received_at, Submission.id)
        ).all()
    return split_plan(ids, triage.CHUNK, partitions)


@task(name="triage-prepare")
def prepare_slice(ids: list[int]) -> PreparedSlice:
    """Shingles, signatures, band hashes and the classification of every item of a slice."""
    ctx = context()
    classify, _threshold, _warnings = triage.classifier_for(ctx)
    with Session() as s:
        rows = {r.id: r for r in s.execute(select(*triage.CHUNK_COLUMNS).where(
            Submission.id.in_(ids)))}  # fmt: skip
    subs = [rows[i] for i in ids]
    return PreparedSlice(
        ids,
        prepare_batch([sub.text for sub in subs], triage.dedup_params(ctx)),
        classify([triage.classification_text(sub.title, sub.text) for sub in subs]),
    )


@task(name="triage-link")
def link_slices(slices: list[PreparedSlice], now: datetime | None = None) -> dict[str, Any]:
    """Link, open cases and index one chunk from its prepared slices, in one transaction.
    Submissions linked meanwhile (a rerun after a crash) are left out."""
    ctx = context()
    classify, threshold, warnings = triage.classifier_for(ctx)
    whole = concat_slices(slices)
    totals: dict[str, Any] = {"new_cases": 0, "linked": 0, "needs_review": 0, "on_the_spot": 0}
    with Session() as s, s.begin():
        lock_for_triage(s)
        subs = triage.unlinked_submissions(s, len(whole.ids), whole.ids)
        position = {sid: k for k, sid in enumerate(whole.ids)}
        part = take(whole, [position[sub.id] for sub in subs])
        if subs:
            triage._triage_chunk(
                s, subs, classify, threshold, triage.dedup_params(ctx), now or datetime.now(UTC),
                totals, part.prepared, part.classified,
            )  # fmt: skip
    return {**totals, "warnings": warnings}


@task(name="triage-totals")
def add_totals(results: list[dict[str, Any]], checks: Sequence[str] = ()) -> dict[str, Any]:
    """The night's triage figures, as triage_now reports them (`checks`: the index check's
    warnings)."""
    out: dict[str, Any] = {"new_cases": 0, "linked": 0, "needs_review": 0, "on_the_spot": 0}
    warnings: list[str] = []
    for r in results:
        for key in out:
            out[key] += r[key]
        warnings += [w for w in r.get("warnings", []) if w not in warnings]
    return {**out, "warnings": warnings + list(checks)}
