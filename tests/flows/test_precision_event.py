"""自动分派准确率 below target: the night's metrics task announces it as a Prefect event
(minqing.classifier.precision_low) that the office's automations turn into a duty alert."""

from __future__ import annotations

import asyncio
import time

from prefect import flow
from prefect.client.orchestration import get_client

from tasks.metrics import publish_metrics
from tests.integration.test_routing_precision import (
    night_stages,
    one_answered_one_bounced,
    three_routed_one_held,
)

EVENT = "minqing.classifier.precision_low"


async def _events(name: str) -> list[dict]:
    async with get_client() as client:
        response = await client._client.post(
            "/events/filter", json={"filter": {"event": {"name": [name]}}, "limit": 50}
        )
        response.raise_for_status()
        return response.json()["events"]


def test_precision_below_target_is_announced_as_an_event_about_the_model(
    minq, tmp_path, monkeypatch
):
    three_routed_one_held(minq, tmp_path, monkeypatch)
    one_answered_one_bounced(minq)

    @flow(name="metrics-under-test")
    def night_metrics() -> dict:
        return publish_metrics(night_stages())

    figures = night_metrics()
    assert figures["routing_precision_alerts"]
    # said in the night's message, but not 部分失败: its own alert pages the duty, once
    said = [w["partial"] for w in figures["run_warnings"] if "自动分派准确率" in w["text"]]
    assert said and not any(said), figures["run_warnings"]
    deadline = time.monotonic() + 60
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        found = [
            e
            for e in asyncio.run(_events(EVENT))
            if e["payload"].get("week") == figures["routing_precision_alerts"][0]["week"]
        ]
        time.sleep(0.5)
    assert found, f"no {EVENT} event stored"
    event = found[0]
    assert event["resource"]["prefect.resource.id"].startswith("minqing.classifier.classifier-")
    assert event["payload"]["precision"] == 0.5 and event["payload"]["target"] == 0.97
    assert "自动分派准确率 50.0%（1/2），低于目标 97.0%" in event["payload"]["message"]
