"""The learned classifier (分类模型): which first-level category an opinion belongs to.

TF-IDF over character n-grams of a normalised text, a linear SVM and calibrated probabilities.
Character n-grams need no word segmentation, so the model reads the jieba-segmented text it is
trained on (TIPDM 2020-C) and the raw text channels deliver alike once `normalise_for_model`
has removed spaces, punctuation and case. The features are computed with numpy over a whole
batch (no per-n-gram Python), so 100,000 submissions take seconds, not a minute.

Training cross-validates (macro-F1, per-class F1, the precision/coverage curve of the
confidence) and keeps those numbers in the model's metadata; `choose_threshold` turns the curve
into the review threshold: cases below it go to an operator instead of being routed.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclasses_fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from minqing.i18n import _
from minqing.precision import ReviewThresholds, bootstrap_routing

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_CATEGORIES = [
    "城乡建设",
    "劳动和社会保障",
    "教育文体",
    "商贸旅游",
    "环境保护",
    "卫生计生",
    "交通运输",
]
METADATA_THRESHOLDS = [round(0.50 + 0.01 * i, 2) for i in range(50)]  # 0.50 .. 0.99

# --------------------------------------------------------------------------- normalisation

# One lookup table maps every code point to the character the model sees, or to 0 (dropped).
# It covers the BMP and the CJK extension planes (up to Ext. H); anything beyond is dropped.
_TABLE_SIZE = 0x32400
_DIGIT = ord("0")
_BITS = 21  # a code point fits in 21 bits, so an n-gram of up to 3 characters fits in int64
_MAX_N = 3
# Excel writes a carriage return inside a cell as this literal; the TIPDM export is full of it.
_EXCEL_CR = "_x000D_"


@dataclass(frozen=True)
class ModelSettings:
    """How the features and the classifier are built (chosen by measurement, see
    config/classifier.yaml and bench/bench_classifier.py)."""

    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 3  # rarer n-grams are noise (and a third of the vocabulary at min_df=2)
    head_chars: int = 20  # the first characters (≈ the title) get their own n-gram block
    head_weight: float = 0.5
    max_chars: int = 5000  # longer texts are cut: bounded cost per submission
    # Characters removed before the n-grams, from training and incoming text alike (e.g. the
    # function words jieba's stop list took out of the training text: 的了吗们...). Measured
    # no better than keeping them, so empty; kept as a setting for other training data.
    drop_chars: str = ""
    svm_c: float = 1.0
    class_weight: str | None = "balanced"
    calibration: str = "sigmoid"  # sigmoid | isotonic | temperature
    calibration_folds: int = 5
    # The category is the one whose probability times its weight (1 if not named) is highest;
    # the confidence stays that category's calibrated probability. On topics it has not seen
    # the model under-predicts some categories (交通运输 recall 0.67 with whole topics held
    # out); weights chosen there for macro-F1 correct the decision on unsure texts, and leave
    # the confident ones — the ones routed without review — as they were
    # (bench/bench_routing_models.py). Sorted (name, weight) pairs; a mapping is accepted.
    category_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        weights = self.category_weights
        pairs = weights.items() if isinstance(weights, Mapping) else weights
        pairs = tuple(sorted((str(k), float(v)) for k, v in pairs))
        if any(not v > 0 for _, v in pairs):
            raise ValueError("category_weights must be positive")
        object.__setattr__(self, "category_weights", pairs)
        if not 1 <= self.ngram_min <= self.ngram_max <= _MAX_N:
            raise ValueError(f"n-gram range must lie within 1..{_MAX_N}")
        if self.calibration not in ("sigmoid", "isotonic", "temperature"):
            raise ValueError("calibration must be 'sigmoid', 'isotonic' or 'temperature'")


@functools.cache
def _char_table(drop: str = "") -> np.ndarray:
    """NFKC, lower case, only letters and digits (any script), every digit as "0", without
    the characters in `drop`."""
    table = np.zeros(_TABLE_SIZE, dtype=np.int64)
    for cp in range(_TABLE_SIZE):
        # A compatibility character that expands (㎡ -> m2, ㈠ -> (一)) keeps its first letter:
        # one character in, at most one out, so the table stays a plain array.
        for ch in unicodedata.normalize("NFKC", chr(cp)).lower():
            if ch.isalnum():
                table[cp] = _DIGIT if ch.isdigit() else ord(ch)
                break
    dropped = np.isin(table, [ord(ch) for ch in drop])
    table[dropped] = 0
    return table


def _normalised_chars(texts: Sequence[str], s: ModelSettings) -> tuple[np.ndarray, np.ndarray]:
    """The normalised characters of all texts as one int64 array, and each text's offsets
    into it (len(texts) + 1 of them)."""
    cleaned = [str(t)[: s.max_chars].replace(_EXCEL_CR, " ") for t in texts]
    lengths = np.fromiter(map(len, cleaned), dtype=np.int64, count=len(cleaned))
    raw = "".join(cleaned).encode("utf-32-le", "surrogatepass")
    points = np.frombuffer(raw, dtype=np.uint32)
    mapped = _char_table(s.drop_chars)[np.minimum(points, _TABLE_SIZE - 1)]
    doc = np.repeat(np.arange(len(cleaned)), lengths)
    keep = mapped != 0
    chars, doc = mapped[keep], doc[keep]
    # A number carries almost nothing about the topic (years, house numbers, phone numbers):
    # every run of digits becomes a single "0", wherever the punctuation inside it was.
    digit = chars == _DIGIT
    repeat = np.zeros(len(chars), dtype=bool)
    repeat[1:] = digit[1:] & digit[:-1] & (doc[1:] == doc[:-1])
    chars, doc = chars[~repeat], doc[~repeat]
    offsets = np.zeros(len(cleaned) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=len(cleaned)), out=offsets[1:])
    return chars, offsets


def normalise_for_model(text: str, settings: ModelSettings | None = None) -> str:
    """The text as the model reads it: NFKC, lower case, letters and digits only (spaces and
    punctuation removed, so jieba-segmented "小区 物业" and raw "小区的物业，" differ only by 的),
    every run of digits as one "0", at most `max_chars` characters of input."""
    chars, _ = _normalised_chars([text], settings or ModelSettings())
    return chars.astype(np.uint32).tobytes().decode("utf-32-le")


def combine_title(title: str | None, text: str) -> str:
    """Title and body as one text, title first: the model gives the opening characters extra
    weight (`ModelSettings.head_chars`), and in the training data the title comes first."""
    title = (title or "").strip()
    return f"{title}\n{text}" if title else text


# --------------------------------------------------------------------------- features


@dataclass
class _Vocabulary:
    """The n-grams a model knows (packed as int64) and their inverse document frequencies."""

    codes: np.ndarray  # sorted int64
    idf: np.ndarray  # float32, same order
    _index: pd.Index | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"codes": self.codes, "idf": self.idf, "_index": None}

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Column of each code, -1 for an n-gram the model never saw."""
        if self._index is None:
            # pandas' hash table: ~4x faster than a binary search over half a million codes.
            self._index = pd.Index(self.codes)
        return self._index.get_indexer(codes)


def _ngrams(
    chars: np.ndarray, offsets: np.ndarray, n_min: int, n_max: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every n-gram of every text as (packed code, row, end), in no particular order; `end` is
    the offset just past the n-gram within its text (to pick the ones inside the head)."""
    total = len(chars)
    sizes = np.diff(offsets)
    doc = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    position = np.arange(total, dtype=np.int32) - offsets[:-1].astype(np.int32)[doc]
    remaining = sizes.astype(np.int32)[doc] - position
    padded = np.concatenate([chars, np.zeros(n_max, dtype=np.int64)])
    code = np.zeros(total, dtype=np.int64)
    codes, rows, ends = [], [], []
    for n in range(1, n_max + 1):
        code = (code << _BITS) | padded[n - 1 : n - 1 + total]
        if n >= n_min:
            inside = remaining >= n  # the n-gram does not run into the next text
            codes.append(code[inside])
            rows.append(doc[inside])
            ends.append(position[inside] + n)
    return np.concatenate(codes), np.concatenate(rows), np.concatenate(ends)


def _fit_vocabulary(codes: np.ndarray, rows: np.ndarray, n_docs: int, min_df: int) -> _Vocabulary:
    unique, inverse = np.unique(codes, return_inverse=True)
    pairs = np.unique(rows.astype(np.int64) * len(unique) + inverse)  # each (text, n-gram) once
    df = np.bincount(pairs % len(unique), minlength=len(unique))
    known = df >= min_df
    # The smoothed idf of scikit-learn's TfidfVectorizer, so the numbers mean the usual thing.
    idf = np.log((1 + n_docs) / (1 + df[known])) + 1
    return _Vocabulary(unique[known], idf.astype(np.float32))


def _tfidf(codes: np.ndarray, rows: np.ndarray, n_docs: int, vocab: _Vocabulary) -> sp.csr_matrix:
    """Sublinear tf × idf, rows L2-normalised; n-grams outside the vocabulary are ignored, so
    words the model never saw do not dilute the ones it knows."""
    columns = vocab.lookup(codes)
    known = columns >= 0
    # COO -> CSR is a counting sort by row (linear), so the n-grams need not come in order.
    matrix = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (rows[known], columns[known])),
        shape=(n_docs, len(vocab.codes)),
    )
    matrix.sum_duplicates()
    matrix.data = (1 + np.log(matrix.data)) * vocab.idf[matrix.indices]
    row_of = np.repeat(np.arange(n_docs), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(row_of, weights=matrix.data**2, minlength=n_docs))
    norms[norms == 0] = 1
    matrix.data /= norms[row_of].astype(np.float32)
    return matrix


@dataclass
class CharNgramFeatures:
    """Fitted feature extractor: TF-IDF of the character n-grams of the whole text, next to
    (weighted) TF-IDF of the n-grams of its first `head_chars` characters."""

    settings: ModelSettings
    body: _Vocabulary
    head: _Vocabulary | None

    @classmethod
    def fit(cls, texts: Sequence[str], settings: ModelSettings) -> CharNgramFeatures:
        s = settings
        chars, offsets = _normalised_chars(texts, s)
        codes, rows, ends = _ngrams(chars, offsets, s.ngram_min, s.ngram_max)
        body = _fit_vocabulary(codes, rows, len(texts), s.min_df)
        head = None
        if s.head_chars > 0 and s.head_weight > 0:
            inside = ends <= s.head_chars
            head = _fit_vocabulary(codes[inside], rows[inside], len(texts), s.min_df)
        return cls(settings, body, head)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        s = self.settings
        chars, offsets = _normalised_chars(texts, s)
        codes, rows, ends = _ngrams(chars, offsets, s.ngram_min, s.ngram_max)
        matrix = _tfidf(codes, rows, len(texts), self.body)
        if self.head is None:
            return matrix
        inside = ends <= s.head_chars
        head = _tfidf(codes[inside], rows[inside], len(texts), self.head)
        head.data *= np.float32(s.head_weight)
        return sp.hstack([matrix, head], format="csr")


# --------------------------------------------------------------------------- model


@dataclass
class Prediction:
    """The model's answer for one text: the category, its calibrated probability, and the
    three first categories in the model's order of preference with their probabilities
    (descending unless `ModelSettings.category_weights` reorders close ones). Probabilities
    are rounded to 4 decimals."""

    category: str
    confidence: float
    top3: list[tuple[str, float]]


class ModelMismatch(ValueError):
    """The model does not fit this installation (other categories, unreadable file)."""


@dataclass
class TrainedModel:
    """A fitted classifier with the numbers measured when it was trained (`metadata`)."""

    settings: ModelSettings
    features: CharNgramFeatures
    estimator: Any  # scikit-learn CalibratedClassifierCV around a LinearSVC
    classes: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, texts: Sequence[str], chunk: int = 10_000) -> np.ndarray:
        """Probabilities, one row per text, columns in the order of `classes` (float32)."""
        out = np.empty((len(texts), len(self.classes)), dtype=np.float32)
        # Chunks bound the memory of the n-gram arrays (~25 MB per 10,000 texts).
        for start in range(0, len(texts), chunk):
            features = self.features.transform(texts[start : start + chunk])
            out[start : start + chunk] = self.estimator.predict_proba(features)
        return out

    def decision_scores(self, proba: np.ndarray) -> np.ndarray:
        """What the decision ranks: each probability times its category's weight
        (`ModelSettings.category_weights`); the probabilities themselves without weights."""
        return weighted_scores(proba, self.classes, self.settings)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        proba = self.predict_proba(texts)
        k = min(3, len(self.classes))
        order = np.argsort(-self.decision_scores(proba), axis=1, kind="stable")[:, :k]
        top_p = np.take_along_axis(proba, order, axis=1).astype(float).round(4).tolist()
        names = self.classes
        predictions = []
        for cols, probs in zip(order.tolist(), top_p, strict=True):
            top3 = [(names[c], p) for c, p in zip(cols, probs, strict=True)]
            predictions.append(Prediction(top3[0][0], probs[0], top3))
        return predictions


def weighted_scores(
    proba: np.ndarray, classes: Sequence[str], settings: ModelSettings
) -> np.ndarray:
    """`proba` (columns in the order of `classes`) times each category's weight; the decision
    is the highest. Without weights, `proba` itself."""
    # A model saved before category_weights existed has none.
    weights = dict(getattr(settings, "category_weights", ()))
    if not weights:
        return proba
    return proba * np.asarray([weights.get(c, 1.0) for c in classes], dtype=proba.dtype)


def _fit_estimator(features: sp.csr_matrix, labels: np.ndarray, s: ModelSettings, seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    smallest = int(np.unique(labels, return_counts=True)[1].min())
    folds = min(s.calibration_folds, smallest)
    if folds < 2:
        raise ValueError("every category needs at least 2 training examples (calibration)")
    svm = LinearSVC(C=s.svm_c, class_weight=s.class_weight, random_state=seed)
    # ensemble=False: one SVM trained on all the data, its scores calibrated on out-of-fold
    # scores; the default averages one SVM per fold, each trained on less data, k times the
    # prediction cost.
    calibrated = CalibratedClassifierCV(
        svm,
        method=s.calibration,
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        ensemble=False,
    )
    return calibrated.fit(features, labels)


def fit_model(
    texts: Sequence[str], labels: Sequence[str], settings: ModelSettings, random_state: int = 0
) -> TrainedModel:
    """Fit features and classifier on all the data, without cross-validation or metadata."""
    y = np.asarray(labels, dtype=object)
    if len(set(y.tolist())) < 2:
        raise ValueError("training needs at least two categories")
    features = CharNgramFeatures.fit(texts, settings)
    estimator = _fit_estimator(features.transform(texts), y, settings, random_state)
    return TrainedModel(settings, features, estimator, [str(c) for c in estimator.classes_])


@dataclass(frozen=True)
class CurvePoint:
    """Routing every case whose confidence ≥ `threshold`: the share routed (`coverage`) and
    the share of those whose category is right (`precision`, None when nothing is routed)."""

    threshold: float
    precision: float | None
    coverage: float
    n_auto: int


def precision_coverage_curve(
    correct: Sequence[bool] | np.ndarray,
    confidence: Sequence[float] | np.ndarray,
    thresholds: Iterable[float] = METADATA_THRESHOLDS,
) -> list[CurvePoint]:
    ok = np.asarray(correct, dtype=bool)
    conf = np.asarray(confidence, dtype=float)
    points = []
    for t in thresholds:
        auto = conf >= t
        n = int(auto.sum())
        precision = float(ok[auto].mean()) if n else None
        points.append(CurvePoint(float(t), precision, float(auto.mean()) if len(conf) else 0.0, n))
    return points


def choose_threshold(
    curve: Sequence[CurvePoint | Mapping[str, Any]], min_precision: float = 0.98
) -> float:
    """The lowest threshold whose automatically routed cases reach `min_precision` (so the
    most cases are routed without an operator). Raises ValueError when none does."""
    points = [p if isinstance(p, CurvePoint) else CurvePoint(**p) for p in curve]
    good = [p for p in points if p.precision is not None and p.precision >= min_precision]
    if not good:
        best = max(
            (p for p in points if p.precision is not None),
            key=lambda p: p.precision or 0.0,
            default=None,
        )
        reached = f"best {best.precision:.4f} at {best.threshold:.2f}" if best else "no points"
        raise ValueError(f"no threshold reaches precision {min_precision} ({reached})")
    return min(p.threshold for p in good)


@dataclass
class CrossValidation:
    """Out-of-fold predictions of a k-fold cross-validation and the scores derived from them."""

    folds: int
    fold_macro_f1: list[float]
    per_class_f1: dict[str, float]
    accuracy: float
    labels: np.ndarray  # true category of each text
    predicted: np.ndarray  # out-of-fold prediction
    confidence: np.ndarray  # out-of-fold confidence

    @property
    def macro_f1(self) -> float:
        return float(np.mean(self.fold_macro_f1))

    def curve(self, thresholds: Iterable[float] = METADATA_THRESHOLDS) -> list[CurvePoint]:
        return precision_coverage_curve(self.predicted == self.labels, self.confidence, thresholds)


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = 5,
    random_state: int = 0,
    settings: ModelSettings | None = None,
    groups: Sequence[int] | None = None,
) -> CrossValidation:
    """Stratified k-fold: features, classifier and calibration are fitted on each training
    part only, so the held-out fold is never seen (IDF included). With `groups`, texts of one
    group stay in one fold (near-duplicates: otherwise a copy in training flatters the score)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    s = settings or ModelSettings()
    y = np.asarray(labels, dtype=object)
    predicted = np.empty(len(y), dtype=object)
    confidence = np.zeros(len(y), dtype=float)
    scores = []
    if groups is None:
        splits = StratifiedKFold(folds, shuffle=True, random_state=random_state).split(y, y)
    else:
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=random_state)
        splits = splitter.split(y, y, groups)
    for train, test in splits:
        model = fit_model([texts[i] for i in train], y[train], s, random_state)
        proba = model.predict_proba([texts[i] for i in test])
        best = model.decision_scores(proba).argmax(axis=1)
        predicted[test] = np.asarray(model.classes, dtype=object)[best]
        confidence[test] = proba[np.arange(len(test)), best]
        scores.append(float(f1_score(y[test], predicted[test], average="macro")))
    classes = sorted(set(y.tolist()))
    per_class = f1_score(y, predicted, labels=classes, average=None)
    return CrossValidation(
        folds=folds,
        fold_macro_f1=scores,
        per_class_f1={c: float(f) for c, f in zip(classes, per_class, strict=True)},
        accuracy=float(np.mean(predicted == y)),
        labels=y,
        predicted=predicted,
        confidence=confidence,
    )


def data_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    """sha256 over the training pairs in order: the same data gives the same hash."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(str(text).encode("utf-8", "surrogatepass") + b"\x1f")
        digest.update(str(label).encode("utf-8", "surrogatepass") + b"\x1e")
    return digest.hexdigest()


def train_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    cv_folds: int = 5,
    random_state: int = 0,
    settings: ModelSettings | None = None,
    thresholds: ReviewThresholds | None = None,
    source: dict[str, Any] | None = None,
) -> TrainedModel:
    """Cross-validate (unless `cv_folds` < 2), then fit on all the data; the measured numbers
    go into `metadata` (and the JSON sidecar written by `save_model`), with the precision and
    coverage of automatic routing at `thresholds` and their 95% bootstrap intervals. `source`
    (`csv_source`) says which labelled CSV the texts came from: the retrain flow starts from it
    again."""
    import sklearn

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    s = settings or ModelSettings()
    texts = list(texts)
    labels = [str(label) for label in labels]
    cv = None
    if cv_folds >= 2:
        cv = cross_validate(texts, labels, folds=cv_folds, random_state=random_state, settings=s)
    model = fit_model(texts, labels, s, random_state)
    metadata: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_hash": data_hash(texts, labels),
        "n_samples": len(texts),
        "classes": model.classes,
        "class_counts": {c: labels.count(c) for c in model.classes},
        "settings": asdict(s),
        "random_state": random_state,
        "sklearn_version": sklearn.__version__,
        "python_version": sys.version.split()[0],
        "training_data": source,
        "cv": None,
    }
    if cv is not None:
        curve = cv.curve()
        try:
            suggested: float | None = choose_threshold(curve)
        except ValueError:
            suggested = None
        metadata["cv"] = {
            "folds": cv.folds,
            "macro_f1_per_fold": [round(f, 4) for f in cv.fold_macro_f1],
            "macro_f1_mean": round(cv.macro_f1, 4),
            "accuracy": round(cv.accuracy, 4),
            "per_class_f1": {c: round(f, 4) for c, f in cv.per_class_f1.items()},
            "precision_coverage": [asdict(p) for p in curve],
            "threshold_for_precision_0.98": suggested,
        }
        if thresholds is not None:
            metadata["cv"]["at_review_thresholds"] = routing_at(
                cv.labels, cv.predicted, cv.confidence, thresholds
            )
    model.metadata = metadata
    return model


def routing_at(
    truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, thresholds: ReviewThresholds
) -> dict[str, Any]:
    """Precision and coverage of automatic routing at `thresholds` with 95% bootstrap
    intervals, as plain data for the metadata."""
    estimate = bootstrap_routing(truth, predicted, confidence, thresholds, runs=1000)
    s = estimate.score
    return {
        "thresholds": thresholds.as_dict(),
        "precision": None if s.precision is None else round(s.precision, 4),
        "coverage": round(s.coverage, 4),
        "precision_95": asdict(estimate.precision_95) if estimate.precision_95 else None,
        "coverage_95": asdict(estimate.coverage_95),
    }


# --------------------------------------------------------------------------- persistence

_MODEL_NAME = re.compile(r"^classifier-(\d{8}T\d{6}\.\d{6})Z\.joblib$")
_STAMP = "%Y%m%dT%H%M%S.%f"


def save_model(model: TrainedModel, directory: Path, now: datetime | None = None) -> Path:
    """Write `classifier-<UTC time>Z.joblib` and its metadata as `.json` beside it; returns
    the model's path. The JSON is written first and each file appears whole (rename), so a
    model file that exists is complete and has its metadata."""
    import joblib

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP)
    path = directory / f"classifier-{stamp}Z.joblib"
    if path.exists():
        raise FileExistsError(path)
    sidecar = path.with_suffix(".json")
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(model.metadata, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, sidecar)
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    return path


def load_model(path: Path) -> TrainedModel:
    """Load a model written by `save_model` (only from a directory you trust: it unpickles)."""
    import joblib

    model = joblib.load(Path(path))
    if not isinstance(model, TrainedModel):
        raise ModelMismatch(f"{path} does not hold a minqing classifier")
    version = model.metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelMismatch(
            f"{path} has model format {version}, this code reads {FORMAT_VERSION}: retrain"
        )
    return model


def model_time(path: Path) -> datetime | None:
    """When the model at `path` was saved (UTC), from its file name; None for another name."""
    match = _MODEL_NAME.match(Path(path).name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)


def latest_model_path(directory: Path) -> Path | None:
    """The newest model in `directory` by the time in its name, or None."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = [
        (m.group(1), p)
        for p in directory.iterdir()
        if (m := _MODEL_NAME.match(p.name)) and p.is_file()
    ]
    return max(found)[1] if found else None


def load_latest_model(directory: Path, configured: Sequence[str]) -> TrainedModel | None:
    """The newest model in `directory`, checked against the configured categories; None when
    there is none yet (the keyword rules stay in charge). Raises ModelMismatch."""
    path = latest_model_path(directory)
    if path is None:
        return None
    model = load_model(path)
    check_classes(model, configured)
    return model


def check_classes(model: TrainedModel | Sequence[str], configured: Sequence[str]) -> None:
    """Refuse a model whose categories differ from the configured ones: a category the
    routing table does not know would strand cases, a missing one would never be chosen."""
    classes = model.classes if isinstance(model, TrainedModel) else list(model)
    extra = sorted(set(classes) - set(configured))
    missing = sorted(set(configured) - set(classes))
    if extra or missing:
        parts = []
        if extra:
            parts.append("not configured: " + ", ".join(extra))
        if missing:
            parts.append("configured but unknown to the model: " + ", ".join(missing))
        raise ModelMismatch(
            "model categories do not match the configuration (" + "; ".join(parts) + ")"
        )


# --------------------------------------------------------------------------- CSV input

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def decode_bytes(data: bytes) -> str:
    """UTF-8 (with or without BOM) if the bytes are valid UTF-8, else GB18030 (GBK's superset)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ValueError(
            _("既不是 UTF-8 也不是 GB18030 编码（第 %(byte)d 字节）") % {"byte": exc.start}
        ) from exc


# What a spreadsheet file begins with: a clerk's .xlsx (a zip) or .xls (OLE2) given as a CSV.
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def read_csv_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file in UTF-8, UTF-8 with BOM or GB18030; a missing, empty or
    spreadsheet file is refused in the reader's language (ValueError)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ValueError(_("找不到文件 %(path)s") % {"path": path}) from None
    except IsADirectoryError:
        raise ValueError(_("%(path)s 是文件夹，这里要的是 CSV 文件") % {"path": path}) from None
    if data.startswith(_SPREADSHEET_MAGIC):
        raise ValueError(
            _("%(path)s 是 Excel 工作簿，不是 CSV：请在 Excel 中“另存为” CSV UTF-8 后再用")
            % {"path": path}
        )
    try:
        text = decode_bytes(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    # newline="": line breaks inside quoted cells stay part of the cell.
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise ValueError(_("%(path)s 是空文件") % {"path": path})
    return [h.strip() for h in rows[0]], rows[1:]


def column_index(header: Sequence[str], name: str, path: Path | str = "") -> int:
    try:
        return list(header).index(name)
    except ValueError:
        raise ValueError(
            _("%(path)s 中没有“%(name)s”列（有的列：%(columns)s）")
            % {"path": path, "name": name, "columns": _("、").join(header)}
        ) from None


def read_labelled_csv(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    title_column: str | None = None,
) -> tuple[list[str], list[str]]:
    """Training pairs from a CSV: text (title first when `title_column` is given) and label.
    Rows with an empty text or label are left out and counted in a warning."""
    header, rows = read_csv_table(path)
    ti = column_index(header, text_column, path)
    li = column_index(header, label_column, path)
    hi = column_index(header, title_column, path) if title_column else None
    texts, labels, skipped = [], [], []
    for line, row in enumerate(rows, start=2):
        cell = row + [""] * (len(header) - len(row))
        text = combine_title(cell[hi] if hi is not None else None, cell[ti]).strip()
        label = cell[li].strip()
        if not text or not label:
            skipped.append(line)
            continue
        texts.append(text)
        labels.append(label)
    if skipped:
        log.warning(
            "%s: %d rows without text or label left out (rows %s)",
            path,
            len(skipped),
            ", ".join(map(str, skipped[:10])) + (" ..." if len(skipped) > 10 else ""),
        )
    return texts, labels


# --------------------------------------------------------------------------- evaluation on raw text


def csv_source(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    title_column: str | None = None,
) -> dict[str, Any]:
    """How to read a labelled CSV again (`read_labelled_csv`'s arguments), as a model's
    metadata keeps it (`training_data`)."""
    return {
        "path": str(Path(path).resolve()),
        "text_column": text_column,
        "label_column": label_column,
        "title_column": title_column,
    }


def read_csv_source(source: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The texts and labels of a `csv_source`."""
    return read_labelled_csv(
        Path(source["path"]), source["text_column"], source["label_column"], source["title_column"]
    )


def find_segmented_twins(
    segmented: Sequence[str], raw: Sequence[str], min_share: float = 0.8
) -> list[tuple[int, int]]:
    """Pairs (i, j) where `raw[j]` is the original of the jieba-segmented `segmented[i]`: at
    least `min_share` of its words (two characters or more) occur in the raw text.

    The labelled TIPDM data is segmented; some of its messages also appear raw in the other
    TIPDM files. These pairs give labelled raw text, to measure what production sees.
    """
    # Index the segmented texts by the first four characters of their longer words, then let
    # each raw text vote for the segmented texts whose prefixes it contains.
    words = [[w for w in text.split() if len(w) >= 2] for text in segmented]
    holders: dict[str, list[int]] = {}
    for i, ws in enumerate(words):
        if len(ws) >= 8:  # shorter texts are too easy to mistake for a look-alike
            for prefix in {w[:4] for w in ws if len(w) >= 4}:
                holders.setdefault(prefix, []).append(i)
    # A prefix shared by many texts (人民政府) says nothing about which text this is.
    telling = {p for p, h in holders.items() if len(h) <= 50}
    prefix_count = [len({w[:4] for w in ws if len(w) >= 4} & telling) for ws in words]
    best: dict[int, tuple[float, int]] = {}
    for j, text in enumerate(raw):
        compact = re.sub(r"\s+", "", text)
        votes: dict[int, int] = {}
        for prefix in {compact[k : k + 4] for k in range(len(compact) - 3)} & telling:
            for i in holders[prefix]:
                votes[i] = votes.get(i, 0) + 1
        for i, n in votes.items():
            if n < min_share * prefix_count[i]:
                continue
            share = sum(w in compact for w in words[i]) / len(words[i])
            if share >= min_share and share > best.get(i, (0.0, -1))[0]:
                best[i] = (share, j)
    return sorted((i, j) for i, (_, j) in best.items())


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class PrecisionWatch:
    """config/classifier.yaml `precision_watch`: the precision automatic routing must keep
    (the night's summary warns below it), how many routed cases with an outcome a figure needs
    before it can warn, and how many weeks the table shows."""

    target: float = 0.97
    min_judged: int = 30
    weeks: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.target <= 1 or self.min_judged < 1 or self.weeks < 1:
            raise ValueError("precision_watch: target in (0, 1], min_judged and weeks >= 1")


@dataclass(frozen=True)
class ClassifierConfig:
    """config/classifier.yaml: the review thresholds, the model settings and the precision
    watch."""

    review_threshold: float
    settings: ModelSettings
    category_thresholds: Mapping[str, float] = field(default_factory=dict)
    watch: PrecisionWatch = field(default_factory=PrecisionWatch)
    # What bench/bench_routing.py measured at these thresholds on messages the model never saw
    # (raw, near-duplicates grouped, by time and source): `minqing train` prints it beside the
    # in-distribution cross-validation. One mapping per hold-out: hold_out (what it was),
    # precision, precision_95, coverage, coverage_95, macro_f1.
    expected: Sequence[Mapping[str, Any]] = ()

    @property
    def thresholds(self) -> ReviewThresholds:
        """`review_threshold` for every category, or the category's own where one is set."""
        return ReviewThresholds(self.review_threshold, dict(self.category_thresholds))


@functools.cache
def _classifier_file_model() -> type[Any]:
    """The pydantic model of config/classifier.yaml: every key known, every value checked, so
    a typo or a wrong value is refused with its place (minqing.reference words it)."""
    from typing import Annotated, get_type_hints

    from pydantic import ConfigDict, Field, create_model

    share = Annotated[float, Field(gt=0, le=1)]
    forbid = ConfigDict(extra="forbid")
    hints = get_type_hints(ModelSettings)
    model_fields: dict[str, Any] = {
        f.name: (dict[str, float] if f.name == "category_weights" else hints[f.name], f.default)
        for f in dataclasses_fields(ModelSettings)
    }
    settings: Any = create_model("ClassifierModelSettings", __config__=forbid, **model_fields)
    watch: Any = create_model(
        "PrecisionWatchSettings",
        __config__=forbid,
        target=(share, PrecisionWatch.target),
        min_judged=(Annotated[int, Field(ge=1)], PrecisionWatch.min_judged),
        weeks=(Annotated[int, Field(ge=1)], PrecisionWatch.weeks),
    )
    file_model: type[Any] = create_model(
        "ClassifierFile",
        __config__=forbid,
        review_threshold=(share, 0.9),
        category_thresholds=(dict[str, share] | None, None),
        model=(settings | None, None),
        precision_watch=(watch | None, None),
        expected_on_new_messages=(list[dict[str, Any]] | None, None),
    )
    return file_model


def read_classifier_config(path: Path, categories: Sequence[str] | None = None) -> ClassifierConfig:
    """Read config/classifier.yaml; a missing file means the defaults, an unknown key or a
    wrong value is a ConfigError naming the key and its line (a typo must not silently train
    with a default, nor stop the night at triage). With `categories` (the office's category
    names, config/categories.yaml), a category_thresholds key that is none of them is one too."""
    from pydantic import ValidationError

    from minqing.i18n import _
    from minqing.reference import YamlFile, config_error, problems_of, read_yaml

    path = Path(path)
    read = read_yaml(path) if path.exists() else YamlFile(path.name, None, {}, [])
    data = read.data or {}
    if not isinstance(data, dict):
        raise config_error([read.problem((), _("最外层应为“键: 值”的映射"))])
    try:
        _classifier_file_model().model_validate(data)
    except ValidationError as exc:
        raise config_error(problems_of(exc, read)) from None
    if categories is not None:
        unknown = [
            read.problem(("category_thresholds", key), _unknown_category(categories))
            for key in data.get("category_thresholds") or {}
            if str(key) not in categories
        ]
        if unknown:
            raise config_error(unknown)
    threshold = float(data.get("review_threshold", 0.9))
    per_category = {str(k): float(v) for k, v in (data.get("category_thresholds") or {}).items()}
    model = data.get("model") or {}
    thresholds = ReviewThresholds(threshold, per_category)
    watching = PrecisionWatch(**(data.get("precision_watch") or {}))
    expected = data.get("expected_on_new_messages") or []
    return ClassifierConfig(
        threshold, ModelSettings(**model), thresholds.per_category, watching, tuple(expected)
    )


def _unknown_category(categories: Sequence[str]) -> str:
    from minqing.i18n import _, pgettext

    examples = pgettext("separator", "、").join([*categories[:4], "…"])
    return _("没有这个分类（分类见 config/categories.yaml，如 %(examples)s）") % {
        "examples": examples
    }
