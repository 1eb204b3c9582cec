"""Load the office's reference data from config into the database before a run."""

from __future__ import annotations

from prefect import task

from db.engine import Session
from db.queries import sync_reference
from tasks.context import context


def sync_reference_now() -> int:
    ref = context().ref
    with Session() as s, s.begin():
        sync_reference(s, ref)
    return len(ref.departments)


@task(name="load-reference")
def load_reference_data() -> int:
    """Config → departments, areas, categories (validated; a wrong file stops the run)."""
    return sync_reference_now()
