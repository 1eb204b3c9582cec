"""Fixtures shared by the integration tests: the operator console, logged in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from minqing.settings import reset_settings
from web.app import create_app
from web.testing import hidden_fields

OPERATOR, PASSWORD = "操作员乙", "long enough pw"


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
