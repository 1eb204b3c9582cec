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


def test_the_model_is_retrained_weekly_early_on_sunday_one_run_at_a_time():
    retrain = DEPLOYMENTS["retrain"]
    assert retrain["schedules"] == [{"cron": "30 3 * * 0", "timezone": "Asia/Shanghai"}]
    assert retrain["concurrency_limit"]["limit"] == 1
    # scheduled runs use the current model's own training data: no CSV to name
    assert retrain["parameters"]["base_csv"] is None


def test_retrying_handoffs_is_manual_and_a_dry_run_by_default():
    retry = DEPLOYMENTS["retry-handoffs"]
    assert "schedules" not in retry
    assert retry["parameters"]["dry_run"] is True
    assert set(retry["parameters"]) == {
        "handoff_ids", "department", "status", "since", "dry_run", "operator",
    }  # fmt: skip


def test_the_retry_form_speaks_chinese_and_offers_the_configured_departments_and_statuses():
    from prefect.utilities.callables import parameter_schema

    from flows.retry_handoffs import retry_handoffs
    from minqing.reference import load_reference

    schema = parameter_schema(retry_handoffs).model_dump()
    fields = schema["properties"]
    # every parameter of prefect.yaml is on the form, in the order of the signature
    assert list(fields) == list(DEPLOYMENTS["retry-handoffs"]["parameters"])
    assert {name: f["title"] for name, f in fields.items()} == {
        "status": "消息状态", "department": "承办单位", "since": "起始时间",
        "handoff_ids": "消息编号", "dry_run": "仅预览，不发送", "operator": "操作人",
    }  # fmt: skip
    assert all(f["description"] for f in fields.values())
    # dropdowns: the UI shows an enum's values, so those are what the operator reads
    departments = [d.name for d in load_reference(REPO / "config").departments]
    assert schema["definitions"]["Department"]["enum"] == ["全部单位", *departments]
    assert schema["definitions"]["Status"]["enum"] == ["待发送", "发送失败", "已放弃"]
    # the deployment's defaults are valid choices, and mean "every undelivered message"
    chosen = retry_handoffs.validate_parameters(DEPLOYMENTS["retry-handoffs"]["parameters"])
    assert [s.name for s in chosen["status"]] == ["pending", "failed", "dead"]
    assert chosen["department"].name == "all" and chosen["operator"] == ""
    # a code is accepted too, when Python code calls the flow
    assert (
        retry_handoffs.validate_parameters({"department": "zhujian"})["department"].value
        == (departments[0])
    )


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
