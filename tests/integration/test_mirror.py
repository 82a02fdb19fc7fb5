"""The in-memory mirror of an index table: same answers as LanceDB, kept in step with writes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from workbench.search.lancedb_index import LanceIndex as Index
from workbench.search.protocol import Filters
from workbench.search.mirror import Mirror

DIM = 16
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def rows(prefix: str, n: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    made = [{"chunk_id": f"{prefix}{i}", "message_id": f"{prefix}{i}",
             "conversation_id": f"conv{i % 7}", "workspace": ("a", "b")[i % 2],
             "source_id": str(i), "title": f"title {i % 7}", "role": ("user", "assistant")[i % 3 == 0],
             "speaker": None, "created_at": None if i % 11 == 0 else START + timedelta(hours=i),
             "position": i, "text": f"{prefix} turn {i}", "search_text": f"{prefix} turn {i}"}
            for i in range(n)]
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return made, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


SCOPES = [
    Filters(),
    Filters(workspace="a"),
    Filters(workspace="b", role="user"),
    Filters(conversation_id="conv3"),
    Filters(workspace="a", since=START + timedelta(hours=300), until=START + timedelta(hours=900)),
    Filters(until=START + timedelta(hours=100)),
    Filters(workspace="nowhere"),
]


def assert_same_as_exact(index: Index, search, queries: np.ndarray, limit: int = 10) -> None:
    for scope in SCOPES:
        for query in queries:
            exact = index.search_vector(query, scope, limit, exact=True)
            found = search(query, scope, limit)
            assert [r["chunk_id"] for r in found] == [r["chunk_id"] for r in exact], scope
            for mine, theirs in zip(found, exact):
                assert mine["_distance"] == pytest.approx(theirs["_distance"], abs=2e-3)
                assert {k: v for k, v in mine.items() if k != "_distance"} == {
                    k: v for k, v in theirs.items() if k != "_distance"}


def test_mirror_answers_as_exact_search_with_every_filter(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, mirror=True)
    index.upsert(*rows("m", 1500))
    mirror = index.mirror()
    assert mirror is not None and len(mirror) == 1500
    queries = rows("q", 5, seed=1)[1]
    assert_same_as_exact(index, mirror.search_vector, queries)
    # The inverted-list layout (used from 50k rows) with every list searched is exact as well.
    data = index.table.search().select(index.lance.hit_columns() + ["vector"]).limit(None).to_arrow()
    lists = Mirror(data, index.table.version, DIM, ivf_from=1000)
    assert lists._lists > 0
    assert_same_as_exact(index, lists.search_vector, queries)


def test_own_writes_reach_the_mirror_without_a_rebuild(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, mirror=True)
    index.upsert(*rows("m", 300))
    index.maintain()
    mirror = index.mirror()
    index.fold_every = 1  # the append folds: a compaction rewrites fragments, keeps the rows
    added, vectors = rows("chat", 2, seed=5)
    index.append(added, vectors)  # a chat turn
    assert index.fold_if_due() and index.last_fold_ms is not None
    index.delete(["m1", "m250"])
    changed, changed_vectors = rows("m", 4, seed=9)  # m0..m3 re-embedded
    index.upsert(changed, changed_vectors)
    index.append(added, vectors)  # a repeated append: the mirror knows both rows are there
    assert index.mirror(wait=True) is mirror  # the same copy, brought along
    assert len(mirror) == index.count() == 300 + 2 - 1  # m1 and m250 gone, m1 back
    found = mirror.search_vector(vectors[0], Filters(workspace="a"), 1)
    assert found[0]["chunk_id"] == "chat0" and found[0]["_distance"] == pytest.approx(0, abs=1e-3)
    assert mirror.search_vector(changed_vectors[3], Filters(), 1)[0]["chunk_id"] == "m3"
    assert not mirror.rows_of(["m250"]) and mirror.rows_of(["m1"])[0]["chunk_id"] == "m1"
    assert_same_as_exact(index, mirror.search_vector, rows("q", 3, seed=2)[1])


def test_another_process_write_makes_the_mirror_stale_until_rebuilt(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, mirror=True)
    index.upsert(*rows("m", 200))
    first = index.mirror()
    assert first is not None
    other = Index(tmp_path / "lancedb", "chunks", DIM)  # as another process would
    imported, vectors = rows("import", 3, seed=3)
    other.upsert(imported, vectors)
    index.table.checkout_latest()  # what LanceDB's read consistency interval does within 2 s
    rebuilt = index.mirror(wait=True)
    assert rebuilt is not None and rebuilt is not first and len(rebuilt) == 203
    assert rebuilt.search_vector(vectors[2], Filters(), 1)[0]["chunk_id"] == "import2"
    index.drop()
    assert index.mirror() is None


def test_searches_from_the_mirror_match_lancedb(indexed_copy):
    wb = indexed_copy  # "default" holds the legacy database and the 2025 ChatGPT export
    queries = ["daily backup of the sqlite database with cron", "pgvector", "chickpeas",
               "how do plants turn light into food", "what did we say about Lisbon last year"]
    index = wb.search.index()
    wb.search.prepare().join()  # what the app does at start
    assert len(index.mirror()) == index.count()
    for query in queries:
        index.mirror_enabled = True
        memory = wb.search.query(query, "default", k=8)
        index.mirror_enabled = False
        lance = wb.search.query(query, "default", k=8)
        assert (memory.engine, lance.engine) == ("mirror", "lancedb")
        assert [h.message_id for h in memory.hits] == [h.message_id for h in lance.hits], query
        for mine, theirs in zip(memory.hits, lance.hits):
            assert mine.score == pytest.approx(theirs.score, rel=1e-6)
            assert {**mine.to_dict(), "score": 0} == {**theirs.to_dict(), "score": 0}


def test_pieces_accumulate_and_maintain_brings_them_back_to_one(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, ann_threshold=300, mirror=True)
    index.upsert(*rows("m", 400))
    index.maintain()
    assert index.has_ann() and index.vector_indexes() == 1
    index.max_vector_indexes, index.fold_every = 3, 1
    mirror = index.mirror(wait=True)
    turns = []
    for turn in range(4):  # each fold leaves one more small vector index, and no rebuild
        added, vectors = rows(f"t{turn}-", 2, seed=10 + turn)
        index.append(added, vectors)
        index.fold_if_due()
        turns.append((added, vectors))
        assert index.vector_indexes() == turn + 2
    report = index.maintain()  # past the limit: one piece again
    assert (report.pieces_before, report.pieces_after, report.rebuilt) == (5, 1, True)
    assert index.vector_indexes() == 1 and index.count() == 400 + 2 * len(turns)
    for added, vectors in turns:
        for row, vector in zip(added, vectors):
            assert index.search_vector(vector, Filters(), 1)[0]["chunk_id"] == row["chunk_id"]
    # The folds and the rebuild kept the rows: the mirror is the same copy, brought along.
    assert index.mirror(wait=True) is mirror and len(mirror) == index.count()
    assert_same_as_exact(index, mirror.search_vector, rows("q", 3, seed=4)[1])
    assert not index.maintain().rebuilt  # within the limit: nothing to rebuild


def test_the_mirror_follows_another_process_maintenance_not_its_writes(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, ann_threshold=300, mirror=True)
    index.upsert(*rows("m", 400))
    index.maintain()
    other = Index(tmp_path / "lancedb", "chunks", DIM, ann_threshold=300)  # another process
    other.max_vector_indexes = 0
    mirror = index.mirror(wait=True)
    for turn in range(2):
        index.append(*rows(f"t{turn}-", 2, seed=20 + turn))
    assert other.maintain().rebuilt  # compaction and index builds: no row changed
    index.table.checkout_latest()
    assert index.mirror(wait=True) is mirror and len(mirror) == index.count() == 404
    other.upsert(*rows("import-", 3, seed=30))  # a row change this process did not make
    chat, vectors = rows("chat-", 1, seed=31)
    index.append(chat, vectors)  # commits the version after it: the gap makes the mirror stale
    rebuilt = index.mirror(wait=True)
    assert rebuilt is not None and rebuilt is not mirror and len(rebuilt) == index.count() == 408
    assert rebuilt.search_vector(vectors[0], Filters(), 1)[0]["chunk_id"] == "chat-0"
    assert_same_as_exact(index, rebuilt.search_vector, rows("q", 2, seed=5)[1])
