"""Migration 0010 (form receipts) on SQLite and PostgreSQL: a database at 0009 gains the table
whose unique receipt number keeps a QR message sent twice to one row; down again, it is gone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from db.engine import Session, get_engine
from db.migrate import alembic_config, current_revision, upgrade
from db.models import FormReceipt


def receipt(form_id: str, key: str) -> FormReceipt:
    return FormReceipt(form_id=form_id, content_key=key, station="donghu-jia",
                       created_at=datetime(2026, 12, 8, 2, tzinfo=UTC))  # fmt: skip


def test_the_form_receipts_table_comes_and_goes_with_its_migration(database) -> None:
    upgrade("0009")
    assert "form_receipts" not in inspect(get_engine()).get_table_names()
    upgrade()
    assert current_revision() == "0010"
    with Session() as s, s.begin():
        s.add(receipt("QR20261208-1e91a15a53b7", "a" * 64))
    with pytest.raises(IntegrityError), Session() as s, s.begin():  # one row per receipt
        s.add(receipt("QR20261208-1e91a15a53b7", "b" * 64))
    with Session() as s:
        (row,) = s.query(FormReceipt).all()
        assert (row.content_key, row.with_phone, row.urgent) == ("a" * 64, False, False)
    cfg = alembic_config()
    with get_engine().begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0009")
    get_engine().dispose()
    assert "form_receipts" not in inspect(get_engine()).get_table_names()
    assert current_revision() == "0009"
