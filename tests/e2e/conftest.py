"""Browser tests: Playwright (sync API) driving Debian's chromium against the web app served by
uvicorn in a thread. Skipped only when chromium is missing and CI is not set (CI installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Module scope: a live sync_playwright keeps an event loop running in the main thread, which
# would make Prefect's sync APIs in later test modules return coroutines.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(minq, monkeypatch, request):
    """The web app served by uvicorn on a free loopback port, signing with the test module's
    SECRET, with a console account OPERATOR / PASSWORD (also the module's)."""
    from db.engine import Session
    from db.models import Operator
    from minqing.settings import reset_settings
    from web.app import create_app
    from web.security import hash_password
    from web.testing import ServerThread, free_port

    module = request.module
    port = free_port()
    monkeypatch.setenv("MINQING_SECRET_KEY", module.SECRET)
    monkeypatch.setenv("MINQING_PUBLIC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MINQING_WEB_RATE_PER_MINUTE", "1000")
    reset_settings()
    with Session() as s, s.begin():
        s.add(Operator(name=module.OPERATOR, password_hash=hash_password(module.PASSWORD)))
    with ServerThread(create_app(), port) as server:
        yield server


_written: list[Path] = []


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go: $MINQING_TEST_ARTIFACTS, else test-artifacts/screenshots/ in the
    checkout (git-ignored; each run overwrites its files); the path is printed in the summary."""
    folder = Path(os.environ.get("MINQING_TEST_ARTIFACTS") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    _written.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: object) -> None:
    for folder in _written:
        terminalreporter.write_line(f"e2e screenshots: {folder}")  # type: ignore[attr-defined]
