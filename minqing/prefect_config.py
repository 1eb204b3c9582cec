"""Which Prefect minqing talks to: the user's, whenever one is configured, and an embedded local
one (its database under var/prefect) only when no Prefect API is configured anywhere.

Prefect reads its API address from, in this order: the environment (PREFECT_API_URL), a `.env`
file, `prefect.toml` and `pyproject.toml` ([tool.prefect]) in the working directory, and the
active profile of the profiles file (`prefect profile use …`, `prefect config set
PREFECT_API_URL=…`; the file is $PREFECT_PROFILES_PATH, else $PREFECT_HOME/profiles.toml, else
~/.prefect/profiles.toml; the active profile is $PREFECT_PROFILE, else the file's `active`).
Importing Prefect fixes its home for the life of the process, so the decision is made here,
from those files' text, before Prefect is imported.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

API_URL = "PREFECT_API_URL"
LOCAL_UI_URL = "http://127.0.0.1:4200"  # `prefect server start`'s default
EMBEDDED_STARTUP_TIMEOUT = 120  # seconds: a loaded 2-core machine took 9–30 s, Prefect allows 20


@dataclass(frozen=True)
class PrefectTarget:
    """`source` says where the API address was found; None means no API is configured."""

    source: str | None
    api_url: str | None = None

    @property
    def embedded(self) -> bool:
        return self.source is None


def profiles_path(environ: Mapping[str, str], user_home: Path) -> Path:
    if environ.get("PREFECT_PROFILES_PATH"):
        return Path(environ["PREFECT_PROFILES_PATH"]).expanduser()
    home = environ.get("PREFECT_HOME")
    return (Path(home).expanduser() if home else user_home / ".prefect") / "profiles.toml"


def profile_api_url(profiles_toml: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(profile name, API URL) of the active profile when it sets one."""
    try:
        data = tomllib.loads(profiles_toml)
    except tomllib.TOMLDecodeError:
        return None
    name = environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    settings = data.get("profiles", {}).get(name, {})
    url = settings.get(API_URL) if isinstance(settings, dict) else None
    return (name, str(url)) if url else None


def dotenv_api_url(dotenv: str) -> str | None:
    for line in dotenv.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key.strip() == API_URL:
            return value.strip().strip("'\"") or None
    return None


def toml_api_url(text: str, table: tuple[str, ...] = ()) -> str | None:
    """[api] url in prefect.toml, or [tool.prefect.api] url in pyproject.toml (table=tool,prefect)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    for key in table:
        data = data.get(key, {})
    api = data.get("api", {})
    url = api.get("url") if isinstance(api, dict) else None
    return str(url) if url else None


def prefect_target(
    environ: Mapping[str, str],
    *,
    profiles_toml: str | None = None,
    dotenv: str | None = None,
    prefect_toml: str | None = None,
    pyproject_toml: str | None = None,
) -> PrefectTarget:
    """Where Prefect would find its API, given the environment and the files' text."""
    if environ.get(API_URL):
        return PrefectTarget(f"environment {API_URL}", environ[API_URL])
    for source, url in (
        (".env", dotenv_api_url(dotenv) if dotenv else None),
        ("prefect.toml", toml_api_url(prefect_toml) if prefect_toml else None),
        (
            "pyproject.toml [tool.prefect]",
            toml_api_url(pyproject_toml, ("tool", "prefect")) if pyproject_toml else None,
        ),
    ):
        if url:
            return PrefectTarget(source, url)
    found = profile_api_url(profiles_toml, environ) if profiles_toml else None
    if found:
        return PrefectTarget(f"profile {found[0]}", found[1])
    return PrefectTarget(None)


def embedded_environment(
    environ: Mapping[str, str], var_dir: Path, port: int | None = None
) -> dict[str, str]:
    """The variables to set for the embedded mode: Prefect's home under var/ (unless the user
    chose a PREFECT_HOME), a startup limit a slow machine meets, and with `port` the address of
    the local server minqing starts itself on that port."""
    out = {
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EMBEDDED_STARTUP_TIMEOUT),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if not environ.get("PREFECT_HOME"):
        out["PREFECT_HOME"] = str(var_dir / "prefect")
    if port:
        out[API_URL] = f"http://127.0.0.1:{port}/api"
    return {k: v for k, v in out.items() if k not in environ}


def prefect_ui_url(configured: str | None = None) -> str:
    """Where people are sent to see the runs: `configured` (the office's duty.console_url or
    MINQING_PREFECT_UI_URL) when set; else the UI of the Prefect this process talks to
    (PREFECT_UI_URL, or the API address without /api, as Prefect derives it — from the
    environment, the active profile, …); else `prefect server start`'s local default."""
    if configured:
        return configured.rstrip("/")
    from prefect.settings import get_current_settings

    return (get_current_settings().ui_url or LOCAL_UI_URL).rstrip("/")
