"""duty alert handoffs: the outbox also carries 值班提醒 to the office's duty contacts

Revision ID: 0007
Revises: 0006

An alert to the duty mailbox is a handoff like any other (kind `duty`, no case), so it is
committed before it is sent and, when the mail server is the thing that is down, delivered by
the next delivery once it is back. The kind column is VARCHAR + CHECK; this widens the CHECK.
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("assignment", "reminder", "escalation", "leader", "reopen", "withdrawal", "survey", "verification")
NEW = (*OLD, "duty")


def _check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _replace(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint("handoff_kind", type_="check")
        batch.create_check_constraint("handoff_kind", _check(kinds))


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM handoffs WHERE kind = 'duty'")
    _replace(OLD)
