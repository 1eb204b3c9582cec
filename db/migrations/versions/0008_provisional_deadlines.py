"""provisional deadlines: a case says when its deadline was counted Monday–Friday

Revision ID: 0008
Revises: 0007

`cases.due_provisional` (暂定) marks a deadline counted through a year whose statutory holidays
were not configured yet; such deadlines are recounted when config/calendar.yaml gains the year,
and the department is told when its date moves (a handoff of the new kind `deadline`, 办理时限
调整). Existing cases start unflagged; the next reference load flags the open ones whose deadline
lies in a year that is still unconfigured.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = (
    "assignment", "reminder", "escalation", "leader", "reopen", "withdrawal", "survey",
    "verification", "duty",
)  # fmt: skip
NEW = (*OLD, "deadline")


def _kinds(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint("handoff_kind", type_="check")
        batch.create_check_constraint(
            "handoff_kind", "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"
        )


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("due_provisional", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _kinds(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM handoffs WHERE kind = 'deadline'")
    _kinds(OLD)
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("due_provisional")
