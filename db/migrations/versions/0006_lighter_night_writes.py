"""lighter night writes: unused and redundant indexes dropped; on PostgreSQL the band table is
unlogged and the title trigram index collects new titles in its pending list

Revision ID: 0006
Revises: 0005

Every night inserts ~100,000 submissions, links them (an UPDATE, which writes every index of
the row again), opens tens of thousands of cases and writes 32 band rows per submission. The
1,000,000-history benchmark (bench/bench_triage.py) wrote 4.7 GB of WAL on PostgreSQL; this
revision removes the part that serves nobody:

- text_key (submissions, cases) is never looked up (duplicates are found by MinHash), the
  channel index of submissions is never chosen (six values), and the single-column indexes on
  cases.status, cases.area_code and cases.lead_department repeat the leading column of the
  (status, id), (area_code, id) and (lead_department, id) indexes.
- dedup_bands is derived data — every row can be recomputed from dedup_entries.shingles — so
  on PostgreSQL it is UNLOGGED: no WAL for 3.2 million rows a night. After a crash PostgreSQL
  empties it; the next triage rebuilds it from dedup_entries (tasks/triage.py,
  db/dedup_index.restore_bands) before it links anything.
- ix_cases_title_trgm (console search) keeps up to 64 MB of new titles in its pending list
  instead of merging each title's trigrams one by one; the nightly `prune-index` stage merges
  the list in one sorted pass (gin_clean_pending_list).
"""

from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {
    "submissions": ["ix_submissions_text_key", "ix_submissions_channel"],
    "cases": ["ix_cases_text_key", "ix_cases_status", "ix_cases_area_code", "ix_cases_lead_department"],
}
RESTORED = {
    "ix_submissions_text_key": ("submissions", "text_key"),
    "ix_submissions_channel": ("submissions", "channel"),
    "ix_cases_text_key": ("cases", "text_key"),
    "ix_cases_status": ("cases", "status"),
    "ix_cases_area_code": ("cases", "area_code"),
    "ix_cases_lead_department": ("cases", "lead_department"),
}


def _has_trigram_index(bind) -> bool:
    return bool(bind.execute(sa.text("SELECT to_regclass('ix_cases_title_trgm')")).scalar())


def upgrade() -> None:
    for table, names in DROPPED.items():
        for name in names:
            op.drop_index(name, table_name=table)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE dedup_bands SET UNLOGGED")
    if _has_trigram_index(bind):
        op.execute("ALTER INDEX ix_cases_title_trgm SET (fastupdate = on, gin_pending_list_limit = 65536)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        if _has_trigram_index(bind):
            op.execute("ALTER INDEX ix_cases_title_trgm RESET (fastupdate, gin_pending_list_limit)")
        op.execute("ALTER TABLE dedup_bands SET LOGGED")
    for name, (table, column) in RESTORED.items():
        op.create_index(name, table, [column])
