"""Operations against a real `prefect server start` (one for the module): a night with the SMTP
server down ends 部分失败 with its reason, its events are on the server, the automation alerts
the duty robot (a loopback HTTP server) at once and the duty mailbox once SMTP is back; the
messages then arrive exactly once. A Prefect profile alone puts minqing's runs on its server.

`minqing serve` runs as a child process, exactly as an office runs it: it registers the
deployments, creates the automations and runs the flows the server schedules.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from db.engine import Session, reset_engine
from db.models import Handoff, HandoffKind, HandoffStatus
from mail.sink import SmtpSink, stored_messages
from minqing.handoffs import STATUS_LABELS
from minqing.settings import reset_settings

REPO = Path(__file__).resolve().parents[2]
MINQING = str(Path(sys.executable).parent / "minqing")
RUN_TIMEOUT = 600  # seconds: a loaded 2-core machine is slow, and nothing here is timed


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def office_config(folder: Path, console_url: str | None = None) -> Path:
    """The shipped config with a duty section (one mailbox, one 企业微信 robot whose URL is in
    TEST_WECOM_URL) and a one-second retry backoff, so the next delivery finds mail due.
    Without `console_url` the links go to the UI of the Prefect the flows run against."""
    shutil.copytree(REPO / "config", folder, dirs_exist_ok=True)
    office = yaml.safe_load((folder / "office.yaml").read_text(encoding="utf-8"))
    office["duty"] = {
        "contacts": [{"name": "值班员小李", "email": "duty@street.example.gov.cn"}],
        "robots": [{"kind": "wecom", "name": "民情值班群", "url_env": "TEST_WECOM_URL"}],
    }
    if console_url:
        office["duty"]["console_url"] = console_url
    (folder / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True), "utf-8")
    policy = yaml.safe_load((folder / "policy.yaml").read_text(encoding="utf-8"))
    policy.setdefault("delivery", {})["backoff_seconds"] = 1
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True), "utf-8")
    return folder


def api(server, method: str, path: str, **kwargs) -> object:
    for _ in range(
        20
    ):  # a busy server's SQLite answers 503 for a moment; Prefect's client retries too
        response = httpx.request(method, server.api_url + path, timeout=30, **kwargs)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json()


def wait_until(what: str, check, timeout: float = RUN_TIMEOUT, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def run_deployment(server, name: str, parameters: dict | None = None) -> dict:
    """Start a run of deployment `name` and return the finished flow run (API JSON)."""
    deployment = api(server, "GET", f"/deployments/name/{name}")
    run = api(
        server,
        "POST",
        f"/deployments/{deployment['id']}/create_flow_run",
        json={"parameters": parameters or {}},
    )

    def finished():
        current = api(server, "GET", f"/flow_runs/{run['id']}")
        return (
            current
            if current["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
            else None
        )

    return wait_until(f"the {name} run", finished)


def finished_runs(server, flow: str) -> list[dict]:
    """The finished flow runs of `flow` (API JSON); none while any is still going."""
    runs = api(server, "POST", "/flow_runs/filter", json={"flows": {"name": {"any_": [flow]}}})
    done = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
    return runs if runs and all(r["state"]["type"] in done for r in runs) else []


def events(server, since: datetime) -> list[dict]:
    body = {
        "filter": {"event": {"prefix": ["minqing."]}, "occurred": {"since": since.isoformat()}},
        "limit": 50,
    }
    return api(server, "POST", "/events/filter", json=body)["events"]


def related_ids(event: dict) -> set[str]:
    return {r["prefect.resource.id"] for r in event.get("related", [])}


@pytest.fixture
def office(tmp_path, prefect_server, robot, monkeypatch):
    """A minqing home (SQLite, the sample's first night in the inbox, SMTP port closed) and
    `minqing serve` running against the test's Prefect server."""
    smtp_port = free_port()  # nothing listens here until the test starts the sink
    env = prefect_server.env(
        MINQING_HOME=str(tmp_path),
        # no console_url: the links go to the server's UI, found from its API address alone
        MINQING_CONFIG_DIR=str(office_config(tmp_path / "config")),
        MINQING_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'minqing.db'}",
        MINQING_MAIL_MODE="sink",
        MINQING_SINK_PORT=str(smtp_port),
        TEST_WECOM_URL=robot.url + "/wecom?key=test",
        HOME=str(tmp_path),  # no ~/.prefect profile of the machine's user
    )
    del env["PREFECT_UI_URL"]
    for key in ("MINQING_HOME", "MINQING_CONFIG_DIR", "MINQING_DATABASE_URL", "MINQING_SINK_PORT"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("MINQING_MAIL_MODE", "sink")
    reset_settings()
    reset_engine()
    subprocess.run([MINQING, "db", "upgrade"], env=env, check=True, cwd=tmp_path)
    for path in sorted((REPO / "sample" / "night1" / "inbox").glob("*/*")):
        if path.is_file() and not path.name.startswith("."):
            target = tmp_path / "var" / "inbox" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    serve = subprocess.Popen(
        [MINQING, "serve"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            "minqing serve to register the deployments and the automations",
            lambda: (
                serve.poll() is None
                and len(api(prefect_server, "POST", "/automations/filter", json={})) >= 5
                and _serving(prefect_server)
            ),
            timeout=300,
        )
        yield {"env": env, "smtp_port": smtp_port, "home": tmp_path, "serve": serve}
    except AssertionError:
        raise AssertionError((tmp_path / "serve.log").read_text(errors="replace")[-4000:]) from None
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        log.close()
        reset_engine()
        reset_settings()


def _serving(server) -> bool:
    try:
        api(server, "GET", "/deployments/name/duty-alert/duty-alert")
        api(server, "GET", "/deployments/name/deliver/deliver")
    except httpx.HTTPStatusError:
        return False
    return True


def handoff_counts() -> dict[str, int]:
    with Session() as s:
        rows = s.execute(select(Handoff.status, func.count()).group_by(Handoff.status)).all()
    return {status.value: n for status, n in rows}


def test_a_night_without_smtp_is_partial_alerts_the_duty_and_every_message_arrives_once(
    prefect_server, robot, office
):
    started = datetime.now(UTC)
    night = run_deployment(prefect_server, "nightly/nightly")

    # The run's state tells the truth, in the runs list and in its message.
    assert night["state"]["type"] == "COMPLETED", night["state"]
    assert night["state"]["name"] == "部分失败"
    assert "邮件服务器无法连接" in night["state"]["message"]
    assert "封消息未送达（稍后重试" in night["state"]["message"]
    with Session() as s:  # the night's own messages: its urgent cases' duty alert is one; the
        # alert about the partial night (the automation's, queued by now or not) is not
        pending = s.scalar(
            select(func.count())
            .select_from(Handoff)
            .where(
                Handoff.status == HandoffStatus.PENDING,
                (Handoff.kind != HandoffKind.DUTY)
                | Handoff.subject.startswith("【值班提醒】紧急件"),
            )
        )
    assert pending > 100

    # The events are on the server, with the figures and the run they belong to.
    seen = wait_until(
        "the night's events",
        lambda: (
            (found := events(prefect_server, started))
            and {"minqing.night.finished", "minqing.run.partial", "minqing.smtp.unreachable"}
            <= {e["event"] for e in found}
            and found
        ),
        timeout=60,
    )
    by_name = {e["event"]: e for e in seen}
    finished = by_name["minqing.night.finished"]
    assert finished["payload"]["state"] == "部分失败"
    assert finished["payload"]["taken"] > 200 and finished["payload"]["sent"] == 0
    assert f"prefect.flow-run.{night['id']}" in related_ids(finished)
    assert by_name["minqing.smtp.unreachable"]["payload"]["waiting"] == pending

    # The automation told the duty robot (posted by the Prefect server itself) …
    alerts = robot.wait_for(lambda r: "夜间运行部分失败" in str(r["json"]), timeout=120)
    (alert,) = [r for r in alerts if "夜间运行部分失败" in str(r["json"])]
    assert alert["path"] == "/robot/wecom?key=test"
    content = alert["json"]["text"]["content"]
    assert content.startswith(
        "【示例街道人大工委·民情直通车】夜间运行部分失败\n部分失败：邮件服务器无法连接"
    )
    assert f"{prefect_server.ui_url}/runs/flow-run/{night['id']}" in content

    # … and queued the duty e-mail, which waits while the SMTP server is down.
    def duty_mail():
        with Session() as s:
            return s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.DUTY)).all()

    queued = wait_until(
        "the duty e-mail in the outbox, its first try over",
        lambda: (
            (found := [h for h in duty_mail() if "夜间运行部分失败" in h.subject])
            and all(h.status is not HandoffStatus.SENDING for h in found)
            and found
        ),
        timeout=300,
    )
    assert {(h.status, h.recipient) for h in queued} == {
        (HandoffStatus.PENDING, "duty@street.example.gov.cn")
    }
    # The automation's duty-alert run says so in the runs list: the duty e-mail did not go.
    duty_run = wait_until(
        "the duty-alert run's end", lambda: finished_runs(prefect_server, "duty-alert")
    )
    assert [
        (r["state"]["name"], "邮件服务器无法连接" in r["state"]["message"]) for r in duty_run
    ] == [("部分失败", True)], duty_run

    # The SMTP server is back: the operator resends what waits (待发送) from the retry form,
    # then the 15-minute delivery finds nothing left: every message arrives exactly once.
    mail_dir = office["home"] / "var" / "mail"
    with SmtpSink(mail_dir, port=office["smtp_port"]):
        retry = run_deployment(
            prefect_server,
            "retry-handoffs/retry-handoffs",
            {"status": [STATUS_LABELS["pending"]], "dry_run": False, "operator": "值班员小李"},
        )
        assert retry["state"]["name"] == "Completed", retry["state"]
        # the night's messages (its urgent cases' alert among them) and the other duty alerts
        # (the partial night's; other rules, e.g. precision, may add one)
        urgent_alert = "【值班提醒】紧急件"
        expected = pending + sum(1 for h in duty_mail() if not h.subject.startswith(urgent_alert))
        assert handoff_counts() == {"sent": expected}, "the retry sent every waiting message"
        after = run_deployment(prefect_server, "deliver/deliver")
        assert after["state"]["name"] == "Completed", after["state"]
        time.sleep(0.5)  # the sink writes the last message after its "250"
    assert handoff_counts() == {"sent": expected}
    received = stored_messages(mail_dir)
    assert len(received) == expected
    assert max(Counter(m["Message-ID"] for m in received).values()) == 1
    bodies = [
        m.get_body(("plain",)).get_content()
        for m in received
        if "duty@street.example.gov.cn" in m["To"]
    ]
    assert any("值班员小李" in b and "部分失败：邮件服务器无法连接" in b for b in bodies), bodies

    # A run that fails (here: a config file broken by an edit) alerts the duty robot too.
    policy = office["home"] / "config" / "policy.yaml"
    policy.write_text("delivery: [this is not a mapping\n", encoding="utf-8")
    broken = run_deployment(prefect_server, "deliver/deliver")
    assert broken["state"]["type"] == "FAILED", broken["state"]
    alerts = robot.wait_for(lambda r: "定时发送失败" in str(r["json"]), timeout=120)
    (failed,) = [r for r in alerts if "定时发送失败" in str(r["json"])]
    lines = failed["json"]["text"]["content"].splitlines()
    assert lines[0] == "【示例街道人大工委·民情直通车】定时发送失败"
    # in Chinese, without Prefect's English wrapper around the error
    assert lines[1].startswith(f"定时发送（deliver，运行 {broken['name']}）失败：配置有误："), lines
    assert "Flow run encountered" not in lines[1] and "ConfigError" not in lines[1], lines
    # a broken config file: what to do is to fix it, not to press Retry as it is
    assert any(
        line.startswith(
            "处理：按上面列出的文件、行和键改好 config 中的配置文件，运行 minqing check-config"
        )
        for line in lines
    ), lines
    assert lines[-1] == f"查看与处理：{prefect_server.ui_url}/runs/flow-run/{broken['id']}"


def test_two_nightly_runs_started_at_once_from_prefect_run_one_night_the_other_is_skipped(
    prefect_server, office
):
    # An operator presses Run on the nightly deployment beside the scheduled night: Prefect
    # holds the second run for the deployment's concurrency slot, then starts it.
    deployment = api(prefect_server, "GET", "/deployments/name/nightly/nightly")
    runs = [
        api(prefect_server, "POST", f"/deployments/{deployment['id']}/create_flow_run", json={})
        for _ in range(2)
    ]
    with SmtpSink(office["home"] / "var" / "mail", port=office["smtp_port"]):
        done = [
            wait_until(
                "both nights to end",
                lambda run=run: (
                    (current := api(prefect_server, "GET", f"/flow_runs/{run['id']}"))["state"][
                        "type"
                    ]
                    in ("COMPLETED", "FAILED", "CRASHED")
                    and current
                ),
            )
            for run in runs
        ]
    assert sorted(d["state"]["name"] == "已跳过" for d in done) == [False, True], [
        d["state"] for d in done
    ]
    assert all(d["state"]["type"] == "COMPLETED" for d in done), [d["state"] for d in done]
    (skipped,) = [d for d in done if d["state"]["name"] == "已跳过"]
    assert "另一个夜间运行已于 " in skipped["state"]["message"]
    assert "本次未重复执行" in skipped["state"]["message"]
    # one night's summary, published by the night that ran (not an empty one over it)
    summaries = api(
        prefect_server,
        "POST",
        "/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["nightly-summary"]}}},
    )
    (ran,) = [d for d in done if d["state"]["name"] != "已跳过"]
    ours = [a["flow_run_id"] for a in summaries if a["flow_run_id"] in {d["id"] for d in done}]
    assert ours == [ran["id"]], summaries  # (the module's earlier nights published theirs)


def test_a_prefect_profile_alone_puts_the_runs_of_minqing_nightly_on_its_server(
    prefect_server, tmp_path
):
    # The user's Prefect lives in ~/.prefect (no PREFECT_HOME, no PREFECT_API_URL exported).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MINQING_"))}
    env.update(
        HOME=str(tmp_path),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        MINQING_HOME=str(tmp_path),
        MINQING_CONFIG_DIR=str(REPO / "config"),
        MINQING_SINK_PORT=str(free_port()),
    )
    prefect = [sys.executable, "-m", "prefect"]
    for command in (
        ["profile", "create", "office"],
        ["--profile", "office", "config", "set", f"PREFECT_API_URL={prefect_server.api_url}"],
        ["profile", "use", "office"],  # checks that the server answers
    ):
        subprocess.run([*prefect, *command], env=env, check=True, capture_output=True)
    assert "PREFECT_API_URL" not in env

    def nightly_runs() -> list[str]:
        flows = api(
            prefect_server, "POST", "/flows/filter", json={"flows": {"name": {"any_": ["nightly"]}}}
        )
        if not flows:
            return []
        runs = api(
            prefect_server,
            "POST",
            "/flow_runs/filter",
            json={"flows": {"id": {"any_": [flows[0]["id"]]}}},
        )
        return [r["id"] for r in runs]

    before = set(nightly_runs())
    subprocess.run(
        [MINQING, "db", "upgrade"], env=env, check=True, cwd=tmp_path, capture_output=True
    )
    done = subprocess.run(
        [MINQING, "nightly"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"Prefect：{prefect_server.api_url}（来自 profile office）" in done.stdout
    new = set(nightly_runs()) - before
    assert len(new) == 1, "the night ran on the profile's server"
    assert not (tmp_path / "var" / "prefect").exists(), "no embedded Prefect was started"


def test_no_night_started_in_time_alerts_the_duty_robot(
    prefect_server, robot, tmp_path, monkeypatch
):
    """The 夜间运行未启动 rule on the real server, its window shortened from 24 h 30 min to
    seconds: a nightly run starts, no other follows within the window, the robot is told."""
    import dataclasses
    import uuid

    from prefect.events import emit_event

    from minqing.alerts import alert_rules
    from tasks.automations import automation_for

    monkeypatch.setenv(
        "MINQING_CONFIG_DIR", str(office_config(tmp_path / "config", prefect_server.ui_url))
    )
    monkeypatch.setenv("TEST_WECOM_URL", robot.url + "/wecom?key=test")
    reset_settings()
    (rule,) = [r for r in alert_rules(prefect_server.ui_url) if r.key == "night-missing"]
    with prefect_server.using():
        from tasks.automations import save_robot_blocks
        from tasks.context import context

        blocks = save_robot_blocks(context().ref.office.duty)
        quick = dataclasses.replace(rule, name=rule.name + "（测试）", within_seconds=15)
        automation_for(quick, blocks, None, [], office="示例街道人大工委").create()
        time.sleep(5)  # the triggers service loads new automations periodically
        flow = {
            "prefect.resource.id": f"prefect.flow.{uuid.uuid4()}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": "nightly",
        }
        emit_event(
            "prefect.flow-run.Running",
            resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
            related=[flow],
        )
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all()
    alerts = robot.wait_for(lambda r: "夜间运行没有开始" in str(r["json"]), timeout=120)
    content = next(r for r in alerts if "夜间运行没有开始" in str(r["json"]))["json"]["text"][
        "content"
    ]
    assert content.startswith(
        "【示例街道人大工委·民情直通车】夜间运行没有开始\n上一次夜间运行开始已超过 24 小时"
    )
    assert content.endswith(f"查看与处理：{prefect_server.ui_url}/runs")
