"""The inbox folders: which files wait, and where a file goes once it was read or refused.

`inbox/<channel>/` holds today's files. A taken file moves to `archive/<channel>/` named with
its checksum; a file that cannot be read at all moves to `failed/<channel>/` beside a
`.reason.txt`. A file already taken (same checksum) is archived again without being re-read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from minqing.settings import Settings


def waiting_files(settings: Settings, channel: str) -> list[Path]:
    folder = settings.inbox_dir / channel
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def archive(settings: Settings, channel: str, path: Path, checksum: str) -> Path:
    target_dir = settings.archive_dir / channel
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{checksum[:16]}-{path.name}"
    if target.exists():
        path.unlink()
    else:
        shutil.move(str(path), target)
    return target


def move_to_failed(settings: Settings, channel: str, path: Path, reason: str) -> Path:
    target_dir = settings.failed_dir / channel
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    (target_dir / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target
