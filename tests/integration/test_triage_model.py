"""Triage with a trained model: the newest model in var/models classifies, its confidence is
checked against the review threshold, and a model that does not fit the config is refused."""

from __future__ import annotations

from sqlalchemy import select

from db.engine import Session
from db.models import Case, Submission
from mail.mailer import DryRunMailer
from minqing.classifier import save_model, train_model
from minqing.reference import load_reference
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.metrics import figures
from tasks.surveys import surveys_now
from tasks.triage import triage_now

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"


def keyword_corpus(minq):
    """A small labelled set made from each category's keywords in config."""
    ref = load_reference(minq.settings.resolved_config_dir)
    texts, labels = [], []
    for cat in ref.flat_categories:
        for i, word in enumerate(cat.keywords):
            texts.append(
                f"我们小区附近的{word}问题很久没有解决，第{i}次反映，请有关部门尽快处理{word}。"
            )
            labels.append(cat.top)
    return texts, labels


def drop(minq, rows):
    (minq.inbox("hotline") / "h.csv").write_text(
        "\n".join([HEADER, *rows]) + "\n", encoding="gb18030"
    )


def test_the_newest_model_classifies_new_cases_with_its_confidence(minq):
    texts, labels = keyword_corpus(minq)
    save_model(train_model(texts, labels, cv_folds=0), minq.settings.models_dir)
    drop(
        minq,
        [
            "GD1,张三,13900000001,欠薪,2026-11-27 09:00,公司拖欠工资三个月，社保也没有交，请人社部门帮忙。,北塘社区"
        ],
    )
    ingest_inbox_now()
    result = triage_now()
    assert result["warnings"] == []
    with Session() as s:
        case = s.scalar(select(Case).join(Submission).where(Submission.source_ref == "GD1"))
    assert case.category_source == "model"
    assert case.category == "劳动和社会保障"
    assert 0 < case.category_confidence <= 1 and len(case.category_top3) == 3


def test_a_model_whose_categories_differ_from_config_is_refused_and_the_rules_serve(minq):
    texts, labels = keyword_corpus(minq)
    keep = {"城乡建设", "环境保护", "交通运输"}
    pairs = [(t, lab) for t, lab in zip(texts, labels, strict=True) if lab in keep]
    save_model(
        train_model([t for t, _ in pairs], [lab for _, lab in pairs], cv_folds=0),
        minq.settings.models_dir,
    )
    drop(
        minq,
        [
            "GD2,李四,13900000002,噪音,2026-11-27 09:00,工地夜间施工噪音扰民，严重影响休息。,南苑社区"
        ],
    )
    ingest_inbox_now()
    result = triage_now()
    assert (
        len(result["warnings"]) == 1
        and "configured but unknown to the model" in result["warnings"][0]
    )
    with Session() as s:
        case = s.scalar(select(Case).join(Submission).where(Submission.source_ref == "GD2"))
    assert case.category_source == "rule"
    stages = {
        "ingest": ingest_inbox_now(),
        "imports": import_returns_now(),
        "triage": result,
        "dispatch": dispatch_now(),
        "lookback": scan_now(),
        "surveys": surveys_now(),
        "deliver": deliver_now(mailer=DryRunMailer()),
    }
    assert any("分类模型" in w for w in figures(stages)["warnings"])
