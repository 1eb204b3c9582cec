"""representative evaluations (代表集体评议)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('representative_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('representative', sa.String(length=60), nullable=False),
    sa.Column('department_code', sa.String(length=40), nullable=False),
    sa.Column('score', sa.String(length=10), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('source_file', sa.String(length=400), nullable=True),
    sa.Column('source_ref', sa.String(length=200), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], ),
    sa.ForeignKeyConstraint(['supersedes_id'], ['representative_evaluations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_key')
    )
    with op.batch_alter_table('representative_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_representative_evaluations_department_code'), ['department_code'], unique=False)
        batch_op.create_index('ix_representative_evaluations_period', ['period_start', 'period_end'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('representative_evaluations', schema=None) as batch_op:
        batch_op.drop_index('ix_representative_evaluations_period')
        batch_op.drop_index(batch_op.f('ix_representative_evaluations_department_code'))

    op.drop_table('representative_evaluations')
