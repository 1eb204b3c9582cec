"""Alembic environment: migrates the database named by the settings (or -x url=...)."""

from __future__ import annotations

from alembic import context

from db.engine import get_engine, normalise_url
from db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    connectable = config.attributes.get("connection")
    if connectable is None:
        from sqlalchemy import create_engine

        engine = create_engine(normalise_url(url)) if url else get_engine()
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


# Objects made by migrations but not declared in db/models.py (they need a PostgreSQL
# extension); autogenerate must not propose to drop them.
UNMANAGED = {"ix_cases_title_trgm"}


def _managed(name, type_, parent_names) -> bool:
    return name not in UNMANAGED


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_managed,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
