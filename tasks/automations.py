"""What minqing sets up on a Prefect server (`minqing setup-prefect`, and `minqing serve` at
start): the `smtp` rate limit, one notification block per group robot of the duty config, and
one automation per alert rule (minqing/alerts.py). Running it again updates them in place.

How an alert reaches the duty contacts:
- group robots: the Prefect server itself posts to them (a Custom Webhook notification block
  per robot, the robot's key kept in the block's secrets), so the alert gets out even when the
  office's SMTP server, or the process that runs the flows, is what is down;
- e-mail: the automation runs the `duty-alert` deployment, which queues the alert in minqing's
  outbox and sends it at once; when SMTP is down it waits there and the next delivery brings it
  (tasks/duty.py). 钉钉 robots that sign (加签) need a fresh signature per message, which a
  stored webhook cannot compute: they are reached through the duty-alert deployment too.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any
from uuid import UUID

from minqing.alerts import AlertRule, alert_rules
from minqing.duty import alert_text
from minqing.i18n import _
from minqing.reference import Duty, Robot
from tasks.context import context
from tasks.duty import console_url
from tasks.limits import configure_smtp_limit

DUTY_DEPLOYMENT = "duty-alert/duty-alert"
BLOCK_PREFIX = "minqing-duty"


def setup_prefect(
    *, per_second: float | None = None, burst: int | None = None, night_grace_minutes: int = 30
) -> dict[str, Any]:
    """Create or update the rate limit, the robots' blocks and the automations (idempotent)."""
    ctx = context()
    duty = ctx.ref.office.duty
    limit = configure_smtp_limit(per_second, burst)
    blocks = save_robot_blocks(duty)
    deployment_id = duty_deployment_id()
    signed = [r.name for r in duty.robots if r.secret_env]
    automations = []
    for rule in alert_rules(console_url(), night_grace_minutes=night_grace_minutes):
        action = upsert_automation(rule, blocks, deployment_id, signed, office=ctx.ref.office.name)
        automations.append({"name": rule.automation_name, "action": action})
    return {
        "limit": limit,
        "robots": [name for name, _ in blocks],
        "email": deployment_id is not None and bool(duty.contacts),
        "automations": automations,
    }


def robot_block_json(robot: Robot) -> dict[str, Any]:
    """The request body a robot's block sends; `{{body}}` is the rendered alert."""
    if robot.kind == "webhook":
        return {"title": "{{subject}}", "text": "{{body}}", "source": "minqing"}
    content = "{{body}}" if not robot.keyword else f"{robot.keyword} {{{{body}}}}"
    return {"msgtype": "text", "text": {"content": content}}


def save_robot_blocks(duty: Duty) -> list[tuple[str, UUID]]:
    """One Custom Webhook block per robot that does not sign; (robot name, block id) each."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    saved = []
    for i, robot in enumerate(duty.robots):
        if robot.secret_env:
            continue
        url = robot.url or os.environ.get(robot.url_env or "")
        if not url:
            raise ValueError(
                _("未设置环境变量 %(variable)s（群机器人 %(robot)s 的地址）")
                % {"variable": robot.url_env, "robot": robot.name}
            )
        block = CustomWebhookNotificationBlock(
            name=robot.name,
            url="{{robot_url}}",
            json_data=robot_block_json(robot),
            secrets={"robot_url": url},
        )
        block_id = block.save(f"{BLOCK_PREFIX}-{i}-{robot.kind}", overwrite=True)
        saved.append((robot.name, block_id))
    return saved


def duty_deployment_id() -> UUID | None:
    """The duty-alert deployment (served by `minqing serve`, or deployed from prefect.yaml)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(DUTY_DEPLOYMENT).id
        except ObjectNotFound:
            return None


def automation_for(
    rule: AlertRule,
    blocks: list[tuple[str, UUID]],
    deployment_id: UUID | None,
    signed_robots: list[str],
    *,
    office: str,
) -> Any:
    from prefect.automations import Automation
    from prefect.events.actions import RunDeployment, SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    body = alert_text(rule.title, rule.text, rule.link, office)
    actions: list[Any] = [
        SendNotification(block_document_id=block_id, subject=rule.title, body=body)
        for _, block_id in blocks
    ]
    if deployment_id is not None:
        actions.append(
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={
                    "title": rule.title,
                    "text": rule.text,
                    "link": rule.link,
                    "kind": rule.key,
                    "robot_names": signed_robots,
                },
            )
        )
    match_related: dict[str, Any] = {}
    if rule.flows:
        match_related = {
            "prefect.resource.role": "flow",
            "prefect.resource.name": list(rule.flows),
        }
    trigger = EventTrigger(
        expect=set(rule.expect),
        after=set(rule.after),
        match_related=match_related,
        for_each=set(rule.for_each),
        posture=Posture.Proactive if rule.proactive else Posture.Reactive,
        threshold=1,
        within=timedelta(seconds=rule.within_seconds),
    )
    return Automation(
        name=rule.automation_name,
        description=rule.description,
        enabled=True,
        trigger=trigger,
        actions=actions,
    )


def upsert_automation(
    rule: AlertRule,
    blocks: list[tuple[str, UUID]],
    deployment_id: UUID | None,
    signed_robots: list[str],
    *,
    office: str,
) -> str:
    """Create the rule's automation, or update the one of that name; returns which."""
    from prefect.automations import Automation

    automation = automation_for(rule, blocks, deployment_id, signed_robots, office=office)
    try:
        existing = Automation.read(name=rule.automation_name)
    except ValueError:
        automation.create()
        return "created"
    automation.id = existing.id
    automation.update()
    return "updated"
