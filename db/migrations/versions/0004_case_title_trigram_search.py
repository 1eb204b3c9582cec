"""case title trigram index for the console's search (PostgreSQL only, optional)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 00:30:00

The console searches titles with LIKE '%…%'. Over a million cases that is a full scan unless
PostgreSQL has a trigram index. pg_trgm ships with PostgreSQL and is a trusted extension (13+),
but a locked-down server may still refuse it: then the index is skipped with a warning and
search keeps working, slower. SQLite has no such index. Not declared in db/models.py (it needs
the extension); db/migrations/env.py keeps autogenerate from proposing to drop it.
"""

from collections.abc import Sequence
import warnings

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_cases_title_trgm"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        warnings.warn(f"pg_trgm not available ({exc.orig}); case title search stays a scan", stacklevel=1)
        return
    op.create_index(INDEX, "cases", ["title"], postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
