"""prefect.yaml names real flows, with the schedules and limits the office relies on."""

import importlib
import os
import subprocess
import sys
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


def test_triage_on_dask_is_manual_one_at_a_time_and_sizes_its_slices_to_the_cluster():
    dask = DEPLOYMENTS["triage-dask"]
    assert "schedules" not in dask
    assert dask["parameters"] == {"partitions": None}  # one slice per worker thread
    assert dask["concurrency_limit"]["limit"] == 1


def test_the_dask_scheduler_setting_chooses_the_cluster():
    from flows.triage_dask import dask_task_runner

    remote = dask_task_runner("tcp://10.0.0.7:8786")
    assert remote.address == "tcp://10.0.0.7:8786" and remote.cluster_kwargs == {}
    for local in (dask_task_runner(None), dask_task_runner("local")):
        assert local.address is None
        assert local.cluster_kwargs == {"n_workers": os.cpu_count(), "threads_per_worker": 1}


def test_a_deployment_run_reads_the_dask_scheduler_from_the_environment_without_code_changes():
    # A deployment run imports the flow's module in a fresh process, as this child does.
    probe = "from flows.triage_dask import triage_dask as f; print(f.task_runner.address)"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for value, expected in [("tcp://10.0.0.7:8786", "tcp://10.0.0.7:8786"), ("  ", "None")]:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env={**env, "MINQING_DASK_SCHEDULER": value},
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip().splitlines()[-1] == expected


def test_the_daytime_intake_runs_on_each_qr_submission_and_every_15_minutes_in_office_hours():
    from fnmatch import fnmatch

    from flows.serve import deployments
    from minqing.urgency import Urgency
    from tasks.events import SUBMISSION_RECEIVED
    from web.events import submission_event

    intake = DEPLOYMENTS["intake"]
    assert intake["schedules"] == [{"cron": "*/15 8-17 * * *", "timezone": "Asia/Shanghai"}]
    # served the same way as deployed: the trigger fires on the event the web form sends
    trigger = next(d for d in deployments() if d.name == "intake").triggers[0]
    event = submission_event("QR20261207-0123456789ab", "donghu-jia", "东湖社区", Urgency(False))
    assert SUBMISSION_RECEIVED in trigger.expect
    pattern = trigger.match.root["prefect.resource.id"]
    assert fnmatch(event["resource"]["prefect.resource.id"], pattern)
    assert trigger.posture.value == "Reactive" and trigger.threshold == 1
