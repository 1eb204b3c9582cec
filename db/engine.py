"""One engine and one session factory per database URL, created on first use.

Tasks open `with Session() as s, s.begin():` for one unit of work and pass `s` to query
helpers. SQLite runs in WAL mode with foreign keys on; PostgreSQL via psycopg 3.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from minqing.settings import get_settings


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[OrmSession]] = {}


def _engine_for(url: str) -> Engine:
    if url not in _engines:
        real = normalise_url(url)
        if real.startswith("sqlite"):
            engine = create_engine(real, connect_args={"timeout": 30}, json_serializer=_json_text)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(
                real, pool_pre_ping=True, pool_size=5, max_overflow=5, json_serializer=_json_text
            )
        _engines[url] = engine
        _factories[url] = sessionmaker(bind=engine, expire_on_commit=False)
    return _engines[url]


def _json_text(value: Any) -> str:
    """JSON columns hold Chinese as it is, not as \\uXXXX escapes (3 bytes a character instead
    of 6; the same JSON either way, so rows written before read alike)."""
    return json.dumps(value, ensure_ascii=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine() -> Engine:
    settings = get_settings()
    if settings.resolved_database_url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    return _engine_for(settings.resolved_database_url)


def Session() -> OrmSession:  # noqa: N802 - reads like the sessionmaker it wraps
    """A new session on the configured database."""
    get_engine()
    return _factories[get_settings().resolved_database_url]()


def reset_engine() -> None:
    """Dispose of every engine (after the settings changed, e.g. between tests)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _factories.clear()
