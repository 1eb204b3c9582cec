"""Benchmark of the learned classifier (minqing.classifier) on the TIPDM 2020-C messages.

Measures, on this machine:

1. Quality: 5-fold stratified cross-validation on the full labelled (jieba-segmented) data:
   macro-F1 per fold and mean, per-class F1, and the precision/coverage curve of the
   out-of-fold confidence (thresholds 0.30-0.99), with the lowest threshold whose
   automatically routed cases reach precision 0.98 and the coverage there.
2. Raw text, as production sees it: the labelled messages that also appear *raw* (留言主题 +
   留言详情) in the other two TIPDM files are found (`find_segmented_twins`), left out of
   training, and the raw originals are classified: accuracy, macro-F1, and precision/coverage
   at the threshold chosen in 1 and at the shipped one (with a bootstrap interval), next to the
   same messages in their segmented form (is the gap raw text, or these messages?); and the
   threshold that grouped cross-validation and the raw messages, pooled, choose.
   With --raw-experiments, also what was tried to route raw messages better (self-training on
   the unlabelled raw messages, stop-word removal, a second feature view, isotonic calibration).
3. Cost: time to train (cross-validation and the final fit), and predict throughput for
   100,000 texts of ~200 characters cut from the raw messages (median of 3 runs, each
   `model.predict(texts)` -> list[Prediction]).

    .venv/bin/python bench/bench_classifier.py           # full: ~10 min on 2 shared cores
    .venv/bin/python bench/bench_classifier.py --quick   # smoke run (writes classifier_quick.*)
    .venv/bin/python bench/bench_classifier.py --raw-experiments   # + ~10 min (jieba for one)

Writes bench/results/classifier.json and bench/results/classifier.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchlib import cpu_model  # noqa: E402
from minqing.classifier import (  # noqa: E402
    CharNgramFeatures,
    ModelSettings,
    TrainedModel,
    choose_threshold,
    column_index,
    combine_title,
    cross_validate,
    find_segmented_twins,
    fit_model,
    precision_coverage_curve,
    read_classifier_config,
    read_csv_table,
    read_labelled_csv,
)

DATA = ROOT / ".." / "shared" / "data" / "tipdm2020c"
RESULTS = ROOT / "bench" / "results"
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(70)]  # 0.30 .. 0.99
MIN_PRECISION = 0.98


def read_raw_messages() -> list[str]:
    raw = []
    for name in ("messages_with_likes.csv", "messages_with_replies.csv"):
        header, rows = read_csv_table(DATA / name)
        ti, bi = column_index(header, "留言主题"), column_index(header, "留言详情")
        raw += [combine_title(r[ti], r[bi]) for r in rows]
    return raw


def throughput_texts(raw: list[str], n: int, seed: int = 0) -> list[str]:
    """n texts of 100-300 characters (mean ~200) cut from the raw messages, title first."""
    rng = np.random.default_rng(seed)
    long_enough = [t for t in raw if len(t) >= 300]
    out = []
    for k in range(n):
        text = long_enough[k % len(long_enough)]
        size = int(rng.integers(100, 301))
        start = int(rng.integers(0, max(1, len(text) - size)))
        out.append(text[start : start + size])
    return out


def near_duplicate_groups(texts: list[str], min_cosine: float = 0.6) -> np.ndarray:
    """Group id per text: texts joined when the cosine of their character-3-gram TF-IDF is
    >= min_cosine (same message with another title, or posted twice), transitively."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    features = CharNgramFeatures.fit(texts, ModelSettings(ngram_min=3, head_chars=0))
    matrix = features.transform(texts)
    sim = (matrix @ matrix.T).tocoo()
    close = (sim.row < sim.col) & (sim.data >= min_cosine)
    graph = coo_matrix((np.ones(close.sum()), (sim.row[close], sim.col[close])), shape=sim.shape)
    return connected_components(graph, directed=False)[1]


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro"))


def at_threshold(correct: np.ndarray, confidence: np.ndarray, threshold: float) -> dict:
    point = precision_coverage_curve(correct, confidence, [threshold])[0]
    return {"precision": point.precision, "coverage": point.coverage, "n_auto": point.n_auto}


def precision_at_coverage(correct: np.ndarray, confidence: np.ndarray, coverage: float) -> float:
    """Precision of the `coverage` share of cases with the highest confidence (ties: in order)."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    routed = order[: int(np.ceil(coverage * len(order)))]
    return float(np.asarray(correct)[routed].mean())


def bootstrap_interval(
    correct: np.ndarray, confidence: np.ndarray, threshold: float, runs: int = 2000, seed: int = 0
) -> dict:
    """95% bootstrap intervals of precision and coverage at `threshold`: how far a sample of a
    few hundred messages can be trusted."""
    rng = np.random.default_rng(seed)
    correct, routed = np.asarray(correct, dtype=bool), np.asarray(confidence) >= threshold
    samples = rng.integers(0, len(correct), size=(runs, len(correct)))
    n_routed = routed[samples].sum(axis=1)
    precision = (correct & routed)[samples].sum(axis=1) / np.maximum(n_routed, 1)
    coverage = n_routed / len(correct)
    return {
        "precision_95": [round(float(q), 4) for q in np.percentile(precision, [2.5, 97.5])],
        "coverage_95": [round(float(q), 4) for q in np.percentile(coverage, [2.5, 97.5])],
    }


def label_conflicts(groups: np.ndarray, labels: list[str]) -> dict:
    """Near-duplicate groups whose rows carry more than one category: a floor on label noise."""
    per_group: dict[int, set[str]] = {}
    for g, label in zip(groups.tolist(), labels, strict=True):
        per_group.setdefault(g, set()).add(label)
    sizes = np.bincount(groups)
    multi = [g for g in per_group if sizes[g] > 1]
    mixed = [g for g in multi if len(per_group[g]) > 1]
    return {
        "groups_of_two_or_more": len(multi),
        "groups_with_two_or_more_labels": len(mixed),
        "rows_in_mixed_groups": int(sum(sizes[g] for g in mixed)),
    }


def machine() -> dict:
    import sklearn

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "load_average_at_start": os.getloadavg()[0],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run(quick: bool, experiments: bool = False) -> dict:
    config = read_classifier_config(ROOT / "config" / "classifier.yaml")
    settings: ModelSettings = config.settings
    texts, labels = read_labelled_csv(DATA / "labeled_messages.csv")
    raw = read_raw_messages()
    if quick:  # a stratified-enough slice: every 4th row
        texts, labels = texts[::4], labels[::4]
    n_predict = 20_000 if quick else 100_000
    result: dict = {"machine": machine(), "settings": settings.__dict__, "quick": quick}
    result["data"] = {"labelled": len(texts), "raw_messages": len(raw)}

    # 1. Cross-validation on the labelled data.
    print(f"cross-validating on {len(texts)} labelled texts ...", flush=True)
    started = time.perf_counter()
    cv = cross_validate(texts, labels, folds=5, random_state=0, settings=settings)
    cv_seconds = time.perf_counter() - started
    curve = cv.curve(THRESHOLDS)
    try:
        threshold: float | None = choose_threshold(curve, MIN_PRECISION)
    except ValueError as exc:
        print(exc)
        threshold = None
    chosen = next((p for p in curve if p.threshold == threshold), None)
    result["cv"] = {
        "folds": 5,
        "macro_f1_per_fold": [round(f, 4) for f in cv.fold_macro_f1],
        "macro_f1_mean": round(cv.macro_f1, 4),
        "macro_f1_std": round(float(np.std(cv.fold_macro_f1)), 4),
        "accuracy": round(cv.accuracy, 4),
        "per_class_f1": {c: round(f, 4) for c, f in cv.per_class_f1.items()},
        "precision_coverage": [p.__dict__ for p in curve],
        "threshold_for_precision_0.98": threshold,
        "precision_at_threshold": chosen.precision if chosen else None,
        "coverage_at_threshold": chosen.coverage if chosen else None,
        "seconds": round(cv_seconds, 1),
    }
    print(f"  macro-F1 {cv.macro_f1:.4f}; threshold {threshold}", flush=True)

    # 1b. The same with near-duplicates kept in one fold: how much do copies flatter 1?
    groups = near_duplicate_groups(texts)
    sizes = np.bincount(groups)
    print("cross-validating with near-duplicate groups ...", flush=True)
    grouped = cross_validate(
        texts, labels, folds=5, random_state=0, settings=settings, groups=groups
    )
    grouped_curve = grouped.curve(THRESHOLDS)
    try:
        grouped_threshold: float | None = choose_threshold(grouped_curve, MIN_PRECISION)
    except ValueError:
        grouped_threshold = None
    result["cv_grouped"] = {
        "rows_in_near_duplicate_groups": int((sizes[groups] > 1).sum()),
        "groups_of_two_or_more": int((sizes > 1).sum()),
        "macro_f1_per_fold": [round(f, 4) for f in grouped.fold_macro_f1],
        "macro_f1_mean": round(grouped.macro_f1, 4),
        "accuracy": round(grouped.accuracy, 4),
        "per_class_f1": {c: round(f, 4) for c, f in grouped.per_class_f1.items()},
        "at_cv_threshold": at_threshold(
            grouped.predicted == grouped.labels, grouped.confidence, threshold
        )
        if threshold
        else None,
        "threshold_for_precision_0.98": grouped_threshold,
        "precision_coverage": [p.__dict__ for p in grouped_curve],
    }
    print(f"  grouped macro-F1 {grouped.macro_f1:.4f}", flush=True)

    # 2. Raw messages whose segmented twins are left out of training.
    print("raw messages: training without their twins ...", flush=True)
    twins = find_segmented_twins(texts, raw)
    label_sets: dict[int, set[str]] = {}
    for i, j in twins:
        label_sets.setdefault(j, set()).add(labels[i])
    held_out = {j: next(iter(s)) for j, s in label_sets.items() if len(s) == 1}
    twin_rows = {i for i, _ in twins}
    keep = [i for i in range(len(texts)) if i not in twin_rows]
    model = fit_model([texts[i] for i in keep], [labels[i] for i in keep], settings)
    truth = list(held_out.values())
    raw_predictions = model.predict([raw[j] for j in held_out])
    seg_pairs = [(i, labels[i]) for i, j in twins if j in held_out]
    seg_predictions = model.predict([texts[i] for i, _ in seg_pairs])
    raw_pred = [p.category for p in raw_predictions]
    raw_ok = np.array([p == t for p, t in zip(raw_pred, truth, strict=True)])
    raw_conf = np.array([p.confidence for p in raw_predictions])
    seg_ok = np.array(
        [p.category == t for p, (_, t) in zip(seg_predictions, seg_pairs, strict=True)]
    )
    result["raw"] = {
        "twin_pairs": len(twins),
        "raw_messages_evaluated": len(held_out),
        "segmented_rows_left_out": len(twin_rows),
        "label_counts": {c: truth.count(c) for c in sorted(set(truth))},
        "raw_accuracy": round(float(raw_ok.mean()), 4) if len(raw_ok) else None,
        "raw_macro_f1": round(macro_f1(truth, raw_pred), 4) if truth else None,
        "segmented_twin_accuracy": round(float(seg_ok.mean()), 4) if len(seg_ok) else None,
        "at_threshold": at_threshold(raw_ok, raw_conf, threshold) if threshold else None,
        "precision_coverage": [
            p.__dict__ for p in precision_coverage_curve(raw_ok, raw_conf, THRESHOLDS)
        ],
    }
    seg_conf = np.array([p.confidence for p in seg_predictions])
    # One threshold for every category: config's default review_threshold. The shipped
    # per-category thresholds are scored by bench_routing.py (its section of the results).
    shipped = config.review_threshold
    result["raw"].update(
        {
            "shipped_threshold": shipped,
            "at_shipped_threshold": at_threshold(raw_ok, raw_conf, shipped),
            "at_shipped_threshold_95": bootstrap_interval(raw_ok, raw_conf, shipped),
            "precision_at_coverage_0.80": round(precision_at_coverage(raw_ok, raw_conf, 0.8), 4),
            # The same messages in their segmented (training) form: if these route no better,
            # the gap to cross-validation is the messages, not raw text.
            "segmented_twins": len(seg_ok),
            "segmented_at_shipped_threshold": at_threshold(seg_ok, seg_conf, shipped),
            "segmented_precision_at_coverage_0.80": round(
                precision_at_coverage(seg_ok, seg_conf, 0.8), 4
            ),
            "segmented_precision_coverage": [
                p.__dict__ for p in precision_coverage_curve(seg_ok, seg_conf, THRESHOLDS)
            ],
        }
    )
    print(f"  raw accuracy {result['raw']['raw_accuracy']}", flush=True)

    # 2b. One threshold from the two most honest samples together: grouped cross-validation
    # (without the rows whose raw twins are evaluated) and the raw messages.
    others = np.array([i not in twin_rows for i in range(len(texts))])
    pooled_ok = np.concatenate([(grouped.predicted == grouped.labels)[others], raw_ok])
    pooled_conf = np.concatenate([grouped.confidence[others], raw_conf])
    pooled_curve = precision_coverage_curve(pooled_ok, pooled_conf, THRESHOLDS)
    try:
        pooled_threshold: float | None = choose_threshold(pooled_curve, MIN_PRECISION)
    except ValueError:
        pooled_threshold = None
    result["pooled"] = {
        "rows": len(pooled_ok),
        "threshold_for_precision_0.98": pooled_threshold,
        "at_shipped_threshold": at_threshold(pooled_ok, pooled_conf, shipped),
        "precision_coverage": [p.__dict__ for p in pooled_curve],
    }
    result["cv"]["at_shipped_threshold"] = at_threshold(
        cv.predicted == cv.labels, cv.confidence, shipped
    )
    result["cv_grouped"]["at_shipped_threshold"] = at_threshold(
        grouped.predicted == grouped.labels, grouped.confidence, shipped
    )
    result["cv_grouped"]["label_conflicts"] = label_conflicts(groups, labels)
    print(f"  pooled threshold {pooled_threshold}", flush=True)
    if experiments:
        result["raw_experiments"] = raw_experiments(
            [texts[i] for i in keep],
            [labels[i] for i in keep],
            raw,
            held_out,
            {j for _, j in twins},
            [(texts[i], raw[j]) for i, j in twins if j in held_out],
            settings,
            shipped,
            model,
        )

    # 3. Training and prediction cost of the model trained on all the labelled data.
    print("final fit on all labelled data ...", flush=True)
    started = time.perf_counter()
    model = fit_model(texts, labels, settings)
    fit_seconds = time.perf_counter() - started
    # Share routed automatically among all raw messages (unlabelled; the TIPDM taxonomy has
    # 15 first-level categories and the labelled data only 7, so some are out of scope).
    raw_conf = np.array([p.confidence for p in model.predict(raw)])
    result["raw_unlabelled"] = {
        "messages": len(raw),
        "coverage_at_threshold": round(float((raw_conf >= threshold).mean()), 4)
        if threshold
        else None,
        "coverage_at_shipped_threshold": round(float((raw_conf >= shipped).mean()), 4),
        "coverage_curve": {
            f"{t:.2f}": round(float((raw_conf >= t).mean()), 4) for t in (0.5, 0.7, 0.8, 0.9)
        },
    }
    batch = throughput_texts(raw, n_predict)
    model.predict(batch[:100])  # lookup tables built outside the timing
    runs, cpu = [], []
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        predictions = model.predict(batch)
        runs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        print(f"  predict {n_predict}: {runs[-1]:.1f} s ({cpu[-1]:.1f} s CPU)", flush=True)
    assert len(predictions) == n_predict
    median = statistics.median(runs)
    result["cost"] = {
        "train_seconds_final_fit": round(fit_seconds, 1),
        "train_seconds_with_5fold_cv": round(fit_seconds + cv_seconds, 1),
        "vocabulary": {
            "body_ngrams": len(model.features.body.codes),
            "head_ngrams": len(model.features.head.codes) if model.features.head else 0,
        },
        "predict_texts": n_predict,
        "predict_mean_chars": round(float(np.mean([len(t) for t in batch])), 1),
        "predict_seconds_runs": [round(r, 2) for r in runs],
        "predict_seconds_median": round(median, 2),
        "predict_cpu_seconds_runs": [round(c, 2) for c in cpu],
        "predict_cpu_seconds_median": round(statistics.median(cpu), 2),
        "predict_texts_per_second": round(n_predict / median),
        "load_average_after": os.getloadavg()[0],
    }
    return result


def raw_experiments(
    train_texts: list[str],
    train_labels: list[str],
    raw: list[str],
    held_out: dict[int, str],
    twin_raw: set[int],
    twin_pairs: list[tuple[str, str]],
    settings: ModelSettings,
    threshold: float,
    base: TrainedModel,
) -> list[dict]:
    """What was tried to route raw messages better, each scored on the held-out raw messages
    (accuracy, precision / coverage at `threshold`, precision of the 80% most confident).

    Unlabelled raw messages used for training (self-training, the stop-word list) exclude the
    evaluated raw messages, every raw twin of a labelled row, and raw messages that are near
    copies of an evaluated one (character-3-gram cosine >= 0.5), or the score would be worthless.
    """
    evaluated = [raw[j] for j in held_out]
    truth = np.asarray(list(held_out.values()), dtype=object)
    matrix = CharNgramFeatures.fit(raw, ModelSettings(ngram_min=3, head_chars=0)).transform(raw)
    nearest = (matrix[list(held_out)] @ matrix.T).max(axis=0).toarray().ravel()
    pool = [raw[j] for j in range(len(raw)) if j not in twin_raw and nearest[j] < 0.5]
    rows = []

    def score(name: str, proba: np.ndarray, classes: list[str], seconds: float, **extra) -> None:
        predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        ok, conf = predicted == truth, proba.max(axis=1)
        point = at_threshold(ok, conf, threshold)
        rows.append(
            {
                "variant": name,
                "accuracy": round(float(ok.mean()), 4),
                "precision_at_threshold": round(point["precision"], 4),
                "coverage_at_threshold": round(point["coverage"], 4),
                "precision_at_coverage_0.80": round(precision_at_coverage(ok, conf, 0.8), 4),
                "fit_seconds": round(seconds, 1),
                **extra,
            }
        )
        print(f"  {rows[-1]}", flush=True)

    def twin_cosine(features: CharNgramFeatures, clean=lambda t: t) -> float:
        seg = features.transform([clean(s) for s, _ in twin_pairs])
        unseg = features.transform([clean(r) for _, r in twin_pairs])
        norms = np.sqrt(seg.multiply(seg).sum(axis=1).A1 * unseg.multiply(unseg).sum(axis=1).A1)
        return round(float(np.mean(seg.multiply(unseg).sum(axis=1).A1 / norms)), 4)

    base_proba = base.predict_proba(evaluated)
    score("shipped model", base_proba, base.classes, 0.0, twin_cosine=twin_cosine(base.features))

    # Self-training: confident predictions on the unlabelled raw pool become training data.
    pool_proba = base.predict_proba(pool)
    pool_label = np.asarray(base.classes, dtype=object)[pool_proba.argmax(axis=1)]
    for minimum in (0.8, 0.9, 0.95):
        confident = np.flatnonzero(pool_proba.max(axis=1) >= minimum)
        started = time.perf_counter()
        model = fit_model(
            train_texts + [pool[k] for k in confident],
            train_labels + pool_label[confident].tolist(),
            settings,
        )
        seconds = time.perf_counter() - started
        name = f"self-training: + {len(confident)} raw messages with confidence >= {minimum}"
        score(name, model.predict_proba(evaluated), model.classes, seconds)

    # Stop words: the training text is jieba-segmented with stop words removed, raw text keeps
    # them (的 in 90% of raw messages, 11% of training texts). The list: words jieba finds in
    # >= 0.5% of the raw pool that never occur as a token of the training text.
    try:
        import jieba
    except ImportError:
        print("  jieba not installed: stop-word experiment skipped", flush=True)
    else:
        jieba.setLogLevel(logging.WARNING)
        tokens = Counter(t for text in train_texts for t in set(text.split()))
        found = Counter(
            w
            for text in pool
            for w in set(jieba.lcut(text.replace("_x000D_", " ")))
            if re.fullmatch(r"[\u4e00-\u9fff]+", w)
        )
        stop = [w for w, n in found.most_common() if n >= 0.005 * len(pool) and tokens[w] == 0]
        for name, words in (
            ("words of 2+ characters", [w for w in stop if len(w) > 1]),
            ("all", stop),
        ):
            pattern = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))

            def clean(text: str, pattern: re.Pattern = pattern) -> str:
                return pattern.sub("", text)

            started = time.perf_counter()
            model = fit_model([clean(t) for t in train_texts], train_labels, settings)
            seconds = time.perf_counter() - started
            score(
                f"stop words removed ({name}: {len(words)}, e.g. {'、'.join(words[:8])})",
                model.predict_proba([clean(t) for t in evaluated]),
                model.classes,
                seconds,
                twin_cosine=twin_cosine(model.features, clean),
            )

    # A second feature view (no head block), probabilities averaged with the shipped model's.
    started = time.perf_counter()
    view = fit_model(train_texts, train_labels, replace(settings, head_chars=0))
    seconds = time.perf_counter() - started
    proba = (view.predict_proba(evaluated) + base_proba) / 2
    grams = f"{settings.ngram_min}-{settings.ngram_max}-grams"
    score(f"average with a second view ({grams}, no head block)", proba, base.classes, seconds)

    started = time.perf_counter()
    model = fit_model(train_texts, train_labels, replace(settings, calibration="isotonic"))
    seconds = time.perf_counter() - started
    score("isotonic calibration", model.predict_proba(evaluated), model.classes, seconds)
    return rows


def markdown(r: dict) -> str:
    m, cv, g, raw, cost = r["machine"], r["cv"], r["cv_grouped"], r["raw"], r["cost"]
    pooled, ship = r["pooled"], r["raw"]["shipped_threshold"]
    conflicts = g["label_conflicts"]
    lines = [
        "# Learned classifier benchmark (minqing.classifier)",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, numpy {m['numpy']}, "
        f"scikit-learn {m['sklearn']}, {m['date']}; load average {m['load_average_at_start']:.1f} "
        "at start (shared with other work, so times are noisy).",
        f"Command: `python bench/bench_classifier.py{' --quick' if r['quick'] else ''}"
        f"{' --raw-experiments' if 'raw_experiments' in r else ''}`",
        "",
        f"Settings (config/classifier.yaml): `{json.dumps(r['settings'], ensure_ascii=False)}`",
        "",
        "## Summary",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| 5-fold CV macro-F1 (mean) | **{cv['macro_f1_mean']:.4f}** (± {cv['macro_f1_std']:.4f}) "
        "| ≥ 0.93 |",
        f"| CV accuracy | {cv['accuracy']:.4f} | |",
        f"| 5-fold CV macro-F1, near-duplicates kept in one fold | {g['macro_f1_mean']:.4f} "
        f"(precision / coverage at {cv['threshold_for_precision_0.98']}: "
        f"{_f((g['at_cv_threshold'] or {}).get('precision'))} / "
        f"{_f((g['at_cv_threshold'] or {}).get('coverage'))}) | |",
        f"| threshold for precision ≥ 0.98 (CV) | **{cv['threshold_for_precision_0.98']}** | |",
        f"| precision / coverage at it (CV) | {_f(cv['precision_at_threshold'])} / "
        f"**{_f(cv['coverage_at_threshold'])}** | ≥ 0.98 / ≥ 0.80 |",
        f"| raw messages: accuracy / macro-F1 (n={raw['raw_messages_evaluated']}) | "
        f"{_f(raw['raw_accuracy'])} / {_f(raw['raw_macro_f1'])} | |",
        f"| same messages segmented: accuracy | {_f(raw['segmented_twin_accuracy'])} | |",
        f"| all {r['raw_unlabelled']['messages']:,} raw messages (unlabelled): share routed at "
        f"the threshold / at {ship} | {_f(r['raw_unlabelled']['coverage_at_threshold'])} / "
        f"{_f(r['raw_unlabelled']['coverage_at_shipped_threshold'])} | |",
        f"| raw messages: precision / coverage at the threshold | "
        f"{_f((raw['at_threshold'] or {}).get('precision'))} / "
        f"{_f((raw['at_threshold'] or {}).get('coverage'))} | ≥ 0.98 / ≥ 0.80 |",
        f"| **review_threshold {ship}** for every category (config's default; the shipped "
        "per-category thresholds: see Routing on new messages below): precision / coverage, CV | "
        f"{_f(cv['at_shipped_threshold']['precision'])} / "
        f"{_f(cv['at_shipped_threshold']['coverage'])} | ≥ 0.98 / ≥ 0.80 |",
        f"| at {ship}: near-duplicates grouped | {_f(g['at_shipped_threshold']['precision'])} / "
        f"{_f(g['at_shipped_threshold']['coverage'])} | ≥ 0.98 / ≥ 0.80 |",
        f"| at {ship}: raw messages (95% bootstrap interval) | "
        f"{_f(raw['at_shipped_threshold']['precision'])} "
        f"({' - '.join(map(_f, raw['at_shipped_threshold_95']['precision_95']))}) / "
        f"{_f(raw['at_shipped_threshold']['coverage'])} "
        f"({' - '.join(map(_f, raw['at_shipped_threshold_95']['coverage_95']))}) "
        "| ≥ 0.98 / ≥ 0.80 |",
        f"| at {ship}: the same messages segmented (n={raw['segmented_twins']}) | "
        f"{_f(raw['segmented_at_shipped_threshold']['precision'])} / "
        f"{_f(raw['segmented_at_shipped_threshold']['coverage'])} | |",
        f"| precision of the 80% most confident: raw / the same segmented | "
        f"{_f(raw['precision_at_coverage_0.80'])} / "
        f"{_f(raw['segmented_precision_at_coverage_0.80'])} | ≥ 0.98 |",
        f"| threshold for precision ≥ 0.98: grouped CV / grouped CV and raw pooled "
        f"(n={pooled['rows']:,}) | {g['threshold_for_precision_0.98']} / "
        f"**{pooled['threshold_for_precision_0.98']}** | |",
        f"| predict {cost['predict_texts']:,} texts (~{cost['predict_mean_chars']:.0f} chars), "
        f"median of 3 | **{cost['predict_seconds_median']:.1f} s** wall "
        f"({cost['predict_texts_per_second']:,}/s; runs {cost['predict_seconds_runs']}), "
        f"{cost['predict_cpu_seconds_median']:.1f} s CPU | ≤ 20 s |",
        f"| train: final fit / with 5-fold CV | {cost['train_seconds_final_fit']:.0f} s / "
        f"{cost['train_seconds_with_5fold_cv']:.0f} s | |",
        "",
        "## Per-class F1 (5-fold CV)",
        "",
        "| category | F1 | F1, near-duplicates grouped |",
        "|---|---|---|",
    ]
    lines += [
        f"| {c} | {f:.4f} | {g['per_class_f1'][c]:.4f} |" for c, f in cv["per_class_f1"].items()
    ]
    lines += [
        f"| per fold macro-F1 | {', '.join(map(str, cv['macro_f1_per_fold']))} "
        f"| {', '.join(map(str, g['macro_f1_per_fold']))} |",
        "",
        f"Near-duplicates: {g['rows_in_near_duplicate_groups']} labelled rows fall in "
        f"{g['groups_of_two_or_more']} groups (cosine of character-3-gram TF-IDF ≥ 0.6, e.g. the "
        "same message under two titles). Plain stratified folds split such groups, so a copy of "
        "a test message is often in training; the grouped column keeps each group in one fold. "
        f"{conflicts['groups_with_two_or_more_labels']} of the "
        f"{conflicts['groups_of_two_or_more']} groups ({conflicts['rows_in_mixed_groups']} rows) "
        "carry more than one category: the labels themselves disagree on near-identical "
        "messages, a floor under the errors no model can remove.",
        "",
    ]
    lines += [
        "## Precision / coverage of automatic routing (confidence ≥ threshold)",
        "",
        "CV: out-of-fold predictions on the labelled data; grouped: near-duplicates in one fold. "
        "Raw: the raw twins (small sample); segmented: the same messages as the training data "
        "has them, same model. Each cell: precision / coverage.",
        "",
        "| threshold | CV | grouped CV | raw | segmented twins |",
        "|---|---|---|---|---|",
    ]
    raw_curve = {p["threshold"]: p for p in raw["precision_coverage"]}
    grouped_curve = {p["threshold"]: p for p in g["precision_coverage"]}
    seg_curve = {p["threshold"]: p for p in raw["segmented_precision_coverage"]}
    marked = {
        cv["threshold_for_precision_0.98"]: "CV",
        pooled["threshold_for_precision_0.98"]: "pooled",
        ship: "shipped",
    }
    for p in cv["precision_coverage"]:
        t = p["threshold"]
        if round(t * 100) % 5 and t not in (*marked, 0.99):
            continue
        marks = ", ".join(name for threshold, name in marked.items() if threshold == t)
        cells = [
            f"{_f(c.get('precision'))} / {_f(c.get('coverage'))}"
            for c in (p, grouped_curve.get(t, {}), raw_curve.get(t, {}), seg_curve.get(t, {}))
        ]
        lines.append(f"| {t:.2f}{f' ← {marks}' if marks else ''} | {' | '.join(cells)} |")
    lines += [
        "",
        "## Raw messages",
        "",
        f"{raw['twin_pairs']} labelled rows have a raw original in messages_with_likes/replies; "
        f"{raw['raw_messages_evaluated']} distinct raw messages with one label were classified "
        f"by a model trained without those {raw['segmented_rows_left_out']} rows. Labels: "
        + ", ".join(f"{c} {n}" for c, n in raw["label_counts"].items())
        + ".",
        "",
        "All raw messages of the two unlabelled files, classified by the model trained on all the "
        "labelled data: share with confidence ≥ t: "
        + ", ".join(f"{t}: {c}" for t, c in r["raw_unlabelled"]["coverage_curve"].items())
        + ". The TIPDM taxonomy has 15 first-level categories and the labelled data only these "
        "7, so part of these messages (政法, 农村农业, 民政, ...) have no right answer here and "
        "should go to review.",
        "",
    ]
    if "raw_experiments" in r:
        lines += [
            "## Tried to route raw messages better",
            "",
            "Each variant trained without the raw messages' twins and scored on the "
            f"{raw['raw_messages_evaluated']} raw "
            f"messages (precision / coverage at the shipped threshold {ship}; precision of the "
            "80% most confident). Unlabelled raw messages used in training exclude the evaluated "
            "messages, every raw twin and near copies of an evaluated message. Twin cosine: mean "
            "cosine between the features of a raw message and of its segmented twin.",
            "",
            "| variant | accuracy | at threshold | 80% most confident | twin cosine | fit |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {e['variant']} | {e['accuracy']:.4f} | {e['precision_at_threshold']:.4f} / "
            f"{e['coverage_at_threshold']:.4f} | {e['precision_at_coverage_0.80']:.4f} | "
            f"{_f(e.get('twin_cosine'))} | {e['fit_seconds']:.0f} s |"
            for e in r["raw_experiments"]
        ]
        lines.append("")
    return "\n".join(lines)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data, 20k texts")
    parser.add_argument(
        "--raw-experiments",
        action="store_true",
        help="also score what was tried for raw messages (~10 more fits; stop words need jieba)",
    )
    args = parser.parse_args()
    if not (DATA / "labeled_messages.csv").exists():
        print(f"real data not found at {DATA.resolve()} (../shared/data next to the repo): skipped")
        return
    result = run(args.quick, args.raw_experiments)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "classifier_quick" if args.quick else "classifier"
    (RESULTS / f"{stem}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    text = markdown(result)
    md = RESULTS / f"{stem}.md"
    routing = RESULTS / "routing.json"
    if not args.quick and routing.exists():  # bench_routing.py's section stays in the file
        from bench_routing import MARK_START, put_section, render

        # So does everything after it (bench_routing_models.py's section, the one-off trials).
        previous = md.read_text(encoding="utf-8") if md.exists() else ""
        if MARK_START in previous:
            text = text.rstrip("\n") + "\n\n" + previous[previous.index(MARK_START) :]
        text = put_section(text, render(json.loads(routing.read_text(encoding="utf-8"))))
    md.write_text(text, encoding="utf-8")
    print(f"wrote {RESULTS / stem}.json and .md")


if __name__ == "__main__":
    main()
