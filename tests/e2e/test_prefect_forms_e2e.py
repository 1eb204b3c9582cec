"""The run forms of minqing's deployments as the operator sees them in the Prefect UI (a real
`prefect server` on loopback, Debian's chromium): titles, help and an optional parameter's two
tabs in Chinese, and a form left as it opens starts a run with the flow's own defaults."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e

# What each form shows for its optional parameters: the tabs named in flows/forms.either.
TABS = {
    "report": ["不填", "指定日期"],
    "retrain": ["不另加", "指定文件"],
    "retry-handoffs": ["不限", "指定时间"],
    "triage-dask": ["按线程数", "指定片数", "现在", "指定时间"],
}


def test_the_run_forms_speak_chinese_and_start_with_the_flows_defaults(
    prefect_server, browser, artifacts
):
    # Registered as `minqing serve` does, in a process of its own: a live Playwright keeps an
    # event loop in this one, which turns Prefect's sync calls into coroutines.
    register = (
        "import json; from flows.serve import deployments; "
        f"print(json.dumps({{d.name: str(d.apply()) for d in deployments() if d.name in {list(TABS)!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", register], env=prefect_server.env(), capture_output=True,
        text=True, timeout=300, check=True,
    )  # fmt: skip
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    for name, deployment_id in ids.items():
        page.goto(f"{prefect_server.ui_url}/deployments/deployment/{deployment_id}/run")
        page.get_by_text(TABS[name][0], exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / f"prefect-form-{name}.png"), full_page=True)
        text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
        for tab in TABS[name]:
            assert tab in text, (name, tab, text[:2000])
        for english in ("\ndate\n", "\nNone\n", "\nstr\n", "\nint\n", "\ndate-time\n"):
            assert english not in text, (name, english)

    # The resend form as it opens (a preview of every undelivered message) is accepted and
    # starts a run with no time limit.
    page.goto(f"{prefect_server.ui_url}/deployments/deployment/{ids['retry-handoffs']}/run")
    page.get_by_role("button", name="Submit").click()
    deadline, runs = time.monotonic() + 60, []
    while not runs and time.monotonic() < deadline:
        runs = httpx.post(
            f"{prefect_server.api_url}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [str(ids["retry-handoffs"])]}}},
        ).json()
        time.sleep(0.5)
    page.close()
    assert len(runs) == 1, "the form was refused"
    assert runs[0]["parameters"]["dry_run"] is True
    assert runs[0]["parameters"].get("since") is None
