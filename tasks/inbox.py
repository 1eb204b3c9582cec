"""The inbox folders: which files wait, who is reading one, and where a file goes once it was
read or refused.

`inbox/<channel>/` holds today's files. A taken file moves to `archive/<channel>/` named with
its checksum; a file that cannot be read at all moves to `failed/<channel>/` beside a
`.reason.txt`. A file already taken (same checksum) is archived again without being re-read.

A file named outside the inbox (`minqing ingest FILE`) is the operator's own: it is copied to
the archive and otherwise left where it is, byte for byte — never moved, never deleted, and an
unreadable one stays put (the reason is reported and recorded instead).

Two runs that read the same inbox at once (a night and `minqing ingest`, two nights) each claim
a file before reading it (`claim`, an OS lock on the file that dies with its holder): the
second skips a file the first is reading or has already archived.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from minqing.settings import Settings


def waiting_files(settings: Settings, channel: str) -> list[Path]:
    folder = settings.inbox_dir / channel
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def in_inbox(settings: Settings, path: Path) -> bool:
    """Whether `path` lies in the inbox (then reading it moves it; otherwise it stays)."""
    return path.resolve().is_relative_to(settings.inbox_dir.resolve())


@contextlib.contextmanager
def claim(path: Path) -> Iterator[bool]:
    """Hold a file for reading and archiving: True while this run has it, False when another
    run holds it or has already moved it away (the caller then skips it)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        yield False
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        # Between listing it and locking it another run may have read and archived it: the
        # name must still lead to the file this lock is on.
        try:
            now, held = path.stat(), os.fstat(fh.fileno())
            still_here = (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
        except FileNotFoundError:
            still_here = False
        yield still_here


def archive(
    settings: Settings, channel: str, path: Path, checksum: str, *, keep_original: bool = False
) -> Path:
    """Put the file in `archive/<channel>/` under its checksum: moved (inbox files; a copy
    already archived means the file is deleted), or copied when `keep_original`."""
    target_dir = settings.archive_dir / channel
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{checksum[:16]}-{path.name}"
    if keep_original:
        if not target.exists():
            partial = target.with_name(f".{target.name}.partial")
            shutil.copy2(path, partial)
            os.replace(partial, target)
    elif target.exists():
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
