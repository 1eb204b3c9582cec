"""reason codes: kept reasons are stored as a code and its values, worded when shown

Revision ID: 0009
Revises: 0008

Rejections (拒收原因), a file's failure and a case's review reason (审核原因) were stored as
finished sentences in the language of the run that wrote them. They are now a code of
minqing/reasons.py plus its values (`reason_code`, `reason_params`; on cases
`review_reason_code`, `review_reason_params`), worded from the catalogue in the reader's
language. Rows written before keep their text in `reason` / `review_reason` and are shown as
written; `rejections.reason` becomes optional, as new rows leave it empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (("rejections", "reason"), ("ingested_files", "reason"), ("cases", "review_reason"))


def upgrade() -> None:
    for table, prefix in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(f"{prefix}_code", sa.String(40), nullable=True))
            batch.add_column(sa.Column(f"{prefix}_params", sa.JSON(), nullable=True))
            if table == "rejections":
                batch.alter_column("reason", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # A coded row gets its code as text: the sentence belongs to the catalogue, not to SQL.
    for table, prefix in TABLES:
        op.execute(
            f"UPDATE {table} SET {prefix} = {prefix}_code "
            f"WHERE {prefix} IS NULL AND {prefix}_code IS NOT NULL"
        )
        with op.batch_alter_table(table) as batch:
            if table == "rejections":
                batch.alter_column("reason", existing_type=sa.Text(), nullable=False)
            batch.drop_column(f"{prefix}_params")
            batch.drop_column(f"{prefix}_code")
