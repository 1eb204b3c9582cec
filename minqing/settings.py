"""Runtime settings, read once from the environment (prefix MINQING_) or a `.env` file.

Paths default to folders under the working directory, so the embedded default needs no
setting at all. A missing secret that the chosen mode needs is an error at start, never an
empty string.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=Path.cwd)
    database_url: str | None = None  # default: SQLite file var/minqing.db
    config_dir: Path | None = None  # default: <home>/config

    # Mail: "sink" = the local SMTP sink on loopback (embedded default); "smtp" = a real server;
    # "dry-run" = render and record, send nothing.
    mail_mode: Literal["sink", "smtp", "dry-run"] = "sink"
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_timeout: float = 30.0
    sink_host: str = "127.0.0.1"
    sink_port: int = 8025

    # What clerks, departments and citizens read: "zh_CN" (the default) or "en" (minqing/i18n.py).
    language: str = "zh_CN"

    public_url: str = "http://127.0.0.1:8000"  # where the web forms are reachable (links in mail)

    # Web app (web/): signed links in mail appear only once a secret is set; `minqing web`
    # refuses to start without one (at least 32 characters).
    secret_key: SecretStr | None = None
    # The Prefect UI the console and the alerts link to; unset: the one of the Prefect minqing
    # runs against (minqing/prefect_config.prefect_ui_url).
    prefect_ui_url: str | None = None
    # The embedded Prefect (no Prefect API configured): the local server's port. Unset, Prefect
    # starts a temporary server on a free port of 8000–8999 for each command.
    prefect_port: int | None = Field(default=None, ge=1, le=65535)
    reply_link_days: int = Field(default=60, ge=1)  # department reply link (答复链接)
    rating_link_days: int = Field(default=30, ge=1)  # citizen rating link (评价链接), one use
    verify_link_days: int = Field(default=45, ge=1)  # representative look-back link (回头看)
    web_rate_per_minute: int = Field(default=20, ge=1)  # public form posts per client IP
    upload_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    spool_fsync: bool = True  # QR form: each submission is on disk before the citizen is thanked
    session_hours: int = Field(default=12, ge=1)  # operator console login
    # 查询办理进度 (/progress): attempts per client address and per receipt number, as `limits`
    # strings; the counts live in rate_limit_storage (memory:// per worker process, or
    # redis://… / memcached://… shared by all workers: docs/web.md).
    progress_limit_per_ip: str = "10/minute;30/hour"
    progress_limit_per_receipt: str = "10/day"
    rate_limit_storage: str = "memory://"

    # One run of stages at a time (db/lease.py, minqing/runs.py): how long a second run waits
    # for the one in progress before it ends as 已跳过 (the 15-minute delivery never waits).
    run_wait_minutes: float = Field(default=60.0, ge=0)

    # Dask for triage (整理, flows/triage_dask.py). Unset: the nightly flow triages in its own
    # process and the triage-dask flow starts a LocalCluster of this machine's cores. "local":
    # both use such a LocalCluster. A scheduler's address ("tcp://host:8786"): both send the
    # CPU-heavy half of triage to that running cluster. Read when a run builds its task runner.
    dask_scheduler: str | None = None

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from minqing.i18n import normalise_language

        return normalise_language(value)

    @field_validator("dask_scheduler")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _check_mail(self) -> Settings:
        if self.mail_mode == "smtp":
            missing = [n for n in ("smtp_host",) if not getattr(self, n)]
            if self.smtp_user and not self.smtp_password:
                missing.append("smtp_password")
            if missing:
                names = ", ".join(f"MINQING_{n.upper()}" for n in missing)
                raise ValueError(f"MINQING_MAIL_MODE=smtp needs {names}")
        return self

    @property
    def var_dir(self) -> Path:
        return self.home / "var"

    @property
    def resolved_config_dir(self) -> Path:
        return self.config_dir or self.home / "config"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'minqing.db'}"

    @property
    def inbox_dir(self) -> Path:
        return self.var_dir / "inbox"

    @property
    def archive_dir(self) -> Path:
        return self.var_dir / "archive"

    @property
    def failed_dir(self) -> Path:
        return self.var_dir / "failed"

    @property
    def mail_dir(self) -> Path:
        """Where the local SMTP sink stores what it receives (one .eml file per message)."""
        return self.var_dir / "mail"

    @property
    def models_dir(self) -> Path:
        return self.var_dir / "models"

    @property
    def reports_dir(self) -> Path:
        return self.var_dir / "reports"

    @property
    def spool_dir(self) -> Path:
        """Where the web form appends today's submissions before the night publishes them."""
        return self.var_dir / "spool"

    @property
    def uploads_dir(self) -> Path:
        """Attachments and photos sent through the web forms (never served as static files)."""
        return self.var_dir / "uploads"

    @property
    def links_enabled(self) -> bool:
        """Mail carries signed web links only when the web app has a secret to sign them."""
        return self.secret_key is not None and bool(self.public_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (after the environment changed, e.g. in tests)."""
    get_settings.cache_clear()
