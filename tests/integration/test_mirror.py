"""The in-memory mirror of an index table: same answers as LanceDB, kept in step with writes."""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from conftest import wait_until
from workbench.search.table import HIT_COLUMNS, Filters, Index
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
    data = index.table.search().select(HIT_COLUMNS + ["vector"]).limit(None).to_arrow()
    lists = Mirror(data, index.table.version, DIM, ivf_from=1000)
    assert lists._lists > 0
    assert_same_as_exact(index, lists.search_vector, queries)


def test_own_writes_reach_the_mirror_without_a_rebuild(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, mirror=True)
    index.upsert(*rows("m", 300))
    index.optimize()
    mirror = index.mirror()
    added, vectors = rows("chat", 2, seed=5)
    index.append(added, vectors)  # a chat turn
    index.compact()  # rewrites fragments and indexes, keeps the rows
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
    # Seen once LanceDB's read consistency interval (2 s) has passed.
    assert wait_until(lambda: (seen := index.mirror(wait=True)) is not None and seen is not first)
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
    assert index._mirror is not None and len(index._mirror) == index.count()
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


def test_vector_index_is_rebuilt_in_one_piece_past_its_limit(tmp_path):
    index = Index(tmp_path / "lancedb", "chunks", DIM, ann_threshold=300, mirror=True)
    index.upsert(*rows("m", 400))
    index.optimize()
    assert index.has_ann() and index.vector_indexes() == 1
    index.max_vector_indexes = 3
    mirror = index.mirror(wait=True)
    turns = []
    for turn in range(4):  # each compaction leaves one more small vector index
        added, vectors = rows(f"t{turn}-", 2, seed=10 + turn)
        index.append(added, vectors)
        turns.append((added, vectors))
        index.compact()
        if turn < 2:
            assert index.vector_indexes() == turn + 2
    # The third compaction passed the limit and started the rebuild; appends go on meanwhile.
    late, late_vectors = rows("late-", 2, seed=30)
    index.append(late, late_vectors)
    turns.append((late, late_vectors))
    index.settle()
    assert index.last_rebuild_s is not None and index.vector_indexes() <= 2
    assert index.count() == 400 + 2 * len(turns)
    for added, vectors in turns:  # through the ANN index and the unindexed rows alike
        for row, vector in zip(added, vectors):
            assert index.search_vector(vector, Filters(), 1)[0]["chunk_id"] == row["chunk_id"]
    # The rebuild's commits kept the rows: the mirror is the same copy, brought along.
    assert index.mirror(wait=True) is mirror and len(mirror) == index.count()
    assert_same_as_exact(index, mirror.search_vector, rows("q", 3, seed=4)[1])
    # An import's indexing rebuilds at once: a one-shot command would not see a background one end.
    index.max_vector_indexes = 1
    index.upsert(*rows("import-", 5, seed=40))
    index.optimize()
    assert not index._rebuilding() and index.vector_indexes() == 1
    assert index.mirror(wait=True) is mirror and len(mirror) == index.count() == 400 + 10 + 5


@pytest.mark.skipif(sys.platform != "linux", reason="the rebuild pauses only where it can (Linux)")
def test_vector_index_rebuild_pauses_while_the_index_is_in_use(tmp_path, monkeypatch):
    import workbench.search.table as index_module

    monkeypatch.setattr(index_module, "QUIET_S", 0.5)
    index = Index(tmp_path / "lancedb", "chunks", DIM, ann_threshold=300)
    index.upsert(*rows("m", 400))
    index.optimize()
    rebuild = threading.Thread(target=index._rebuild_vectors)
    rebuild.start()
    query = rows("q", 1, seed=6)[1][0]
    while index._child is None and rebuild.is_alive():
        index.search_vector(query, Filters(), 3)  # a search as soon as the child exists
    child = index._child
    assert child is not None
    states = set()
    until = time.monotonic() + 1.5
    while time.monotonic() < until:  # searching on: the child stays stopped
        assert index.search_vector(query, Filters(), 3)
        states.add(Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0])
        time.sleep(0.05)
    assert states == {"T"} and rebuild.is_alive()
    rebuild.join(60)  # quiet now: it goes on and ends
    assert not rebuild.is_alive() and index.last_rebuild_s is not None
    assert child.returncode == 0 and index.vector_indexes() == 1
