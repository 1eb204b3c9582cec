"""form receipts: a QR form sent twice (Back, then 提交 again) gets its first 留言编号

Revision ID: 0010
Revises: 0009

The web app records each QR submission's receipt number (the rendered form's one-time token,
unique) with a keyed hash of what was sent from which browser, so a second sending of the same
message — the same form, or the form re-rendered by Back with the typed text put back — shows
the first thank-you page and spools nothing new.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.String(length=40), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("station", sa.String(length=40), nullable=False),
        sa.Column("with_phone", sa.Boolean(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("form_id"),
    )
    with op.batch_alter_table("form_receipts") as batch:
        batch.create_index(batch.f("ix_form_receipts_content_key"), ["content_key"])
        batch.create_index(batch.f("ix_form_receipts_created_at"), ["created_at"])


def downgrade() -> None:
    op.drop_table("form_receipts")
