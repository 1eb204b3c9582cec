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
