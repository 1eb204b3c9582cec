"""Load the office's reference data from config into the database before a run, and bring
the deadlines that depend on it up to date (provisional ones recounted: tasks/deadlines.py)."""

from __future__ import annotations

import logging

from prefect import task

from db.engine import Session
from db.queries import sync_reference
from minqing.configcheck import check_config_dir
from minqing.settings import get_settings
from tasks.context import context
from tasks.deadlines import recount_provisional_now

log = logging.getLogger(__name__)


def sync_reference_now() -> int:
    # Every config file, not only the reference data: a file the night reads later (classifier,
    # triage, calendar) is refused here, with the words of `minqing check-config`.
    check_config_dir(get_settings().resolved_config_dir)
    ref = context().ref
    with Session() as s, s.begin():
        sync_reference(s, ref)
    counts = recount_provisional_now()
    if any(counts.values()):
        log.info("provisional deadlines: %s", counts)
    return len(ref.departments)


@task(name="load-reference")
def load_reference_data() -> int:
    """Config → departments, areas, categories (validated; a wrong file stops the run)."""
    return sync_reference_now()
