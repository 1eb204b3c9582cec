"""Shared fixtures: a real database (SQLite file and PostgreSQL), a real SMTP sink on loopback,
and a project home in a temporary folder so tests never touch var/ of the checkout.

Database tests take the `minq` fixture and run once per backend. PostgreSQL comes from
MINQING_TEST_PG_URL (default: the local server's `test` database); each test session makes
its own database there and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db.engine import Session, get_engine, reset_engine
from db.migrate import upgrade
from db.models import Base
from mail.sink import SmtpSink
from minqing.settings import Settings, get_settings, reset_settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "tipdm2020c"
PG_ADMIN_URL = os.environ.get(
    "MINQING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once."""
    name = f"minqing_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    reset_engine()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_migrated: set[str] = set()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "minqing.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINQING_DATABASE_URL", f"sqlite:///{path}")
        reset_settings()
        reset_engine()
        upgrade()
        with get_engine().connect() as c:  # fold the WAL into the file before it is copied
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        reset_engine()
    reset_settings()
    return path


@dataclass
class Minq:
    """One test's project: its home folder, settings, database backend and mail sink port."""

    home: Path
    backend: str
    url: str
    sink_port: int

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def mail_dir(self) -> Path:
        return self.settings.mail_dir

    def inbox(self, channel: str) -> Path:
        folder = self.settings.inbox_dir / channel
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def sink(self, **kwargs: object) -> SmtpSink:
        return SmtpSink(self.mail_dir, port=self.sink_port, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def minq(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Minq]:
    backend = request.param
    url = (
        f"sqlite:///{tmp_path / 'var' / 'minqing.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    port = free_port()
    for key, value in {
        "MINQING_HOME": str(tmp_path),
        "MINQING_DATABASE_URL": url,
        "MINQING_CONFIG_DIR": str(REPO / "config"),
        "MINQING_MAIL_MODE": "sink",
        "MINQING_SINK_PORT": str(port),
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    reset_engine()
    if backend == "sqlite":
        # Migrating once and copying the file is much faster than migrating every test's database.
        (tmp_path / "var").mkdir(exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "var" / "minqing.db")
    elif url not in _migrated:
        upgrade()
        _migrated.add(url)
    else:
        _empty_tables()
    from tasks.reference import sync_reference_now

    sync_reference_now()
    yield Minq(tmp_path, backend, url, port)
    reset_engine()
    reset_settings()


def _empty_tables() -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as c:
        c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session(minq: Minq) -> Iterator[object]:
    with Session() as s:
        yield s
