"""prefect.yaml names real flows, with the schedules and limits the office relies on."""

import importlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = {
    d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
}


def _flow(entrypoint: str):
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)


def test_every_entrypoint_is_a_flow_of_the_same_name():
    for name, deployment in DEPLOYMENTS.items():
        assert _flow(deployment["entrypoint"]).name == name


def test_the_nightly_run_is_at_two_in_the_morning_beijing_time_one_at_a_time():
    nightly = DEPLOYMENTS["nightly"]
    assert nightly["schedules"] == [{"cron": "0 2 * * *", "timezone": "Asia/Shanghai"}]
    assert nightly["concurrency_limit"]["limit"] == 1


def test_retrying_handoffs_is_manual_and_a_dry_run_by_default():
    retry = DEPLOYMENTS["retry-handoffs"]
    assert "schedules" not in retry
    assert retry["parameters"]["dry_run"] is True
    assert set(retry["parameters"]) == {"handoff_ids", "department", "status", "since", "dry_run"}


def test_serving_builds_every_deployment_of_prefect_yaml():
    from flows.serve import deployments

    served = {d.name: d for d in deployments()}
    assert set(served) == set(DEPLOYMENTS)
    assert served["nightly"].schedules[0].schedule.cron == "0 2 * * *"
