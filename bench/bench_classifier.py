"""Benchmark of the learned classifier (minqing.classifier) on the TIPDM 2020-C messages.

Measures, on this machine:

1. Quality: 5-fold stratified cross-validation on the full labelled (jieba-segmented) data:
   macro-F1 per fold and mean, per-class F1, and the precision/coverage curve of the
   out-of-fold confidence (thresholds 0.30-0.99), with the lowest threshold whose
   automatically routed cases reach precision 0.98 and the coverage there.
2. Raw text, as production sees it: the labelled messages that also appear *raw* (留言主题 +
   留言详情) in the other two TIPDM files are found (`find_segmented_twins`), left out of
   training, and the raw originals are classified: accuracy, macro-F1, and precision/coverage
   at the threshold chosen in 1.
3. Cost: time to train (cross-validation and the final fit), and predict throughput for
   100,000 texts of ~200 characters cut from the raw messages (median of 3 runs, each
   `model.predict(texts)` -> list[Prediction]).

    .venv/bin/python bench/bench_classifier.py           # full: ~10 min on 2 shared cores
    .venv/bin/python bench/bench_classifier.py --quick   # smoke run (writes classifier_quick.*)

Writes bench/results/classifier.json and bench/results/classifier.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minqing.classifier import (  # noqa: E402
    CharNgramFeatures,
    ModelSettings,
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


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sklearn

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "load_average_at_start": os.getloadavg()[0],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run(quick: bool) -> dict:
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
    print(f"  raw accuracy {result['raw']['raw_accuracy']}", flush=True)

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


def markdown(r: dict) -> str:
    m, cv, g, raw, cost = r["machine"], r["cv"], r["cv_grouped"], r["raw"], r["cost"]
    lines = [
        "# Learned classifier benchmark (minqing.classifier)",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, numpy {m['numpy']}, "
        f"scikit-learn {m['sklearn']}, {m['date']}; load average {m['load_average_at_start']:.1f} "
        "at start (shared with other work, so times are noisy).",
        f"Command: `python bench/bench_classifier.py{' --quick' if r['quick'] else ''}`",
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
        f"the threshold | {_f(r['raw_unlabelled']['coverage_at_threshold'])} | |",
        f"| raw messages: precision / coverage at the threshold | "
        f"{_f((raw['at_threshold'] or {}).get('precision'))} / "
        f"{_f((raw['at_threshold'] or {}).get('coverage'))} | ≥ 0.98 / ≥ 0.80 |",
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
        "a test message is often in training; the grouped column keeps each group in one fold.",
        "",
    ]
    lines += [
        "## Precision / coverage of automatic routing (confidence ≥ threshold)",
        "",
        "CV: out-of-fold predictions on the labelled data. Raw: the raw twins (small sample).",
        "",
        "| threshold | CV precision | CV coverage | raw precision | raw coverage |",
        "|---|---|---|---|---|",
    ]
    raw_curve = {p["threshold"]: p for p in raw["precision_coverage"]}
    for p in cv["precision_coverage"]:
        t = p["threshold"]
        if round(t * 100) % 5 and t not in (cv["threshold_for_precision_0.98"], 0.99):
            continue
        q = raw_curve.get(t, {})
        mark = " ←" if t == cv["threshold_for_precision_0.98"] else ""
        lines.append(
            f"| {t:.2f}{mark} | {_f(p['precision'])} | {_f(p['coverage'])} | "
            f"{_f(q.get('precision'))} | {_f(q.get('coverage'))} |"
        )
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
    return "\n".join(lines)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data, 20k texts")
    args = parser.parse_args()
    if not (DATA / "labeled_messages.csv").exists():
        print(f"real data not found at {DATA.resolve()} (../shared/data next to the repo): skipped")
        return
    result = run(args.quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "classifier_quick" if args.quick else "classifier"
    (RESULTS / f"{stem}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (RESULTS / f"{stem}.md").write_text(markdown(result), encoding="utf-8")
    print(f"wrote {RESULTS / stem}.json and .md")


if __name__ == "__main__":
    main()
