"""The near-duplicate history index in the database (dedup_entries + dedup_bands).

Implements minqing.neardup's `HistoryIndex` protocol on one session, so a night queries only
the candidates its band hashes point at and never loads the history. An entry's case is its
submission's current case, so operators' merges and splits need no index update.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import Case, DedupBand, DedupEntry, Submission
from db.queries import insert_ignoring_conflicts
from minqing.neardup import OPEN, EntryMeta, PreparedBatch, ShingleSets, pack_shingles
from minqing.states import OPEN_STATUSES

CHUNK = 4000  # bound parameters per IN (...) query


def _chunks(values: Sequence[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class DatabaseIndex:
    def __init__(self, session: Session, fingerprint: str) -> None:
        self.session = session
        self.fingerprint = fingerprint

    def lookup(
        self, hashes: np.ndarray, since: int | None, per_hash_limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        wanted = np.unique(np.asarray(hashes, dtype=np.int64)).tolist()
        found_h: list[int] = []
        found_e: list[int] = []
        for chunk in _chunks(wanted):
            for h, e in self.session.execute(
                select(DedupBand.band_hash, DedupBand.submission_id).where(
                    DedupBand.band_hash.in_(chunk)
                )
            ):
                found_h.append(h)
                found_e.append(e)
        h = np.asarray(found_h, dtype=np.int64)
        e = np.asarray(found_e, dtype=np.int64)
        if not len(h):
            return h, e
        order = np.lexsort((-e, h))  # by hash, newest submission first
        h, e = h[order], e[order]
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
        group = np.repeat(starts, np.diff(np.r_[starts, len(h)]))
        keep = (np.arange(len(h)) - group) < per_hash_limit
        return h[keep], e[keep]

    def fetch_meta(self, entry_ids: np.ndarray) -> EntryMeta:
        ids = np.asarray(entry_ids, dtype=np.int64)
        rows: dict[int, tuple[Any, ...]] = {}
        for chunk in _chunks(np.unique(ids).tolist()):
            query = (
                select(
                    DedupEntry.submission_id,
                    DedupEntry.area,
                    DedupEntry.sketch,
                    DedupEntry.fingerprint,
                    Submission.case_id,
                    Case.status,
                    Case.closed_at,
                    Case.updated_at,
                )
                .join(Submission, Submission.id == DedupEntry.submission_id)
                .join(Case, Case.id == Submission.case_id)
                .where(DedupEntry.submission_id.in_(chunk))
            )
            for row in self.session.execute(query):
                rows[row[0]] = row[1:]
        case_ids = np.full(len(ids), -1, dtype=np.int64)
        active = np.zeros(len(ids), dtype=np.int64)  # 0: never a candidate (missing / stale)
        areas: list[str | None] = []
        sketches = None
        for i, entry in enumerate(ids.tolist()):
            row = rows.get(entry)
            if row is None or row[2] != self.fingerprint:
                areas.append(None)
                continue
            area, sketch, _fp, case_id, status, closed_at, updated_at = row
            if sketches is None:
                sketches = np.zeros((len(ids), len(sketch)), dtype=np.uint8)
            sketches[i] = np.frombuffer(sketch, dtype=np.uint8)
            case_ids[i] = case_id
            areas.append(area)
            if status in OPEN_STATUSES:
                active[i] = OPEN
            else:
                active[i] = int((closed_at or updated_at).timestamp())
        return EntryMeta(case_ids=case_ids, areas=areas, active_until=active, sketches=sketches)

    def fetch_shingles(self, entry_ids: np.ndarray) -> ShingleSets:
        ids = np.asarray(entry_ids, dtype=np.int64)
        blobs: dict[int, bytes] = {}
        for chunk in _chunks(np.unique(ids).tolist()):
            blobs.update(
                self.session.execute(
                    select(DedupEntry.submission_id, DedupEntry.shingles).where(
                        DedupEntry.submission_id.in_(chunk)
                    )
                ).tuples().all()
            )
        return ShingleSets.from_packed([blobs.get(e, b"") for e in ids.tolist()])


def add_entries(
    session: Session,
    submission_ids: Sequence[int],
    areas: Sequence[str | None],
    prepared: PreparedBatch,
    fingerprint: str,
) -> None:
    """Index a night's submissions (the rows are written in bulk; re-adding is a no-op)."""
    entries = [
        {
            "submission_id": sid,
            "area": area,
            "sketch": prepared.sketches[i].tobytes(),
            "shingles": pack_shingles(prepared.shingles[i]),
            "fingerprint": fingerprint,
        }
        for i, (sid, area) in enumerate(zip(submission_ids, areas, strict=True))
    ]
    insert_ignoring_conflicts(session, DedupEntry.__table__, entries, ["submission_id"])
    bands = [
        {"band_hash": int(h), "submission_id": sid}
        for i, sid in enumerate(submission_ids)
        for h in np.unique(prepared.band_hashes[i]).tolist()
    ]
    insert_ignoring_conflicts(session, DedupBand.__table__, bands, ["band_hash", "submission_id"])


def prune_bands(session: Session, submission_ids: Sequence[int]) -> None:
    """Drop the band rows of submissions that can never be candidates again."""
    for chunk in _chunks(list(submission_ids)):
        session.execute(delete(DedupBand).where(DedupBand.submission_id.in_(chunk)))
