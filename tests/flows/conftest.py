"""Flow tests run under one Prefect test harness per session, with heartbeats off (each sync
flow run otherwise waits about a second for its heartbeat thread)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        # The harness's own 30 s startup limit is too short on a loaded 2-core machine.
        prefect_test_harness(server_startup_timeout=180),
    ):
        yield
