"""Near-duplicate linking (一案多诉: many people, one problem) with MinHash LSH, in numpy.

A new submission joins the history case it is most similar to, or the earliest submission of the
same night that it duplicates, or opens a new case. Similarity is the exact Jaccard similarity of
the character shingle sets; MinHash band hashes only find the candidates, and an 8-bit sketch of
the signature skips candidates that cannot reach the threshold before their shingles are read.
The history lives behind the small `HistoryIndex` protocol, so a night never recomputes it and
holds only the candidates it asked for; `InMemoryIndex` implements it for tests and benchmarks.

A night:

    prepared = prepare_batch(texts, params)     # shingles, band hashes, sketches of new items
    decisions = link_prepared(prepared, areas, times, index, params)
    # then store, per submission i: prepared.band_hashes[i], prepared.sketches[i].tobytes(),
    # pack_shingles(prepared.shingles[i])

Storage for the database (one row per indexed submission; entry id = submission id):

    dedup_entry(submission_id PK, case_id, area, sketch BLOB (num_perm bytes),
                shingles BLOB (pack_shingles: 4 bytes per shingle, ~1.4 kB per message))
    dedup_band(band_hash BIGINT, submission_id BIGINT, PRIMARY KEY (band_hash, submission_id))
        -- `bands` rows per submission; SQLite: WITHOUT ROWID
    plus the DedupParams.index_fingerprint() the rows were made with (rebuild when it changes).

    lookup:         SELECT band_hash, submission_id FROM dedup_band WHERE band_hash IN (...)
                    (chunks of a few thousand hashes, or a temporary table joined), newest
                    submission first and at most per_hash_limit per hash; may join the case to
                    drop cases closed before `since`.
    fetch_meta:     case_id, area, active_until (NULL/OPEN while the case is open, else its
                    closed time) and sketch for the given submission ids.
    fetch_shingles: the shingles blobs for the given ids -> ShingleSets.from_packed.
    pruning:        dedup_band rows of cases closed more than window_days ago can be deleted:
                    they can never be candidates again, so the table is bounded by the window's
                    volume, not by all history.

The signatures are one-permutation MinHash (one hash per shingle, split into `num_perm` bins,
minimum per bin, empty bins filled by "optimal densification", Shrivastava 2017): on this data
two orders of magnitude faster than `num_perm` hash functions per shingle (numpy or datasketch),
with band collisions that follow the Jaccard similarity like classic MinHash
(bench/bench_neardup.py measures both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: `active_until` of an entry whose case is still open: it is a candidate whatever its age.
OPEN: int = int(np.iinfo(np.int64).max)

_U32 = np.uint32
_U64 = np.uint64
_EMPTY_BIN = _U32(0xFFFFFFFF)
# Work in slices of this many texts / pairs so temporaries stay small and in cache.
_DOC_CHUNK = 8192
_PAIR_ELEMS = 4_000_000
_LOOKUP_CHUNK = 65_536
_PER_CASE = 2  # history submissions of one case verified per new item


@dataclass(frozen=True)
class DedupParams:
    """The dedup settings; config/triage.yaml `dedup:` says how the shipped values were chosen.

    `num_perm` MinHash values are cut into `bands` bands of `num_perm // bands` rows: two texts
    become candidates when one whole band agrees. A candidate whose sketch-estimated similarity
    is below `threshold - sketch_margin` is dropped unverified; of the rest, per new item, the
    `max_candidates` likeliest (at most two submissions per case) are verified by exact
    Jaccard. `per_hash_limit` caps how many stored entries one band hash may bring back (the
    newest), so a boiler-plate text that thousands of people sent cannot blow up a night.
    """

    shingle_size: int = 3
    num_perm: int = 128
    bands: int = 32
    threshold: float = 0.5
    window_days: int = 90
    same_area: bool = False
    max_candidates: int = 16
    per_hash_limit: int = 64
    sketch_margin: float = 0.15
    seed: int = 1
    # Index entries of cases closed more than window_days + prune_grace_days ago are removed
    # (tasks/index.py); the grace covers submissions that reach a night days late.
    prune_grace_days: int = 30

    def __post_init__(self) -> None:
        if self.shingle_size < 1:
            raise ValueError("shingle_size must be >= 1")
        if self.num_perm < 1 or self.bands < 1 or self.num_perm % self.bands:
            raise ValueError("num_perm must be a positive multiple of bands")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.window_days < 0 or self.max_candidates < 1 or self.per_hash_limit < 1:
            raise ValueError("window_days >= 0, max_candidates >= 1, per_hash_limit >= 1")
        if self.prune_grace_days < 0:
            raise ValueError("prune_grace_days must be >= 0")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    @property
    def window_seconds(self) -> int:
        return self.window_days * 86_400

    def index_fingerprint(self) -> str:
        """What the stored band hashes depend on; when it changes, the index must be rebuilt."""
        return f"oph-v1:k={self.shingle_size}:p={self.num_perm}:b={self.bands}:s={self.seed}"

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> DedupParams:
        """Build from the `dedup:` mapping of config/triage.yaml; unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown dedup settings: {sorted(unknown)}")
        return cls(**values)


@lru_cache(maxsize=1)
def _triage_file_model() -> type[Any]:
    """The pydantic model of config/triage.yaml: every key known, every value in its range, so
    a typo or a wrong value is refused with its place (minqing.reference words it)."""
    from typing import Annotated

    from pydantic import ConfigDict, Field, create_model, model_validator

    from minqing.i18n import _

    forbid = ConfigDict(extra="forbid")
    d = DedupParams

    def at_least(n: int) -> Any:
        return Annotated[int, Field(ge=n)]

    def _bands_divide(values: Any) -> Any:
        if values.num_perm % values.bands:
            raise ValueError(_("num_perm 应为 bands 的整数倍"))
        return values

    section = create_model(
        "DedupSettings",
        __config__=forbid,
        __validators__={"bands_divide": model_validator(mode="after")(_bands_divide)},  # type: ignore[dict-item]
        shingle_size=(at_least(1), d.shingle_size),
        num_perm=(at_least(1), d.num_perm),
        bands=(at_least(1), d.bands),
        threshold=(Annotated[float, Field(gt=0, le=1)], d.threshold),
        window_days=(at_least(0), d.window_days),
        same_area=(bool, d.same_area),
        max_candidates=(at_least(1), d.max_candidates),
        per_hash_limit=(at_least(1), d.per_hash_limit),
        sketch_margin=(Annotated[float, Field(ge=0, le=1)], d.sketch_margin),
        seed=(int, d.seed),
        prune_grace_days=(at_least(0), d.prune_grace_days),
    )
    file_model: type[Any] = create_model("TriageFile", __config__=forbid, dedup=(section, ...))
    return file_model


def load_dedup_params(path: str | Path) -> DedupParams:
    """The `dedup:` section of a YAML file such as config/triage.yaml; a typo or a wrong value
    is a ConfigError naming the key and its line."""
    from pydantic import ValidationError

    from minqing.i18n import _
    from minqing.reference import config_error, problems_of, read_yaml

    read = read_yaml(Path(path))
    content = {} if read.data is None else read.data
    if not isinstance(content, dict):
        raise config_error([read.problem((), _("最外层应为“键: 值”的映射"))])
    try:
        _triage_file_model().model_validate(content)
    except ValidationError as exc:
        raise config_error(problems_of(exc, read)) from None
    return DedupParams.from_mapping(content["dedup"])


# --------------------------------------------------------------------------------------------
# Shingles


@dataclass(frozen=True)
class ShingleSets:
    """Many shingle sets in one flat array (CSR): set i is `values[offsets[i]:offsets[i+1]]`,
    sorted and unique uint32 hashes."""

    values: np.ndarray  # uint32
    offsets: np.ndarray  # int64, len n + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def from_arrays(cls, arrays: Iterable[np.ndarray]) -> ShingleSets:
        arrays = [np.asarray(a, dtype=_U32) for a in arrays]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        values = np.concatenate(arrays) if arrays else np.empty(0, _U32)
        return cls(values.astype(_U32, copy=False), offsets)

    @classmethod
    def from_packed(cls, blobs: Sequence[bytes]) -> ShingleSets:
        """From `pack_shingles` blobs as the database returns them (one copy in all)."""
        sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
        if np.any(sizes % 4):
            raise ValueError("a packed shingle set must be a whole number of uint32")
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        np.cumsum(sizes // 4, out=offsets[1:])
        values = np.frombuffer(b"".join(blobs), dtype="<u4").astype(_U32)
        return cls(values, offsets)

    @classmethod
    def concat(cls, parts: Sequence[ShingleSets]) -> ShingleSets:
        if len(parts) == 1:
            return parts[0]
        sizes = np.concatenate([p.sizes for p in parts])
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return cls(np.concatenate([p.values for p in parts]), offsets)

    def take(self, indices: np.ndarray) -> ShingleSets:
        """The sets at `indices`, in that order, as a new compact ShingleSets."""
        indices = np.asarray(indices, dtype=np.int64)
        starts = self.offsets[indices]
        sizes = self.offsets[indices + 1] - starts
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return ShingleSets(np.asarray(self.values[_ranges(starts, sizes)]), offsets)

    def to_list(self) -> list[np.ndarray]:
        return [self[i] for i in range(len(self))]


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), without a Python loop."""
    total = int(sizes.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(sizes)
    step = np.repeat(starts - (ends - sizes), sizes)
    return np.arange(total, dtype=np.int64) + step


@lru_cache(maxsize=1)
def _bmp_map() -> np.ndarray:
    """For each BMP code point: its lower-case form if it is a letter or digit, else 0 (dropped).

    Punctuation, spaces and symbols are dropped so "您好，" vs "您好!" or a changed line break do
    not change the shingles; the same rule as the exact-duplicate key in normalize.dedup_key.
    """
    table = np.zeros(0x10000, dtype=_U32)
    for cp in range(0x10000):
        ch = chr(cp)
        if ch.isalnum():
            low = ch.lower()
            table[cp] = ord(low) if len(low) == 1 else cp
    return table


def _clean_codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts' kept code points in one uint32 array, and each text's kept length."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4")
    if len(cps) == 0 or cps.max() < 0x10000:
        mapped = _bmp_map()[cps]
    else:  # rare: letters outside the BMP are kept, emoji and the like dropped
        low = cps < 0x10000
        mapped = np.zeros(len(cps), dtype=_U32)
        mapped[low] = _bmp_map()[cps[low]]
        for cp in np.unique(cps[~low]).tolist():
            if chr(cp).isalnum():
                mapped[cps == cp] = cp
    dropped = np.flatnonzero(mapped == 0)
    text_of_dropped = np.searchsorted(np.cumsum(lengths), dropped, side="right")
    kept_lengths = lengths - np.bincount(text_of_dropped, minlength=len(lengths))
    return np.delete(mapped, dropped), kept_lengths


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place: a bijection on uint64 whose high bits are well mixed."""
    with np.errstate(over="ignore"):
        x ^= x >> _U64(30)
        x *= _U64(0xBF58476D1CE4E5B9)
        x ^= x >> _U64(27)
        x *= _U64(0x94D049BB133111EB)
        x ^= x >> _U64(31)
    return x


def _kgram_keys(c: np.ndarray, k: int) -> np.ndarray:
    """uint64 key of the k characters starting at each position of `c` (padded with k-1 zeros).

    For k <= 3 the key is the k-gram itself (code points fit in 21 bits), so distinct shingles
    only collide in the final 32-bit hash."""
    n = len(c) - (k - 1)
    h = c[:n].copy()
    with np.errstate(over="ignore"):
        for j in range(1, k):
            if k <= 3:
                h <<= _U64(21)
                h |= c[j : j + n]
            else:
                h *= _U64(0x100000001B3)
                h += c[j : j + n]
    return h


def _shingle_chunk(texts: Sequence[str], k: int) -> ShingleSets:
    cps, lengths = _clean_codepoints(texts)
    n_docs, n = len(lengths), len(cps)
    c = np.zeros(n + k - 1, dtype=_U64)
    c[:n] = cps
    keys = _kgram_keys(c, k)
    # A shingle starts wherever k characters of the same text follow; a text shorter than k
    # (but not empty) is one shingle of itself, so short texts still compare.
    ends = np.cumsum(lengths)
    valid = np.ones(n, dtype=bool)
    for d in range(1, k):
        at = ends[lengths > 0] - d
        valid[at[at >= 0]] = False
    short = np.flatnonzero((lengths > 0) & (lengths < k))
    if len(short):
        starts = ends[short] - lengths[short]
        for s0, ln in zip(starts.tolist(), lengths[short].tolist(), strict=True):
            piece = np.zeros(2 * k - 1, dtype=_U64)
            piece[:ln] = cps[s0 : s0 + ln]
            keys[s0] = _kgram_keys(piece, k)[0]
            valid[s0] = True
    with np.errstate(over="ignore"):
        # Multiply-shift: the high 32 bits of key * odd constant, a universal hash to 32 bits.
        keys *= _U64(0x9E3779B97F4A7C15)
    keys >>= _U64(32)
    keys |= np.repeat(np.arange(n_docs, dtype=_U64) << _U64(32), lengths)
    keys = keys[valid]
    keys.sort()
    if len(keys):
        first = np.empty(len(keys), dtype=bool)
        first[0] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        keys = keys[first]
    counts = np.bincount((keys >> _U64(32)).astype(np.int64), minlength=n_docs)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return ShingleSets(keys.astype(_U32), offsets)


def shingle_sets(texts: Sequence[str], k: int) -> ShingleSets:
    """Character k-shingles of many texts at once (vectorised); see `shingles`."""
    if k < 1:
        raise ValueError("k must be >= 1")
    texts = list(texts)
    if not texts:
        return ShingleSets(np.empty(0, _U32), np.zeros(1, np.int64))
    return ShingleSets.concat(
        [_shingle_chunk(texts[s : s + _DOC_CHUNK], k) for s in range(0, len(texts), _DOC_CHUNK)]
    )


def shingles(text: str, k: int) -> np.ndarray:
    """Sorted unique uint32 hashes of the character k-shingles of `text`.

    Letters and digits only (lower-cased): whitespace, punctuation and symbols are dropped
    first. A text shorter than k is one shingle; an empty text has none.
    """
    return shingle_sets([text], k)[0]


def pack_shingles(arr: np.ndarray) -> bytes:
    """Bytes for the database: little-endian uint32, 4 bytes per shingle."""
    return np.ascontiguousarray(arr, dtype="<u4").tobytes()


def unpack_shingles(blob: bytes) -> np.ndarray:
    """Inverse of `pack_shingles`."""
    if len(blob) % 4:
        raise ValueError("a packed shingle set must be a whole number of uint32")
    return np.frombuffer(blob, dtype="<u4").astype(_U32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique shingle arrays (0.0 if both are empty)."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def pair_jaccard(
    left: ShingleSets, left_idx: np.ndarray, right: ShingleSets, right_idx: np.ndarray
) -> np.ndarray:
    """Exact Jaccard of many pairs (left[left_idx[p]], right[right_idx[p]]) at once.

    Each pair's two sorted sets are tagged with the pair number in the high 32 bits, so the
    tagged arrays are sorted as a whole; a stable sort of their concatenation is a merge, and
    equal neighbours are the intersection.
    """
    left_idx = np.asarray(left_idx, dtype=np.int64)
    right_idx = np.asarray(right_idx, dtype=np.int64)
    n = len(left_idx)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    ls = left.offsets[left_idx + 1] - left.offsets[left_idx]
    rs = right.offsets[right_idx + 1] - right.offsets[right_idx]
    work = np.cumsum(ls + rs)
    start = 0
    while start < n:
        stop = int(np.searchsorted(work, work[start] - (ls[start] + rs[start]) + _PAIR_ELEMS))
        stop = max(stop, start + 1)
        sl = slice(start, stop)
        tag_l = np.repeat(np.arange(stop - start, dtype=_U64) << _U64(32), ls[sl])
        tag_r = np.repeat(np.arange(stop - start, dtype=_U64) << _U64(32), rs[sl])
        a = left.values[_ranges(left.offsets[left_idx[sl]], ls[sl])].astype(_U64) | tag_l
        b = right.values[_ranges(right.offsets[right_idx[sl]], rs[sl])].astype(_U64) | tag_r
        merged = np.concatenate([a, b]).view(np.int64)
        merged.sort(kind="stable")
        same = merged[1:] == merged[:-1]
        inter = np.bincount(
            (merged[1:][same].view(_U64) >> _U64(32)).astype(np.int64), minlength=stop - start
        )
        union = ls[sl] + rs[sl] - inter
        out[sl] = np.divide(inter, union, out=np.zeros(stop - start), where=union > 0)
        start = stop
    return out


# --------------------------------------------------------------------------------------------
# MinHash signatures and LSH bands


def _as_sets(sets: ShingleSets | Sequence[np.ndarray]) -> ShingleSets:
    return sets if isinstance(sets, ShingleSets) else ShingleSets.from_arrays(sets)


@lru_cache(maxsize=16)
def _densify_table(num_perm: int, seed: int) -> np.ndarray:
    """For each bin, the sequence of bins an empty bin borrows from (same for every text)."""
    rng = np.random.default_rng([seed, num_perm, 0xD15E])
    return rng.integers(0, num_perm, size=(num_perm, 16 * num_perm), dtype=np.int64)


def _signature_chunk(values: np.ndarray, sizes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    n = len(sizes)
    sig = np.full((n, num_perm), _EMPTY_BIN, dtype=_U32)
    if n == 0 or len(values) == 0:
        return sig
    # The shingle hashes are already uniform; the seed picks the permutation by a bijection on
    # uint32 (xor, odd multiplier, xorshift), which is all one-permutation MinHash needs.
    salt = _U32((seed * 0x9E3779B9 + 0x7F4A7C15) & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        v = values ^ salt
        v *= _U32(0x85EBCA6B)
        v ^= v >> _U32(16)
    # The empty-bin marker must not be a real minimum: 0xFFFFFFFF is folded onto its neighbour.
    np.minimum(v, _U32(0xFFFFFFFE), out=v)
    bin_ = (v.astype(_U64) * _U64(num_perm)) >> _U64(32)  # a fair split by the high bits
    slot = np.repeat(np.arange(0, n * num_perm, num_perm, dtype=np.int64), sizes)
    slot += bin_.astype(np.int64)
    np.minimum.at(sig.reshape(-1), slot, v)
    _densify(sig, seed)
    return sig


def _densify(sig: np.ndarray, seed: int) -> None:
    """Optimal densification: an empty bin takes the value of the first non-empty bin in its own
    fixed pseudo-random sequence of bins, so two texts borrow alike exactly when they agree."""
    n, num_perm = sig.shape
    empty_rows, empty_bins = np.nonzero(sig == _EMPTY_BIN)
    if len(empty_rows) == 0:
        return
    has_any = (sig != _EMPTY_BIN).any(axis=1)
    keep = has_any[empty_rows]  # an empty text keeps an all-empty signature
    empty_rows, empty_bins = empty_rows[keep], empty_bins[keep]
    table = _densify_table(num_perm, seed)
    todo = np.arange(len(empty_rows))
    filled = np.full(len(empty_rows), _EMPTY_BIN, dtype=_U32)
    for step in range(table.shape[1]):
        if len(todo) == 0:
            break
        src = table[empty_bins[todo], step]
        got = sig[empty_rows[todo], src]
        ok = got != _EMPTY_BIN
        filled[todo[ok]] = got[ok]
        todo = todo[~ok]
    if len(todo):  # astronomically rare: fall back to the first non-empty bin
        first_bin = np.argmax(sig != _EMPTY_BIN, axis=1)
        filled[todo] = sig[empty_rows[todo], first_bin[empty_rows[todo]]]
    sig[empty_rows, empty_bins] = filled


def minhash_signatures(
    shingle_arrays: ShingleSets | Sequence[np.ndarray], num_perm: int, seed: int
) -> np.ndarray:
    """(n, num_perm) uint32 one-permutation MinHash signatures of the shingle sets.

    Position i of two signatures agrees with probability ~ the Jaccard similarity of the sets.
    An empty set gets an all-0xFFFFFFFF signature (link_batch never links empty texts).
    """
    sets = _as_sets(shingle_arrays)
    out = np.empty((len(sets), num_perm), dtype=_U32)
    for s in range(0, len(sets), _DOC_CHUNK):
        e = min(s + _DOC_CHUNK, len(sets))
        values = np.asarray(sets.values[sets.offsets[s] : sets.offsets[e]])
        out[s:e] = _signature_chunk(values, np.diff(sets.offsets[s : e + 1]), num_perm, seed)
    return out


def band_hashes(signatures: np.ndarray, bands: int) -> np.ndarray:
    """(n, bands) int64: one hash per band of `num_perm // bands` signature rows.

    The band number is mixed in, so the hashes of all bands can live in one database column
    and one `WHERE band_hash IN (...)` finds the candidates.
    """
    n, num_perm = signatures.shape
    if num_perm % bands:
        raise ValueError("num_perm must be a multiple of bands")
    rows = num_perm // bands
    blocks = signatures.reshape(n, bands, rows).astype(_U64)
    h = np.broadcast_to(
        (np.arange(bands, dtype=_U64) + _U64(1)) * _U64(0x9E3779B97F4A7C15), (n, bands)
    ).copy()
    with np.errstate(over="ignore"):
        for j in range(rows):
            h ^= blocks[:, :, j]
            _mix64(h)
    return h.view(np.int64)


def sketches(signatures: np.ndarray) -> np.ndarray:
    """(n, num_perm) uint8: the low 8 bits of each signature value (b-bit MinHash).

    128 bytes per text are enough to estimate the similarity of a candidate before its shingle
    set is fetched (`estimate_similarity`), so clearly dissimilar candidates cost no exact check.
    """
    return (signatures & _U32(0xFF)).astype(np.uint8)


def estimate_similarity(
    left: np.ndarray, left_idx: np.ndarray, right: np.ndarray, right_idx: np.ndarray
) -> np.ndarray:
    """Estimated Jaccard of sketch pairs: the share of agreeing bytes, less the 1/256 chance
    that two different minima agree in their low 8 bits."""
    out = np.empty(len(left_idx), dtype=np.float32)
    step = max(1, _PAIR_ELEMS // max(left.shape[1], 1))
    for s in range(0, len(left_idx), step):
        agree = (left[left_idx[s : s + step]] == right[right_idx[s : s + step]]).mean(axis=1)
        out[s : s + step] = (agree - 1 / 256) / (1 - 1 / 256)
    return out


# --------------------------------------------------------------------------------------------
# Sorting helpers (numpy's hash-based np.unique is ~100x slower on millions of int64 here)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a, axis=None)
    if len(a) == 0:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(a, kind="stable")
    sa = a[order]
    first = np.empty(len(a), dtype=bool)
    first[:1] = True
    np.not_equal(sa[1:], sa[:-1], out=first[1:])
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return sa[first], inverse


def _unique_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sa = np.sort(a)
    first = np.empty(len(sa), dtype=bool)
    first[:1] = True
    np.not_equal(sa[1:], sa[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return sa[starts], np.diff(np.append(starts, len(sa)))


# --------------------------------------------------------------------------------------------
# The history index


@dataclass(frozen=True)
class EntryMeta:
    """What a candidate needs before verification: its case, area and how long it stays a
    candidate (`active_until`, epoch seconds UTC; `OPEN` while the case is open)."""

    case_ids: np.ndarray  # int64
    areas: list[str | None]
    active_until: np.ndarray  # int64
    sketches: np.ndarray | None = None  # (n, num_perm) uint8; None: no pre-check


class HistoryIndex(Protocol):
    """Where a night finds earlier submissions. Entry ids are submission ids in the database.

    `lookup` may leave out entries whose `active_until` is before `since` (an optimisation: the
    window is checked again per item) and must return at most `per_hash_limit` entries per hash,
    the newest (largest entry ids) first.
    """

    def lookup(
        self, hashes: np.ndarray, since: int | None, per_hash_limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(band_hash, entry_id) rows for the stored band hashes among the unique `hashes`."""
        ...

    def fetch_meta(self, entry_ids: np.ndarray) -> EntryMeta:
        """Case, area, active_until and sketch of each entry id, in the given order."""
        ...

    def fetch_shingles(self, entry_ids: np.ndarray) -> ShingleSets:
        """The shingle set of each entry id, in the given order."""
        ...


def to_epoch_seconds(times: Sequence[datetime | None] | np.ndarray) -> np.ndarray:
    """int64 epoch seconds (UTC). Naive datetimes are taken as UTC; None becomes `OPEN`;
    an integer array is taken as epoch seconds already."""
    if isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.integer):
        return times.astype(np.int64, copy=False)
    if isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.datetime64):
        out = times.astype("datetime64[s]").astype(np.int64)
        out[np.isnat(times)] = OPEN
        return out
    result = np.empty(len(times), dtype=np.int64)
    for i, t in enumerate(times):
        if t is None:
            result[i] = OPEN
        else:
            if t.tzinfo is None:
                t = t.replace(tzinfo=UTC)
            result[i] = int(t.timestamp())
    return result


class InMemoryIndex:
    """The history index in numpy arrays (tests, benchmarks, small offices).

    Entries are numbered 0, 1, 2, ... in the order they are added. The band table is one sorted
    array of (band hash, entry), re-sorted lazily after `add`. `save` writes .npy files; an
    index opened with `load(mmap=True)` keeps only the small per-entry columns in memory and
    maps the band table, shingles and sketches a slice at a time while it answers, so a night's
    memory does not grow with the history — the profile of loading candidates from a database.
    """

    _MAPPED = ("hashes", "entries", "shingle_values", "sketches")

    def __init__(self) -> None:
        self._hashes = np.empty(0, np.int64)
        self._entries = np.empty(0, np.int64)
        self._case_ids = np.empty(0, np.int64)
        self._area_codes = np.empty(0, np.int32)
        self._area_names: list[str | None] = [None]
        self._active_until = np.empty(0, np.int64)
        self._shingles = ShingleSets(np.empty(0, _U32), np.zeros(1, np.int64))
        self._sketches: np.ndarray | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._mapped_dir: Path | None = None

    def __len__(self) -> int:
        return len(self._case_ids)

    def _array(self, name: str) -> np.ndarray:
        """A big column: in memory, or freshly mapped (unmapped again when dropped)."""
        if self._mapped_dir is not None:
            return np.load(self._mapped_dir / f"{name}.npy", mmap_mode="r")
        if name == "shingle_values":
            return self._shingles.values
        value = getattr(self, f"_{name}")
        assert value is not None
        return value

    def _materialise(self) -> None:
        if self._mapped_dir is not None:
            self._hashes, self._entries = self._array("hashes"), self._array("entries")
            self._hashes, self._entries = np.array(self._hashes), np.array(self._entries)
            values = np.array(self._array("shingle_values"))
            self._shingles = ShingleSets(values, self._shingles.offsets)
            if self._sketches is not None:
                self._sketches = np.array(self._array("sketches"))
            self._mapped_dir = None

    def add(
        self,
        case_ids: Sequence[int] | np.ndarray,
        bands: np.ndarray,
        shingle_arrays: ShingleSets | Sequence[np.ndarray],
        areas: Sequence[str | None],
        times: Sequence[datetime | None] | np.ndarray,
        sketches: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add entries; returns their entry ids.

        `times` is each entry's `active_until`: None while its case is open (always a candidate),
        else the time after which the case counts as closed (it stays a candidate for
        `window_days` more). Already epoch seconds (int64) is accepted too. `sketches`
        (PreparedBatch.sketches) let a night skip hopeless candidates cheaply; an index where
        any add() came without them verifies every candidate.
        """
        self._materialise()
        sets = _as_sets(shingle_arrays)
        n = len(sets)
        bands = np.asarray(bands, dtype=np.int64)
        if not (len(case_ids) == bands.shape[0] == len(areas) == len(times) == n):
            raise ValueError("case_ids, bands, shingle_arrays, areas and times differ in length")
        first = len(self._case_ids)
        ids = np.arange(first, first + n, dtype=np.int64)
        codes = {name: i for i, name in enumerate(self._area_names)}
        area_codes = np.empty(n, dtype=np.int32)
        for i, a in enumerate(areas):
            if a not in codes:
                codes[a] = len(self._area_names)
                self._area_names.append(a)
            area_codes[i] = codes[a]
        until = to_epoch_seconds(times)
        self._case_ids = np.concatenate([self._case_ids, np.asarray(case_ids, dtype=np.int64)])
        self._area_codes = np.concatenate([self._area_codes, area_codes])
        self._active_until = np.concatenate([self._active_until, until])
        self._shingles = ShingleSets.concat([self._shingles, sets])
        if sketches is None or (first > 0 and self._sketches is None):
            self._sketches = None
        else:
            sk = np.asarray(sketches, dtype=np.uint8)
            self._sketches = sk if first == 0 else np.concatenate([self._sketches, sk])
        self._pending.append((bands.reshape(-1), np.repeat(ids, bands.shape[1])))
        return ids

    def close_cases(self, case_ids: Sequence[int], closed_at: datetime) -> None:
        """Mark cases closed: their entries stay candidates for `window_days` after `closed_at`."""
        wanted = _sorted_unique(np.asarray(case_ids, dtype=np.int64))
        pos = np.minimum(np.searchsorted(wanted, self._case_ids), len(wanted) - 1)
        self._active_until = np.array(self._active_until)
        self._active_until[wanted[pos] == self._case_ids] = to_epoch_seconds([closed_at])[0]

    def _sorted_table(self) -> None:
        if self._pending:
            hashes = np.concatenate([self._hashes, *(h for h, _ in self._pending)])
            entries = np.concatenate([self._entries, *(e for _, e in self._pending)])
            # Sorted by hash, then newest entry first, so a capped bucket keeps the newest.
            order = np.lexsort((-entries, hashes))
            self._hashes, self._entries = hashes[order], entries[order]
            self._pending = []

    def lookup(
        self, hashes: np.ndarray, since: int | None = None, per_hash_limit: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        self._sorted_table()
        hashes = np.sort(np.asarray(hashes, dtype=np.int64))
        found_h, found_e = [], []
        for s in range(0, len(hashes), _LOOKUP_CHUNK):
            table_h, table_e = self._array("hashes"), self._array("entries")
            q = hashes[s : s + _LOOKUP_CHUNK]
            lo = np.searchsorted(table_h, q, side="left")
            hi = np.searchsorted(table_h, q, side="right")
            pos = _ranges(lo, np.minimum(hi - lo, per_hash_limit))
            found_h.append(np.array(table_h[pos]))
            found_e.append(np.array(table_e[pos]))
            del table_h, table_e
        fh = np.concatenate(found_h) if found_h else np.empty(0, np.int64)
        fe = np.concatenate(found_e) if found_e else np.empty(0, np.int64)
        if since is not None and len(fe):
            alive = self._active_until[fe] >= since
            fh, fe = fh[alive], fe[alive]
        return fh, fe

    def fetch_meta(self, entry_ids: np.ndarray) -> EntryMeta:
        entry_ids = np.asarray(entry_ids, dtype=np.int64)
        names = self._area_names
        sk = None
        if self._sketches is not None:
            sk = np.empty((len(entry_ids), self._sketches.shape[1]), dtype=np.uint8)
            for part in _chunks_in_order(entry_ids, _PAIR_ELEMS // sk.shape[1]):
                table = self._array("sketches")
                sk[part] = table[entry_ids[part]]
                del table
        return EntryMeta(
            case_ids=np.asarray(self._case_ids[entry_ids]),
            areas=[names[c] for c in self._area_codes[entry_ids].tolist()],
            active_until=np.asarray(self._active_until[entry_ids]),
            sketches=sk,
        )

    def fetch_shingles(self, entry_ids: np.ndarray) -> ShingleSets:
        entry_ids = np.asarray(entry_ids, dtype=np.int64)
        offsets = self._shingles.offsets
        starts = np.asarray(offsets[entry_ids])
        sizes = np.asarray(offsets[entry_ids + 1]) - starts
        out_offsets = np.zeros(len(entry_ids) + 1, dtype=np.int64)
        np.cumsum(sizes, out=out_offsets[1:])
        values = np.empty(int(out_offsets[-1]), dtype=_U32)
        per_chunk = max(1, _PAIR_ELEMS // max(int(sizes.mean()) if len(sizes) else 1, 1))
        for part in _chunks_in_order(entry_ids, per_chunk):
            table = self._array("shingle_values")
            values[_ranges(out_offsets[part], sizes[part])] = table[
                _ranges(starts[part], sizes[part])
            ]
            del table
        return ShingleSets(values, out_offsets)

    def candidates(self, band_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, entry_id) pairs: the entries sharing at least one band hash with each row of
        `band_hashes` (n, bands). Each pair once; a convenience over `lookup`."""
        band_hashes = np.asarray(band_hashes, dtype=np.int64)
        found_h, found_e = self.lookup(_sorted_unique(band_hashes), None, np.iinfo(np.int64).max)
        rows, entries, _ = join_band_rows(band_hashes, found_h, found_e)
        return rows, entries

    def save(self, directory: str | Path) -> None:
        """Write the index as .npy files (plus the area names) into `directory`."""
        self._materialise()
        self._sorted_table()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        columns: dict[str, np.ndarray | None] = {
            "hashes": self._hashes,
            "entries": self._entries,
            "case_ids": self._case_ids,
            "area_codes": self._area_codes,
            "active_until": self._active_until,
            "shingle_values": self._shingles.values,
            "shingle_offsets": self._shingles.offsets,
            "sketches": self._sketches,
        }
        for name, arr in columns.items():
            if arr is not None:
                np.save(d / f"{name}.npy", arr)
        (d / "areas.txt").write_text(
            "\n".join("" if a is None else a for a in self._area_names[1:]), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> InMemoryIndex:
        """Open a saved index; with `mmap` the big columns stay on disk (see the class doc)."""
        d = Path(directory)
        index = cls()
        index._case_ids = np.load(d / "case_ids.npy")
        index._area_codes = np.load(d / "area_codes.npy")
        index._active_until = np.load(d / "active_until.npy")
        areas_text = (d / "areas.txt").read_text(encoding="utf-8")
        index._area_names = [None, *areas_text.split("\n")] if areas_text else [None]
        offsets = np.load(d / "shingle_offsets.npy")
        has_sketches = (d / "sketches.npy").exists()
        if mmap:
            index._mapped_dir = d
            index._shingles = ShingleSets(np.empty(0, _U32), offsets)
            # A placeholder that says "sketches exist"; the rows are read from disk.
            index._sketches = np.load(d / "sketches.npy", mmap_mode="r") if has_sketches else None
        else:
            index._hashes, index._entries = np.load(d / "hashes.npy"), np.load(d / "entries.npy")
            index._shingles = ShingleSets(np.load(d / "shingle_values.npy"), offsets)
            index._sketches = np.load(d / "sketches.npy") if has_sketches else None
        return index


def _chunks_in_order(ids: np.ndarray, size: int) -> list[np.ndarray]:
    """Positions of `ids` in ascending id order, cut into slices of `size`: reading a mapped
    column in order touches each page once per slice."""
    order = np.argsort(ids, kind="stable")
    return [order[s : s + size] for s in range(0, len(order), max(size, 1))]


def join_band_rows(
    band_hashes: np.ndarray, found_hashes: np.ndarray, found_entries: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn looked-up (hash, entry) rows back into (row, entry, bands shared) triples, one per
    distinct (row, entry), sorted by row."""
    n, bands = band_hashes.shape
    order = np.argsort(found_hashes, kind="stable")
    fh, fe = found_hashes[order], found_entries[order]
    # Query in sorted order: binary searches that walk forward stay in cache.
    q = band_hashes.reshape(-1)
    q_order = np.argsort(q)
    lo = np.searchsorted(fh, q[q_order], side="left")
    hi = np.searchsorted(fh, q[q_order], side="right")
    counts = hi - lo
    rows = np.repeat(q_order // bands, counts)
    entries = fe[_ranges(lo, counts)]
    if len(rows) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    uniq_e, code = _unique_inverse(entries)
    key, hits = _unique_counts(rows * len(uniq_e) + code)
    return key // len(uniq_e), uniq_e[key % len(uniq_e)], hits.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Linking a night's batch


@dataclass(frozen=True)
class LinkDecision:
    """Where one new submission goes.

    `case_id` set: it joins that history case. Else `matched_batch_index` set: it joins the
    case that batch item opens. Else it opens a new case. `similarity` is the exact Jaccard
    similarity to the matched submission (0.0 for a new case); `matched_entry_id` names the
    history submission it matched.
    """

    index_in_batch: int
    case_id: int | None
    matched_batch_index: int | None
    similarity: float
    matched_entry_id: int | None = None

    @property
    def opens_case(self) -> bool:
        return self.case_id is None and self.matched_batch_index is None


@dataclass(frozen=True)
class PreparedBatch:
    """The new items' shingle sets, band hashes and sketches: computed once, used to link and
    then stored with each submission (see the module docstring)."""

    shingles: ShingleSets
    band_hashes: np.ndarray  # (n, bands) int64
    sketches: np.ndarray  # (n, num_perm) uint8

    def __len__(self) -> int:
        return len(self.shingles)


def prepare_batch(texts: Sequence[str], params: DedupParams) -> PreparedBatch:
    sets = shingle_sets(texts, params.shingle_size)
    sig = minhash_signatures(sets, params.num_perm, params.seed)
    return PreparedBatch(sets, band_hashes(sig, params.bands), sketches(sig))


def _area_codes(*groups: Sequence[str | None]) -> list[np.ndarray]:
    """Integer codes for area names, shared across groups; -1 for an unknown area."""
    codes: dict[str, int] = {}
    out = []
    for g in groups:
        out.append(
            np.fromiter(
                (-1 if a is None else codes.setdefault(a, len(codes)) for a in g),
                dtype=np.int64,
                count=len(g),
            )
        )
    return out


def _same_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # An unknown area on either side does not exclude a match: a hotline call without an
    # address is still the same problem.
    return (a == b) | (a < 0) | (b < 0)


def _top_per_group(groups: tuple[np.ndarray, ...], k: int, *keys: np.ndarray) -> np.ndarray:
    """Mask keeping, per group (the distinct combinations of `groups`), the k pairs with the
    largest keys (first key first)."""
    order = np.lexsort((*(-key for key in reversed(keys)), *reversed(groups)))
    new_group = np.zeros(len(order), dtype=bool)
    new_group[:1] = True
    for g in groups:
        sg = g[order]
        new_group[1:] |= sg[1:] != sg[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    keep = np.zeros(len(order), dtype=bool)
    keep[order[np.arange(len(order)) - group_start < k]] = True
    return keep


def _best_per_row(rows: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Index (into the pair arrays) of the best pair of each distinct row: the largest first
    key, ties broken by the next keys (larger is better)."""
    order = np.lexsort((*(-key for key in reversed(keys)), rows))
    r = rows[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = r[1:] != r[:-1]
    return order[first]


def _hopeful(estimate: np.ndarray, params: DedupParams) -> np.ndarray:
    # A pair whose sketch estimate is this far below the threshold is almost never above it
    # (128 values: the estimate's standard deviation at 0.5 is 0.044, the margin 3.4 of them).
    return estimate >= params.threshold - params.sketch_margin


def _history_matches(
    prep: PreparedBatch,
    new_areas: Sequence[str | None],
    times: np.ndarray,
    live: np.ndarray,
    index: HistoryIndex,
    params: DedupParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per new item: best history (case id, entry id, similarity), and a matched mask."""
    n = len(prep)
    case = np.full(n, -1, dtype=np.int64)
    entry = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float64)
    matched = np.zeros(n, dtype=bool)
    rows_live = np.flatnonzero(live)
    if len(rows_live) == 0:
        return case, entry, sim, matched
    bands = prep.band_hashes[rows_live]
    since = int(times[rows_live].min()) - params.window_seconds
    found_h, found_e = index.lookup(_sorted_unique(bands), since, params.per_hash_limit)
    local_rows, entries, hits = join_band_rows(bands, np.asarray(found_h), np.asarray(found_e))
    if len(local_rows) == 0:
        return case, entry, sim, matched
    rows = rows_live[local_rows]
    uniq, inv = _unique_inverse(entries)
    meta = index.fetch_meta(uniq)
    ok = meta.active_until[inv] >= times[rows] - params.window_seconds
    if params.same_area:
        new_codes, entry_codes = _area_codes(new_areas, meta.areas)
        ok &= _same_area(new_codes[rows], entry_codes[inv])
    rows, entries, hits, inv = rows[ok], entries[ok], hits[ok], inv[ok]
    if meta.sketches is not None:
        est = estimate_similarity(prep.sketches, rows, meta.sketches, inv)
        ok = _hopeful(est, params)
        rows, entries, hits, inv, est = rows[ok], entries[ok], hits[ok], inv[ok], est[ok]
    else:
        est = hits.astype(np.float32)
    # Submissions of one case are alike: verify the two likeliest of each case, then the
    # likeliest max_candidates over all.
    case_of = meta.case_ids[inv]
    keep = _top_per_group((rows, case_of), _PER_CASE, est, hits, entries)
    rows, entries, hits, inv, est = rows[keep], entries[keep], hits[keep], inv[keep], est[keep]
    keep = _top_per_group((rows,), params.max_candidates, est, hits, entries)
    rows, entries, inv = rows[keep], entries[keep], inv[keep]
    if len(rows) == 0:
        return case, entry, sim, matched
    needed, local = _unique_inverse(inv)
    fetched = index.fetch_shingles(uniq[needed])
    s = pair_jaccard(prep.shingles, rows, fetched, local)
    good = s >= params.threshold
    rows, entries, inv, s = rows[good], entries[good], inv[good], s[good]
    if len(rows) == 0:
        return case, entry, sim, matched
    # Best: most similar; among equals the most recently active case, then the newest entry.
    best = _best_per_row(rows, s, meta.active_until[inv], entries)
    case[rows[best]] = meta.case_ids[inv[best]]
    entry[rows[best]] = entries[best]
    sim[rows[best]] = s[best]
    matched[rows[best]] = True
    return case, entry, sim, matched


def batch_pairs(
    band_hashes: np.ndarray, rows: np.ndarray, per_bucket: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(later, earlier, bands shared) for rows of one batch that share a band hash, each distinct
    pair once. Within one bucket a row is paired with at most the `per_bucket` earliest rows of
    that bucket (the ones most likely to have opened the case)."""
    empty = np.empty(0, dtype=np.int64)
    if len(rows) < 2:
        return empty, empty, empty
    bands = band_hashes.shape[1]
    h = band_hashes[rows].reshape(-1)
    r = np.repeat(np.asarray(rows, dtype=np.int64), bands)
    order = np.lexsort((r, h))
    h, r = h[order], r[order]
    start = np.ones(len(h), dtype=bool)
    start[1:] = h[1:] != h[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(len(h)), 0))
    n_earlier = np.minimum(np.arange(len(h)) - group_start, per_bucket)
    later = np.repeat(r, n_earlier)
    earlier = r[_ranges(group_start, n_earlier)]
    if len(later) == 0:
        return empty, empty, empty
    n = int(r.max()) + 1
    key, hits = _unique_counts(later * n + earlier)
    return key // n, key % n, hits.astype(np.int64)


def near_duplicate_pairs(
    prep: PreparedBatch,
    params: DedupParams,
    rows: np.ndarray | None = None,
    times: np.ndarray | None = None,
    areas: Sequence[str | None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(later, earlier, similarity) for the pairs of one batch with exact Jaccard >= threshold,
    found by band hash, checked by sketch, verified exactly; at most `max_candidates` verified
    per later item. `rows` limits the items considered; `times` (epoch seconds) and `areas`
    apply the window and, with `same_area`, the area rule."""
    if rows is None:
        rows = np.flatnonzero(prep.shingles.sizes > 0)
    later, earlier, hits = batch_pairs(prep.band_hashes, rows, params.max_candidates)
    ok = np.ones(len(later), dtype=bool)
    if times is not None:
        ok &= np.abs(times[later] - times[earlier]) <= params.window_seconds
    if params.same_area and areas is not None:
        codes = _area_codes(areas)[0]
        ok &= _same_area(codes[later], codes[earlier])
    later, earlier, hits = later[ok], earlier[ok], hits[ok]
    est = estimate_similarity(prep.sketches, later, prep.sketches, earlier)
    ok = _hopeful(est, params)
    later, earlier, hits, est = later[ok], earlier[ok], hits[ok], est[ok]
    keep = _top_per_group((later,), params.max_candidates, est, hits, -earlier)
    later, earlier = later[keep], earlier[keep]
    s = pair_jaccard(prep.shingles, later, prep.shingles, earlier)
    good = s >= params.threshold
    return later[good], earlier[good], s[good]


def link_prepared(
    prep: PreparedBatch,
    new_areas: Sequence[str | None],
    new_times: Sequence[datetime] | np.ndarray,
    index: HistoryIndex,
    params: DedupParams,
) -> list[LinkDecision]:
    """Link a prepared batch; see `link_batch`."""
    n = len(prep)
    if not (len(new_areas) == len(new_times) == n):
        raise ValueError("texts, areas and times differ in length")
    times = to_epoch_seconds(new_times)
    live = prep.shingles.sizes > 0  # an empty text has nothing to compare
    case, entry, sim, matched = _history_matches(prep, new_areas, times, live, index, params)

    # Within the batch: an item that found no history case may join an earlier item of the
    # night that opened a case, so tonight's duplicates group too.
    batch_match = np.full(n, -1, dtype=np.int64)
    later, earlier, s = near_duplicate_pairs(
        prep, params, np.flatnonzero(live & ~matched), times, new_areas
    )
    # Sequential by nature (only an item that opened a case can be joined), but only over the
    # items that have a verified earlier match.
    order = np.lexsort((earlier, -s, later))
    opened = ~matched
    current = -1
    for p in order.tolist():
        j = int(later[p])
        if j == current:
            continue
        i = int(earlier[p])
        if opened[i]:
            batch_match[j] = i
            sim[j] = s[p]
            opened[j] = False
            current = j

    decisions = []
    for i in range(n):
        if matched[i]:
            decisions.append(LinkDecision(i, int(case[i]), None, float(sim[i]), int(entry[i])))
        elif batch_match[i] >= 0:
            decisions.append(LinkDecision(i, None, int(batch_match[i]), float(sim[i])))
        else:
            decisions.append(LinkDecision(i, None, None, 0.0))
    return decisions


def link_batch(
    new_texts: Sequence[str],
    new_areas: Sequence[str | None],
    new_times: Sequence[datetime] | np.ndarray,
    index: HistoryIndex,
    params: DedupParams,
) -> list[LinkDecision]:
    """Decide, for each new submission (in received order), which case it belongs to.

    It joins the most similar history case whose exact Jaccard similarity is >= threshold, among
    open cases and cases closed within `window_days` of its own time (and in its area when
    `same_area`); else the most similar earlier item of this batch that opened a new case; else
    it opens a new case. Texts should be normalised (minqing.normalize); punctuation and spaces
    are ignored anyway.
    """
    return link_prepared(prepare_batch(new_texts, params), new_areas, new_times, index, params)


# --------------------------------------------------------------------------------------------
# Hot issues


def hot_issues(
    df: pd.DataFrame,
    group_col: str,
    likes_col: str | None = None,
    top: int = 20,
    title_col: str | None = None,
) -> pd.DataFrame:
    """The largest groups (热点问题): one row per group with its number of submissions and,
    where the channel has them, the sum of likes; most submissions first, then most likes.

    With `title_col`, the group's first title (in frame order) is shown for people.
    """
    import pandas as pd

    grouped = df.groupby(group_col, sort=False, dropna=True)
    out = pd.DataFrame({"submissions": grouped.size()})
    sort_cols, ascending = ["submissions"], [False]
    if likes_col is not None:
        out["likes"] = grouped[likes_col].sum(min_count=1).fillna(0).astype("int64")
        sort_cols.append("likes")
        ascending.append(False)
    if title_col is not None:
        out["title"] = grouped[title_col].first()
    out = out.rename_axis(group_col).reset_index()
    out = out.sort_values(
        [*sort_cols, group_col], ascending=[*ascending, True], kind="stable"
    ).head(top)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)
