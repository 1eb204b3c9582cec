"""Upkeep of the near-duplicate index (db/dedup_index.py) and of the case title search index.

Nightly, `prune-index` removes the submissions of cases closed more than
`window_days + prune_grace_days` ago (config/triage.yaml): they can never be candidates again,
so the index holds about one window of history however many years the office runs (a case
reopened after that is found by later duplicates again after `minqing index rebuild`). On
PostgreSQL it also merges the new case titles waiting in the title search index's pending list
(migration 0006), off triage's path.

After a change of the settings the band hashes depend on (shingle size, num_perm, bands, seed:
`DedupParams.index_fingerprint`), the stored entries no longer match and triage warns;
`minqing index rebuild` re-indexes the submissions of open and recently closed cases with the
new settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger, task
from sqlalchemy import func, select, text

from db.bulk import is_postgresql
from db.dedup_index import (
    add_entries,
    clear_index,
    closed_entries,
    remove_entries,
    submissions_to_index,
)
from db.engine import Session
from db.models import DedupBand, DedupEntry
from minqing.i18n import _
from minqing.neardup import DedupParams, prepare_batch
from tasks.context import context
from tasks.triage import dedup_params

BATCH = 20_000  # submissions per transaction


def prune_cutoff(params: DedupParams, now: datetime) -> datetime:
    """Cases closed before this can no longer be matched by anything a night receives."""
    return now - timedelta(days=params.window_days + params.prune_grace_days)


def prune_now(now: datetime | None = None, limit: int | None = None) -> dict[str, int]:
    """Remove (at most `limit`) entries of long-closed cases, BATCH per transaction."""
    params = dedup_params(context())
    before = prune_cutoff(params, now or datetime.now(UTC))
    entries = band_rows = 0
    while limit is None or entries < limit:
        size = BATCH if limit is None else min(BATCH, limit - entries)
        with Session() as s, s.begin():
            ids = closed_entries(s, before, size)
            if not ids:
                break
            band_rows += remove_entries(s, ids, params)
        entries += len(ids)
    return {"entries": entries, "band_rows": band_rows}


def index_status() -> dict[str, Any]:
    """How big the index is and whether it was built with the current settings."""
    fingerprint = dedup_params(context()).index_fingerprint()
    with Session() as s:
        by_fingerprint = dict(
            s.execute(
                select(DedupEntry.fingerprint, func.count()).group_by(DedupEntry.fingerprint)
            ).all()
        )
        band_rows = s.scalar(select(func.count()).select_from(DedupBand)) or 0
    return {
        "fingerprint": fingerprint,
        "entries": sum(by_fingerprint.values()),
        "stale_entries": sum(n for fp, n in by_fingerprint.items() if fp != fingerprint),
        "band_rows": band_rows,
    }


def rebuild_now(now: datetime | None = None) -> dict[str, int]:
    """Empty the index and re-index, with the current settings, every linked submission whose
    case is open or closed after the prune cutoff. One transaction: triage never sees a half
    index."""
    params = dedup_params(context())
    before = prune_cutoff(params, now or datetime.now(UTC))
    indexed = 0
    fingerprint = params.index_fingerprint()
    with Session() as s, s.begin():
        clear_index(s)
        last = 0
        while True:
            rows = submissions_to_index(s, before, last, BATCH)
            if not rows:
                break
            prepared = prepare_batch([r.text for r in rows], params)
            add_entries(s, [r.id for r in rows], [r.area_code for r in rows], prepared, fingerprint)
            indexed += len(rows)
            last = rows[-1].id
    return {"entries": indexed}


def merge_title_search_list() -> None:
    """PostgreSQL: merge the new titles waiting in the title search index's pending list
    (migration 0006) in one sorted pass, instead of title by title during triage."""
    with Session() as s, s.begin():
        if is_postgresql(s) and s.scalar(text("SELECT to_regclass('ix_cases_title_trgm')")):
            s.execute(text("SELECT gin_clean_pending_list('ix_cases_title_trgm')"))


@task(name="prune-index")
def prune_index() -> dict[str, int]:
    """清理查重索引: drop the index entries of long-closed cases; merge the title search list."""
    merge_title_search_list()
    done = prune_now()
    get_run_logger().info(
        _("查重索引：移除已办结超过期限的 %(entries)d 条记录（%(bands)d 个分段）")
        % {"entries": done["entries"], "bands": done["band_rows"]}
    )
    return done
