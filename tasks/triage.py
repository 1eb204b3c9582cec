"""整理 triage: link new submissions to cases — near-duplicates (一案多诉) join, never deleted —
and classify the new cases; confident ones are ready to route, the rest wait for review.

Linking uses the MinHash LSH engine of minqing.neardup against the history index stored in
the database (db/dedup_index.py): a night reads only the candidates its band hashes point at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import select, update

from db.bulk import insert_new_ids, insert_rows, lock_for_triage, update_rows
from db.dedup_index import (
    DatabaseIndex,
    add_entries,
    bands_lost,
    edge_fingerprints,
    restore_bands,
)
from db.engine import Session
from db.models import AuditEvent, Case, Reply, Submission, utcnow
from db.queries import audit_row
from minqing.classifier import (
    ModelMismatch,
    TrainedModel,
    check_classes,
    latest_model_path,
    load_model,
    read_classifier_config,
)
from minqing.classify import Classification, classify_by_keywords
from minqing.i18n import _, ngettext
from minqing.neardup import (
    DedupParams,
    LinkDecision,
    PreparedBatch,
    link_prepared,
    load_dedup_params,
    prepare_batch,
)
from minqing.precision import ReviewThresholds
from minqing.states import CaseStatus, Outcome, check_transition
from minqing.triage import triage_status
from minqing.urgency import assess_case
from tasks.context import Context, context

# Submissions per transaction. Large: each chunk writes its band rows into random places of
# dedup_bands, and SQLite rewrites every index page a transaction touched (1M history + 100k
# night, bench/bench_triage.py: 93 s at 5,000, 68 s at 20,000, 45 s at 50,000; peak 0.8 GB).
CHUNK = 50_000
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


def review_thresholds(ctx: Context) -> ReviewThresholds:
    """config/classifier.yaml `review_threshold` and `category_thresholds`: below its
    category's threshold a model's case goes to review."""
    return read_classifier_config(ctx.settings.resolved_config_dir / "classifier.yaml").thresholds


def classifier_for(ctx: Context) -> tuple[Classifier, ReviewThresholds, list[str]]:
    """The newest trained model in var/models when it fits the configured categories, else the
    keyword rules from config. Returns the classifier, its review thresholds and warnings."""
    categories = ctx.ref.flat_categories

    def by_rules(texts: list[str]) -> list[Classification]:
        return [classify_by_keywords(t, categories) for t in texts]

    path = latest_model_path(ctx.settings.models_dir)
    if path is None:
        return by_rules, ReviewThresholds(1.0), []
    try:
        model = _load_model(path, path.stat().st_mtime)
        check_classes(model, ctx.ref.top_categories)
    except ModelMismatch as exc:
        return (
            by_rules,
            ReviewThresholds(1.0),
            [
                _("分类模型 %(file)s 未启用，已改用关键词规则：%(reason)s")
                % {"file": path.name, "reason": exc}
            ],
        )

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

    return by_model, review_thresholds(ctx), []


def check_index(params: DedupParams) -> list[str]:
    """Before a night links anything: band rows lost in a PostgreSQL crash are rebuilt, and an
    index made with other settings is reported (it cannot find tonight's duplicates)."""
    warnings = []
    with Session() as s, s.begin():
        stale = edge_fingerprints(s) - {params.index_fingerprint()}
        if bands_lost(s):
            restored = restore_bands(s, params)
            warnings.append(
                ngettext(
                    "查重索引的分段表为空（PostgreSQL 崩溃或切换后会清空它），已由 %(n)s 条记录重建",
                    "查重索引的分段表为空（PostgreSQL 崩溃或切换后会清空它），已由 %(n)s 条记录重建",
                    restored,
                )
                % {"n": f"{restored:,}"}
            )
    if stale:
        warnings.append(
            _(
                "查重索引由不同的参数生成（config/triage.yaml 的 shingle_size/num_perm/bands/seed 已改），"
                "旧的提交不会被识别为重复：请运行 minqing index rebuild"
            )
        )
    return warnings


def triage_now(now: datetime | None = None) -> dict[str, Any]:
    ctx = context()
    now = now or datetime.now(UTC)
    classify, threshold, warnings = classifier_for(ctx)
    params = dedup_params(ctx)
    warnings += check_index(params)
    totals: dict[str, Any] = {"new_cases": 0, "linked": 0, "needs_review": 0, "on_the_spot": 0}
    while True:
        with Session() as s, s.begin():
            lock_for_triage(s)
            subs = unlinked_submissions(s, CHUNK)
            if not subs:
                break
            _triage_chunk(s, subs, classify, threshold, params, now, totals)
    return {**totals, "warnings": warnings}


_SUB = Submission.__table__.c
# What a chunk needs of each submission, as plain rows: a night writes its cases, links and
# audit events in bulk statements, not through ORM objects one by one.
CHUNK_COLUMNS = (
    _SUB.id, _SUB.title, _SUB.text, _SUB.text_key, _SUB.area_code, _SUB.received_at,
    _SUB.channel, _SUB.source_key, _SUB.answered_on_spot, _SUB.on_spot_reply, _SUB.recorded_by,
)  # fmt: skip


def unlinked_submissions(s: Any, limit: int, ids: Sequence[int] | None = None) -> list[Any]:
    """The next unlinked submissions in triage order (received time, id), or those of `ids`
    that are still unlinked."""
    query = select(*CHUNK_COLUMNS).where(_SUB.case_id.is_(None))
    if ids is not None:
        query = query.where(_SUB.id.in_(list(ids)))
    return list(s.execute(query.order_by(_SUB.received_at, _SUB.id).limit(limit)).all())


def classification_text(title: str, text: str) -> str:
    return f"{title}\n{text}"


def _triage_chunk(
    s: Any,
    subs: Sequence[Any],
    classify: Callable[[list[str]], list[Classification]],
    threshold: ReviewThresholds,
    params: DedupParams,
    now: datetime,
    totals: dict[str, int],
    prepared: PreparedBatch | None = None,
    classified: Sequence[Classification] | None = None,
) -> None:
    """Link, open cases and index one chunk in the session's transaction. `prepared` and
    `classified` (every item's shingles/signatures and classification) may come computed
    elsewhere, e.g. by Dask workers (tasks/triage_dask.py); else they are computed here."""
    fingerprint = params.index_fingerprint()
    if prepared is None:
        prepared = prepare_batch([sub.text for sub in subs], params)
    decisions = link_prepared(
        prepared,
        [sub.area_code for sub in subs],
        [sub.received_at for sub in subs],
        DatabaseIndex(s, fingerprint),
        params,
    )
    openers = [d for d in decisions if d.opens_case]
    if classified is None:
        classes = classify(
            [classification_text(subs[d.index_in_batch].title, subs[d.index_in_batch].text)
             for d in openers]
        )  # fmt: skip
    else:
        classes = [classified[d.index_in_batch] for d in openers]
    add_entries(s, [sub.id for sub in subs], [sub.area_code for sub in subs], prepared, fingerprint)
    events: list[dict[str, Any]] = []
    case_of = _open_cases(s, subs, decisions, openers, classes, threshold, now, events, totals)
    update_rows(s, Submission.__table__, _links(subs, decisions, case_of, events, totals))
    _urgent_duplicates(s, subs, decisions, events)
    joined = Counter(d.case_id for d in decisions if d.case_id is not None)
    at = utcnow()
    update_rows(
        s,
        Case.__table__,
        [{"id": cid, "supporters": n, "updated_at": at} for cid, n in sorted(joined.items())],
        add=["supporters"],
    )
    insert_rows(s, AuditEvent.__table__, events)


def _open_cases(
    s: Any,
    subs: Sequence[Any],
    decisions: Sequence[LinkDecision],
    openers: Sequence[LinkDecision],
    classes: Sequence[Classification],
    threshold: ReviewThresholds,
    now: datetime,
    events: list[dict[str, Any]],
    totals: dict[str, int],
) -> dict[int, int]:
    """New cases for the openers, classified (ready to route, or waiting for review) or closed
    when answered on the spot; returns their ids by batch index."""
    joins = Counter(d.matched_batch_index for d in decisions if d.matched_batch_index is not None)
    ref = context().ref
    rows, outcomes = [], []
    for d, c in zip(openers, classes, strict=True):
        sub = subs[d.index_in_batch]
        # 紧急件: decided once the category is known, so the review queue and the console
        # already show it (and the daytime intake dispatches it at once).
        urgency = assess_case(
            classification_text(sub.title, sub.text), c.category, sub.area_code, ref
        )
        row = {
            "title": sub.title, "text": sub.text, "text_key": sub.text_key,
            "area_code": sub.area_code, "category": c.category,
            "category_confidence": c.confidence, "category_source": c.source,
            "category_top3": [list(t) for t in c.top3], "supporters": 1 + joins[d.index_in_batch],
            "created_at": now, "review_reason_code": None, "review_reason_params": None,
            "outcome": None, "replied_at": None, "closed_at": None, "priority": "urgent" if urgency.urgent else "normal",
        }  # fmt: skip
        if sub.answered_on_spot:
            # 现场答复: answered at reception; counted in the figures, never dispatched.
            status, action, detail = CaseStatus.CLOSED, "answered_on_the_spot", {}
            row |= {"outcome": Outcome.ON_THE_SPOT, "replied_at": sub.received_at,
                    "closed_at": sub.received_at}  # fmt: skip
            totals["on_the_spot"] += 1
        else:
            status, why = triage_status(c, threshold)
            row["review_reason_code"] = why.code if why else None
            row["review_reason_params"] = dict(why.params) if why else None
            # top and source let the precision watch find what the model routed by itself.
            action, detail = "classified", {"category": c.category, "confidence": c.confidence,
                                            "top": c.top, "source": c.source}  # fmt: skip
            if urgency.urgent:
                detail["urgent"] = urgency.reason
            totals["needs_review"] += status is CaseStatus.NEEDS_REVIEW
        row["status"] = check_transition(CaseStatus.NEW, status)
        rows.append(row)
        outcomes.append((action, status, detail))
    totals["new_cases"] += len(rows)
    if not rows:
        return {}
    ids = insert_new_ids(s, Case.__table__, rows)
    replies = []
    for d, case_id, (action, status, detail) in zip(openers, ids, outcomes, strict=True):
        sub = subs[d.index_in_batch]
        events.append(audit_row(ACTOR, "created", case_id=case_id, to_state="new",
                                submission=sub.id, channel=sub.channel))  # fmt: skip
        events.append(audit_row(ACTOR, action, case_id=case_id, from_state="new",
                                to_state=status.value, **detail))  # fmt: skip
        if status is CaseStatus.CLOSED:
            replies.append({
                "case_id": case_id, "department_code": None, "received_at": sub.received_at,
                "outcome": Outcome.ON_THE_SPOT, "text": sub.on_spot_reply or _("现场答复"),
                "handler": sub.recorded_by, "via": "on_the_spot",
                "source_key": f"on_the_spot:{sub.source_key}",
            })  # fmt: skip
    insert_rows(s, Reply.__table__, replies)
    return {d.index_in_batch: case_id for d, case_id in zip(openers, ids, strict=True)}


def _links(
    subs: Sequence[Any],
    decisions: Sequence[LinkDecision],
    case_of: dict[int, int],
    events: list[dict[str, Any]],
    totals: dict[str, int],
) -> list[dict[str, Any]]:
    """Each submission's case. A duplicate joins its case (one more supporter, counted by the
    caller), and the link records with whom and how similar, for operators."""
    links = []
    for d in decisions:
        sub = subs[d.index_in_batch]
        if d.opens_case:
            links.append({"id": sub.id, "case_id": case_of[d.index_in_batch],
                          "link_method": "new", "similarity": None})  # fmt: skip
            continue
        if d.case_id is not None:
            case_id, matched = d.case_id, d.matched_entry_id
        else:
            assert d.matched_batch_index is not None
            case_id, matched = case_of[d.matched_batch_index], subs[d.matched_batch_index].id
        method = "exact" if d.similarity >= 1.0 else "near"
        similarity = round(d.similarity, 4)
        links.append(
            {"id": sub.id, "case_id": case_id, "link_method": method, "similarity": similarity}
        )
        events.append(audit_row(ACTOR, "linked_duplicate", case_id=case_id, submission=sub.id,
                                method=method, similarity=similarity,
                                matched_submission=matched))  # fmt: skip
        totals["linked"] += 1
    return links


def _urgent_duplicates(
    s: Any, subs: Sequence[Any], decisions: Sequence[LinkDecision], events: list[dict[str, Any]]
) -> None:
    """A duplicate that reports danger ("…现在闻到燃气泄漏的味道") makes its case urgent while
    the case still waits to be dispatched; an assigned case keeps its deadline."""
    ref = context().ref
    found: dict[int, str] = {}
    for d in decisions:
        if d.opens_case or d.case_id is None or d.case_id in found:
            continue
        sub = subs[d.index_in_batch]
        urgency = assess_case(classification_text(sub.title, sub.text), None, sub.area_code, ref)
        if urgency.urgent:
            found[d.case_id] = urgency.reason
    if not found:
        return
    waiting = [CaseStatus.NEW, CaseStatus.TRIAGED, CaseStatus.NEEDS_REVIEW]
    changed = s.scalars(
        update(Case)
        .where(Case.id.in_(list(found)), Case.status.in_(waiting), Case.priority != "urgent")
        .values(priority="urgent")
        .returning(Case.id)
    ).all()
    for case_id in changed:
        events.append(audit_row(ACTOR, "marked_urgent", case_id=case_id, urgent=found[case_id]))


@task(name="triage")
def triage_submissions() -> dict[str, Any]:
    """整理: link duplicates and classify new cases."""
    return triage_now()
