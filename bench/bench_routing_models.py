"""Model variants for new messages: does any lift macro-F1 and routing on held-out topics?

The shipped model (config/classifier.yaml) against variants of the estimator on top of the same
features, each scored on two hold-outs the model never saw (bench_routing.py's):

- topic hold-out: 5-fold CV holding out whole topics (40 k-means clusters), the stand-in for
  next year's messages;
- raw messages: 262 labelled messages as citizens wrote them (from the unlabelled files),
  classified by a model trained without their segmented twins.

The features of each training part are computed once and cached (var/bench_routing/); only the
estimator varies. Per-category review thresholds are chosen for each variant by the same rule
as the shipped ones (minqing.precision.choose_marginal_thresholds, marginal precision 0.96),
and scored where they were not chosen: for each topic fold, on the other four topic folds'
out-of-fold predictions (cross-fitted); the raw messages, with thresholds chosen on all five.

    nice -n 10 .venv/bin/python bench/bench_routing_models.py [variant ...]

Writes bench/results/routing_models.json; classifier.md shows it (re-rendered here).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_classifier import machine, macro_f1, near_duplicate_groups  # noqa: E402
from bench_routing import (  # noqa: E402
    DATA,
    GRID,
    RESULTS,
    read_raw,
    second_level_labels,
    topic_clusters,
)

from minqing.classifier import (  # noqa: E402
    CharNgramFeatures,
    data_hash,
    find_segmented_twins,
    read_classifier_config,
    read_labelled_csv,
)
from minqing.precision import (  # noqa: E402
    ReviewThresholds,
    bootstrap_routing,
    choose_category_thresholds,
    choose_marginal_thresholds,
)

CACHE = ROOT / "var" / "bench_routing"
FOLDS = 5


# --------------------------------------------------------------------------- data and features


def load() -> dict:
    """Labelled rows (without the raw messages' twins), the raw messages, topics, groups."""
    config = read_classifier_config(ROOT / "config" / "classifier.yaml")
    texts, labels = read_labelled_csv(DATA / "labeled_messages.csv")
    raw, _, _ = read_raw()
    twins = find_segmented_twins(texts, raw)
    label_sets: dict[int, set[str]] = {}
    for i, j in twins:
        label_sets.setdefault(j, set()).add(labels[i])
    held = sorted(j for j, s in label_sets.items() if len(s) == 1)
    twin_rows = {i for i, _ in twins}
    keep = [i for i in range(len(texts)) if i not in twin_rows]
    d = {
        "settings": config.settings,
        "shipped": config.thresholds,
        "texts": [texts[i] for i in keep],
        "labels": [labels[i] for i in keep],
        "raw_texts": [raw[j] for j in held],
        "raw_truth": [next(iter(label_sets[j])) for j in held],
    }
    # The cached features and probabilities do not depend on the decision's weights.
    features_settings = dataclasses.replace(d["settings"], category_weights=())
    key = hashlib.sha256(
        (data_hash(d["texts"], d["labels"]) + repr(features_settings)).encode()
    ).hexdigest()[:16]
    d["key"] = key
    path = CACHE / f"models-groups-{key}.pkl"
    if path.exists():
        d.update(pickle.loads(path.read_bytes()))
    else:
        groups = {
            "topics": topic_clusters(d["texts"]),
            "raw_groups": near_duplicate_groups(d["raw_texts"]),
        }
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(groups))
        d.update(groups)
    d["fine"] = second_level_labels(d["texts"], d["labels"])
    terms = lexicon_terms()
    d["lexicon"] = lexicon(d["texts"], terms)
    d["raw_lexicon"] = lexicon(d["raw_texts"], terms)
    return d


def lexicon_terms() -> list[str]:
    """The taxonomy's second- and third-level names and the keyword lists of
    config/categories.yaml: words that name a category whatever the topic."""
    import csv

    import yaml

    terms = set()
    with open(DATA / "taxonomy.csv", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            terms |= {row["二级分类"], row["三级分类"]}
    config = yaml.safe_load((ROOT / "config" / "categories.yaml").read_text("utf-8"))
    for cat in config["categories"]:
        terms |= set(cat.get("keywords", []))
        for child in cat.get("children", []) or []:
            terms |= set(child.get("keywords", [])) | {child["name"]}
    return sorted(t for t in terms if len(t) >= 2 and t != "其他")


def lexicon(texts: list[str], terms: list[str]) -> sp.csr_matrix:
    """1 where a term occurs in the text (spaces removed), rows L2-normalised."""
    rows, cols = [], []
    for i, text in enumerate(texts):
        compact = text.replace(" ", "")
        for k, term in enumerate(terms):
            if term in compact:
                rows.append(i)
                cols.append(k)
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(terms)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    return sp.csr_matrix(m.multiply(1 / norms[:, None]))


def splits(d: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(d["labels"], dtype=object)
    splitter = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=0)
    return list(splitter.split(y, y, d["topics"]))


def fold_features(d: dict, fold: int | None) -> tuple[sp.csr_matrix, sp.csr_matrix, int]:
    """(train, test) features of a topic fold, or (all labelled, raw) for fold None, and the
    number of body columns (the rest is the head block, weighted by head_weight)."""
    path = CACHE / f"models-features-{d['key']}-{'raw' if fold is None else fold}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    if fold is None:
        train_t, test_t = d["texts"], d["raw_texts"]
    else:
        train, test = splits(d)[fold]
        train_t, test_t = [d["texts"][i] for i in train], [d["texts"][i] for i in test]
    features = CharNgramFeatures.fit(train_t, d["settings"])
    value = (features.transform(train_t), features.transform(test_t), len(features.body.codes))
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value, protocol=5))
    return value


# --------------------------------------------------------------------------- estimators


def calibrated_svm(x, y, seed=0, c=1.0, folds=5, method="sigmoid"):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, class_weight="balanced", random_state=seed)
    return CalibratedClassifierCV(
        svm, method=method, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        ensemble=False,
    ).fit(x, y)  # fmt: skip


class Summed:
    """A fitted estimator over fine classes "<category>/<child>", probabilities summed per
    category."""

    def __init__(self, estimator, categories: list[str]):
        self.estimator = estimator
        parent = [str(c).split("/")[0] for c in estimator.classes_]
        self.collapse = np.zeros((len(parent), len(categories)))
        for k, p in enumerate(parent):
            self.collapse[k, categories.index(p)] = 1
        self.classes_ = np.asarray(categories, dtype=object)

    def predict_proba(self, x):
        return self.estimator.predict_proba(x) @ self.collapse


def fine_targets(labels, fine, min_count=10):
    counts = Counter(fine)
    return [f if counts[f] >= min_count else f.split("/")[0] + "/其他" for f in fine]


class Averaged:
    """Weighted average of the probabilities of several fitted estimators (same classes)."""

    def __init__(self, members, weights):
        self.members, self.weights = members, weights
        self.classes_ = members[0].classes_

    def predict_proba(self, x):
        total = sum(
            w * m.predict_proba(x) for m, w in zip(self.members, self.weights, strict=False)
        )
        return total / sum(self.weights)


def reweight_head(x: sp.csr_matrix, n_body: int, factor: float) -> sp.csr_matrix:
    if factor == 1.0:
        return x
    x = x.tocsc(copy=True)
    x.data[x.indptr[n_body] :] *= factor
    return x.tocsr()


def logistic(x, y, c=20.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=300).fit(x, y)


def complement_nb(x, y, alpha=0.3):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.naive_bayes import ComplementNB

    return CalibratedClassifierCV(ComplementNB(alpha=alpha), method="sigmoid", cv=5).fit(x, y)


def variants(d: dict) -> dict:
    """name -> fit(x_train, y_train, fine_train, n_body) returning an estimator with
    predict_proba and classes_ (categories); transform(x, n_body) the features it reads."""
    return {
        "shipped model": lambda x, y, f, nb: calibrated_svm(x, y),
        "finer targets (sub-categories, summed)": lambda x, y, f, nb: Summed(
            calibrated_svm(x, fine_targets(y, f)), sorted(set(y))
        ),
        "finer targets, 3 calibration folds": lambda x, y, f, nb: Summed(
            calibrated_svm(x, fine_targets(y, f), folds=3), sorted(set(y))
        ),
        "svm + logistic regression, averaged": lambda x, y, f, nb: Averaged(
            [calibrated_svm(x, y), logistic(x, y)], [1, 1]
        ),
        "svm + complement NB, averaged": lambda x, y, f, nb: Averaged(
            [calibrated_svm(x, y), complement_nb(x, y)], [1, 1]
        ),
        "title weight 1.0 (head_weight)": lambda x, y, f, nb: HeadWeighted(
            calibrated_svm(reweight_head(x, nb, 2.0), y), nb, 2.0
        ),
        "title weight 0.25 (head_weight)": lambda x, y, f, nb: HeadWeighted(
            calibrated_svm(reweight_head(x, nb, 0.5), y), nb, 0.5
        ),
        "prior adjustment of the shipped model (weights for macro-F1 on held-out topics)": (
            "prior",
            "shipped model",
        ),
        "the same weights on the decision only (confidence: the unweighted probability)": (
            "prior on the decision",
            "shipped model",
        ),
        "isotonic calibration": lambda x, y, f, nb: calibrated_svm(x, y, method="isotonic"),
        "taxonomy lexicon block, weight 0.3": (lambda x, y, f, nb: calibrated_svm(x, y), 0.3),
        "taxonomy lexicon block, weight 0.6": (lambda x, y, f, nb: calibrated_svm(x, y), 0.6),
        "finer targets, best child's score calibrated per category": lambda x, y, f, nb: FineMax(
            x, y, fine_targets(y, f)
        ),
        "svm + finer targets (summed), averaged": lambda x, y, f, nb: Averaged(
            [
                calibrated_svm(x, y),
                Summed(calibrated_svm(x, fine_targets(y, f), folds=3), sorted(set(y))),
            ],
            [1, 1],
        ),
    }


class FineMax:
    """A linear SVM over the fine classes; a category's score is the best of its children's
    decision values, calibrated per category (Platt, on out-of-fold scores) like the shipped
    model, so the confidence is not spread over the children."""

    def __init__(self, x, y, fine, folds=5, seed=0, c=1.0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        y = np.asarray(y, dtype=object)
        fine = np.asarray(fine, dtype=object)
        self.classes_ = np.asarray(sorted(set(y.tolist())), dtype=object)
        scores = np.zeros((len(y), len(self.classes_)))
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for train, test in cv.split(y, fine):
            svm = LinearSVC(C=c, class_weight="balanced", random_state=seed)
            svm.fit(x[train], fine[train])
            scores[test] = self._collapse(svm, x[test])
        self.svm = LinearSVC(C=c, class_weight="balanced", random_state=seed).fit(x, fine)
        self.platt = []
        for k, cat in enumerate(self.classes_):
            lr = LogisticRegression(C=1e4).fit(scores[:, [k]], (y == cat).astype(int))
            self.platt.append((float(lr.coef_[0, 0]), float(lr.intercept_[0])))

    def _collapse(self, svm, x):
        dec = svm.decision_function(x)
        parent = np.asarray([str(c).split("/")[0] for c in svm.classes_], dtype=object)
        out = np.full((x.shape[0], len(self.classes_)), -np.inf)
        for k, cat in enumerate(self.classes_):
            cols = np.flatnonzero(parent == cat)
            out[:, k] = dec[:, cols].max(axis=1)
        return out

    def predict_proba(self, x):
        scores = self._collapse(self.svm, x)
        p = np.column_stack(
            [1 / (1 + np.exp(-(a * scores[:, k] + b))) for k, (a, b) in enumerate(self.platt)]
        )
        return p / p.sum(axis=1, keepdims=True)


class HeadWeighted:
    def __init__(self, estimator, n_body, factor):
        self.estimator, self.n_body, self.factor = estimator, n_body, factor
        self.classes_ = estimator.classes_

    def predict_proba(self, x):
        return self.estimator.predict_proba(reweight_head(x, self.n_body, self.factor))


# --------------------------------------------------------------------------- scoring


def oof(d: dict, name: str, fit) -> tuple[np.ndarray, np.ndarray, float]:
    """Out-of-fold probabilities on the topic hold-out, probabilities on the raw messages, and
    the mean fit time (cached per variant)."""
    path = CACHE / f"models-oof-{d['key']}-{hashlib.sha1(name.encode()).hexdigest()[:10]}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    classes = sorted(set(d["labels"]))
    y = np.asarray(d["labels"], dtype=object)
    fine = np.asarray(d["fine"], dtype=object)
    weight = 0.0
    if isinstance(fit, tuple):
        fit, weight = fit

    def extra(x, lex):
        return x if not weight else sp.hstack([x, weight * lex], format="csr")

    topic = np.zeros((len(y), len(classes)))
    seconds = []
    for k, (train, test) in enumerate(splits(d)):
        x_train, x_test, nb = fold_features(d, k)
        x_train, x_test = extra(x_train, d["lexicon"][train]), extra(x_test, d["lexicon"][test])
        t0 = time.process_time()
        model = fit(x_train, y[train].tolist(), fine[train].tolist(), nb)
        seconds.append(time.process_time() - t0)
        order = [list(model.classes_).index(c) for c in classes]
        topic[test] = model.predict_proba(x_test)[:, order]
        print(f"    {name}: fold {k} {seconds[-1]:.0f} s CPU", flush=True)
    x_all, x_raw, nb = fold_features(d, None)
    x_all, x_raw = extra(x_all, d["lexicon"]), extra(x_raw, d["raw_lexicon"])
    t0 = time.process_time()
    model = fit(x_all, y.tolist(), fine.tolist(), nb)
    seconds.append(time.process_time() - t0)
    order = [list(model.classes_).index(c) for c in classes]
    raw = model.predict_proba(x_raw)[:, order]
    value = (topic, raw, float(np.mean(seconds)))
    path.write_bytes(pickle.dumps(value))
    return value


def score(truth, proba, classes, thresholds: ReviewThresholds, groups) -> dict:
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    confidence = proba.max(axis=1)
    est = bootstrap_routing(truth, predicted, confidence, thresholds, groups=groups)
    return {
        "macro_f1": round(macro_f1(list(truth), predicted.tolist()), 4),
        "precision": None if est.score.precision is None else round(est.score.precision, 4),
        "coverage": round(est.score.coverage, 4),
        "precision_95": est.precision_95.__dict__ if est.precision_95 else None,
        "coverage_95": est.coverage_95.__dict__,
    }


def lowest_global(truth, predicted, confidence, minimum: float) -> ReviewThresholds:
    """The lowest threshold on GRID at which everything routed reaches `minimum`."""
    ok = np.asarray(truth, dtype=object) == np.asarray(predicted, dtype=object)
    for t in GRID:
        routed = confidence >= t
        if routed.sum() >= 30 and ok[routed].mean() >= minimum:
            return ReviewThresholds(t)
    return ReviewThresholds(0.99)


# How review thresholds are chosen from held-out predictions (truth, predicted, confidence).
RULES = {
    "per category, marginal 0.96 (the earlier rule, on the topic hold-out alone)": lambda t, p, c: (
        ReviewThresholds(
            0.99,
            choose_marginal_thresholds(
                t, p, c, min_marginal_precision=0.96, grid=GRID, window=0.05, min_window=10
            ),
        )
    ),
    "per category, precision 0.975 each": lambda t, p, c: ReviewThresholds(
        0.99, choose_category_thresholds(t, p, c, min_precision=0.975, grid=GRID, min_routed=30)
    ),
    "one threshold, lowest with precision 0.97": lambda t, p, c: lowest_global(t, p, c, 0.97),
    "one threshold, lowest with precision 0.975": lambda t, p, c: lowest_global(t, p, c, 0.975),
}


def _estimate(est) -> dict:
    return {
        "precision": None if est.score.precision is None else round(est.score.precision, 4),
        "coverage": round(est.score.coverage, 4),
        "precision_95": est.precision_95.__dict__ if est.precision_95 else None,
        "coverage_95": est.coverage_95.__dict__,
    }


def cross_fitted(d: dict, topic: np.ndarray, classes, rule) -> dict:
    """Routing on the topic hold-out with each fold's thresholds chosen by `rule` on the other
    folds' out-of-fold predictions: thresholds scored where they were not chosen."""
    y = np.asarray(d["labels"], dtype=object)
    predicted = np.asarray(classes, dtype=object)[topic.argmax(axis=1)]
    confidence = topic.max(axis=1)
    routed = np.zeros(len(y), dtype=bool)
    chosen = []
    for _, test in splits(d):
        others = np.setdiff1d(np.arange(len(y)), test)
        th = rule(y[others], predicted[others], confidence[others])
        chosen.append(th.as_dict())
        limit = np.asarray([th.for_category(c) for c in predicted[test]])
        routed[test] = confidence[test] >= limit
    # The pooled decisions as a confidence of 1 (routed) or 0, bootstrapped over topics.
    est = bootstrap_routing(
        y, predicted, routed.astype(float), ReviewThresholds(0.5), groups=d["topics"]
    )
    return {**_estimate(est), "thresholds_per_fold": chosen}


def prior_weights(truth, proba, classes, steps: int = 3) -> np.ndarray:
    """A weight per category that multiplies its probability before the decision, chosen
    (coordinate ascent over e^-1..e^1) for the best macro-F1 of held-out predictions: corrects
    a model that under-predicts a category on topics it has not seen."""
    from sklearn.metrics import f1_score

    names = np.asarray(classes, dtype=object)
    truth = np.asarray(truth, dtype=object)

    def f1(w):
        return f1_score(truth, names[(proba * w).argmax(axis=1)], average="macro")

    w = np.ones(len(classes))
    best = f1(w)
    for _ in range(steps):
        for k in range(len(classes)):
            for g in np.exp(np.linspace(-1, 1, 21)):
                trial = w.copy()
                trial[k] = g
                value = f1(trial)
                if value > best + 1e-6:
                    best, w = value, trial
    return w / w.mean()


def reweighted(proba: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = proba * w
    return out / out.sum(axis=1, keepdims=True)


def decided(proba: np.ndarray, w: np.ndarray) -> np.ndarray:
    """For scoring the weights on the decision only: the chosen category (highest weighted
    probability) keeps its probability, the others get 0 — argmax is the decision, max the
    confidence."""
    best = (proba * w).argmax(axis=1)
    out = np.zeros_like(proba)
    rows = np.arange(len(proba))
    out[rows, best] = proba[rows, best]
    return out


def evaluate(d: dict, name: str, fit) -> dict:
    classes = sorted(set(d["labels"]))
    y = np.asarray(d["labels"], dtype=object)
    extra = {}
    if isinstance(fit, tuple) and fit[0] in ("prior", "prior on the decision"):
        topic, raw, seconds = oof(d, fit[1], None)
        apply = reweighted if fit[0] == "prior" else decided
        adjusted = np.zeros_like(topic)
        per_fold = []
        for train, test in splits(d):  # weights chosen on the other folds
            w = prior_weights(y[train], topic[train], classes)
            per_fold.append(np.round(w, 2).tolist())
            adjusted[test] = apply(topic[test], w)
        w = prior_weights(y, topic, classes)
        topic, raw = adjusted, apply(raw, w)
        extra = {
            "weights": dict(zip(classes, np.round(w, 2).tolist(), strict=False)),
            "per_fold": per_fold,
        }
    else:
        topic, raw, seconds = oof(d, name, fit)
    predicted = np.asarray(classes, dtype=object)[topic.argmax(axis=1)]
    row = {
        "variant": name,
        "fit_cpu_seconds": round(seconds, 1),
        "topic_macro_f1": round(macro_f1(y.tolist(), predicted.tolist()), 4),
        "raw_macro_f1": score(d["raw_truth"], raw, classes, d["shipped"], None)["macro_f1"],
        "topic_at_shipped": score(d["labels"], topic, classes, d["shipped"], d["topics"]),
        "raw_at_shipped": score(d["raw_truth"], raw, classes, d["shipped"], d["raw_groups"]),
        "rules": {},
        **extra,
    }
    for rule_name, rule in RULES.items():
        th = rule(y, predicted, topic.max(axis=1))
        row["rules"][rule_name] = {
            "topic_cross_fitted": cross_fitted(d, topic, classes, rule),
            "topic_in_sample": score(d["labels"], topic, classes, th, d["topics"]),
            "thresholds": th.as_dict(),
            "raw": score(d["raw_truth"], raw, classes, th, d["raw_groups"]),
        }
    return row


# The per-category thresholds shipped until 2026-12 (chosen on the topic hold-out of seed 0
# and the near-duplicates grouped CV, pooled), scored on the other partitions.
EARLIER_THRESHOLDS = ReviewThresholds(
    0.92,
    {
        "交通运输": 0.90,
        "劳动和社会保障": 0.91,
        "卫生计生": 0.87,
        "商贸旅游": 0.94,
        "城乡建设": 0.94,
        "教育文体": 0.90,
        "环境保护": 0.91,
    },
)


def other_partitions(d: dict, seeds=(1, 2)) -> dict:
    """The shipped model on topic hold-outs of other k-means seeds (never used to choose the
    thresholds or the category weights): macro-F1 without and with config's weights, routing
    at config's thresholds and at the earlier per-category ones."""
    from bench_routing import topic_clusters as clusters
    from sklearn.model_selection import StratifiedGroupKFold

    classes = sorted(set(d["labels"]))
    names = np.asarray(classes, dtype=object)
    y = np.asarray(d["labels"], dtype=object)
    weights = dict(d["settings"].category_weights)
    w = np.asarray([weights.get(c, 1.0) for c in classes])
    out = {}
    for seed in seeds:
        path = CACHE / f"models-partition-{d['key']}-{seed}.pkl"
        if path.exists():
            topics, proba = pickle.loads(path.read_bytes())
        else:
            topics = clusters(d["texts"], seed=seed)
            proba = np.zeros((len(y), len(classes)))
            splitter = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed)
            for train, test in splitter.split(y, y, topics):
                features = CharNgramFeatures.fit([d["texts"][i] for i in train], d["settings"])
                model = calibrated_svm(
                    features.transform([d["texts"][i] for i in train]), y[train].tolist()
                )
                order = [list(model.classes_).index(c) for c in classes]
                part = model.predict_proba(features.transform([d["texts"][i] for i in test]))
                proba[test] = part[:, order]
            path.write_bytes(pickle.dumps((topics, proba)))
        out[str(seed)] = {
            "macro_f1": round(macro_f1(y.tolist(), names[proba.argmax(axis=1)].tolist()), 4),
            "macro_f1_weighted": round(
                macro_f1(y.tolist(), names[(proba * w).argmax(axis=1)].tolist()), 4
            ),
            "at_config": score(y, decided(proba, w), classes, d["shipped"], topics),
            "at_earlier": score(y, decided(proba, w), classes, EARLIER_THRESHOLDS, topics),
        }
        print(f"partition {seed}: {out[str(seed)]}", flush=True)
    return out


def confirmed_new_topics(d: dict, counts=(5, 20), seeds=(0, 1, 2)) -> dict:
    """What the weekly retrain buys on new topics: each held-out topic fold again, with
    `count` messages of every held-out topic moved into training (as if operators had
    classified them in the review queue), scored on the rest of the fold with config's weights
    and thresholds. count 0: the plain topic hold-out."""
    from sklearn.model_selection import StratifiedGroupKFold

    classes = sorted(set(d["labels"]))
    y = np.asarray(d["labels"], dtype=object)
    weights = dict(d["settings"].category_weights)
    w = np.asarray([weights.get(c, 1.0) for c in classes])
    out: dict = {}
    for seed in seeds:
        if seed == 0:
            topics = d["topics"]
            plain = oof(d, "shipped model", variants(d)["shipped model"])[0]
        else:
            path = CACHE / f"models-partition-{d['key']}-{seed}.pkl"
            topics, plain = pickle.loads(path.read_bytes())  # other_partitions() made it
        out[str(seed)] = {}
        for count in (0, *counts):
            path = CACHE / f"models-confirmed-{d['key']}-{seed}-{count}.pkl"
            if count == 0:
                proba = plain
            elif path.exists():
                proba = pickle.loads(path.read_bytes())
            else:
                rng = np.random.default_rng(seed)
                proba = np.full((len(y), len(classes)), np.nan)
                splitter = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed)
                for train, test in splitter.split(y, y, topics):
                    moved = [
                        i
                        for t in np.unique(topics[test])
                        for i in rng.choice(
                            test[topics[test] == t],
                            size=min(count, int((topics[test] == t).sum())),
                            replace=False,
                        )
                    ]
                    part = np.concatenate([train, moved])
                    rest = np.setdiff1d(test, moved)
                    features = CharNgramFeatures.fit([d["texts"][i] for i in part], d["settings"])
                    model = calibrated_svm(
                        features.transform([d["texts"][i] for i in part]), y[part].tolist()
                    )
                    order = [list(model.classes_).index(c) for c in classes]
                    x_rest = features.transform([d["texts"][i] for i in rest])
                    proba[rest] = model.predict_proba(x_rest)[:, order]
                path.write_bytes(pickle.dumps(proba))
            scored = ~np.isnan(proba[:, 0])
            p = decided(proba[scored], w)
            out[str(seed)][str(count)] = {
                "scored": int(scored.sum()),
                "macro_f1": round(
                    macro_f1(y[scored].tolist(), np.asarray(classes)[p.argmax(axis=1)].tolist()),
                    4,
                ),
                "at_config": score(y[scored], p, classes, d["shipped"], topics[scored]),
            }
            print(f"confirmed {seed}/{count}: {out[str(seed)][str(count)]}", flush=True)
    return out


def _pc(x: dict) -> str:
    p95, c95 = x["precision_95"], x["coverage_95"]
    precision = "-" if x["precision"] is None else f"{x['precision']:.3f}"
    if p95:
        precision += f" ({p95['low']:.3f}-{p95['high']:.3f})"
    return f"{precision} / {x['coverage']:.3f} ({c95['low']:.3f}-{c95['high']:.3f})"


# The judgement on each variant (2026-12-07 run), kept here so that a rerun keeps saying it.
VERDICTS = {
    "shipped model": "the reference.",
    "finer targets (sub-categories, summed)": "not kept: worse on held-out topics (macro-F1 "
    "0.842 vs 0.866) and routes less there at every rule; better on the 262 raw messages "
    "(0.898), which are too few to outweigh 8,297 held-out-topic messages. The sub-category "
    "labels come from taxonomy names found in the text (the data has only the first level), "
    "so they split a category by words that do not carry over to new topics. 5x the fit time.",
    "finer targets, 3 calibration folds": "not kept: as above (0.843 on held-out topics).",
    "finer targets, best child's score calibrated per category": "not kept: confidence no "
    "longer spread over the children, but macro-F1 0.832 on held-out topics.",
    "svm + finer targets (summed), averaged": "not kept: 0.864, and routes less.",
    "svm + logistic regression, averaged": "not kept: 0.862, routes about as much; 3x the fit.",
    "svm + complement NB, averaged": "not kept: 0.846.",
    "title weight 1.0 (head_weight)": "not kept: 0.863 (the shipped 0.5 stays).",
    "title weight 0.25 (head_weight)": "not kept: 0.857.",
    "isotonic calibration": "not kept: same macro-F1, routes no more.",
    "taxonomy lexicon block, weight 0.3": "not kept: features for the confused pairs — the "
    "taxonomy's sub-category names and the rule keywords of categories.yaml as their own "
    "block — 0.863; the character n-grams already hold these words.",
    "taxonomy lexicon block, weight 0.6": "not kept: 0.860.",
    "prior adjustment of the shipped model (weights for macro-F1 on held-out topics)": "a "
    "weight per category (交通运输 about 1.9, the others 0.77-1.04) multiplies the "
    "probabilities, chosen for macro-F1 on the other topic folds: macro-F1 0.871 on held-out "
    "topics and 0.890 on raw messages, but renormalised probabilities as the confidence route "
    "a little less and raw precision at the 0.97 rule drops (0.967).",
    "the same weights on the decision only (confidence: the unweighted probability)": "kept "
    "(config/classifier.yaml model.category_weights): the weights choose the category, the "
    "confidence stays its calibrated probability. macro-F1 0.866 -> 0.871 on held-out topics "
    "(weights chosen on the other folds), 0.880 -> 0.890 on raw messages (never used to "
    "choose); in-distribution, measured separately: 0.933 -> 0.930 with near-duplicates "
    "grouped, 0.9355 -> 0.9345 in plain 5-fold CV. The largest ratio cannot overturn a probability of 0.72 or more, so routing "
    "at any threshold above that is exactly the shipped model's.",
}


def render(r: dict) -> str:
    m = r["machine"]
    rules = list(next(iter(r["rows"].values()))["rules"])
    lines = [
        "## Model variants for new messages (bench_routing_models.py)",
        "",
        f"Run {m['date']}, load average {m['load_average_at_start']:.1f} at start (2 cores "
        "shared). Command: `nice -n 10 python bench/bench_routing_models.py`. Each variant "
        "is scored on the **topic hold-out** (5-fold CV holding out whole topics, 8,297 "
        "messages, the same folds as above) and on the **262 raw messages** (a model trained "
        "on all the labelled rows except their twins). The features of each training part are "
        "the shipped ones, computed once; only the estimator varies. Fit: CPU seconds of one "
        "fit on a training part (about 6,600 messages; the features are not included).",
        "",
        "Review thresholds are chosen for each variant by a rule, and scored where they were "
        "not chosen: on the topic hold-out, each fold with thresholds chosen on the other four "
        "folds (cross-fitted); on the raw messages, with thresholds chosen on all five. "
        "Intervals: 95% bootstrap over topics (raw: near-duplicate groups).",
        "",
        "| variant | macro-F1: topics / raw | fit | "
        + " | ".join(f"{rule}: topics / raw" for rule in rules)
        + " |",
        "|---" * (len(rules) + 3) + "|",
    ]
    for name, row in r["rows"].items():
        cells = [
            f"{x['topic_cross_fitted']['precision']:.3f} / {x['topic_cross_fitted']['coverage']:.3f}"
            f" ({x['topic_cross_fitted']['coverage_95']['low']:.3f}-"
            f"{x['topic_cross_fitted']['coverage_95']['high']:.3f}); "
            f"{x['raw']['precision']:.3f} / {x['raw']['coverage']:.3f}"
            for x in row["rules"].values()
        ]
        lines.append(
            f"| {name} | **{row['topic_macro_f1']:.3f}** / {row['raw_macro_f1']:.3f} | "
            f"{row['fit_cpu_seconds']:.0f} s | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Each cell: precision / coverage (coverage interval); raw precision / coverage.",
        "",
    ]
    shipped = r["rows"].get("shipped model")
    if shipped:
        lines += [
            "The thresholds each rule chooses for the shipped model on all five topic folds, and "
            "what they give (topics: in-sample; raw: never used to choose):",
            "",
            "| rule | thresholds | topics (in-sample) | raw messages |",
            "|---|---|---|---|",
        ]
        for rule, x in shipped["rules"].items():
            th = ", ".join(f"{k} {v}" for k, v in x["thresholds"].items())
            lines.append(f"| {rule} | {th} | {_pc(x['topic_in_sample'])} | {_pc(x['raw'])} |")
    lines += ["", "What became of each:", ""]
    lines += [f"- {name}: {VERDICTS.get(name, '-')}" for name in r["rows"]]
    lines += ["", THRESHOLD_NOTE, "", WEIGHTS_NOTE]
    if r.get("partitions"):
        lines += [
            "",
            "The shipped model on two other partitions into topics (k-means seeds 1 and 2, 40 "
            "topics, 5 folds; never used to choose the thresholds or the weights): macro-F1 "
            "without / with the category weights, routing at config's thresholds and at the "
            "per-category thresholds shipped before (precision / coverage):",
            "",
            "| partition | macro-F1 | config's thresholds | earlier per-category thresholds |",
            "|---|---|---|---|",
        ]
        for seed, x in r["partitions"].items():
            lines.append(
                f"| seed {seed} | {x['macro_f1']:.3f} / {x['macro_f1_weighted']:.3f} | "
                f"{_pc(x['at_config'])} | {_pc(x['at_earlier'])} |"
            )
    if r.get("confirmed"):
        counts = list(next(iter(r["confirmed"].values())))
        lines += [
            "",
            "### New topics after the office confirms a few of their cases",
            "",
            f"Run {r['confirmed_machine']['date']}, load average "
            f"{r['confirmed_machine']['load_average_at_start']:.1f} at start. Command: "
            "`nice -n 10 python bench/bench_routing_models.py --confirmed-only` (also part of "
            "a full run). What the weekly retrain (prefect.yaml `retrain`) buys: the topic hold-outs again, "
            "with N messages of every held-out topic moved into training — as operators "
            "classify a new topic's first messages in the review queue — and the model scored on "
            "the rest of its topic, with config's category weights and review threshold (on the "
            "seed-0 partition the weights were chosen on the same folds). macro-F1; precision / "
            "coverage at config's threshold (95% bootstrap over topics):",
            "",
            "| partition | " + " | ".join(f"N = {n}" for n in counts) + " |",
            "|---" * (len(counts) + 1) + "|",
        ]
        for seed, row in r["confirmed"].items():
            lines.append(
                f"| seed {seed} | "
                + " | ".join(
                    f"**{x['macro_f1']:.3f}**; {_pc(x['at_config'])}" for x in row.values()
                )
                + " |"
            )
        lines += ["", CONFIRMED_NOTE]
    return "\n".join(lines) + "\n"


CONFIRMED_NOTE = (
    "Five confirmed messages per topic — for 40 topics 200 cases, 2.4% of the 8,297 "
    "messages, chosen at random within each topic (in production: the ones the model was "
    "unsure of, which wait in the review queue) — lift macro-F1 on the rest of those topics above 0.87 on every partition and "
    "precision at 0.90 to about 0.98: a new subject costs the office its first few messages "
    "in the review queue, then the next weekly model routes it. Weighting the confirmed cases "
    "three times in training (one-off run, seeds 0 and 1, N = 5) moved macro-F1 by +0.002 "
    "and +0.003: not kept."
)


THRESHOLD_NOTE = (
    "Review thresholds: scored where they were not chosen, per-category thresholds route less "
    "than one threshold for all at the same precision — each category's precision moves with "
    "the topics, so a threshold fitted per category fits the topics it was chosen on. The "
    "per-category thresholds shipped until 2026-12 gave 0.980 / 0.568 on the topic hold-out "
    "they were chosen on, but under 0.55 coverage on two other partitions (table below). One "
    "threshold chosen for precision 0.97 — 0.90 on all five folds — gives in-sample 0.971 / "
    "0.620 (0.552-0.684), raw 0.972 / 0.691, and 0.971 / 0.596 and 0.973 / 0.581 on the other "
    "partitions: precision at or above 0.97 and coverage above 0.55 on every hold-out, though "
    "chosen per fold the same rule lands at 0.968 / 0.628 (the folds' thresholds range "
    "0.87-0.91). Shipped (config/classifier.yaml review_threshold 0.90, no per-category "
    "thresholds): about one more wrong route per hundred routed, five more messages routed "
    "per hundred; the coverage interval still reaches below 0.55 on some partitions."
)

WEIGHTS_NOTE = (
    "The routing section above (bench_routing.py) decides the category as the model does, "
    "with config's category_weights, and scores the thresholds config ships."
)

MARK_START, MARK_END = "<!-- bench_routing_models -->", "<!-- /bench_routing_models -->"


def put_section(markdown: str, section: str) -> str:
    block = f"{MARK_START}\n{section}{MARK_END}\n"
    if MARK_START in markdown and MARK_END in markdown:
        head, rest = markdown.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    return markdown.rstrip("\n") + "\n\n" + block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*", help="names (prefix) of the variants to run")
    parser.add_argument(
        "--render", action="store_true", help="only re-render classifier.md from the JSON"
    )
    parser.add_argument(
        "--confirmed-only",
        action="store_true",
        help="only the other partitions and the new topics after confirmed cases",
    )
    args = parser.parse_args()
    if args.render:
        r = json.loads((RESULTS / "routing_models.json").read_text("utf-8"))
        md = RESULTS / "classifier.md"
        md.write_text(put_section(md.read_text("utf-8"), render(r)), "utf-8")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    d = load()
    print(f"data ready ({time.perf_counter() - started:.0f} s)", flush=True)
    out = RESULTS / "routing_models.json"
    previous = json.loads(out.read_text("utf-8")) if out.exists() else {"rows": {}}
    previous["confirmed_machine"] = machine()
    if not args.confirmed_only:
        previous["machine"] = previous["confirmed_machine"]
    previous["partitions"] = other_partitions(d)
    previous["confirmed"] = confirmed_new_topics(d)
    out.write_text(json.dumps(previous, ensure_ascii=False, indent=1), "utf-8")
    for name, fit in variants(d).items():
        if args.confirmed_only or (
            args.variants and not any(name.startswith(v) for v in args.variants)
        ):
            continue
        row = evaluate(d, name, fit)
        previous["rows"][name] = row
        print(f"{name}: topic F1 {row['topic_macro_f1']}, raw F1 {row['raw_macro_f1']}, fit "
              f"{row['fit_cpu_seconds']} s", flush=True)  # fmt: skip
        for rule_name, x in row["rules"].items():
            t, r = x["topic_cross_fitted"], x["raw"]
            print(f"    {rule_name}: topic {t['precision']}/{t['coverage']} "
                  f"{t['coverage_95']}; raw {r['precision']}/{r['coverage']}", flush=True)  # fmt: skip
        out.write_text(json.dumps(previous, ensure_ascii=False, indent=1), "utf-8")
    md = RESULTS / "classifier.md"
    md.write_text(put_section(md.read_text("utf-8"), render(previous)), "utf-8")
    print(f"updated {md}", flush=True)


if __name__ == "__main__":
    main()
