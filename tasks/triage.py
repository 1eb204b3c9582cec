"""整理 triage: link new submissions to cases — near-duplicates (一案多诉) join, never deleted —
and classify the new cases; confident ones are ready to route, the rest wait for review.

Linking uses the MinHash LSH engine of minqing.neardup against the history index stored in
the database (db/dedup_index.py): a night reads only the candidates its band hashes point at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import select

from db.dedup_index import DatabaseIndex, add_entries
from db.engine import Session
from db.models import Case, Reply, Submission
from db.queries import audit, set_status
from minqing.classifier import (
    ModelMismatch,
    TrainedModel,
    check_classes,
    latest_model_path,
    load_model,
    read_classifier_config,
)
from minqing.classify import Classification, classify_by_keywords
from minqing.neardup import (
    DedupParams,
    LinkDecision,
    link_prepared,
    load_dedup_params,
    prepare_batch,
)
from minqing.states import CaseStatus, Outcome
from minqing.triage import triage_status
from tasks.context import Context, context

CHUNK = 5000
ACTOR = "system:triage"


@lru_cache(maxsize=4)
def _dedup_params(path: Path, _stamp: float) -> DedupParams:
    return load_dedup_params(path)


def dedup_params(ctx: Context) -> DedupParams:
    path = ctx.settings.resolved_config_dir / "triage.yaml"
    if not path.exists():
        return DedupParams()
    return _dedup_params(path, path.stat().st_mtime)


Classifier = Callable[[list[str]], list[Classification]]


@lru_cache(maxsize=2)
def _load_model(path: Path, _mtime: float) -> TrainedModel:
    return load_model(path)


def review_threshold(ctx: Context) -> float:
    """config/classifier.yaml `review_threshold`: below it a model's case goes to review."""
    return read_classifier_config(
        ctx.settings.resolved_config_dir / "classifier.yaml"
    ).review_threshold


def classifier_for(ctx: Context) -> tuple[Classifier, float, list[str]]:
    """The newest trained model in var/models when it fits the configured categories, else the
    keyword rules from config. Returns the classifier, its review threshold and warnings."""
    categories = ctx.ref.flat_categories

    def by_rules(texts: list[str]) -> list[Classification]:
        return [classify_by_keywords(t, categories) for t in texts]

    path = latest_model_path(ctx.settings.models_dir)
    if path is None:
        return by_rules, 1.0, []
    try:
        model = _load_model(path, path.stat().st_mtime)
        check_classes(model, ctx.ref.top_categories)
    except ModelMismatch as exc:
        return by_rules, 1.0, [f"分类模型 {path.name} 未启用，已改用关键词规则：{exc}"]

    def by_model(texts: list[str]) -> list[Classification]:
        # The model decides the first-level category; keywords may refine it to a child.
        out = []
        for text, p in zip(texts, model.predict(texts), strict=True):
            rule = classify_by_keywords(text, categories)
            refined = (
                rule.category
                if rule.top == p.category and rule.category != rule.top
                else p.category
            )
            out.append(Classification(refined, p.category, round(p.confidence, 4), "model", p.top3))
        return out

    return by_model, review_threshold(ctx), []


def triage_now(now: datetime | None = None) -> dict[str, Any]:
    ctx = context()
    now = now or datetime.now(UTC)
    classify, threshold, warnings = classifier_for(ctx)
    params = dedup_params(ctx)
    totals: dict[str, Any] = {"new_cases": 0, "linked": 0, "needs_review": 0, "on_the_spot": 0}
    while True:
        with Session() as s, s.begin():
            subs = s.scalars(
                select(Submission)
                .where(Submission.case_id.is_(None))
                .order_by(Submission.received_at, Submission.id)
                .limit(CHUNK)
            ).all()
            if not subs:
                break
            _triage_chunk(s, subs, classify, threshold, params, now, totals)
    return {**totals, "warnings": warnings}


def _triage_chunk(
    s: Any,
    subs: list[Submission],
    classify: Callable[[list[str]], list[Classification]],
    threshold: float,
    params: DedupParams,
    now: datetime,
    totals: dict[str, int],
) -> None:
    fingerprint = params.index_fingerprint()
    prepared = prepare_batch([sub.text for sub in subs], params)
    decisions = link_prepared(
        prepared,
        [sub.area_code for sub in subs],
        [sub.received_at for sub in subs],
        DatabaseIndex(s, fingerprint),
        params,
    )
    openers = [d for d in decisions if d.opens_case]
    classes = classify(
        [f"{subs[d.index_in_batch].title}\n{subs[d.index_in_batch].text}" for d in openers]
    )
    case_of: dict[int, Case] = {}
    for d in openers:
        sub = subs[d.index_in_batch]
        case_of[d.index_in_batch] = Case(
            title=sub.title,
            text=sub.text,
            text_key=sub.text_key,
            area_code=sub.area_code,
            status=CaseStatus.NEW,
            supporters=1,
            created_at=now,
        )
        s.add(case_of[d.index_in_batch])
    s.flush()
    for d, c in zip(openers, classes, strict=True):
        _open_case(s, case_of[d.index_in_batch], subs[d.index_in_batch], c, threshold, totals)
    for d in decisions:
        if not d.opens_case:
            _link(s, subs, d, case_of, totals)
    add_entries(s, [sub.id for sub in subs], [sub.area_code for sub in subs], prepared, fingerprint)


def _open_case(
    s: Any, case: Case, sub: Submission, c: Classification, threshold: float, totals: dict[str, int]
) -> None:
    case.category, case.category_confidence, case.category_source = (
        c.category,
        c.confidence,
        c.source,
    )
    case.category_top3 = [list(t) for t in c.top3]
    sub.case_id, sub.link_method, sub.similarity = case.id, "new", None
    audit(
        s, ACTOR, "created", case_id=case.id, to_state="new", submission=sub.id, channel=sub.channel
    )
    totals["new_cases"] += 1
    if sub.answered_on_spot:
        _close_on_the_spot(s, case, sub)
        totals["on_the_spot"] += 1
        return
    status, reason = triage_status(c, threshold)
    case.review_reason = reason
    set_status(s, case, status, ACTOR, "classified", category=c.category, confidence=c.confidence)
    if status is CaseStatus.NEEDS_REVIEW:
        totals["needs_review"] += 1


def _link(
    s: Any,
    subs: list[Submission],
    d: LinkDecision,
    case_of: dict[int, Case],
    totals: dict[str, int],
) -> None:
    """A duplicate joins its case: one more supporter, and the link records with whom and how
    similar, for operators."""
    sub = subs[d.index_in_batch]
    if d.case_id is not None:
        case = s.get(Case, d.case_id)
        matched = d.matched_entry_id
    else:
        assert d.matched_batch_index is not None
        case = case_of[d.matched_batch_index]
        matched = subs[d.matched_batch_index].id
    sub.case_id = case.id
    sub.link_method = "exact" if d.similarity >= 1.0 else "near"
    sub.similarity = round(d.similarity, 4)
    case.supporters += 1
    audit(
        s,
        ACTOR,
        "linked_duplicate",
        case_id=case.id,
        submission=sub.id,
        method=sub.link_method,
        similarity=sub.similarity,
        matched_submission=matched,
    )
    totals["linked"] += 1


def _close_on_the_spot(s: Any, case: Case, sub: Submission) -> None:
    """现场答复: answered at reception; counted in the figures, never dispatched."""
    s.add(
        Reply(
            case_id=case.id,
            received_at=sub.received_at,
            outcome=Outcome.ON_THE_SPOT,
            text=sub.on_spot_reply or "现场答复",
            handler=sub.recorded_by,
            via="on_the_spot",
            source_key=f"on_the_spot:{sub.source_key}",
        )
    )
    case.outcome = Outcome.ON_THE_SPOT
    case.replied_at = case.closed_at = sub.received_at
    set_status(s, case, CaseStatus.CLOSED, ACTOR, "answered_on_the_spot")


@task(name="triage")
def triage_submissions() -> dict[str, Any]:
    """整理: link duplicates and classify new cases."""
    return triage_now()
