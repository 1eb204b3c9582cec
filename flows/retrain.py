"""Retraining of the category model, run on demand from the Prefect UI or CLI."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.retrain import retrain_model, retrain_report


@flow(name="retrain", log_prints=True)
def retrain(base_csv: str | None = None, cv_folds: int = 5, force: bool = False) -> dict[str, Any]:
    """Train a new category model from operators' confirmed labels (+ an optional labelled CSV);
    it replaces the current one unless it would have done worse on the cases operators confirmed
    since (force=True replaces it anyway)."""
    result = retrain_model(base_csv=base_csv, cv_folds=cv_folds, force=force)
    create_markdown_artifact(
        key="retrain-report", markdown=retrain_report(result), description="分类模型重新训练结果"
    )
    print(result)
    return result
