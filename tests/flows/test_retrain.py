"""The retrain flow trains a model from operators' confirmed labels plus a labelled CSV, and
refuses data whose categories differ from the configuration."""

from __future__ import annotations

import csv

import pytest
from prefect.artifacts import Artifact

from db.engine import Session
from db.models import Case
from flows.retrain import retrain
from minqing.classifier import ModelMismatch, latest_model_path, load_model
from minqing.reference import load_reference
from minqing.states import CaseStatus
from tasks.retrain import retrain_now


def write_corpus(minq, path, only=None):
    ref = load_reference(minq.settings.resolved_config_dir)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for cat in ref.flat_categories:
            if only and cat.top not in only:
                continue
            for i, word in enumerate(cat.keywords):
                out.writerow([f"小区附近{word}的问题第{i}次反映，请尽快处理{word}", cat.top])


def confirm_case(text, category):
    with Session() as s, s.begin():
        s.add(
            Case(
                title="",
                text=text,
                text_key="k",
                status=CaseStatus.TRIAGED,
                category=category,
                category_source="operator",
                category_confidence=1.0,
            )
        )


def test_the_retrain_flow_saves_a_model_that_includes_the_operators_labels(minq, tmp_path):
    base = tmp_path / "labelled.csv"
    write_corpus(minq, base)
    confirm_case("楼道里的声控灯坏了好久", "物业管理")  # a sub-category: trained as its 城乡建设
    result = retrain(base_csv=str(base), cv_folds=0)
    assert result["confirmed_by_operators"] == 1
    model = load_model(latest_model_path(minq.settings.models_dir))
    assert model.metadata["n_samples"] == result["samples"]
    assert model.metadata["class_counts"]["城乡建设"] >= 2
    assert "confirmed_by_operators" in Artifact.get("retrain-report", _sync=True).data


def test_labels_that_do_not_cover_the_configured_categories_are_refused(minq, tmp_path):
    base = tmp_path / "labelled.csv"
    write_corpus(minq, base, only={"城乡建设", "环境保护"})
    with pytest.raises(ModelMismatch, match="configured but unknown to the model"):
        retrain_now(base, cv_folds=0)
    assert latest_model_path(minq.settings.models_dir) is None
