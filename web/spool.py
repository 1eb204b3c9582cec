"""The QR form's spool: submissions are appended to one JSON-lines file per day under
var/spool/qrform/, and the nightly intake moves the files into inbox/qrform/ before it reads.

Why a spool and not the inbox: intake checksums a file, reads it and then moves it to the
archive; a line appended to an inbox file in between would be archived unread. Here a writer
appends under an exclusive lock and checks that the file it locked is still the one at the
path; `publish` takes the same lock, then moves the file away with a no-clobber link, so every
line lands in exactly one published file. The lines are the qrform channel's schema, so the
night reads them with the same parser, rejections and figures as any other channel file.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import queue
import secrets
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from minqing.settings import Settings

CHANNEL = "qrform"
LOCAL = ZoneInfo("Asia/Shanghai")
PREFIX = "扫码留言"


def spool_folder(settings: Settings) -> Path:
    return settings.spool_dir / CHANNEL


def day_file(settings: Settings, moment: datetime) -> Path:
    return spool_folder(settings) / f"{PREFIX}_{moment.astimezone(LOCAL):%Y%m%d}.jsonl"


def append(
    settings: Settings, record: dict[str, Any], moment: datetime, *, sync: bool = True
) -> Path:
    """Append one submission to the day's spool file; returns once it is on disk."""
    path = day_file(settings, moment)
    append_lines(path, [_line(record)], sync=sync)
    return path


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def append_lines(path: Path, lines: list[bytes], *, sync: bool = True) -> None:
    """Append whole lines to `path` under its lock, with one write and (if `sync`) one fsync."""
    data = b"".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _same_file(fd, path):
                continue  # published between our open and our lock: write to the new file
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
            return
        finally:
            os.close(fd)  # also releases the lock


class SpoolWriter:
    """Group commit for the web app: requests hand their record to one writer thread, which
    appends whatever has queued up with one write and one fsync, then wakes each request.
    Under load this turns N fsyncs (and N thread hand-offs) into one, without ever thanking a
    citizen before their submission is on disk."""

    MAX_BATCH = 500

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], datetime, Any, Any]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def append(self, record: dict[str, Any], moment: datetime) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._ensure_thread()
        self._queue.put((record, moment, loop, done))
        await done

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="minqing-spool", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_file: dict[Path, list[tuple[bytes, Any, Any]]] = {}
            for record, moment, loop, done in batch:
                by_file.setdefault(day_file(self.settings, moment), []).append(
                    (_line(record), loop, done)
                )
            for path, items in by_file.items():
                error: BaseException | None = None
                try:
                    append_lines(
                        path, [line for line, _, _ in items], sync=self.settings.spool_fsync
                    )
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting requests
                    error = exc
                for _, loop, done in items:
                    loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: Any, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def publish(settings: Settings) -> list[Path]:
    """Move every spool file into inbox/qrform/ (intake calls this before it reads)."""
    folder = spool_folder(settings)
    if not folder.is_dir():
        return []
    inbox = settings.inbox_dir / CHANNEL
    inbox.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in sorted(folder.glob(f"{PREFIX}_*.jsonl")):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _same_file(fd, path) or os.fstat(fd).st_size == 0:
                continue
            target = _link_no_clobber(path, inbox)
            path.unlink()
            moved.append(target)
        finally:
            os.close(fd)
    return moved


def _link_no_clobber(path: Path, inbox: Path) -> Path:
    """Hard-link into the inbox under the day's name, or a suffixed one if that is taken
    (a second publication of the same day while the first still waits to be read)."""
    candidates = [inbox / path.name] + [
        inbox / f"{path.stem}-{n}{path.suffix}" for n in range(2, 50)
    ]
    for target in candidates:
        try:
            os.link(path, target)
            return target
        except FileExistsError:
            continue
    target = inbox / f"{path.stem}-{secrets.token_hex(4)}{path.suffix}"
    os.link(path, target)
    return target
