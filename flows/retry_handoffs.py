"""重发消息 (retry-handoffs): an operator's form in the Prefect UI — choose the undelivered
messages, preview exactly what would be sent, then resend them under one's own name."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.states import Completed

from flows.forms import either, form
from minqing.handoffs import RETRYABLE, STATUS_LABELS, department_choices, retry_refusal
from minqing.i18n import N_
from minqing.reference import ConfigError
from minqing.runs import REFUSED, run_name
from tasks.context import context
from tasks.lease import one_run_at_a_time
from tasks.metrics import refresh_open_items
from tasks.retry import publish_resend, retry_handoffs_task
from tasks.runstate import finish_run


class Choice(StrEnum):
    """A dropdown in the Prefect UI, which shows an enum's values: so the values are what the
    operator reads, and the member's name is the code (accepted too when Python code calls the
    flow; the server checks a deployment run's parameters against the values)."""

    @classmethod
    def _missing_(cls, value: object) -> Choice | None:
        return cls.__members__.get(str(value))


def _departments() -> dict[str, str]:
    try:
        ref = context().ref
    except (ConfigError, OSError):  # the nightly run reports a broken config; keep the form up
        return department_choices([])
    return department_choices((d.code, d.name) for d in ref.departments)


# Built from config/departments.yaml when the deployment is created (`minqing serve` at each
# start, `prefect deploy` when run): redeploy after adding a department.
Department = Choice("Department", _departments())
Status = Choice("Status", {code: STATUS_LABELS[code] for code in RETRYABLE})


@flow(name="retry-handoffs", flow_run_name=run_name(N_("重发消息")), log_prints=True)
@one_run_at_a_time("retry-handoffs", unless=lambda args: args["dry_run"])
def retry_handoffs(
    status: Annotated[
        tuple[Status, ...],
        form(
            "消息状态",
            "待发送：尚未送达，正等待自动重试（例如邮件服务器暂时连不上）；发送失败：对方服务器拒收"
            "（如地址错误 550）或发送中断；已放弃：多次重试仍未送达。",
        ),
    ] = tuple(Status),
    department: Annotated[
        Department,
        form("承办单位", "只重发给这个单位的消息；地址以 departments.yaml 现在的为准。"),
    ] = Department["all"],
    since: Annotated[
        datetime | None,
        form(
            "起始时间",
            "只重发此时间以后生成的消息（北京时间）；不限则不按时间筛选。",
            **either("不限", "指定时间", type="string", format="date-time"),
        ),
    ] = None,
    handoff_ids: Annotated[
        tuple[int, ...],
        form(
            "消息编号",
            "只重发这些编号的消息（见 failed-handoffs 表或 minqing handoffs list）；留空则按上面的条件。",
        ),
    ] = (),
    dry_run: Annotated[
        bool,
        form(
            "仅预览，不发送",
            "勾选时只列出将要重发的消息（见本次运行的 Artifacts）；核对无误后取消勾选并填写操作人再运行。",
        ),
    ] = True,
    operator: Annotated[
        str, form("操作人", "您的姓名，记入办理轨迹；真实重发时必填，仅预览时可不填。")
    ] = "",
) -> Any:
    """重发消息: resend undelivered messages chosen by status, department, time and id."""
    refusal = retry_refusal([s.name for s in status], dry_run=dry_run, operator=operator)
    if refusal:
        get_run_logger().warning(refusal)
        return Completed(name=REFUSED, message=refusal)
    result = retry_handoffs_task(
        status=status, department=department, since=since, handoff_ids=handoff_ids,
        dry_run=dry_run, operator=operator,
    )  # fmt: skip
    result["summary"] = publish_resend(result)
    if not dry_run:
        refresh_open_items()
    return finish_run("retry-handoffs", result, delivery=result["delivery"])
