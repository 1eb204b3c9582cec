"""Reaching the office's duty contacts (值班): `send_duty_alert(title, text, link=…)` sends one
alert on both channels — every group robot of config/office.yaml `duty.robots` at once, and an
e-mail to every duty contact through the outbox.

The two channels fail differently on purpose. A robot is an HTTPS call to 企业微信 / 钉钉 /
the office's webhook, so it reaches the duty group even when the office's SMTP server is the
thing that is down. The e-mail is a handoff (kind `duty`) committed before it is sent: when the
SMTP server does not answer it waits with the other pending mail and the next delivery (the
`deliver` deployment, every 15 minutes) sends it once the server is back. The same alert
(kind, title, text, link) is queued to a mailbox once however often it is raised.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
from prefect import task

from db.engine import Session
from db.models import HandoffKind
from minqing.duty import alert_key, alert_text, dingtalk_signed_url, robot_body
from minqing.i18n import _
from minqing.messages import render
from minqing.prefect_config import prefect_ui_url
from minqing.reference import Robot
from tasks.context import context
from tasks.outbox import queue_handoff

log = logging.getLogger(__name__)
ROBOT_TIMEOUT = 10.0


def send_duty_alert(
    title: str,
    text: str,
    *,
    link: str | None = None,
    kind: str = "alert",
    robots: bool | Sequence[str] = True,
    email: bool = True,
) -> dict[str, Any]:
    """Tell the duty contacts: `title` (one line), `text` (what happened, where to fix it),
    `link` (the run or console page; default: the current flow run, else duty.console_url).
    `kind` groups alerts ("night", "urgent", "precision", …) for the mailbox key and the event.
    `robots`: every robot (True), none (False) or those of these names; `email`: the mailboxes.

    Never raises for a channel that fails: returns what each channel did —
    {"robots": [{"name", "ok", "error"}], "emails_queued": n, "emails_sent": n, "delivery": the
    mails' delivery counts (tasks/deliver.py), which a run adds to its own}.

    A dry run (MINQING_MAIL_MODE=dry-run) tells nobody: no robot is called, no mail queued;
    the alert goes to the run's log and the result says `rehearsed`.
    """
    from tasks.events import DUTY_ALERTED, emit

    ctx = context()
    duty = ctx.ref.office.duty
    link = link or current_run_link() or console_url()
    result: dict[str, Any] = {"robots": [], "emails_queued": 0, "emails_sent": 0, "delivery": {}}
    if ctx.settings.mail_mode == "dry-run":
        log.info("演练，未告知值班：%s\n%s\n%s", title, text, link)
        return {**result, "rehearsed": True}
    chosen = [r for r in duty.robots if robots is True or (robots and r.name in robots)]
    if chosen:
        content = alert_text(title, text, link, ctx.ref.office.name)
        result["robots"] = [post_to_robot(r, content, title=title, link=link) for r in chosen]
    if email and duty.contacts:
        queued = queue_duty_mail(title, text, link=link, kind=kind)
        result["emails_queued"] = len(queued)
        result["delivery"] = _deliver_now(queued)
        result["emails_sent"] = int(result["delivery"].get("sent") or 0)
    emit(
        DUTY_ALERTED,
        payload={
            "kind": kind,
            "title": title,
            "robots_ok": sum(1 for r in result["robots"] if r["ok"]),
            "robots_failed": sum(1 for r in result["robots"] if not r["ok"]),
            **{k: result[k] for k in ("emails_queued", "emails_sent")},
        },
    )
    return result


def queue_duty_mail(title: str, text: str, *, link: str | None, kind: str) -> list[int]:
    """One pending `duty` handoff per duty contact with an e-mail address; returns the ids of
    the newly queued ones (an alert already queued is not queued again)."""
    ref = context().ref
    key = alert_key(kind, title, text, link)
    ids = []
    with Session() as s, s.begin():
        for person in ref.office.duty.contacts:
            if not person.email:
                continue
            rendered = render(
                "duty",
                _("【值班提醒】%(title)s") % {"title": title},
                office=ref.office.name,
                office_contact=ref.office.contact or "",
                heading=_("值班提醒"),
                recipient=person.name,
                message=text,
                link=link,
            )
            row = queue_handoff(
                s,
                ref,
                key=f"{key}:{person.email.lower()}",
                kind=HandoffKind.DUTY,
                recipient=person.email,
                recipient_name=person.name,
                rendered=rendered,
            )
            if row is not None:
                ids.append(row.id)
    return ids


def _deliver_now(ids: list[int]) -> dict[str, Any]:
    """Try the queued alerts at once; whatever does not go now stays pending for the next
    delivery, so a failure here is logged, never raised. The delivery's counts ({} when it
    could not run)."""
    if not ids:
        return {}
    from tasks.deliver import deliver_now

    try:
        return deliver_now(ids=ids)
    except Exception:
        log.exception("duty alert e-mails stay queued for the next delivery")
        return {}


def post_to_robot(robot: Robot, content: str, *, title: str, link: str | None) -> dict[str, Any]:
    """POST one alert to a group robot; ok when the robot says so (企业微信 / 钉钉 answer
    {"errcode": 0}, a generic webhook any 2xx)."""
    outcome: dict[str, Any] = {"name": robot.name, "kind": robot.kind, "ok": False, "error": None}
    try:
        url = robot_url(robot)
        response = httpx.post(
            url,
            json=robot_body(robot.kind, content, title=title, link=link, keyword=robot.keyword),
            timeout=ROBOT_TIMEOUT,
        )
        response.raise_for_status()
        if robot.kind != "webhook":
            answer = response.json()
            if answer.get("errcode", 0) != 0:
                raise RuntimeError(f"robot answered {answer}")
        outcome["ok"] = True
    except Exception as exc:  # one robot down must not keep the alert from the others
        outcome["error"] = f"{exc.__class__.__name__}: {exc}"
        log.warning("duty robot %s: %s", robot.name, outcome["error"])
    return outcome


def robot_url(robot: Robot) -> str:
    """The robot's URL from config or its environment variable (signed for 钉钉 加签)."""
    url = robot.url or os.environ.get(robot.url_env or "", "")
    if not url:
        raise RuntimeError(f"environment variable {robot.url_env} (robot {robot.name}) is not set")
    if robot.secret_env:
        secret = os.environ.get(robot.secret_env)
        if not secret:
            raise RuntimeError(f"environment variable {robot.secret_env} (加签) is not set")
        url = dingtalk_signed_url(url, secret, int(time.time() * 1000))
    return url


def console_url() -> str:
    """The Prefect UI the alerts link to: duty.console_url, else MINQING_PREFECT_UI_URL, else
    the UI of the Prefect the flows run against."""
    ctx = context()
    return prefect_ui_url(ctx.ref.office.duty.console_url or ctx.settings.prefect_ui_url)


def current_run_link() -> str | None:
    """The current flow run's page in the Prefect UI (`console_url`), when code runs inside
    one."""
    try:
        from prefect.runtime import flow_run

        run_id = flow_run.id
    except Exception:
        return None
    if not run_id:
        return None
    return f"{console_url()}/runs/flow-run/{run_id}"


@task(name="duty-alert")
def alert_duty(
    title: str, text: str, *, link: str | None, kind: str, robots: Sequence[str]
) -> dict[str, Any]:
    """值班提醒: send_duty_alert as a task (the duty-alert deployment's one step)."""
    return send_duty_alert(title, text, link=link, kind=kind, robots=robots)
