"""Apply Alembic migrations programmatically (used by `minqing db upgrade`, the demo and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(revision: str = "head") -> None:
    """Bring the configured database to `revision` (idempotent)."""
    from db.engine import get_engine

    cfg = alembic_config()
    with get_engine().begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision() -> str | None:
    from alembic.runtime.migration import MigrationContext

    from db.engine import get_engine

    with get_engine().connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
