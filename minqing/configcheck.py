"""Every config file the program reads, checked through the loader that reads it.

`minqing check-config` and the runs' load-reference stage both use `check_config_dir`, so a
file the night would refuse is reported before it, with the same words: file, key (list
positions counted from 1), line and problem (see minqing.reference.Problem).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from minqing.reference import ConfigError, Problem, config_error, load_reference


def _calendar(path: Path) -> Any:
    from minqing.workdays import WorkCalendar

    return WorkCalendar.from_config(path)


def _classifier(path: Path, categories: list[str] | None = None) -> Any:
    from minqing.classifier import read_classifier_config

    return read_classifier_config(path, categories)


def _triage(path: Path) -> Any:
    from minqing.neardup import load_dedup_params

    return load_dedup_params(path)


# The files read outside minqing.reference (which reads the office's reference data), each
# with its loader; a file that is absent means that loader's defaults.
OTHER_FILES: dict[str, Callable[[Path], Any]] = {
    "calendar.yaml": _calendar,
    "classifier.yaml": _classifier,
    "triage.yaml": _triage,
}


def config_problems(config_dir: Path) -> list[Problem]:
    """Every problem in every config file in config_dir; [] when all is well."""
    problems: list[Problem] = []
    categories: list[str] | None = None
    try:
        categories = [c.name for c in load_reference(config_dir).flat_categories]
    except ConfigError as exc:
        problems.extend(exc.problems or [Problem("config", "", None, str(exc))])
    for name, load in OTHER_FILES.items():
        path = config_dir / name
        if not path.exists():
            continue
        try:
            if load is _classifier:  # its category_thresholds name the office's categories
                _classifier(path, categories)
            else:
                load(path)
        except ConfigError as exc:
            problems.extend(exc.problems or [Problem(name, "", None, str(exc))])
    return problems


def check_config_dir(config_dir: Path) -> None:
    """Raise one ConfigError listing every problem in config_dir's files."""
    problems = config_problems(config_dir)
    if problems:
        raise config_error(problems)


def config_warnings(config_dir: Path) -> list[Problem]:
    """What check-config points out without refusing: likely slips that the night would follow
    as written (a calendar year listed in part; see minqing.workdays.calendar_warnings)."""
    from minqing.workdays import calendar_warnings

    path = config_dir / "calendar.yaml"
    return calendar_warnings(path) if path.exists() else []
