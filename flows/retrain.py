"""Retraining of the category model: weekly (prefect.yaml), or on demand from the Prefect UI
or CLI."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.forms import either, form
from minqing.i18n import N_, _
from minqing.runs import run_name
from tasks.retrain import retrain_model, retrain_report


@flow(name="retrain", flow_run_name=run_name(N_("重新训练分类模型")), log_prints=True)
def retrain(
    base_csv: Annotated[
        str | None,
        form(
            "另加的标注数据",
            "一份已标注分类的 CSV 文件的路径（可不填：沿用现用模型的训练数据，"
            "再加工作人员确认过的分类）。",
            **either("不另加", "指定文件", type="string"),
        ),
    ] = None,
    cv_folds: Annotated[
        int, form("交叉验证折数", "评估新模型时把数据分成几份轮流检验，一般为 5。")
    ] = 5,
    force: Annotated[
        bool, form("强制替换", "勾选时，即使新模型在近期确认的案件上不如现用模型，也启用新模型。")
    ] = False,
) -> dict[str, Any]:
    """Train a new category model from operators' confirmed labels on top of the current
    model's training data (or `base_csv`); it replaces the current one unless it would have
    done worse on the cases operators confirmed since (force=True replaces it anyway). With
    nothing confirmed since, or no model yet, it trains nothing (unless forced)."""
    result = retrain_model(base_csv=base_csv, cv_folds=cv_folds, force=force)
    create_markdown_artifact(
        key="retrain-report", markdown=retrain_report(result), description=_("分类模型重新训练结果")
    )
    print(retrain_report(result))
    return result
