"""Persistence: SQLAlchemy 2.x models, the engine and session factory, Alembic migrations and
query helpers. Query helpers take a session and never commit: the caller owns the transaction."""

from db.engine import Session, get_engine, reset_engine

__all__ = ["Session", "get_engine", "reset_engine"]
