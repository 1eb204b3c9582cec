"""值班提醒 by e-mail, for the Prefect automations (tasks/automations.py): the server posts to
the group robots itself; e-mail goes through minqing's outbox, so this deployment queues it
(and sends it at once when the mail server answers)."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow

from flows.forms import form
from minqing.i18n import N_
from minqing.runs import run_name
from tasks.duty import alert_duty


@flow(name="duty-alert", flow_run_name=run_name(N_("值班提醒")), log_prints=True)
def duty_alert(
    title: Annotated[str, form("标题", "提醒的标题，如“夜间运行未完成”。")],
    text: Annotated[str, form("内容", "告诉值班人员发生了什么、该做什么。")],
    link: Annotated[str | None, form("链接", "可不填：相关页面的地址。")] = None,
    kind: Annotated[str, form("来源", "哪条规则发出的提醒（自动化的名称）。")] = "automation",
    robot_names: Annotated[
        list[str] | None, form("群机器人", "还要由本流程推送的群机器人名称（加签的钉钉机器人）。")
    ] = None,
) -> dict[str, Any]:
    """值班提醒: e-mail the duty contacts (and the robots named in `robot_names`: those the
    Prefect server cannot post to itself, i.e. 钉钉 robots that sign)."""
    return alert_duty(title, text, link=link, kind=kind, robots=robot_names or [])
