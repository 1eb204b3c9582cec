"""Pointing the command line at the right Prefect before Prefect is imported (the decision is
minqing/prefect_config.py's): the user's configured server, or the embedded local mode."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, MutableMapping
from pathlib import Path

from minqing.prefect_config import (
    EMBEDDED_STARTUP_TIMEOUT,
    PrefectTarget,
    embedded_environment,
    prefect_target,
    profiles_path,
)
from minqing.settings import Settings

_target: PrefectTarget | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def choose_prefect(
    settings: Settings,
    environ: MutableMapping[str, str] = os.environ,
    cwd: Path | None = None,
    user_home: Path | None = None,
) -> PrefectTarget:
    """Find the user's Prefect API as Prefect would; when there is none, set up the embedded
    mode in `environ` (PREFECT_HOME=var/prefect unless set, a longer startup limit)."""
    global _target
    cwd = cwd or Path.cwd()
    target = prefect_target(
        environ,
        profiles_toml=_read(profiles_path(environ, user_home or Path.home())),
        dotenv=_read(cwd / ".env"),
        prefect_toml=_read(cwd / "prefect.toml"),
        pyproject_toml=_read(cwd / "pyproject.toml"),
    )
    if target.embedded:
        environ.update(embedded_environment(environ, settings.var_dir, settings.prefect_port))
        # Prefect creates its home without parents and warns when it cannot: on a fresh
        # checkout var/ does not exist yet.
        Path(environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    _target = target
    return target


def current_target() -> PrefectTarget:
    return _target or PrefectTarget(None)


def describe(target: PrefectTarget) -> str:
    from minqing.i18n import _

    if target.embedded:
        return _("Prefect：内置本地模式（PREFECT_HOME=%(home)s）") % {
            "home": os.environ.get("PREFECT_HOME")
        }
    return _("Prefect：%(url)s（来自 %(source)s）") % {
        "url": target.api_url,
        "source": target.source,
    }


@contextlib.contextmanager
def prefect_for_flows(settings: Settings) -> Iterator[None]:
    """Around a command that runs flows: in the embedded mode with MINQING_PREFECT_PORT set,
    the local server runs on that port for the command's duration (otherwise Prefect starts
    its temporary server itself, on a free port, when the first flow runs)."""
    target = current_target()
    if not (target.embedded and settings.prefect_port):
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer(port=settings.prefect_port)
    server.start(timeout=EMBEDDED_STARTUP_TIMEOUT)
    try:
        yield
    finally:
        from prefect.logging.handlers import APILogWorker

        # The runs' last log lines are still on their way to the server: send them before it
        # stops, or Prefect prints "Error logging to API" after the command is done.
        APILogWorker.drain_all(timeout=30)
        server.stop()
