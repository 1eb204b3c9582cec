"""白天随到随办 end to end, as an office runs it: a real `prefect server start`, `minqing serve`
and `minqing web` as child processes (free loopback ports, their own PREFECT_HOME), the SMTP
sink and a loopback robot. Three citizens use the QR form at once: the gas leak reaches its
department at the SMTP server with no nightly run, the noise complaint waits for the night,
and the urgent report nobody can be routed to reaches the duty contacts (robot and mailbox)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from db.engine import Session, reset_engine
from db.models import Case
from mail.sink import SmtpSink, stored_messages
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from web.testing import free_port, hidden_fields, message_text

REPO = Path(__file__).resolve().parents[2]
MINQING = str(Path(sys.executable).parent / "minqing")
TIMEOUT = 600  # seconds: a loaded 2-core machine is slow, and nothing here is timed

GAS = "东湖社区惠民小区2栋楼道里燃气泄漏，味道很大，请马上派人来！"
NOISE = "南苑社区工地夜间施工噪音扰民，严重影响休息。"
DROWNING = "滨江社区河边步道有人溺水被困，请马上来人！"


def wait_until(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def api(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, server.api_url + path, timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def flow_runs(server: Any, flow: str) -> list[dict]:
    body = {"flows": {"name": {"any_": [flow]}}, "limit": 200}
    return api(server, "POST", "/flow_runs/filter", json=body)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            args, env=env, cwd=env["MINQING_HOME"], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    with_group = os.getpgid(process.pid)
    os.killpg(with_group, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(with_group, signal.SIGKILL)
        process.wait()


@pytest.fixture
def office(tmp_path: Path, prefect_server: Any, robot: Any, monkeypatch: Any) -> Iterator[dict]:
    """A minqing home (SQLite; a duty mailbox and robot in config) with the SMTP sink, `minqing
    serve` and `minqing web` running against the test's Prefect server."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    office_yaml = yaml.safe_load((config / "office.yaml").read_text(encoding="utf-8"))
    office_yaml["duty"] = {
        "contacts": [{"name": "值班员小李", "email": "duty@street.example.gov.cn"}],
        "robots": [{"kind": "wecom", "name": "民情值班群", "url": robot.url}],
    }
    (config / "office.yaml").write_text(yaml.safe_dump(office_yaml, allow_unicode=True), "utf-8")
    web_port = free_port()
    env = prefect_server.env(
        MINQING_HOME=str(tmp_path),
        MINQING_CONFIG_DIR=str(config),
        MINQING_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'minqing.db'}",
        MINQING_MAIL_MODE="sink",
        MINQING_SINK_PORT=str(free_port()),
        MINQING_SECRET_KEY="e2e-" + "k" * 40,
        MINQING_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        HOME=str(tmp_path),  # no ~/.prefect profile of the machine's user
    )
    for key in ("MINQING_HOME", "MINQING_CONFIG_DIR", "MINQING_DATABASE_URL", "MINQING_SINK_PORT"):
        monkeypatch.setenv(key, env[key])
    reset_settings()
    reset_engine()
    subprocess.run([MINQING, "db", "upgrade"], env=env, check=True, cwd=tmp_path)
    sink = SmtpSink(tmp_path / "var" / "mail", port=int(env["MINQING_SINK_PORT"])).start()
    serve = start([MINQING, "serve"], env, tmp_path / "serve.log")
    web = start([MINQING, "web", "--port", str(web_port)], env, tmp_path / "web.log")
    try:
        wait_until(
            "the intake deployment and the web app", lambda: _ready(prefect_server, web_port)
        )
        yield {"web": f"http://127.0.0.1:{web_port}", "home": tmp_path}
    except AssertionError as exc:
        logs = "\n".join(
            (tmp_path / n).read_text(errors="replace")[-3000:] for n in ("serve.log", "web.log")
        )
        raise AssertionError(f"{exc}\n{logs}") from None
    finally:
        stop(web)
        stop(serve)
        sink.stop()
        reset_engine()
        reset_settings()


def _ready(server: Any, web_port: int) -> bool:
    try:
        deployment = api(server, "GET", "/deployments/name/intake/intake")
        automations = api(server, "POST", "/automations/filter", json={})
        healthy = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
    triggers = [a for a in automations if deployment["id"] in str(a.get("actions"))]
    return healthy and bool(triggers) and deployment.get("status") == "READY"


def submit(web: str, station: str, content: str, area: str) -> str:
    """A citizen scans the station's code and sends the form; returns the page they see."""
    with httpx.Client(base_url=web, timeout=30) as client:
        form = hidden_fields(client.get(f"/s/{station}").text)
        page = client.post(
            f"/s/{station}", data={**form, "content": content, "area": area, "phone": ""}
        )
    assert page.status_code == 200, page.text
    return page.text


def bodies(home: Path) -> list[str]:
    return [message_text(m) for m in stored_messages(home / "var" / "mail")]


def case_status(text: str) -> CaseStatus | None:
    with Session() as s:
        return s.scalar(select(Case.status).where(Case.text == text))


def test_urgent_reports_reach_someone_within_minutes_and_ordinary_ones_wait_for_the_night(
    prefect_server: Any, robot: Any, office: dict
) -> None:
    started = datetime.now(UTC)
    web, home = office["web"], office["home"]
    thanks = submit(web, "donghu-jia", GAS, "东湖社区")
    assert "已标为紧急件" in thanks and "119" in thanks
    assert "今晚" in submit(web, "nanyuan-dian", NOISE, "南苑社区")
    submit(web, "donghu-jia", DROWNING, "滨江社区")

    # The gas leak's assignment is at the SMTP server, its text in it, without a nightly run.
    wait_until("the gas leak's assignment", lambda: any(GAS in b for b in bodies(home)))
    nights = flow_runs(prefect_server, "nightly")  # only the scheduler's future 02:00 runs
    assert [r for r in nights if r["state"]["type"] != "SCHEDULED"] == []

    # The report nobody can be routed to reaches the duty group and the duty mailbox.
    wait_until("the duty robot", lambda: any(DROWNING in str(r["json"]) for r in robot.received))
    alert = next(r for r in robot.received if DROWNING in str(r["json"]))["json"]["text"]["content"]
    assert "待人工分办" in alert and "/console/cases/" in alert
    wait_until("the duty mailbox", lambda: any(DROWNING in b and "值班" in b for b in bodies(home)))

    # Every run the events started has ended; the noise complaint is triaged and waits.
    def started_runs() -> list[dict]:
        now = datetime.now(UTC).isoformat()
        return [
            r
            for r in flow_runs(prefect_server, "intake")
            if r["state"]["type"] != "SCHEDULED" or r["expected_start_time"] <= now
        ]  # fmt: skip (the cron's future runs aside)

    wait_until(
        "the intake runs to end",
        lambda: all(r["state"]["type"] in ("COMPLETED", "FAILED") for r in started_runs()),
    )
    runs = started_runs()
    assert len(runs) >= 1 and all(r["state"]["type"] == "COMPLETED" for r in runs), runs
    assert case_status(NOISE) is CaseStatus.TRIAGED
    assert case_status(DROWNING) is CaseStatus.NEEDS_REVIEW
    assert not any(NOISE in b for b in bodies(home))

    # Each submission is an event on the server, urgent or not and what decided it.
    body = {"filter": {"event": {"name": ["minqing.submission.received"]},
                       "occurred": {"since": started.isoformat()}}, "limit": 10}  # fmt: skip
    received = api(prefect_server, "POST", "/events/filter", json=body)["events"]
    decisions = sorted((e["payload"]["urgent"], e["payload"]["reason"]) for e in received)
    assert decisions == [(False, ""), (True, "政策词“燃气泄漏”"), (True, "政策词“被困”")]
