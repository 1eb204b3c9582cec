"""值班提醒 by e-mail, for the Prefect automations (tasks/automations.py): the server posts to
the group robots itself; e-mail goes through minqing's outbox, so this deployment queues it
(and sends it at once when the mail server answers)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.duty import alert_duty


@flow(name="duty-alert", log_prints=True)
def duty_alert(
    title: str,
    text: str,
    link: str | None = None,
    kind: str = "automation",
    robot_names: list[str] | None = None,
) -> dict[str, Any]:
    """值班提醒: e-mail the duty contacts (and the robots named in `robot_names`: those the
    Prefect server cannot post to itself, i.e. 钉钉 robots that sign)."""
    return alert_duty(title, text, link=link, kind=kind, robots=robot_names or [])
