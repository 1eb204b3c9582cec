"""The retrain flow trains a model from operators' confirmed labels on top of a labelled CSV (the
current model's own training data unless another is given), refuses data whose categories
differ from the configuration, and trains nothing when nothing was confirmed since."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta

import pytest
from prefect.artifacts import Artifact

from db.engine import Session
from db.models import AuditEvent, Case
from flows.retrain import retrain
from minqing.classifier import (
    ModelMismatch,
    csv_source,
    latest_model_path,
    load_model,
    save_model,
    train_model,
)
from minqing.reference import load_reference
from minqing.states import CaseStatus
from tasks.retrain import retrain_now


def write_corpus(minq, path, only=None, swap=()):
    """Keyword sentences of each category; `swap` pairs of categories trade labels (a bad
    history)."""
    ref = load_reference(minq.settings.resolved_config_dir)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for cat in ref.flat_categories:
            if only and cat.top not in only:
                continue
            for i, word in enumerate(cat.keywords):
                label = cat.top
                for a, b in swap:
                    label = {a: b, b: a}.get(label, label)
                out.writerow([f"小区附近{word}的问题第{i}次反映，请尽快处理{word}", label])


def confirm_case(text, category, at=None):
    with Session() as s, s.begin():
        case = Case(
            title="",
            text=text,
            text_key="k",
            status=CaseStatus.TRIAGED,
            category=category,
            category_source="operator",
            category_confidence=1.0,
        )
        s.add(case)
        if at is not None:
            s.flush()
            s.add(AuditEvent(at=at, actor="王小明", case_id=case.id, entity="case",
                             entity_id=case.id, action="category_confirmed",
                             detail={"category": category}))  # fmt: skip


def test_the_retrain_flow_saves_a_model_that_includes_the_operators_labels(minq, tmp_path):
    base = tmp_path / "labelled.csv"
    write_corpus(minq, base)
    confirm_case("楼道里的声控灯坏了好久", "物业管理")  # a sub-category: trained as its 城乡建设
    result = retrain(base_csv=str(base), cv_folds=0)
    assert result["confirmed_by_operators"] == 1
    model = load_model(latest_model_path(minq.settings.models_dir))
    assert model.metadata["n_samples"] == result["samples"]
    assert model.metadata["class_counts"]["城乡建设"] >= 2
    assert result["replaced"] is True and result["comparison"] is None  # no model before
    report = Artifact.get("retrain-report", _sync=True).data
    assert "人工确认的案件 1 件" in report and "已启用新模型" in report


def test_labels_that_do_not_cover_the_configured_categories_are_refused(minq, tmp_path):
    base = tmp_path / "labelled.csv"
    write_corpus(minq, base, only={"城乡建设", "环境保护"})
    with pytest.raises(ModelMismatch, match="configured but unknown to the model"):
        retrain_now(base, cv_folds=0)
    assert latest_model_path(minq.settings.models_dir) is None


SWAPPED = [("城乡建设", "环境保护"), ("劳动和社会保障", "教育文体")]


def _current_model(minq, tmp_path):
    """A model trained on the good history, as `minqing train --from good.csv` leaves it."""
    good = tmp_path / "good.csv"
    write_corpus(minq, good)
    texts, labels = [], []
    with good.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            texts.append(row["text"])
            labels.append(row["label"])
    model = train_model(texts, labels, cv_folds=0, source=csv_source(good))
    save_model(model, minq.settings.models_dir)
    return good, len(texts)


def _current_model_then_confirmations(minq, tmp_path):
    """A model trained on the good history; afterwards operators confirm six cases."""
    good, _ = _current_model(minq, tmp_path)
    later = datetime.now(UTC) + timedelta(minutes=1)
    for text, category in [
        ("小区物业不管电梯维修，楼道路灯也坏了", "物业管理"),
        ("下水道堵塞，小区房屋漏水严重", "城乡建设"),
        ("工厂排污，河道黑臭有异味", "环境保护"),
        ("夜间噪音扰民，油烟污染严重", "环境保护"),
        ("公司拖欠工资，社保也不交", "劳动和社会保障"),
        ("学校老师强制学生补课，幼儿园收费高", "教育文体"),
    ]:
        confirm_case(text, category, later)
    return good


def test_a_new_model_that_would_have_routed_worse_on_the_confirmed_cases_is_not_used(
    minq, tmp_path
):
    _current_model_then_confirmations(minq, tmp_path)
    before = latest_model_path(minq.settings.models_dir)
    bad = tmp_path / "bad.csv"
    write_corpus(minq, bad, swap=SWAPPED)  # a history with two pairs of labels swapped
    result = retrain_now(bad, cv_folds=0)
    comparison = result["comparison"]
    assert comparison["cases"] == 6 and comparison["candidate_is_worse"] is True
    assert comparison["candidate"]["accuracy"] < comparison["current"]["accuracy"]
    assert result["replaced"] is False and result["model"] is None
    assert latest_model_path(minq.settings.models_dir) == before

    forced = retrain_now(bad, cv_folds=0, force=True)
    assert forced["replaced"] is True
    assert latest_model_path(minq.settings.models_dir).name == forced["model"] != before.name


def test_a_new_model_at_least_as_good_on_the_confirmed_cases_replaces_the_current_one(
    minq, tmp_path
):
    good = _current_model_then_confirmations(minq, tmp_path)
    before = latest_model_path(minq.settings.models_dir)
    result = retrain_now(good, cv_folds=0)
    assert result["comparison"]["cases"] == 6
    assert result["comparison"]["candidate_is_worse"] is False
    assert result["replaced"] is True
    assert latest_model_path(minq.settings.models_dir).name == result["model"] != before.name


def test_the_weekly_retrain_adds_the_new_confirmations_to_the_current_models_training_data(
    minq, tmp_path
):
    good = _current_model_then_confirmations(minq, tmp_path)
    rows = sum(1 for _ in good.open(encoding="utf-8")) - 1
    before = latest_model_path(minq.settings.models_dir)
    result = retrain(cv_folds=0)  # as the schedule runs it: no parameters
    assert result["base"] == {"path": str(good.resolve()), "rows": rows}
    assert result["samples"] == rows + 6 and result["confirmed_since_current"] == 6
    assert result["comparison"]["cases"] == 6 and result["replaced"] is True
    model = load_model(latest_model_path(minq.settings.models_dir))
    assert model.metadata["n_samples"] == rows + 6 != load_model(before).metadata["n_samples"]
    # the next retrain starts from the same history again, not from the six cases alone
    assert model.metadata["training_data"] == csv_source(good)
    report = Artifact.get("retrain-report", _sync=True).data
    assert f"基础训练数据：{good.resolve()}（{rows} 条）" in report
    assert "已启用新模型" in report
    # why, in the office's words: better on the cases confirmed since, or as good with more data
    assert re.search(r"启用理由：新模型在这些案件上(分得更准|与现用模型一样准，并且多学了)", report)


def test_with_nothing_confirmed_since_the_current_model_the_weekly_retrain_trains_nothing(
    minq, tmp_path
):
    _current_model(minq, tmp_path)
    confirm_case("楼道里的声控灯坏了好久", "物业管理", datetime.now(UTC) - timedelta(days=3))
    before = latest_model_path(minq.settings.models_dir)
    result = retrain(cv_folds=0)
    assert result["skipped"] == "nothing_new" and result["replaced"] is False
    assert result["confirmed_by_operators"] == 1 and result["confirmed_since_current"] == 0
    assert latest_model_path(minq.settings.models_dir) == before
    report = Artifact.get("retrain-report", _sync=True).data
    assert report == "- 未训练：现用模型训练后没有新的人工确认案件，现用模型继续使用。"
    # forced, it trains all the same (on the recorded history and the one confirmed case)
    forced = retrain_now(cv_folds=0, force=True)
    assert forced["replaced"] is True and forced["samples"] > 1


def test_without_a_model_the_weekly_retrain_leaves_the_keyword_rules_in_charge(minq, tmp_path):
    from prefect.client.orchestration import get_client

    confirm_case("楼道里的声控灯坏了好久", "物业管理", datetime.now(UTC))
    state = retrain(cv_folds=0, return_state=True)
    result = state.result()
    assert result["skipped"] == "no_model" and result["replaced"] is False
    # the runs list names the run by what it is and when (Beijing time), not two random words
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(state.state_details.flow_run_id).name
    assert re.fullmatch(r"重新训练分类模型 \d\d-\d\d \d\d:\d\d", name), name
    assert latest_model_path(minq.settings.models_dir) is None
    report = Artifact.get("retrain-report", _sync=True).data
    assert "还没有分类模型" in report and "minqing train" in report


def test_a_retrain_whose_recorded_training_data_is_gone_says_where_it_looked(minq, tmp_path):
    good = _current_model_then_confirmations(minq, tmp_path)
    good.rename(tmp_path / "moved.csv")
    before = latest_model_path(minq.settings.models_dir)
    with pytest.raises(FileNotFoundError, match="找不到现用模型的训练数据 .*good.csv"):
        retrain_now(cv_folds=0)
    assert latest_model_path(minq.settings.models_dir) == before
    # given where it is now, the retrain goes ahead
    assert retrain_now(tmp_path / "moved.csv", cv_folds=0)["replaced"] is True
