"""Near-duplicate linking (minqing.neardup): shingles, exact Jaccard, MinHash LSH and the
decisions of a night, on small literal texts and on ~300 real messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from minqing.neardup import (
    OPEN,
    DedupParams,
    InMemoryIndex,
    ShingleSets,
    band_hashes,
    estimate_similarity,
    hot_issues,
    jaccard,
    link_batch,
    load_dedup_params,
    minhash_signatures,
    near_duplicate_pairs,
    pack_shingles,
    pair_jaccard,
    prepare_batch,
    shingle_sets,
    shingles,
    unpack_shingles,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "tipdm2020c"
PARAMS = load_dedup_params(ROOT / "config" / "triage.yaml")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

POTHOLE = (
    "A市A3区联丰路米兰春天小区门口的道路坑洼不平，下雨天积水严重，老人小孩出行很不方便，"
    "已经反映过好几次了，希望相关部门尽快派人修好。"
)
POTHOLE_AGAIN = (
    "您好，A市A3区联丰路米兰春天小区门口道路坑洼不平!下雨天积水严重，老人和小孩出行很不方便，"
    "已经反映了好几次，希望有关部门尽快派人修好，谢谢！"
)
TAXES = "A6区一米阳光婚纱摄影影楼开在居民楼里，营业额上百万，请税务局和工商局查一下是否正常纳税。"
NOISE = "A2区丽发新城附近修建搅拌厂，晚上施工噪音很大，灰尘污染严重，居民无法休息，请环保部门处理。"


def reference_shingles(text: str, k: int) -> set[str]:
    """The rule in plain Python: letters and digits only, lower-cased, k-grams as strings."""
    t = re.sub(r"[\W_]+", "", text).lower()
    if not t:
        return set()
    return {t} if len(t) < k else {t[i : i + k] for i in range(len(t) - k + 1)}


def reference_jaccard(a: str, b: str, k: int) -> float:
    sa, sb = reference_shingles(a, k), reference_shingles(b, k)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def history(texts, case_ids, areas=None, until=None, params=PARAMS) -> InMemoryIndex:
    index = InMemoryIndex()
    prep = prepare_batch(texts, params)
    index.add(
        case_ids,
        prep.band_hashes,
        prep.shingles,
        areas or [None] * len(texts),
        until or [None] * len(texts),
        sketches=prep.sketches,
    )
    return index


def link(texts, index, params=PARAMS, areas=None, times=None):
    return link_batch(
        texts, areas or [None] * len(texts), times or [NOW] * len(texts), index, params
    )


# --- shingles and exact Jaccard ---------------------------------------------------------------


def test_shingles_count_the_distinct_k_grams_of_letters_and_digits_only():
    text = "您好，A市 A3区：路灯不亮！路灯不亮"
    assert len(shingles(text, 3)) == len(reference_shingles(text, 3))
    assert np.array_equal(shingles(text, 3), np.unique(shingles(text, 3)))


def test_shingles_ignore_punctuation_spaces_and_case():
    assert np.array_equal(shingles("路灯 不亮，ABC!", 3), shingles("路灯不亮abc", 3))


def test_a_text_shorter_than_k_is_one_shingle_and_an_empty_text_has_none():
    assert len(shingles("路灯", 3)) == 1
    assert len(shingles("，。！ ", 3)) == 0


def test_shingle_sets_of_a_batch_equal_the_shingles_of_each_text():
    texts = [POTHOLE, "", "ab", TAXES, "x"]
    sets = shingle_sets(texts, 3)
    for i, text in enumerate(texts):
        assert np.array_equal(sets[i], shingles(text, 3))


@pytest.mark.parametrize("k", [2, 3, 4])
def test_jaccard_of_shingle_hashes_equals_the_exact_jaccard_of_the_strings(k):
    for a, b in [(POTHOLE, POTHOLE_AGAIN), (POTHOLE, TAXES), (TAXES, TAXES)]:
        assert jaccard(shingles(a, k), shingles(b, k)) == pytest.approx(
            reference_jaccard(a, b, k), abs=1e-12
        )


def test_pair_jaccard_computes_many_pairs_exactly_like_jaccard():
    texts = [POTHOLE, POTHOLE_AGAIN, TAXES, NOISE, "", "路灯"]
    sets = shingle_sets(texts, 3)
    left, right = np.array([0, 0, 2, 3, 4, 5, 1]), np.array([1, 2, 2, 0, 4, 5, 0])
    got = pair_jaccard(sets, left, sets, right)
    expected = [jaccard(sets[i], sets[j]) for i, j in zip(left, right, strict=True)]
    assert got == pytest.approx(expected, abs=1e-12)


def test_packed_shingles_round_trip_through_bytes():
    arr = shingles(POTHOLE, 3)
    blob = pack_shingles(arr)
    assert len(blob) == 4 * len(arr)
    assert np.array_equal(unpack_shingles(blob), arr)
    many = ShingleSets.from_packed([blob, b"", pack_shingles(shingles(TAXES, 3))])
    assert np.array_equal(many[0], arr) and len(many[1]) == 0
    assert np.array_equal(many[2], shingles(TAXES, 3))


def test_a_packed_blob_with_a_partial_value_is_refused():
    with pytest.raises(ValueError):
        unpack_shingles(b"\x01\x02\x03")


# --- signatures and bands --------------------------------------------------------------------


def test_identical_sets_get_identical_signatures_and_band_hashes():
    sets = [shingles(POTHOLE, 3), shingles(POTHOLE, 3), shingles(TAXES, 3)]
    sig = minhash_signatures(sets, 128, seed=1)
    assert sig.shape == (3, 128) and sig.dtype == np.uint32
    bands = band_hashes(sig, 32)
    assert bands.shape == (3, 32) and bands.dtype == np.int64
    assert np.array_equal(bands[0], bands[1])
    assert not np.any(bands[0] == bands[2])


def test_signature_agreement_estimates_the_jaccard_similarity():
    a, b = shingles(POTHOLE, 3), shingles(POTHOLE_AGAIN, 3)
    sig = minhash_signatures([a, b], 512, seed=3)
    assert np.mean(sig[0] == sig[1]) == pytest.approx(jaccard(a, b), abs=0.08)


def test_the_same_band_in_different_positions_hashes_differently():
    sig = np.zeros((1, 8), dtype=np.uint32)
    bands = band_hashes(sig, 4)
    assert len(set(bands[0].tolist())) == 4


def test_params_refuse_bands_that_do_not_divide_num_perm():
    with pytest.raises(ValueError):
        DedupParams(num_perm=100, bands=32)


def test_the_shipped_config_is_read_into_params():
    assert PARAMS.shingle_size >= 2 and PARAMS.num_perm % PARAMS.bands == 0
    assert PARAMS.window_days == 90 and PARAMS.same_area is False
    assert 0.3 <= PARAMS.threshold <= 0.9


# --- linking a night ---------------------------------------------------------------------------


def test_an_identical_text_joins_the_history_case_with_similarity_one():
    index = history([POTHOLE, TAXES], [101, 102])
    (d,) = link([POTHOLE], index)
    assert (d.case_id, d.matched_batch_index, d.similarity) == (101, None, 1.0)
    assert d.matched_entry_id == 0


def test_a_perturbed_copy_joins_the_case_with_its_exact_similarity():
    index = history([TAXES, POTHOLE], [101, 102])
    (d,) = link([POTHOLE_AGAIN], index)
    assert d.case_id == 102
    assert d.similarity == pytest.approx(reference_jaccard(POTHOLE, POTHOLE_AGAIN, 3))
    assert d.similarity >= PARAMS.threshold


def test_an_unrelated_text_opens_a_new_case():
    index = history([POTHOLE, TAXES], [101, 102])
    (d,) = link([NOISE], index)
    assert d.opens_case and d.similarity == 0.0


def test_the_most_similar_of_several_matching_cases_wins():
    closer = POTHOLE_AGAIN.replace("您好，", "")
    index = history([POTHOLE, closer], [101, 102])
    (d,) = link([POTHOLE_AGAIN], index)
    assert d.case_id == 102
    assert d.similarity > reference_jaccard(POTHOLE_AGAIN, POTHOLE, 3)


def test_an_empty_text_opens_a_new_case_even_next_to_another_empty_text():
    index = history(["。。。"], [101])
    decisions = link(["", "！！"], index)
    assert all(d.opens_case for d in decisions)


def test_duplicates_within_one_night_join_the_first_item_that_opened_a_case():
    decisions = link([POTHOLE, TAXES, POTHOLE_AGAIN, POTHOLE, NOISE], InMemoryIndex())
    assert [d.opens_case for d in decisions] == [True, True, False, False, True]
    assert decisions[2].matched_batch_index == 0 and decisions[3].matched_batch_index == 0
    assert decisions[3].similarity == 1.0


def test_a_night_item_that_joined_history_is_not_a_case_for_later_items():
    index = history([POTHOLE], [101])
    decisions = link([POTHOLE_AGAIN, POTHOLE_AGAIN], index)
    assert [d.case_id for d in decisions] == [101, 101]
    assert all(d.matched_batch_index is None for d in decisions)


def test_a_case_closed_longer_ago_than_the_window_is_not_a_candidate():
    old = NOW - timedelta(days=PARAMS.window_days + 1)
    recent = NOW - timedelta(days=PARAMS.window_days - 1)
    assert link([POTHOLE], history([POTHOLE], [101], until=[old]))[0].opens_case
    assert link([POTHOLE], history([POTHOLE], [101], until=[recent]))[0].case_id == 101


def test_an_open_case_is_a_candidate_whatever_its_age():
    index = history([POTHOLE], [101], until=[None])
    (d,) = link([POTHOLE], index, times=[NOW + timedelta(days=3650)])
    assert d.case_id == 101


def test_closing_a_case_starts_its_window():
    index = history([POTHOLE], [101])
    index.close_cases([101], NOW - timedelta(days=PARAMS.window_days + 5))
    assert link([POTHOLE], index)[0].opens_case


def test_night_items_further_apart_than_the_window_do_not_group():
    times = [NOW - timedelta(days=PARAMS.window_days + 1), NOW]
    decisions = link([POTHOLE, POTHOLE], InMemoryIndex(), times=times)
    assert all(d.opens_case for d in decisions)


def test_with_same_area_only_cases_of_the_same_or_an_unknown_area_are_candidates():
    params = DedupParams(**{**PARAMS.__dict__, "same_area": True})
    index = history([POTHOLE, POTHOLE], [101, 102], areas=["A3区", "A5区"], params=params)
    assert link([POTHOLE], index, params, areas=["A5区"])[0].case_id == 102
    assert link([POTHOLE], index, params, areas=["A9区"])[0].opens_case
    assert link([POTHOLE], index, params, areas=[None])[0].case_id in (101, 102)
    batch = link([POTHOLE, POTHOLE], InMemoryIndex(), params, areas=["A3区", "A5区"])
    assert all(d.opens_case for d in batch)


def test_without_same_area_a_case_of_another_area_is_joined():
    index = history([POTHOLE], [101], areas=["A3区"])
    assert link([POTHOLE], index, areas=["A5区"])[0].case_id == 101


def test_candidates_lists_each_history_entry_sharing_a_band_once():
    index = history([POTHOLE, TAXES, POTHOLE], [101, 102, 103])
    rows, entries = index.candidates(prepare_batch([POTHOLE, NOISE], PARAMS).band_hashes)
    assert sorted(zip(rows.tolist(), entries.tolist(), strict=True)) == [(0, 0), (0, 2)]


def test_lookup_caps_a_crowded_band_hash_to_the_newest_entries():
    index = history([POTHOLE] * 5, [1, 2, 3, 4, 5])
    bands = prepare_batch([POTHOLE], PARAMS).band_hashes
    _, entries = index.lookup(bands[0, :1], since=None, per_hash_limit=2)
    assert entries.tolist() == [4, 3]


def test_a_saved_index_loads_memory_mapped_and_links_the_same(tmp_path):
    index = history([POTHOLE, TAXES], [101, 102], areas=["A3区", None], until=[None, NOW])
    index.save(tmp_path)
    loaded = InMemoryIndex.load(tmp_path, mmap=True)
    assert len(loaded) == 2
    assert loaded.fetch_meta(np.array([0, 1])).areas == ["A3区", None]
    assert loaded.fetch_meta(np.array([0])).active_until.tolist() == [OPEN]
    assert link([POTHOLE_AGAIN, TAXES], loaded) == link([POTHOLE_AGAIN, TAXES], index)


# --- hot issues ---------------------------------------------------------------------------------


def test_hot_issues_rank_groups_by_submissions_then_likes():
    df = pd.DataFrame(
        {
            "case": [7, 7, 7, 3, 3, 5, 5, 9],
            "likes": [1, 0, 2, 10, 0, 4, 8, 100],
            "title": ["路灯", "路灯2", "路灯3", "噪音", "噪音2", "积水", "积水2", "纳税"],
        }
    )
    table = hot_issues(df, "case", likes_col="likes", top=3, title_col="title")
    # case 7: 3 submissions; 5 and 3: 2 each, 5 has more likes (12 > 10); 9 is cut by top=3
    assert table["case"].tolist() == [7, 5, 3]
    assert table["submissions"].tolist() == [3, 2, 2]
    assert table["likes"].tolist() == [3, 12, 10]
    assert table["rank"].tolist() == [1, 2, 3]
    assert table.columns.tolist() == ["rank", "case", "submissions", "likes", "title"]


def test_hot_issues_without_likes_rank_by_submissions_and_keep_the_first_title():
    df = pd.DataFrame({"case": [1, 2, 2, 3, 3, 3], "title": ["a", "b1", "b2", "c1", "c2", "c3"]})
    table = hot_issues(df, "case", title_col="title")
    assert table["case"].tolist() == [3, 2, 1]
    assert table["title"].tolist() == ["c1", "b1", "a"]
    assert "likes" not in table.columns


# --- real messages ------------------------------------------------------------------------------


def _light_perturbation(text: str, rng: np.random.Generator) -> str:
    """A greeting, a few punctuation changes, two sentences swapped and ~2% character edits."""
    parts = [p for p in re.split(r"(?<=[。！？])", text) if p]
    if len(parts) > 2:
        i = int(rng.integers(len(parts) - 1))
        parts[i], parts[i + 1] = parts[i + 1], parts[i]
    chars = list("您好，" + "".join(parts).replace("，", "、", 2))
    for _ in range(max(1, len(chars) // 50)):
        pos = int(rng.integers(len(chars)))
        if rng.random() < 0.5:
            del chars[pos]
        else:
            chars.insert(pos, "的")
    return "".join(chars)


def exact_pairs_at_least(texts: list[str], k: int, t: float) -> set[tuple[int, int]]:
    """Ground truth from string shingles (not our hashes): all pairs with Jaccard >= t."""
    vocab: dict[str, int] = {}
    rows = [[vocab.setdefault(s, len(vocab)) for s in reference_shingles(x, k)] for x in texts]
    x = sp.csr_matrix(
        (
            np.ones(sum(map(len, rows))),
            np.concatenate([np.array(r, dtype=np.int64) for r in rows]),
            np.cumsum([0] + [len(r) for r in rows]),
        ),
        shape=(len(texts), len(vocab)),
    )
    inter = sp.triu(x @ x.T, k=1).tocoo()
    sizes = np.array([len(r) for r in rows])
    sim = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    keep = sim >= t
    return set(zip(inter.row[keep].tolist(), inter.col[keep].tolist(), strict=True))


@pytest.fixture(scope="module")
def real_messages() -> list[str]:
    path = DATA / "messages_with_likes.csv"
    if not path.exists():
        pytest.skip(f"real messages not found at {path.resolve()} (shared data not present)")
    df = pd.read_csv(path).sample(n=300, random_state=1)
    return (df["留言主题"].astype(str) + "\n" + df["留言详情"].astype(str)).tolist()


def test_on_real_messages_lsh_finds_the_exact_jaccard_pairs(real_messages):
    rng = np.random.default_rng(5)
    texts = real_messages + [_light_perturbation(t, rng) for t in real_messages]
    k, t = PARAMS.shingle_size, PARAMS.threshold
    truth = exact_pairs_at_least(texts, k, t)
    params = DedupParams(**{**PARAMS.__dict__, "max_candidates": 10**6})
    later, earlier, sim = near_duplicate_pairs(prepare_batch(texts, params), params)
    assert np.all(sim >= t)
    found = set(zip(earlier.tolist(), later.tolist(), strict=True))
    assert len(truth) >= 300  # every copy, plus the reposts among the real messages
    recall = len(found & truth) / len(truth)
    precision = len(found & truth) / len(found)
    assert recall >= 0.95, recall
    assert precision >= 0.99, precision


def test_on_real_messages_each_copy_joins_its_original_case(real_messages):
    rng = np.random.default_rng(6)
    index = history(real_messages, list(range(1000, 1000 + len(real_messages))))
    copies = [_light_perturbation(t, rng) for t in real_messages]
    decisions = link(copies, index)
    joined = [d.case_id for d in decisions]
    should = [
        1000 + i
        for i in range(len(copies))
        if reference_jaccard(copies[i], real_messages[i], PARAMS.shingle_size) >= PARAMS.threshold
    ]
    hits = sum(joined[c - 1000] is not None for c in should)
    assert hits / len(should) >= 0.95
    for d in decisions:
        if d.case_id is not None:
            original = real_messages[d.case_id - 1000]
            assert d.similarity == pytest.approx(
                reference_jaccard(copies[d.index_in_batch], original, PARAMS.shingle_size)
            )


def test_an_index_without_sketches_verifies_every_candidate_and_links_the_same():
    prep = prepare_batch([POTHOLE, TAXES], PARAMS)
    bare = InMemoryIndex()
    bare.add([101, 102], prep.band_hashes, prep.shingles, [None, None], [None, None])
    assert bare.fetch_meta(np.array([0])).sketches is None
    texts = [POTHOLE_AGAIN, TAXES, NOISE]
    assert link(texts, bare) == link(texts, history([POTHOLE, TAXES], [101, 102]))


def test_sketches_estimate_the_similarity_and_spare_the_hopeless_candidates():
    prep = prepare_batch([POTHOLE, POTHOLE_AGAIN, TAXES], PARAMS)
    est = estimate_similarity(prep.sketches, np.array([0, 0]), prep.sketches, np.array([1, 2]))
    exact = jaccard(prep.shingles[0], prep.shingles[1])
    assert est[0] == pytest.approx(exact, abs=0.15)
    assert est[1] < PARAMS.threshold - PARAMS.sketch_margin


def test_a_loaded_index_takes_new_entries_and_finds_old_and_new(tmp_path):
    history([POTHOLE], [101]).save(tmp_path)
    index = InMemoryIndex.load(tmp_path, mmap=True)
    prep = prepare_batch([TAXES], PARAMS)
    index.add([102], prep.band_hashes, prep.shingles, [None], [None], sketches=prep.sketches)
    assert [d.case_id for d in link([POTHOLE_AGAIN, TAXES], index)] == [101, 102]


def test_many_submissions_of_one_case_still_link_to_that_case():
    index = history([POTHOLE] * 6 + [TAXES], [101] * 6 + [102])
    decisions = link([POTHOLE_AGAIN, TAXES], index)
    assert [d.case_id for d in decisions] == [101, 102]
