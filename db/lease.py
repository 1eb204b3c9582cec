"""Leases: named locks on the database that at most one process holds, released the moment the
holder ends — or dies.

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a dedicated connection; the
  server drops it when that session ends, a killed process included.
- SQLite: `flock` on a file beside the database file (`<database>.<name>.lock`); the kernel
  drops it when the process holding the file dies.

Two leases are in use. `RUN` — one run of the pipeline's stages at a time, whoever starts it:
every entry that runs stages (nightly, lookback, deliver, retry-handoffs, triage-dask, daytime
intake, the CLI's `minqing nightly`) takes it for its whole run. `DELIVER` — held by one
deliverer at a time, it proves that no other deliverer is alive (tasks/deliver.py).

Use it as a context manager around a run:

    from db.lease import RUN, LeaseBusy, lease

    try:
        with lease(RUN, entry="intake", wait=60):
            ...  # the stages
    except LeaseBusy as busy:
        print(busy.holder)  # who holds it (entry, start time, host, pid), when known

A lease this thread (or the flow it runs in) already holds is taken again at once: the nightly
flow's triage-dask subflow runs inside the night's lease. Flows take it through
`tasks.lease.one_run_at_a_time`, which turns a busy lease into the run state 已跳过.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from db.engine import get_engine
from minqing.runs import Holder

RUN = "run"
DELIVER = "deliver"
TRIAGE = "triage"

POLL_SECONDS = 0.5  # how often a waiting run tries again

_held: ContextVar[frozenset[str]] = ContextVar("minqing_leases_held", default=frozenset())
# An in-memory SQLite database belongs to one process: a lock of this process is enough.
_memory_locks: dict[str, threading.Lock] = {}


class LeaseBusy(Exception):
    """Another process holds the lease (and did not let go within the wait)."""

    def __init__(self, name: str, holder: Holder | None) -> None:
        super().__init__(f"lease {name!r} is held by {holder or 'another process'}")
        self.name = name
        self.holder = holder


def lease_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a lease: 8 bytes of sha256("minqing.<name>")."""
    digest = hashlib.sha256(f"minqing.{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def lease(
    name: str,
    *,
    entry: str,
    wait: float = 0.0,
    on_wait: Callable[[Holder | None], None] | None = None,
) -> Iterator[None]:
    """Hold lease `name` for the block; raises LeaseBusy when another process still holds it
    after `wait` seconds. `on_wait(holder)` is called once if the lease has to be waited for."""
    with try_lease(name, entry=entry, wait=wait, on_wait=on_wait) as (held, holder):
        if not held:
            raise LeaseBusy(name, holder)
        yield


@contextlib.contextmanager
def try_lease(
    name: str,
    *,
    entry: str,
    wait: float = 0.0,
    on_wait: Callable[[Holder | None], None] | None = None,
) -> Iterator[tuple[bool, Holder | None]]:
    """Like `lease`, but never raises: yields (True, None) when held for the block, or
    (False, the other holder if known) when not."""
    held_here = _held.get()
    if name in held_here:
        yield True, None
        return
    me = Holder(entry, datetime.now(UTC).replace(microsecond=0), socket.gethostname(), os.getpid())
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        lock: Any = _pg_lock(name, me, wait, on_wait)
    else:
        lock = _file_lock(engine.url.database, name, me, wait, on_wait)
    with lock as (held, holder):
        token = _held.set(held_here | {name}) if held else None
        try:
            yield held, holder
        finally:
            if token is not None:
                _held.reset(token)


def holder_of(name: str) -> Holder | None:
    """Who holds lease `name` now, when anyone does and it is known."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return _pg_holder(conn, name)
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return _read_holder(f"{database}.{name}.lock")


def _deadline_loop(
    attempt: Callable[[], bool],
    who: Callable[[], Holder | None],
    wait: float,
    on_wait: Callable[[Holder | None], None] | None,
) -> tuple[bool, Holder | None]:
    """Try until it works or `wait` seconds have passed; (held, the other holder)."""
    deadline = time.monotonic() + max(wait, 0.0)
    told = False
    while True:
        if attempt():
            return True, None
        holder = who()
        if time.monotonic() >= deadline:
            return False, holder
        if on_wait is not None and not told:
            on_wait(holder)
            told = True
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))


@contextlib.contextmanager
def _pg_lock(
    name: str, me: Holder, wait: float, on_wait: Callable[[Holder | None], None] | None
) -> Iterator[tuple[bool, Holder | None]]:
    key = lease_key(name)
    with get_engine().connect() as conn:

        def attempt() -> bool:
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            conn.commit()
            return got

        held, holder = _deadline_loop(attempt, lambda: _pg_holder(conn, name), wait, on_wait)
        if not held:
            yield False, holder
            return
        # Who holds it, for the message of a run that finds it busy: the session's name.
        conn.execute(text("SELECT set_config('application_name', :v, false)"), {"v": _tag(me)})
        conn.commit()
        try:
            yield True, None
        finally:
            with contextlib.suppress(Exception):  # a broken connection released it already
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.execute(text("RESET application_name"))
                conn.commit()


def _pg_holder(conn: Connection, name: str) -> Holder | None:
    unsigned = lease_key(name) & 0xFFFF_FFFF_FFFF_FFFF
    row = conn.execute(
        text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
    ).first()
    conn.commit()
    return _untag(row[0]) if row and row[0] else None


def _tag(me: Holder) -> str:
    """The holder as a PostgreSQL application_name (ASCII, at most 63 bytes)."""
    tag = f"minqing|{me.entry}|{me.started_at:%Y%m%dT%H%M%SZ}|{me.pid}|{me.host}"
    return tag.encode("ascii", "replace").decode()[:63]


def _untag(tag: str) -> Holder | None:
    parts = tag.split("|", 4)
    if len(parts) != 5 or parts[0] != "minqing":
        return None
    try:
        started = datetime.strptime(parts[2], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return Holder(parts[1], started, parts[4], int(parts[3]))
    except ValueError:
        return None


@contextlib.contextmanager
def _file_lock(
    database: str | None,
    name: str,
    me: Holder,
    wait: float,
    on_wait: Callable[[Holder | None], None] | None,
) -> Iterator[tuple[bool, Holder | None]]:
    if not database or database == ":memory:":
        with _memory_lock(name, wait) as held:
            yield held, None
        return
    import fcntl  # POSIX; SQLite deployments run on Linux

    path = f"{database}.{name}.lock"
    with open(path, "a+", encoding="utf-8") as fh:

        def attempt() -> bool:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        held, holder = _deadline_loop(attempt, lambda: _read_holder(path), wait, on_wait)
        if not held:
            yield False, holder
            return
        fh.truncate(0)  # the file says who holds it (a dead holder's words are overwritten)
        fh.write(json.dumps({**asdict(me), "started_at": me.started_at.isoformat()}))
        fh.flush()
        try:
            yield True, None
        finally:
            fh.truncate(0)
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_holder(path: str) -> Holder | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.loads(fh.read() or "null")
        return Holder(
            data["entry"], datetime.fromisoformat(data["started_at"]), data["host"], data["pid"]
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


@contextlib.contextmanager
def _memory_lock(name: str, wait: float) -> Iterator[bool]:
    lock = _memory_locks.setdefault(name, threading.Lock())
    held = lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)
    try:
        yield held
    finally:
        if held:
            lock.release()
