"""The alerts an office gets from its Prefect server (值班提醒): which events raise them, how
often, and the Chinese words the duty operator reads. Plain data; tasks/automations.py turns
each rule into a Prefect automation that notifies the duty contacts.

The texts are Jinja templates that the Prefect server renders when the automation fires, over
the triggering `event` and the `flow_run` it concerns. Each message says what went wrong and
where to fix it — for the operator who reads it at 07:30.
"""

from __future__ import annotations

from dataclasses import dataclass

from minqing.i18n import N_, _

# minqing's flows whose failure the duty operator must hear about (not duty-alert itself: an
# alert about a failed alert would loop).
PIPELINE_FLOWS = (
    "nightly",
    "lookback",
    "deliver",
    "retry-handoffs",
    "intake",
    "report",
    "triage-dask",
    "retrain",
)
FLOW_LABELS = {
    "nightly": N_("夜间运行"),
    "lookback": N_("回头督办"),
    "deliver": N_("定时发送"),
    "retry-handoffs": N_("重发消息"),
    "intake": N_("日间收集"),
    "report": N_("评议报告"),
    "triage-dask": N_("整理（Dask）"),
    "retrain": N_("重新训练分类模型"),
}
NAME_PREFIX = "minqing·"


@dataclass(frozen=True)
class AlertRule:
    """One automation: fire on `expect` (reactive), or when no `expect` event follows an
    `after` event within `within_seconds` (proactive); at most once per `within_seconds` for
    each value of `for_each` when reactive."""

    key: str
    name: str
    description: str
    expect: tuple[str, ...]
    title: str
    text: str
    link: str  # where to fix it: the run's page, or the runs list
    flows: tuple[str, ...] = ()  # only events related to these flows (by name)
    proactive: bool = False
    after: tuple[str, ...] = ()
    within_seconds: int = 0
    for_each: tuple[str, ...] = ()

    @property
    def automation_name(self) -> str:
        return NAME_PREFIX + self.name


def _flow_label() -> str:
    """Jinja: the flow's Chinese name, from FLOW_LABELS."""
    pairs = ", ".join(f'"{k}": "{_(v)}"' for k, v in FLOW_LABELS.items())
    return "{% set labels = {" + pairs + "} %}{{ labels.get(flow.name, flow.name) }}"


def alert_rules(console_url: str, *, night_grace_minutes: int = 30) -> list[AlertRule]:
    """The shipped alerts. `console_url`: the Prefect UI the links point to (config
    office.yaml duty.console_url); a night that has not started `night_grace_minutes` after
    its usual time (a day after the previous one) raises the no-night alert."""
    run_link = console_url.rstrip("/") + "/runs/flow-run/{{ flow_run.id }}"
    runs = console_url.rstrip("/") + "/runs"
    return [
        AlertRule(
            key="run-failed",
            name=_("运行失败或崩溃"),
            description=_(
                "夜间运行、回头督办、定时发送、重发等运行失败（Failed）或崩溃（Crashed）时通知值班"
            ),
            expect=("prefect.flow-run.Failed", "prefect.flow-run.Crashed"),
            flows=PIPELINE_FLOWS,
            # 夜间运行失败, not 夜间运行运行失败: the flows' names already say 运行 or a task
            title=_("%(flow)s失败") % {"flow": _flow_label()},
            text=_(
                "%(flow)s（{{ flow.name }}，运行 {{ flow_run.name }}）"
                "{%% if flow_run.state.name == 'Crashed' %%}崩溃{%% else %%}失败{%% endif %%}："
                "{{ (flow_run.state.message or '')"
                " | replace('Flow run encountered an exception: ', '')"
                " | replace('ConfigError: ', '') }}\n"
                "{%% if 'ConfigError' in (flow_run.state.message or '') %%}"
                "处理：按上面列出的文件、行和键改好 config 中的配置文件，运行 minqing check-config "
                "确认无误后，在运行页面点“Retry”重试。"
                "{%% else %%}"
                "处理：打开运行页面看日志，排除原因后点“Retry”重试（各环节可重复运行，不会重复收件或发信）。"
                "{%% endif %%}"
            )
            % {"flow": _flow_label()},
            link=run_link,
        ),
        AlertRule(
            key="night-missing",
            name=_("夜间运行未启动"),
            description=_(
                "上一次夜间运行开始一天又 %(minutes)d 分钟后仍无新的夜间运行开始时通知值班"
            )
            % {"minutes": night_grace_minutes},
            expect=("prefect.flow-run.Running",),
            after=("prefect.flow-run.Running",),
            flows=("nightly",),
            proactive=True,
            within_seconds=24 * 3600 + night_grace_minutes * 60,
            title=_("夜间运行没有开始"),
            text=_(
                "上一次夜间运行开始已超过 24 小时 %(minutes)d 分钟，还没有新的夜间运行开始"
                "（通常北京时间 02:00 开始）。\n"
                "处理：检查 minqing serve 或 worker 进程是否在运行、nightly 部署是否被暂停；"
                "恢复后可在部署页面点“Run”立即运行。"
            )
            % {"minutes": night_grace_minutes},
            link=runs,
        ),
        AlertRule(
            key="night-partial",
            name=_("夜间运行部分失败"),
            description=_("夜间运行有消息未送达、邮件服务器无法连接或某环节降级运行时通知值班"),
            expect=("minqing.run.partial",),
            flows=("nightly",),
            title=_("夜间运行部分失败"),
            text="{{ event.payload.message }}",
            link=run_link,
        ),
        AlertRule(
            key="run-partial",
            name=_("日间运行部分失败"),
            description=_(
                "回头督办、定时发送、重发、日间收集有消息未送达或邮件服务器无法连接时通知值班（每 2 小时至多一次）"
            ),
            expect=("minqing.run.partial",),
            flows=tuple(f for f in PIPELINE_FLOWS if f != "nightly"),
            within_seconds=2 * 3600,
            title=_("%(flow)s部分失败") % {"flow": _flow_label()},
            text="{{ event.payload.message }}",
            link=run_link,
        ),
        AlertRule(
            key="handoff-dead",
            name=_("消息已放弃发送"),
            description=_(
                "消息多次重试仍未送达、已放弃（dead）时通知值班（每个部门每小时至多一次）"
            ),
            expect=("minqing.handoff.dead",),
            for_each=("prefect.resource.id",),
            within_seconds=3600,
            title=_("{{ event.payload.count }} 封消息已放弃发送"),
            text=_(
                "发给 {{ event.resource.name or event.payload.department or '（无部门）' }} 的 "
                "{{ event.payload.count }} 封消息多次重试仍未送达，已放弃（编号 "
                "{{ event.payload.handoffs | join('、') }}）。原因：{{ event.payload.errors | join('；') }}\n"
                "处理：核对地址或联系对方后，运行 retry-handoffs（消息状态选已放弃）或 "
                "minqing handoffs retry --status dead。"
            ),
            link=run_link,
        ),
        AlertRule(
            key="precision-low",
            name=_("自动分派准确率低于目标"),
            description=_(
                "夜间运行统计的自动分派准确率（按部门答复、不属职责退回、改派和人工改分类估计）低于 "
                "config/classifier.yaml 的目标时通知值班（每个模型每天至多一次）"
            ),
            expect=("minqing.classifier.precision_low",),
            for_each=("prefect.resource.id",),
            within_seconds=24 * 3600,
            title=_("自动分派准确率低于目标"),
            text=_(
                "{{ event.payload.message }}\n"
                "处理：在夜间运行的 routing-precision 表中查看各分类；提高该分类在 "
                "config/classifier.yaml 的 category_thresholds（更多案件转人工审核），或运行 retrain 重新训练。"
            ),
            link=run_link,
        ),
    ]
