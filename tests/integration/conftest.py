"""Fixtures shared by the integration tests: the web app (forms and pages) and the operator
console, logged in; an empty database of each kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from db.engine import reset_engine
from minqing.settings import reset_settings
from tests.conftest import PG_ADMIN_URL
from web.app import create_app
from web.testing import hidden_fields

OPERATOR, PASSWORD = "操作员乙", "long enough pw"


@pytest.fixture
def client(minq, monkeypatch) -> Iterator[TestClient]:
    """The web app on the test's database (links signed, mail rehearsed, not sent)."""
    monkeypatch.setenv("MINQING_SECRET_KEY", "web-test-secret-" + "w" * 40)
    monkeypatch.setenv("MINQING_PUBLIC_URL", "http://testserver")
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    reset_settings()
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def console(minq, monkeypatch) -> Iterator[TestClient]:
    """The web app on the test's database, with operator 操作员乙 (added by the `operators add`
    command) logged in to the console."""
    monkeypatch.setenv("MINQING_SECRET_KEY", "console-secret-" + "c" * 40)
    reset_settings()
    import cli.web_cmds as web_cmds

    app = typer.Typer()
    web_cmds.register(app)
    app.command("noop")(lambda: None)  # a group needs two commands to keep its names
    result = CliRunner().invoke(
        app, ["operators", "add", OPERATOR], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    with TestClient(create_app()) as client:
        page = client.get("/console/login")
        r = client.post(
            "/console/login",
            data={**hidden_fields(page.text), "name": OPERATOR, "password": PASSWORD},
        )
        assert r.status_code == 200
        yield client


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of each kind, at no revision yet."""
    admin = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        name = f"minqing_mig_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("MINQING_DATABASE_URL", url)
    monkeypatch.setenv("MINQING_HOME", str(tmp_path))
    reset_settings()
    reset_engine()
    yield url
    reset_engine()
    if admin is not None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()
    reset_settings()
