"""pgvector searches: an exact search stays exact on a connection that has run graph searches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from workbench.search.protocol import Filters
from workbench.store.postgres import PostgresStore
from workbench.store.postgres.hnsw import ef_for_share
from workbench.store.postgres.index import PgIndex


def _rows(count: int) -> list[dict]:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [{"chunk_id": f"c{i:05d}", "message_id": f"m{i}", "conversation_id": f"v{i // 20}",
             "workspace": "a", "source_id": str(i), "title": "t", "role": "user", "speaker": None,
             "created_at": start + timedelta(minutes=i), "position": i % 20,
             "text": f"note {i}", "search_text": f"note {i}"} for i in range(count)]


def test_exact_search_stays_exact_after_many_graph_searches(postgres_url):
    # The graph and the exact search share one SQL text; a connection that has run it a few
    # times plans it once for all, and a cached plan that uses the HNSW index would ignore
    # ``enable_indexscan = off``: the "exact" search would return ef_search rows at most, found
    # by the graph.
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = PgIndex(PostgresStore(postgres_url), "vectors", 16, ann_threshold=1000)
    index.upsert(_rows(len(vectors)), vectors)
    index.maintain()
    assert index.has_ann()
    queries = rng.normal(size=(12, 16)).astype(np.float32)
    for query in queries:
        assert len(index.search_vector(query, Filters(), 20)) == 20
    for query in queries:
        exact = index.search_vector(query, Filters(), 150, exact=True)
        expected = np.argsort(-(vectors @ query / np.linalg.norm(query)), kind="stable")[:150]
        assert [r["chunk_id"] for r in exact] == [f"c{i:05d}" for i in expected]


def test_a_scope_gets_the_graph_candidates_its_share_needs():
    # pgvector 0.6 filters the graph's ef_search nearest rows by the scope: a share s of the
    # table keeps about ef × s of them, a binomial count that must reach what was asked.
    rng = np.random.default_rng(5)
    for share in (0.98, 0.9, 0.5, 0.3):
        ef = ef_for_share(200, share)
        assert ef < 2 * 200 / share  # less than twice the prediction, the old rule
        assert (rng.binomial(ef, share, 20_000) >= 200).mean() > 0.999
    assert ef_for_share(200, 0.15) is None  # past pgvector's 1,000: exact


def test_a_scoped_graph_search_finds_what_exact_search_does(postgres_url):
    rng = np.random.default_rng(6)
    rows = _rows(4000)
    for i, row in enumerate(rows):
        row["workspace"] = "a" if i % 2 else "b"
    vectors = rng.normal(size=(len(rows), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = PgIndex(PostgresStore(postgres_url), "halves", 16, ann_threshold=1000)
    index.upsert(rows, vectors)
    index.maintain()
    assert index.has_ann()
    overlaps = []
    for query in rng.normal(size=(10, 16)).astype(np.float32):
        found = index.search_vector(query, Filters(workspace="a"), 50)
        exact = index.search_vector(query, Filters(workspace="a"), 50, exact=True)
        assert len(found) == 50 and {r["workspace"] for r in found} == {"a"}
        overlaps.append(len({r["chunk_id"] for r in found} & {r["chunk_id"] for r in exact}) / 50)
    assert np.mean(overlaps) >= 0.9


def test_vectors_stay_in_their_rows(postgres_url):
    # A message's row (a 384-dimension vector, its texts and their tsvector) passes 2 kB; out of
    # line, every distance computed on the table would read a TOAST entry first.
    rng = np.random.default_rng(4)
    rows = _rows(200)
    for i, row in enumerate(rows):
        row["text"] = row["search_text"] = f"note {i}: " + " ".join(
            rng.choice(["backup", "cron", "daily", "sqlite", "restore", "disk", "copy"], 40))
    rows[7]["text"] = rows[7]["search_text"] = "a long answer " * 800  # this one's texts leave
    vectors = rng.normal(size=(len(rows), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = PostgresStore(postgres_url)
    index = PgIndex(store, "inline", 384)
    index.upsert(rows, vectors)
    with store.connect() as con:
        toast = con.raw.execute("SELECT reltoastrelid::regclass::text FROM pg_class "
                                "WHERE oid = %s::regclass", [index._t]).fetchone()[0]
        values = con.raw.execute(f"SELECT count(DISTINCT chunk_id) FROM {toast}").fetchone()[0]
    assert values <= 3  # the long row's two texts and its tsvector, no vector
    found = index.search_vector(vectors[5], Filters(), 1, exact=True)
    assert found[0]["chunk_id"] == "c00005"


def test_a_table_made_before_event_windows_gets_them(postgres_url):
    store = PostgresStore(postgres_url)
    rows = _rows(30)
    rows[4]["text"] = rows[4]["search_text"] = "note 4: the backup ran yesterday"
    vectors = np.random.default_rng(5).normal(size=(len(rows), 16)).astype(np.float32)
    PgIndex(store, "old", 16).upsert(rows[:20], vectors[:20])
    with store.connect() as con:  # as the table was before the column
        con.raw.execute('ALTER TABLE "index_old" DROP COLUMN events')
    index = PgIndex(store, "old", 16)
    hits = index.search_text("backup", Filters(), 5)
    assert [h["chunk_id"] for h in hits] == ["c00004"] and "events" not in hits[0]
    with store.connect() as con:  # the rows left to fill, indexed
        assert con.raw.execute("SELECT to_regclass('index_old_unfilled')").fetchone()[0]
    index.append(rows[20:], vectors[20:])  # new rows are written with their windows
    index.maintain()  # and the old ones get theirs
    hits = {h["chunk_id"]: h for h in index.search_vector(vectors[0], Filters(), 30, exact=True)}
    assert len(hits) == 30 and all("events" in h for h in hits.values())
    assert [e["until"] for e in hits["c00004"]["events"]] == [datetime(2024, 1, 1, tzinfo=timezone.utc)]
    # What was left to fill was indexed, and the index went once filled: later upkeep reads
    # no row for it.
    with store.connect() as con:
        assert con.raw.execute("SELECT to_regclass('index_old_unfilled')").fetchone()[0] is None

