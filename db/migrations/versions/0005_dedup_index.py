"""near-duplicate index: shingles, sketches and LSH band hashes per submission

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dedup_entries",
        sa.Column("submission_id", sa.Integer(), sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("area", sa.String(length=40), nullable=True),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.Column("shingles", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
    )
    op.create_table(
        "dedup_bands",
        sa.Column("band_hash", sa.BigInteger(), nullable=False),
        sa.Column("submission_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("band_hash", "submission_id"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("dedup_bands")
    op.drop_table("dedup_entries")
