"""Shared fixtures: a real database (SQLite file and PostgreSQL), a real SMTP sink on loopback,
and a project home in a temporary folder so tests never touch var/ of the checkout.

Database tests take the `minq` fixture and run once per backend. PostgreSQL comes from
MINQING_TEST_PG_URL (default: the local server's `test` database); each test session makes
its own database there and drops it at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


# --- a real Prefect server, and a loopback stand-in for a group robot --------------------------

# Environment variables that would point a child process at another Prefect than the test's.
PREFECT_POINTERS = ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_HOME", "PREFECT_API_KEY")


@dataclass
class PrefectServer:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME (and database)."""

    api_url: str
    home: Path
    process: subprocess.Popen
    log: Path

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a child process that talks to this server (and no other)."""
        env = {k: v for k, v in os.environ.items() if k not in PREFECT_POINTERS}
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.home / "client"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_UI_URL=self.ui_url,
        )
        env.update(extra)
        return env

    def using(self) -> contextlib.AbstractContextManager[object]:
        """In this process: Prefect's client talks to this server inside the block."""
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        return temporary_settings(
            updates={PREFECT_API_URL: self.api_url, PREFECT_UI_URL: self.ui_url}
        )


def start_prefect_server(home: Path, timeout: float = 180.0) -> PrefectServer:
    """Start a Prefect server (its database under `home`) and wait until its API answers."""
    import httpx

    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in PREFECT_POINTERS}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PrefectServer(f"http://127.0.0.1:{port}/api", home, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited: {log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return server
        time.sleep(0.5)
    stop_prefect_server(server)
    raise RuntimeError(f"prefect server did not answer within {timeout:.0f} s")


def stop_prefect_server(server: PrefectServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One real Prefect server per test module (started when a test first asks for it): the
    runs, events, deployments and automations one module's `minqing serve` leaves behind never
    reach another module's tests."""
    server = start_prefect_server(tmp_path_factory.mktemp("prefect-server"))
    yield server
    stop_prefect_server(server)


@dataclass
class Robot:
    """A loopback HTTP server standing in for a group robot (企业微信 / 钉钉 / a webhook): it
    answers {"errcode": 0} and keeps every request's path and JSON body."""

    url: str
    received: list[dict] = field(default_factory=list)

    def wait_for(self, predicate, timeout: float = 60.0) -> list[dict]:
        """The requests received, once one satisfies `predicate` (or fail after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(r) for r in list(self.received)):
                return list(self.received)
            time.sleep(0.2)
        raise AssertionError(
            f"the robot received no matching message in {timeout} s: {self.received}"
        )


@pytest.fixture
def robot() -> Iterator[Robot]:
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append({"path": self.path, "json": json.loads(body or b"null")})
            answer = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Robot(f"http://127.0.0.1:{server.server_address[1]}/robot", got)
    server.shutdown()
    server.server_close()
