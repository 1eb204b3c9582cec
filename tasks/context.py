"""What every task needs: settings, the office's reference data and the working-day calendar."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from minqing.reference import Reference, load_reference
from minqing.settings import Settings, get_settings
from minqing.workdays import WorkCalendar


@dataclass(frozen=True)
class Context:
    settings: Settings
    ref: Reference
    calendar: WorkCalendar


def context() -> Context:
    settings = get_settings()
    config_dir = settings.resolved_config_dir
    stamp = _stamp(config_dir)  # one directory scan per call, shared by both caches
    return Context(settings, _reference(config_dir, stamp), _calendar(config_dir, stamp))


def _stamp(config_dir: Path) -> float:
    # Reload when an operator edits config between runs of a long-lived worker.
    return max((p.stat().st_mtime for p in config_dir.glob("*.yaml")), default=0.0)


@lru_cache(maxsize=4)
def _reference(config_dir: Path, _stamp: float) -> Reference:
    return load_reference(config_dir)


@lru_cache(maxsize=4)
def _calendar(config_dir: Path, _stamp: float) -> WorkCalendar:
    path = config_dir / "calendar.yaml"
    return WorkCalendar.from_config(path if path.exists() else None)
