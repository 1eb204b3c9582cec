"""The near-duplicate history index in the database (dedup_entries + dedup_bands).

Implements minqing.neardup's `HistoryIndex` protocol on one session, so a night queries only
the candidates its band hashes point at and never loads the history. An entry's case is its
submission's current case, so operators' merges and splits need no index update.

A night asks for hundreds of thousands of band hashes. They travel as one parameter per
statement — a JSON array that SQLite's json_each() unpacks, a bigint[] on PostgreSQL — instead
of IN lists of bound parameters: one round trip and one plan per slice of 50,000 values, and
the database walks the primary key of dedup_bands in order. New band rows are written the
same way (PostgreSQL: unnest of two arrays; SQLite: the driver's executemany), sorted by hash
so the inserts walk the index in order too.

dedup_bands is derived from dedup_entries.shingles: removing an entry recomputes its band rows
and deletes them by key (no second index on dedup_bands to maintain every night), and band rows
lost with PostgreSQL's unlogged table after a crash are recomputed the same way
(`restore_bands`). tasks/index.py prunes and rebuilds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from db.bulk import driver_connection, is_postgresql
from db.models import Case, DedupBand, DedupEntry, Submission
from db.queries import insert_ignoring_conflicts
from minqing.neardup import (
    OPEN,
    DedupParams,
    EntryMeta,
    PreparedBatch,
    ShingleSets,
    band_hashes,
    minhash_signatures,
    pack_shingles,
)
from minqing.states import OPEN_STATUSES

SLICE = 50_000  # values per statement
CHUNK = 4000  # bound parameters per IN (...) list (removing entries)

_OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))


def _chunks(values: Sequence[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _select_by_ids(session: Session, sql: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Rows of `sql`, whose `{ids}` is a FROM item `w` with one column `v` holding `ids`, as
    the driver returns them: plain tuples, hundreds of thousands of them. The ids travel as one
    parameter: an array literal unnested on PostgreSQL, a JSON array on SQLite; both databases
    then probe the joined table's key once per id."""
    postgresql = is_postgresql(session)
    if postgresql:
        statement = sql.format(ids="unnest(%s::bigint[]) AS w(v)")
    else:
        statement = sql.format(ids="(SELECT value AS v FROM json_each(?)) AS w")
    rows: list[tuple[Any, ...]] = []
    cursor = driver_connection(session).cursor()
    try:
        for start in range(0, len(ids), SLICE):
            listed = ",".join(map(str, ids[start : start + SLICE]))
            cursor.execute(statement, (f"{{{listed}}}" if postgresql else f"[{listed}]",))
            rows += cursor.fetchall()
    finally:
        cursor.close()
    return rows


class DatabaseIndex:
    def __init__(self, session: Session, fingerprint: str) -> None:
        self.session = session
        self.fingerprint = fingerprint
        if is_postgresql(session):
            # These plans are index probes; compiling them (the cost estimates of 50,000-row
            # lists invite it) takes longer than running them.
            session.execute(text("SET LOCAL jit = off"))

    def lookup(
        self, hashes: np.ndarray, since: int | None, per_hash_limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        wanted = np.unique(np.asarray(hashes, dtype=np.int64)).tolist()
        rows = _select_by_ids(
            self.session,
            "SELECT b.band_hash, b.submission_id FROM {ids} "
            "JOIN dedup_bands AS b ON b.band_hash = w.v",
            wanted,
        )
        found = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=2 * len(rows))
        h, e = found[0::2], found[1::2]
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
        # Status and times come back raw (no ORM type processing): the open test is a string
        # comparison, the closed time a timestamp only for closed cases.
        for row in _select_by_ids(
            self.session,
            "SELECT e.submission_id, e.area, e.sketch, e.fingerprint, s.case_id, c.status, "
            "c.closed_at, c.updated_at FROM {ids} "
            "JOIN dedup_entries AS e ON e.submission_id = w.v "
            "JOIN submissions AS s ON s.id = e.submission_id "
            "JOIN cases AS c ON c.id = s.case_id",
            np.unique(ids).tolist(),
        ):
            rows[row[0]] = tuple(row[1:])
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
            if status in _OPEN:
                active[i] = OPEN
            else:
                active[i] = _epoch(closed_at or updated_at)
        return EntryMeta(case_ids=case_ids, areas=areas, active_until=active, sketches=sketches)

    def fetch_shingles(self, entry_ids: np.ndarray) -> ShingleSets:
        ids = np.asarray(entry_ids, dtype=np.int64)
        blobs: dict[int, bytes] = dict(
            _select_by_ids(
                self.session,
                "SELECT e.submission_id, e.shingles FROM {ids} "
                "JOIN dedup_entries AS e ON e.submission_id = w.v",
                np.unique(ids).tolist(),
            )
        )
        return ShingleSets.from_packed([bytes(blobs.get(e, b"")) for e in ids.tolist()])


def _epoch(value: Any) -> int:
    """Seconds since 1970 of a stored UTC time: a datetime (PostgreSQL, naive or aware) or
    SQLite's text 'YYYY-MM-DD HH:MM:SS[.ffffff]'."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def add_entries(
    session: Session,
    submission_ids: Sequence[int],
    areas: Sequence[str | None],
    prepared: PreparedBatch,
    fingerprint: str,
) -> None:
    """Index a night's submissions (the rows are written in bulk; re-adding is a no-op)."""
    if not submission_ids:
        return
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
    hashes, owners = band_rows(np.asarray(submission_ids, dtype=np.int64), prepared.band_hashes)
    if not is_postgresql(session):
        insert_ignoring_conflicts(session, DedupEntry.__table__, entries, ["submission_id"])
        _insert_band_rows(session, hashes, owners)
        return
    # Only submissions not indexed yet (a re-run adds nothing); their rows cannot conflict, so
    # plain COPY and INSERT, without ON CONFLICT's second probe of the key per row.
    present = {
        row[0]
        for row in _select_by_ids(
            session,
            "SELECT e.submission_id FROM {ids} JOIN dedup_entries AS e ON e.submission_id = w.v",
            list(submission_ids),
        )
    }
    if present:
        fresh = ~np.isin(owners, np.fromiter(present, dtype=np.int64))
        hashes, owners = hashes[fresh], owners[fresh]
    columns = ", ".join(entries[0])
    with (
        driver_connection(session).cursor() as cursor,
        cursor.copy(f"COPY dedup_entries ({columns}) FROM STDIN") as copy,
    ):
        for e in entries:
            if e["submission_id"] not in present:
                copy.write_row(tuple(e.values()))
    _insert_band_rows(session, hashes, owners)


def _insert_band_rows(session: Session, hashes: np.ndarray, owners: np.ndarray) -> None:
    """Band rows that are not stored yet (PostgreSQL: plain INSERT, so they must be new)."""
    _per_band_row(
        session,
        "INSERT OR IGNORE INTO dedup_bands (band_hash, submission_id) VALUES (?, ?)",
        "INSERT INTO dedup_bands (band_hash, submission_id) "
        "SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
        hashes,
        owners,
    )


def _per_band_row(
    session: Session, sqlite: str, postgresql: str, hashes: np.ndarray, owners: np.ndarray
) -> int:
    """Run a statement for each (band_hash, submission_id) pair — SQLite: executemany of
    `sqlite`; PostgreSQL: `postgresql` once per slice, the pairs as two array literals. Returns
    the number of rows it affected."""
    if not is_postgresql(session):
        cursor = driver_connection(session).cursor()
        try:
            cursor.executemany(sqlite, zip(hashes.tolist(), owners.tolist(), strict=True))
            return cursor.rowcount
        finally:
            cursor.close()
    done = 0
    with driver_connection(session).cursor() as cursor:
        for a in range(0, len(hashes), SLICE):
            cursor.execute(
                postgresql, (_array(hashes[a : a + SLICE]), _array(owners[a : a + SLICE]))
            )
            done += cursor.rowcount
    return done


def _array(values: np.ndarray) -> str:
    """A PostgreSQL array literal of integers (a text parameter is parsed by the server in C,
    where a list parameter is dumped element by element in Python)."""
    return "{" + ",".join(map(str, values.tolist())) + "}"


def band_rows(submission_ids: np.ndarray, band_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(band_hash, submission_id) rows of a batch, each distinct pair once, in key order."""
    n, bands = band_hashes.shape
    hashes = np.asarray(band_hashes, dtype=np.int64).reshape(-1)
    owners = np.repeat(submission_ids, bands)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
    return hashes[first], owners[first]


def _closed_before(before: datetime) -> Any:
    """The case is no longer open and was closed (or last changed) before `before`."""
    return Case.status.not_in(_OPEN) & (func.coalesce(Case.closed_at, Case.updated_at) < before)


def closed_entries(session: Session, before: datetime, limit: int) -> list[int]:
    """Up to `limit` indexed submissions whose case was closed before `before`, lowest id
    first."""
    return list(
        session.scalars(
            select(DedupEntry.submission_id)
            .join(Submission, Submission.id == DedupEntry.submission_id)
            .join(Case, Case.id == Submission.case_id)
            .where(_closed_before(before))
            .order_by(DedupEntry.submission_id)
            .limit(limit)
        )
    )


def submissions_to_index(
    session: Session, before: datetime, after_id: int, limit: int
) -> list[Any]:
    """Up to `limit` linked submissions (id, area_code, text) with an id above `after_id` whose
    case is open or was closed since `before`: what a rebuilt index holds."""
    return list(
        session.execute(
            select(Submission.id, Submission.area_code, Submission.text)
            .join(Case, Case.id == Submission.case_id)
            .where(~_closed_before(before), Submission.id > after_id)
            .order_by(Submission.id)
            .limit(limit)
        ).all()
    )


def remove_entries(session: Session, submission_ids: Sequence[int], params: DedupParams) -> int:
    """Take submissions out of the index: their band rows, recomputed from the stored shingles
    (so dedup_bands needs no second index on submission_id), then their entries. Entries made
    with other settings (another fingerprint) lose only the entry; their band rows point at
    nothing and go with the next rebuild. Returns the number of band rows deleted."""
    ids = sorted(set(submission_ids))
    fingerprint = params.index_fingerprint()
    rows = [
        (sid, bytes(blob))
        for sid, blob, fp in _select_by_ids(
            session,
            "SELECT e.submission_id, e.shingles, e.fingerprint FROM {ids} "
            "JOIN dedup_entries AS e ON e.submission_id = w.v",
            ids,
        )
        if fp == fingerprint
    ]
    deleted = _delete_band_rows(session, *_recomputed_band_rows(rows, params)) if rows else 0
    for chunk in _chunks(ids):
        session.execute(delete(DedupEntry).where(DedupEntry.submission_id.in_(chunk)))
    return deleted


def _recomputed_band_rows(
    rows: Sequence[tuple[int, bytes]], params: DedupParams
) -> tuple[np.ndarray, np.ndarray]:
    """The band rows of (submission id, stored shingles) pairs, as add_entries wrote them."""
    sets = ShingleSets.from_packed([blob for _, blob in rows])
    signatures = minhash_signatures(sets, params.num_perm, params.seed)
    ids = np.array([sid for sid, _ in rows], dtype=np.int64)
    return band_rows(ids, band_hashes(signatures, params.bands))


def bands_lost(session: Session) -> bool:
    """Entries without a single band row: on PostgreSQL the unlogged dedup_bands comes back
    empty after a crash or a failover (migration 0006)."""
    return (
        session.scalar(select(DedupBand.band_hash).limit(1)) is None
        and session.scalar(select(DedupEntry.submission_id).limit(1)) is not None
    )


def restore_bands(session: Session, params: DedupParams, batch: int = 50_000) -> int:
    """Recompute the band rows of every entry made with the current settings from its stored
    shingles; returns the number of entries restored."""
    restored, last = 0, 0
    fingerprint = params.index_fingerprint()
    while True:
        rows = [
            (sid, bytes(blob))
            for sid, blob in session.execute(
                select(DedupEntry.submission_id, DedupEntry.shingles)
                .where(DedupEntry.submission_id > last, DedupEntry.fingerprint == fingerprint)
                .order_by(DedupEntry.submission_id)
                .limit(batch)
            )
        ]
        if not rows:
            return restored
        _insert_band_rows(session, *_recomputed_band_rows(rows, params))
        restored += len(rows)
        last = rows[-1][0]


def _delete_band_rows(session: Session, hashes: np.ndarray, owners: np.ndarray) -> int:
    return _per_band_row(
        session,
        "DELETE FROM dedup_bands WHERE band_hash = ? AND submission_id = ?",
        "DELETE FROM dedup_bands AS b USING unnest(%s::bigint[], %s::bigint[]) AS v(h, s) "
        "WHERE b.band_hash = v.h AND b.submission_id = v.s",
        hashes,
        owners,
    )


def clear_index(session: Session) -> None:
    """Empty the index (before a rebuild with new settings)."""
    session.execute(delete(DedupBand))
    session.execute(delete(DedupEntry))


def edge_fingerprints(session: Session) -> set[str]:
    """The settings fingerprints of the oldest and the newest entry: entries are written in id
    order, so after a settings change one of them differs (two key lookups, not a scan)."""
    found = set()
    for order in (DedupEntry.submission_id.asc(), DedupEntry.submission_id.desc()):
        fp = session.scalar(select(DedupEntry.fingerprint).order_by(order).limit(1))
        if fp is not None:
            found.add(fp)
    return found
