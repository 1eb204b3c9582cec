"""Bulk writes for a stage that writes tens of thousands of rows at once (triage): the rows the
ORM would write, in a few statements. They take a session and never commit.

SQLite: executemany (the driver loops in C). PostgreSQL: COPY for inserts and UPDATE ... FROM
unnest(arrays) for updates — SQLAlchemy's multi-row VALUES batches carry thousands of
placeholders each, which psycopg parses in Python batch after batch (the 100,000-submission
benchmark spent more time there than in the database).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from db.lease import TRIAGE, lease_key


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def driver_connection(session: Session) -> Any:
    """The DBAPI connection of the session's transaction (sqlite3 or psycopg)."""
    conn = session.connection().connection.driver_connection
    assert conn is not None
    return conn


def plain(value: Any) -> Any:
    """A value as COPY and arrays take it: JSON as text, times as naive UTC, enums by value."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Enum):
        return value.value
    return value


def with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows completed with the columns' Python-side defaults (SQLAlchemy applies them to its
    own INSERTs; COPY does not know them)."""
    if not rows:
        return []
    extra: dict[str, Any] = {}
    for column in table.columns:
        if column.name in rows[0] or column.default is None or column.primary_key:
            continue
        default: Any = column.default
        if default.is_scalar:
            extra[column.name] = default.arg
        elif default.is_callable:
            extra[column.name] = default.arg(None)
    return [{**extra, **row} for row in rows]


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows that all have the same keys (nothing when there are none)."""
    if not rows:
        return
    if not is_postgresql(session):
        session.execute(insert(table), list(rows))
        return
    full = with_defaults(table, rows)
    columns = list(full[0])
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'COPY "{table.name}" ({names}) FROM STDIN'
    with driver_connection(session).cursor() as cursor, cursor.copy(sql) as copy:
        for row in full:
            copy.write_row([plain(row[c]) for c in columns])


def lock_for_triage(session: Session) -> None:
    """Serialise triage transactions (a manual run beside the nightly one, triage-dask beside
    triage): taken before the transaction reads which submissions are unlinked, held until it
    commits, so no submission is linked twice. PostgreSQL: a transaction-level advisory lock;
    SQLite: the database's single write lock, taken now instead of at the first write."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lease_key(TRIAGE)})
    else:
        take_write_lock(session)


def take_write_lock(session: Session) -> None:
    """SQLite: take the write lock now (a statement that writes nothing still takes it)."""
    session.execute(text("UPDATE cases SET id = id WHERE 1 = 0"))


def insert_new_ids(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """INSERT rows of a table with an integer `id` key; returns their new ids, in row order.

    PostgreSQL: the ids are taken from the table's sequence first. SQLite: the transaction
    first takes SQLite's single write lock (a statement that writes nothing still takes it), so
    no other writer can take the ids between reading max(id) and inserting.
    """
    if not rows:
        return []
    if is_postgresql(session):
        ids = list(
            session.scalars(
                text(
                    f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                    "FROM generate_series(1, :n)"
                ),  # fmt: skip
                {"n": len(rows)},
            )
        )
    else:
        take_write_lock(session)
        first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
        ids = list(range(first, first + len(rows)))
    insert_rows(session, table, [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def update_rows(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, add: Sequence[str] = ()
) -> None:
    """UPDATE each row's columns by its `id`: `column = value`, or `column = column + value`
    for the columns in `add`. All rows have the same keys."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != "id"]

    def target(c: str) -> Any:
        return table.c[c] + bindparam(f"v_{c}") if c in add else bindparam(f"v_{c}")

    if not is_postgresql(session):
        stmt = update(table).where(table.c.id == bindparam("v_id"))
        session.execute(
            stmt.values({c: target(c) for c in columns}),
            [{f"v_{k}": v for k, v in row.items()} for row in rows],
        )
        return
    dialect = postgresql.dialect()
    types = ["BIGINT", *(table.c[c].type.compile(dialect=dialect) for c in columns)]
    sets = ", ".join(f'"{c}" = t."{c}" + v."{c}"' if c in add else f'"{c}" = v."{c}"'
                     for c in columns)  # fmt: skip
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    names = ", ".join(f'"{c}"' for c in ["id", *columns])
    sql = (f'UPDATE "{table.name}" AS t SET {sets} FROM unnest({arrays}) AS v({names}) '
           "WHERE t.id = v.id")  # fmt: skip
    values = [[plain(row[c]) for row in rows] for c in ["id", *columns]]
    with driver_connection(session).cursor() as cursor:
        cursor.execute(sql, values)
