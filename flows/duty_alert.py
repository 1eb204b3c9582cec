"""值班提醒 by e-mail, for the Prefect automations (tasks/automations.py): the server posts to
the group robots itself; e-mail goes through minqing's outbox, so this deployment queues it
(and sends it at once when the mail server answers)."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow

from flows.forms import either, form
from minqing.i18n import N_, _
from minqing.runs import run_name
from minqing.runstate import run_warning
from tasks.duty import alert_duty
from tasks.runstate import finish_run


@flow(name="duty-alert", flow_run_name=run_name(N_("值班提醒")), log_prints=True)
def duty_alert(
    title: Annotated[str, form("标题", "提醒的标题，如“夜间运行未完成”。")],
    text: Annotated[str, form("内容", "告诉值班人员发生了什么、该做什么。")],
    link: Annotated[
        str | None,
        form("链接", "可不填：相关页面的地址。", **either("不填", "填写", type="string")),
    ] = None,
    kind: Annotated[str, form("来源", "哪条规则发出的提醒（自动化的名称）。")] = "automation",
    robot_names: Annotated[
        list[str] | None,
        form(
            "群机器人",
            "还要由本流程推送的群机器人名称（加签的钉钉机器人）。",
            **either("不另推送", "指定机器人", type="array", items={"type": "string"}),
        ),
    ] = None,
) -> Any:
    """值班提醒: e-mail the duty contacts (and the robots named in `robot_names`: those the
    Prefect server cannot post to itself, i.e. 钉钉 robots that sign). The run ends 部分失败
    when the mail could not go now (it waits in the outbox for the next delivery) or a robot
    did not take the alert, so the runs list does not show a duty nobody was told of as done."""
    result = alert_duty(title, text, link=link, kind=kind, robots=robot_names or [])
    warnings = [
        run_warning(
            _("群机器人“%(name)s”未收到提醒（%(error)s）") % r,
            _(
                "核对 config/office.yaml 中该机器人的地址、关键词和密钥所在的环境变量，并电话通知值班人员"
            ),
        )
        for r in result["robots"]
        if not r["ok"]
    ]
    if result.get("rehearsed"):
        warnings.append(run_warning(_("演练：未告知值班人员"), partial=False))
    return finish_run("duty-alert", result, delivery=result["delivery"], warnings=warnings)
