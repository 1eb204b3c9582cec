"""Retrain the category model (重新训练) from the office's own confirmed labels: every case
whose category an operator confirmed or corrected, plus an optional labelled CSV (e.g. the
history the first model was trained on). The new model lands in var/models, where the next
night's triage picks it up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import Case
from minqing.classifier import (
    ModelMismatch,
    check_classes,
    combine_title,
    read_classifier_config,
    read_labelled_csv,
    save_model,
    train_model,
)
from tasks.context import context


def confirmed_labels() -> tuple[list[str], list[str]]:
    """(text, first-level category) of every case an operator classified."""
    ref = context().ref
    with Session() as s:
        rows = s.execute(
            select(Case.title, Case.text, Case.category).where(
                Case.category_source == "operator", Case.category.is_not(None)
            )
        ).all()
    known = [r for r in rows if r.category in ref.category_by_name]
    return (
        [combine_title(r.title, r.text) for r in known],
        [ref.category_by_name[r.category].top for r in known],
    )


def retrain_now(
    base_csv: Path | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    title_column: str | None = None,
    cv_folds: int = 5,
) -> dict[str, Any]:
    """Train, cross-validate and save a model; refuse one whose categories differ from config."""
    ctx = context()
    texts, labels = confirmed_labels()
    confirmed = len(texts)
    if base_csv is not None:
        base_texts, base_labels = read_labelled_csv(
            base_csv, text_column, label_column, title_column
        )
        texts, labels = list(base_texts) + texts, list(base_labels) + labels
    if not texts:
        raise ModelMismatch("no labelled data: no operator-confirmed cases and no base CSV")
    check_classes(sorted(set(labels)), ctx.ref.top_categories)
    cfg = read_classifier_config(ctx.settings.resolved_config_dir / "classifier.yaml")
    model = train_model(texts, labels, cv_folds=cv_folds, settings=cfg.settings)
    path = save_model(model, ctx.settings.models_dir)
    cv = model.metadata.get("cv") or {}
    return {
        "model": path.name,
        "samples": len(texts),
        "confirmed_by_operators": confirmed,
        "macro_f1": cv.get("macro_f1_mean"),
        "threshold_for_precision_0.98": cv.get("threshold_for_precision_0.98"),
    }


@task(name="retrain-model")
def retrain_model(base_csv: str | None = None, cv_folds: int = 5) -> dict[str, Any]:
    """Train a new category model from confirmed labels."""
    return retrain_now(Path(base_csv) if base_csv else None, cv_folds=cv_folds)
