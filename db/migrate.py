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


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


_MISSING = ("no such table", "no such column", "undefinedtable", "undefinedcolumn")


def schema_problem(error: BaseException) -> str | None:
    """What to do when `error` is the database lacking a table or column this version of
    minqing needs (never set up, or not upgraded after an update), in the operator's words;
    None for any other error."""
    from sqlalchemy.exc import DBAPIError

    from minqing.i18n import _

    text = f"{type(getattr(error, 'orig', None)).__name__} {error}".lower()
    if not isinstance(error, DBAPIError) or not any(m in text for m in _MISSING):
        return None
    current = current_revision()
    if current is None:
        return _("数据库还没有建立：请先运行 minqing db upgrade（或运行 minqing demo 看演示）。")
    return _(
        "数据库的结构落后于程序（数据库版本 %(current)s，程序需要 %(head)s）："
        "请先运行 minqing db upgrade。"
    ) % {"current": current, "head": head_revision()}
