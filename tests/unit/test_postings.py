"""Candidates of PostgreSQL's full-text search: postings summed by row in NumPy."""

from __future__ import annotations

import numpy as np

from workbench.store.postgres.fulltext import best_keys


def _packed(keys: list[int], weights: list[float]) -> tuple[bytes, bytes]:
    # as PostgreSQL's int8send and float8send write them: big-endian
    return np.array(keys, ">i8").tobytes(), np.array(weights, ">f8").tobytes()


def test_rows_are_ranked_by_the_sum_of_their_postings():
    keys, weights = _packed([5, 3, 5, 9, -1, 3], [1.0, 2.0, 1.5, 0.5, 3.0, 0.5])
    assert best_keys(keys, weights, 2) == [-1, 3]  # 3.0, then 2.5 (5 also has 2.5: a tie)
    assert best_keys(keys, weights, 10) == [-1, 3, 5, 9]


def test_ties_at_the_last_place_keep_the_lower_keys():
    keys, weights = _packed([7, 1, 4, 2, 8], [1.0, 2.0, 1.0, 1.0, 1.0])
    assert best_keys(keys, weights, 3) == [1, 2, 4]


def test_the_full_key_range_and_no_postings():
    extremes = [-2**63, 2**63 - 1]
    assert best_keys(*_packed(extremes, [1.0, 2.0]), 1) == [2**63 - 1]
    assert best_keys(None, None, 5) == []


def test_the_sums_equal_a_dictionarys_on_many_rows():
    rng = np.random.default_rng(3)
    keys = rng.integers(-2**62, 2**62, 2_000)
    keys = np.concatenate([keys, rng.choice(keys, 1_000)])
    weights = rng.random(len(keys))
    sums: dict[int, float] = {}
    for k, w in zip(keys.tolist(), weights.tolist()):
        sums[k] = sums.get(k, 0.0) + w
    expected = sorted(sums, key=lambda k: (-round(sums[k], 9), k))[:50]
    assert best_keys(*_packed(keys.tolist(), weights.tolist()), 50) == expected
