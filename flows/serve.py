"""Serve every deployment of prefect.yaml from one long-running process, no work pool needed:
`minqing serve` or `python flows/serve.py`. prefect.yaml stays the one place that says which
flows run when: cron and interval schedules, concurrency limits and event triggers
(`triggers:`, as `prefect deploy` reads them) are taken from it as they are."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.events import DeploymentTriggerTypes
from prefect.schedules import Cron, Interval, Schedule
from pydantic import TypeAdapter

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


def deployments(path: Path = PREFECT_YAML) -> list[Any]:
    """The deployments of prefect.yaml as runner deployments of the imported flows."""
    out = []
    for spec in yaml.safe_load(path.read_text(encoding="utf-8"))["deployments"]:
        module, name = spec["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
        limit = spec.get("concurrency_limit")
        out.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                parameters=spec.get("parameters") or {},
                schedules=[schedule(s) for s in spec.get("schedules", [])],
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=limit["limit"],
                    collision_strategy=ConcurrencyLimitStrategy(
                        limit.get("collision_strategy", "ENQUEUE")
                    ),
                )
                if limit
                else None,
                triggers=triggers(spec),
            )
        )
    return out


def schedule(spec: dict[str, Any]) -> Schedule:
    """A prefect.yaml schedule: `cron` or `interval` (seconds), with its time zone."""
    if "cron" in spec:
        return Cron(spec["cron"], timezone=spec.get("timezone"))
    if "interval" in spec:
        return Interval(timedelta(seconds=spec["interval"]), timezone=spec.get("timezone"))
    raise ValueError(f"prefect.yaml: unsupported schedule {spec}")


def triggers(spec: dict[str, Any]) -> list[Any]:
    """A deployment's `triggers:` as `prefect deploy` reads them (same validation, same default
    names), so a served deployment starts on the same events as a deployed one."""
    adapter: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    return [
        adapter.validate_python({"name": f"{spec['name']}__automation_{i}", **trigger})
        for i, trigger in enumerate(spec.get("triggers") or [], start=1)
    ]


def serve_all(before_serving: Callable[[], None] | None = None) -> None:
    """Register every deployment, run `before_serving` (e.g. create the automations, which
    need the duty-alert deployment to exist), then serve them until stopped."""
    served = deployments()
    if before_serving is not None:
        for deployment in served:
            deployment.apply()
        before_serving()
    serve(*served, pause_on_shutdown=False)


if __name__ == "__main__":
    serve_all()
