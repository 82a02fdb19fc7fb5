"""Candidates of PostgreSQL's full-text search: packed postings summed by row in NumPy."""

from __future__ import annotations

import numpy as np

from workbench.store.postgres.packs import best_docs


def _part(kind: int, idf: float, docs: list[int], weights: list[float] | None) -> tuple:
    # as PostgreSQL's int4send and float4send write them: big-endian
    return (kind, idf, np.array(docs, ">i4").tobytes(),
            None if weights is None else np.array(weights, ">f4").tobytes())


def test_rows_are_ranked_by_their_summed_weights_times_idf():
    parts = [_part(1, 2.0, [1, 3, 5], [1.0, 0.5, 0.25]), _part(1, 1.0, [3, 9], [1.0, 2.0]),
             _part(2, 1.0, [12], [1.5])]  # the tail's weights come multiplied already
    assert best_docs(parts, 2) == [1, 3]  # 1, 3 and 9 all sum to 2.0: the lower numbers
    assert best_docs(parts, 10) == [1, 3, 9, 12, 5]


def test_a_gone_rows_packed_postings_are_left_out_and_its_current_ones_kept():
    parts = [_part(1, 1.0, [1, 2, 3], [3.0, 2.0, 1.0]),
             _part(3, 1.0, [2], [0.5]),     # row 2 written again: its postings now
             _part(4, 0.0, [1, 2], None)]   # rows 1 (removed) and 2 (rewritten) are gone
    assert best_docs(parts, 5) == [3, 2]


def test_nothing_to_sum():
    assert best_docs([_part(4, 0.0, [], None), (2, 1.0, None, None)], 5) == []


def test_the_sums_equal_a_dictionarys_on_many_rows():
    rng = np.random.default_rng(3)
    for _ in range(30):
        parts, sums = [], {}
        for _term in range(int(rng.integers(1, 5))):
            docs = np.sort(rng.choice(np.arange(1, 50_000), int(rng.integers(1, 20_000)), replace=False))
            weights = rng.integers(1, 7, len(docs)) * 0.5  # exact sums, many ties
            idf = float(rng.integers(1, 4))
            parts.append(_part(1, idf, docs.tolist(), weights.tolist()))
            for d, w in zip(docs.tolist(), weights.tolist()):
                sums[d] = sums.get(d, 0.0) + idf * w
        count = int(rng.integers(1, 800))
        ranked = sorted(sums, key=lambda d: (-sums[d], d))
        assert best_docs(parts, count) == ranked[:count]
