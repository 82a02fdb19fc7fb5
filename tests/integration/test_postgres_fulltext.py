"""BM25 on pgvector's table: candidates from the postings table rank as the exact scoring does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from workbench.bench import synthetic
from workbench.search.protocol import Filters
from workbench.store.postgres import PostgresStore
from workbench.store.postgres.index import PgIndex


def _rows(count: int, seed: int) -> list[dict]:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [{"chunk_id": f"c{seed}-{i}", "message_id": f"m{seed}-{i}", "conversation_id": f"v{i // 20}",
             "workspace": ("a", "a", "b")[i % 3], "source_id": str(i), "title": topic,
             "role": ("user", "assistant")[i % 2], "speaker": None,
             "created_at": start + timedelta(hours=i), "position": i % 20, "text": text,
             "search_text": text}
            for i, (topic, text) in enumerate(synthetic.messages(count, seed))]


def _vectors(count: int) -> np.ndarray:
    vectors = np.random.default_rng(0).normal(size=(count, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _ranked(index: PgIndex, query: str, filters: Filters, limit: int, postings_from: int,
            full_postings: int) -> list[tuple[str, str]]:
    index.postings_from, index.full_postings = postings_from, full_postings
    return [(r["chunk_id"], r["workspace"]) for r in index.search_text(query, filters, limit)]


def _both(index: PgIndex, query: str, filters: Filters, limit: int) -> tuple[list, list]:
    """Every matching row scored, and candidates from the postings: every posting of the
    query's terms (which must rank the same) and each term's best (returned)."""
    exact = _ranked(index, query, filters, limit, 10**9, 10**9)
    every = _ranked(index, query, filters, limit, 0, 10**9)
    assert every == exact, query
    return exact, _ranked(index, query, filters, limit, 0, 0)


def test_postings_give_the_exact_bm25_ranking_in_a_workspace(postgres_url):
    index = PgIndex(PostgresStore(postgres_url), "fulltext", 8)
    rows = _rows(600, seed=4)
    index.upsert(rows, _vectors(len(rows)))
    index.maintain()
    queries = synthetic.queries(12, seed=9)
    for query in queries:
        for workspace in ("a", "b"):
            exact, ranked = _both(index, query, Filters(workspace=workspace), 10)
            assert ranked == exact and exact, query
            assert {w for _, w in ranked} == {workspace}

    # Rows replaced, removed and added keep their postings in step with the table.
    first = index.search_text(queries[0], Filters(workspace="a"), 1)[0]["chunk_id"]
    changed = [dict(r, text=r["text"] + " kaleidoscope", search_text=r["search_text"] + " kaleidoscope")
               for r in rows[:50]]
    index.upsert(changed, _vectors(50))
    index.delete([first])
    index.append(_rows(30, seed=5) + rows[100:110], _vectors(40))
    for query in queries[:4] + ["kaleidoscope " + queries[5]]:
        exact, ranked = _both(index, query, Filters(workspace="a"), 10)
        assert ranked == exact and first not in {c for c, _ in ranked}, query
    kaleidoscope, _ = _both(index, "kaleidoscope", Filters(workspace="b"), 50)
    assert {c for c, _ in kaleidoscope} == {r["chunk_id"] for r in changed if r["workspace"] == "b"}


def test_a_scope_narrower_than_the_workspace_falls_back_to_exact_scoring(postgres_url):
    index = PgIndex(PostgresStore(postgres_url), "fulltext", 8)
    rows = _rows(300, seed=6)
    index.upsert(rows, _vectors(len(rows)))
    index.maintain()
    query = synthetic.queries(1, seed=11)[0]
    scope = Filters(workspace="a", role="user",
                    since=datetime(2024, 1, 3, tzinfo=timezone.utc),
                    until=datetime(2024, 1, 6, tzinfo=timezone.utc))
    exact, ranked = _both(index, query, scope, 10)
    assert ranked == exact and exact


def test_every_posting_ranks_as_exact_scoring_without_a_workspace(postgres_url):
    index = PgIndex(PostgresStore(postgres_url), "fulltext", 8)
    rows = _rows(300, seed=7)
    index.upsert(rows, _vectors(len(rows)))
    index.maintain()
    for query in synthetic.queries(6, seed=12):
        for scope in (Filters(), Filters(conversation_id="v3"), Filters(role="assistant")):
            exact = _ranked(index, query, scope, 10, 10**9, 10**9)
            assert _ranked(index, query, scope, 10, 0, 10**9) == exact, (query, scope)
            assert exact or scope.conversation_id


def test_without_a_workspace_the_best_postings_of_every_workspace_rank_as_exact(postgres_url):
    # Each term's best postings in each workspace, merged: on a table this small they are all
    # of them, so the ranking must be the exact one, with rows of both workspaces.
    index = PgIndex(PostgresStore(postgres_url), "fulltext", 8)
    rows = _rows(600, seed=8)
    index.upsert(rows, _vectors(len(rows)))
    index.maintain()
    seen = set()
    for query in synthetic.queries(10, seed=13):
        exact, ranked = _both(index, query, Filters(), 20)
        assert ranked == exact and exact, query
        seen |= {w for _, w in ranked}
    assert seen == {"a", "b"}

    # Past MAX_WORKSPACES of them, the rarer terms choose the rows (all terms, here: exact).
    many = PgIndex(PostgresStore(postgres_url), "fulltext_many", 8)
    many.upsert([dict(r, workspace=f"w{i % 20}") for i, r in enumerate(rows)], _vectors(len(rows)))
    many.maintain()
    for query in synthetic.queries(3, seed=14):
        exact, ranked = _both(many, query, Filters(), 20)
        assert ranked == exact and exact, query


def test_a_search_before_the_table_is_made_leaves_the_callers_transaction_whole(postgres_url):
    store = PostgresStore(postgres_url)
    index = PgIndex(store, "not_made_yet", 8)
    with store.transaction() as con:
        assert index.search_text("backup", Filters(), 5) == []
        assert con.raw.execute("SELECT 1").fetchone()[0] == 1  # not an aborted transaction
    assert index.search_text("backup", Filters(), 5) == []  # outside one: from the query's error


def test_a_table_made_before_row_keys_gets_their_index_and_ranks_as_exact(postgres_url):
    store = PostgresStore(postgres_url)
    rows = _rows(300, seed=15)
    PgIndex(store, "keyless", 8).upsert(rows, _vectors(len(rows)))
    with store.connect() as con:  # as the table was before the postings were summed here
        con.raw.execute('DROP INDEX "index_keyless_key"')
    index = PgIndex(store, "keyless", 8)
    index.maintain()
    for query in synthetic.queries(4, seed=16):
        exact, ranked = _both(index, query, Filters(), 10)
        assert ranked == exact and exact, query
    with store.connect() as con:  # the candidates are looked up by key, not by a scan
        assert con.raw.execute("SELECT to_regclass('index_keyless_key')").fetchone()[0]
