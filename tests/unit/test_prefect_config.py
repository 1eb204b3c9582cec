"""minqing uses the user's Prefect wherever Prefect itself would find an API address, and the
embedded local mode (var/prefect) only when there is none (minqing/prefect_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minqing.prefect_config import embedded_environment, prefect_target, profiles_path

PROFILES = """
active = "office"

[profiles.ephemeral]
PREFECT_SERVER_EPHEMERAL_ENABLED = "true"

[profiles.office]
PREFECT_API_URL = "http://prefect.internal:4200/api"
"""


@pytest.mark.parametrize(
    ("environ", "files", "source", "url"),
    [
        ({}, {}, None, None),
        ({}, {"profiles_toml": PROFILES}, "profile office", "http://prefect.internal:4200/api"),
        ({"PREFECT_PROFILE": "ephemeral"}, {"profiles_toml": PROFILES}, None, None),
        (
            {"PREFECT_API_URL": "http://a:4200/api"},
            {"profiles_toml": PROFILES},
            "environment PREFECT_API_URL",
            "http://a:4200/api",
        ),
        ({}, {"dotenv": "# x\nPREFECT_API_URL='http://b/api'\n"}, ".env", "http://b/api"),
        ({}, {"prefect_toml": '[api]\nurl = "http://c/api"\n'}, "prefect.toml", "http://c/api"),
        (
            {},
            {"pyproject_toml": '[tool.prefect.api]\nurl = "http://d/api"\n'},
            "pyproject.toml [tool.prefect]",
            "http://d/api",
        ),
        (
            {},
            {"pyproject_toml": '[project]\nname = "minqing"\n', "profiles_toml": "not toml ["},
            None,
            None,
        ),
    ],
)
def test_the_api_is_found_where_prefect_would_find_it(environ, files, source, url):
    target = prefect_target(environ, **files)
    assert (target.source, target.api_url) == (source, url)
    assert target.embedded == (source is None)


def test_the_profiles_file_follows_prefect_home_and_prefect_profiles_path(tmp_path):
    user = tmp_path / "user"
    assert profiles_path({}, user) == user / ".prefect" / "profiles.toml"
    assert profiles_path({"PREFECT_HOME": "/srv/p"}, user) == Path("/srv/p/profiles.toml")
    assert profiles_path({"PREFECT_PROFILES_PATH": "/etc/p.toml"}, user) == Path("/etc/p.toml")


def test_the_embedded_mode_never_overrides_what_the_user_set(tmp_path):
    env = embedded_environment({}, tmp_path / "var")
    assert env["PREFECT_HOME"] == str(tmp_path / "var" / "prefect")
    assert int(env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 90
    assert "PREFECT_API_URL" not in env
    mine = {
        "PREFECT_HOME": "/home/me/.prefect",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "30",
    }
    assert embedded_environment(mine, tmp_path / "var") == {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false"
    }
    assert (
        embedded_environment({}, tmp_path, port=4310)["PREFECT_API_URL"]
        == "http://127.0.0.1:4310/api"
    )


def test_a_fresh_checkout_starts_prefect_without_a_warning(tmp_path):
    """On a fresh checkout var/ does not exist: Prefect, which makes its home without parents,
    warned "Failed to create the Prefect home directory" on the first command."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MINQING_"))}
    env |= {
        "PREFECT_PROFILES_PATH": str(tmp_path / "profiles.toml"),  # no user profile
        "MINQING_HOME": str(tmp_path / "home"),
        "MINQING_CONFIG_DIR": str(repo / "config"),
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("minqing")), "db", "upgrade"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "warning" not in done.stderr, done.stderr
    assert (tmp_path / "home" / "var" / "prefect").is_dir()


def test_links_go_to_the_ui_of_the_prefect_minqing_runs_against():
    """Alerts and the console linked to 127.0.0.1:4200 whatever server the profile named."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from minqing.prefect_config import prefect_ui_url

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4299/api"}):
        assert prefect_ui_url() == "http://127.0.0.1:4299"
        # the office's own address wins (a proxy, a host name)
        assert prefect_ui_url("http://prefect.internal:4200/") == "http://prefect.internal:4200"
    with temporary_settings(
        updates={PREFECT_API_URL: "http://10.0.0.5:4200/api", PREFECT_UI_URL: "https://ui.x"}
    ):
        assert prefect_ui_url() == "https://ui.x"
    with temporary_settings(restore_defaults={PREFECT_API_URL, PREFECT_UI_URL}):
        assert prefect_ui_url() == "http://127.0.0.1:4200"  # no server configured
