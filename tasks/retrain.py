"""Retrain the category model (重新训练) from the office's own confirmed labels: every case
whose category an operator confirmed or corrected, on top of the labelled CSV the current model
was trained from (or another one given). The new model lands in var/models, where the next
night's triage picks it up — unless it would have done worse than the current model on the
cases operators confirmed since the current model was trained (then the current one stays,
unless forced). Run weekly (prefect.yaml): new topics reach the review queue, operators
classify them there, and the next week's model knows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import func, select

from db.engine import Session
from db.models import AuditEvent, Case
from minqing.classifier import (
    ModelMismatch,
    TrainedModel,
    check_classes,
    combine_title,
    csv_source,
    fit_model,
    latest_model_path,
    load_model,
    read_classifier_config,
    read_csv_source,
    save_model,
    train_model,
)
from minqing.i18n import N_, _, ngettext
from minqing.precision import CATEGORY_ACTIONS, ModelComparison, ReviewThresholds, compare_models
from tasks.context import context


@dataclass(frozen=True)
class ConfirmedCase:
    text: str
    top: str  # the first-level category the operator gave
    confirmed_at: datetime | None  # UTC; None for a case confirmed without an audit event


def confirmed_cases() -> list[ConfirmedCase]:
    """Every case an operator classified, with its first-level category and when."""
    ref = context().ref
    with Session() as s:
        rows = s.execute(
            select(Case.id, Case.title, Case.text, Case.category).where(
                Case.category_source == "operator", Case.category.is_not(None)
            )
        ).all()
        when = dict(
            s.execute(
                select(AuditEvent.case_id, func.max(AuditEvent.at))
                .where(AuditEvent.action.in_(sorted(CATEGORY_ACTIONS)))
                .group_by(AuditEvent.case_id)
            ).all()
        )
    return [
        ConfirmedCase(
            combine_title(r.title, r.text),
            ref.category_by_name[r.category].top,
            _utc(when.get(r.id)),
        )
        for r in rows
        if r.category in ref.category_by_name
    ]


def confirmed_labels() -> tuple[list[str], list[str]]:
    """(text, first-level category) of every case an operator classified."""
    cases = confirmed_cases()
    return [c.text for c in cases], [c.top for c in cases]


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def current_model(categories: list[str]) -> tuple[TrainedModel | None, datetime | None]:
    """The model the night uses now and when it was trained (None when there is none usable)."""
    path = latest_model_path(context().settings.models_dir)
    if path is None:
        return None, None
    try:
        model = load_model(path)
        check_classes(model, categories)
    except ModelMismatch:
        return None, None
    trained_at = model.metadata.get("trained_at")
    return model, _utc(datetime.fromisoformat(trained_at)) if trained_at else None


def confirmed_since(confirmed: list[ConfirmedCase], trained_at: datetime | None) -> list[int]:
    """Which of `confirmed` operators confirmed after `trained_at` (none without a time)."""
    if trained_at is None:
        return []
    return [k for k, c in enumerate(confirmed) if c.confirmed_at and c.confirmed_at > trained_at]


def compare_on_new_confirmations(
    texts: list[str],
    labels: list[str],
    confirmed: list[ConfirmedCase],
    new: list[int],
    offset: int,
    current: TrainedModel,
    cfg_settings: Any,
    thresholds: ReviewThresholds,
) -> ModelComparison | None:
    """Both models on the cases operators confirmed after the current model was trained
    (`new`, indexes into `confirmed`, which follow `offset` base rows in `texts`): the current
    one as it is, the candidate trained on everything but those cases. None when there are no
    such cases or too few others to train on."""
    if not new:
        return None
    held = {offset + k for k in new}
    try:
        trial = fit_model(
            [t for i, t in enumerate(texts) if i not in held],
            [y for i, y in enumerate(labels) if i not in held],
            cfg_settings,
        )
    except ValueError:  # a category left with fewer than two examples
        return None
    sample = [confirmed[k].text for k in new]
    truth = [confirmed[k].top for k in new]

    def decided(model: TrainedModel) -> tuple[list[str], list[float]]:
        predictions = model.predict(sample)
        return [p.category for p in predictions], [p.confidence for p in predictions]

    return compare_models(truth, decided(current), decided(trial), thresholds)


# Why a retrain trained nothing (the report words each).
NOTHING_NEW = "nothing_new"
NO_MODEL = "no_model"


def retrain_now(
    base_csv: Path | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    title_column: str | None = None,
    cv_folds: int = 5,
    force: bool = False,
) -> dict[str, Any]:
    """Train, cross-validate and save a model from the operators' confirmed cases on top of a
    labelled CSV: `base_csv`, or else the one the current model was trained from (its
    `training_data`). Refuse a model whose categories differ from config; keep the current
    model when the new one would have done worse on the cases operators confirmed since
    (unless `force`). Without `base_csv` and `force`, train nothing when there is no model yet
    (the keyword rules stay in charge until `minqing train`) or nothing confirmed since the
    current one was trained: the weekly run then ends at once."""
    ctx = context()
    confirmed = confirmed_cases()
    current, trained_at = current_model(ctx.ref.top_categories)
    new = confirmed_since(confirmed, trained_at)
    result: dict[str, Any] = {
        "samples": 0,
        "confirmed_by_operators": len(confirmed),
        "confirmed_since_current": len(new),
        "base": None,
        "comparison": None,
        "skipped": None,
    }
    if base_csv is None and not force:
        if current is None:
            return result | {"skipped": NO_MODEL, "replaced": False, "model": None}
        if not new:
            return result | {"skipped": NOTHING_NEW, "replaced": False, "model": None}
    if base_csv is not None:
        source = csv_source(base_csv, text_column, label_column, title_column)
    else:
        source = current.metadata.get("training_data") if current is not None else None
    texts, labels = [c.text for c in confirmed], [c.top for c in confirmed]
    base_texts: list[str] = []
    if source is not None:
        if base_csv is None and not Path(source["path"]).is_file():
            raise FileNotFoundError(
                _(
                    "找不到现用模型的训练数据 %(path)s：请把它放回原处，或在“另加的标注数据”中"
                    "填写它现在的路径"
                )
                % {"path": source["path"]}
            )
        base_texts, base_labels = read_csv_source(source)
        texts, labels = list(base_texts) + texts, list(base_labels) + labels
        result["base"] = {"path": source["path"], "rows": len(base_texts)}
    if not texts:
        raise ModelMismatch("no labelled data: no operator-confirmed cases and no base CSV")
    result["samples"] = len(texts)
    check_classes(sorted(set(labels)), ctx.ref.top_categories)
    cfg = read_classifier_config(ctx.settings.resolved_config_dir / "classifier.yaml")
    comparison = None
    if current is not None:
        comparison = compare_on_new_confirmations(
            texts, labels, confirmed, new, len(base_texts), current, cfg.settings, cfg.thresholds
        )
    result["comparison"] = comparison_summary(comparison)
    if comparison is not None and comparison.candidate_is_worse and not force:
        return result | {"replaced": False, "model": None}
    model = train_model(
        texts,
        labels,
        cv_folds=cv_folds,
        settings=cfg.settings,
        thresholds=cfg.thresholds,
        source=source,
    )
    path = save_model(model, ctx.settings.models_dir)
    cv = model.metadata.get("cv") or {}
    return result | {
        "replaced": True,
        "model": path.name,
        "macro_f1": cv.get("macro_f1_mean"),
        "threshold_for_precision_0.98": cv.get("threshold_for_precision_0.98"),
    }


def comparison_summary(c: ModelComparison | None) -> dict[str, Any] | None:
    if c is None:
        return None

    def side(score: Any, accuracy: float | None) -> dict[str, Any]:
        return {
            "accuracy": None if accuracy is None else round(accuracy, 4),
            "auto_routed_precision": None if score.precision is None else round(score.precision, 4),
            "auto_routed_coverage": round(score.coverage, 4),
        }

    return {
        "cases": c.cases,
        "current": side(c.current, c.current_accuracy),
        "candidate": side(c.candidate, c.candidate_accuracy),
        "candidate_is_worse": c.candidate_is_worse,
    }


def retrain_report(result: dict[str, Any]) -> str:
    """The retrain-report artifact, in the office's words."""

    def rate(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}%"

    if result.get("skipped") == NO_MODEL:
        return "- " + _(
            "未训练：还没有分类模型，分类暂由关键词规则决定。请先用 minqing train 训练第一个模型；"
            "此后每周的重新训练会在它的训练数据上加入工作人员确认过的分类。"
        )
    if result.get("skipped") == NOTHING_NEW:
        return "- " + _("未训练：现用模型训练后没有新的人工确认案件，现用模型继续使用。")
    lines = [
        "- "
        + ngettext(
            "训练样本：%(n)d 条（其中人工确认的案件 %(confirmed)d 件）",
            "训练样本：%(n)d 条（其中人工确认的案件 %(confirmed)d 件）",
            result["samples"],
        )
        % {"n": result["samples"], "confirmed": result["confirmed_by_operators"]}
    ]
    if result.get("base"):
        lines.append(
            "- "
            + ngettext(
                "基础训练数据：%(path)s（%(n)d 条）",
                "基础训练数据：%(path)s（%(n)d 条）",
                result["base"]["rows"],
            )
            % {"path": result["base"]["path"], "n": result["base"]["rows"]}
        )
    c = result.get("comparison")
    if c is None:
        lines.append(
            "- " + _("与现用模型比较：无（没有现用模型，或现用模型训练后没有新的人工确认案件）")
        )
    else:
        lines.append(
            "- "
            + ngettext(
                "与现用模型比较：现用模型训练后人工确认的 %(n)d 件案件（比较时两个模型都没有用它们"
                "训练；若启用，新模型再用包括它们在内的全部样本训练）",
                "与现用模型比较：现用模型训练后人工确认的 %(n)d 件案件（比较时两个模型都没有用它们"
                "训练；若启用，新模型再用包括它们在内的全部样本训练）",
                c["cases"],
            )
            % {"n": c["cases"]}
        )
        for name, key in ((N_("现用模型"), "current"), (N_("新模型"), "candidate")):
            side = c[key]
            lines.append(
                "  - "
                + _(
                    "%(model)s：分类准确率 %(accuracy)s，自动分派 %(coverage)s，其中分对 %(precision)s"
                )
                % {
                    "model": _(name),
                    "accuracy": rate(side["accuracy"]),
                    "coverage": rate(side["auto_routed_coverage"]),
                    "precision": rate(side["auto_routed_precision"]),
                }
            )
    if result["replaced"]:
        lines.append(
            "- "
            + _("结果：已启用新模型 %(model)s（下一次夜间运行起使用）") % {"model": result["model"]}
        )
        if c is not None:
            better = (c["candidate"]["accuracy"] or 0) > (c["current"]["accuracy"] or 0)
            why = (
                N_("新模型在这些案件上分得更准")
                if better
                else N_("新模型在这些案件上与现用模型一样准，并且多学了这些人工确认的案件")
            )
            lines.append("- " + _("启用理由：%(why)s") % {"why": _(why)})
        if result.get("macro_f1") is not None:
            lines.append(
                "- "
                + _(
                    "新模型的交叉验证 macro-F1（各分类分类准确度的平均，1 为全对；"
                    "只适用于与训练数据相似的留言）：%(f1)s"
                )
                % {"f1": f"{result['macro_f1']:.3f}"}
            )
    else:
        lines.append(
            "- "
            + _(
                "结果：**未启用新模型**——它在这些案件上不如现用模型，现用模型继续使用；"
                "确需替换时以 force=True 重新运行"
            )
        )
    return "\n".join(lines)


@task(name="retrain-model")
def retrain_model(
    base_csv: str | None = None, cv_folds: int = 5, force: bool = False
) -> dict[str, Any]:
    """Train a new category model from confirmed labels."""
    return retrain_now(Path(base_csv) if base_csv else None, cv_folds=cv_folds, force=force)
