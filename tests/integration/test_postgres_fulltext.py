"""BM25 on pgvector's table: candidates from the postings (packed, and written since) rank as
the exact scoring does."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np

from workbench.bench import synthetic
from workbench.search.protocol import Filters
from workbench.store.postgres import PostgresStore
from workbench.store.postgres import packs
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


def _ranked(index: PgIndex, query: str, filters: Filters, limit: int,
            postings_from: int) -> list[tuple[str, str]]:
    index.postings_from = postings_from
    return [(r["chunk_id"], r["workspace"]) for r in index.search_text(query, filters, limit)]


def _both(index: PgIndex, query: str, filters: Filters, limit: int) -> tuple[list, list]:
    """Every matching row scored, and candidates from every posting of the query's terms."""
    return _ranked(index, query, filters, limit, 10**9), _ranked(index, query, filters, limit, 0)


def _maintained(postgres_url: str, name: str, rows: list[dict]) -> tuple[PostgresStore, PgIndex]:
    """An index of ``rows``, maintained (so packed)."""
    store = PostgresStore(postgres_url)
    index = PgIndex(store, name, 8)
    index.upsert(rows, _vectors(len(rows)))
    index.maintain()
    return store, index


def _packed(index: PgIndex) -> tuple[int, int, int]:
    """(rows packed or -1, rows past the watermark, gone rows)."""
    with index.db.connect() as con:
        return con.raw.execute(packs.DUE.format(**index._names())).fetchone()


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
            exact, ranked = _both(index, query, scope, 10)
            assert ranked == exact, (query, scope)
            assert exact or scope.conversation_id


def test_without_a_workspace_every_workspace_ranks_as_exact(postgres_url):
    index = PgIndex(PostgresStore(postgres_url), "fulltext", 8)
    rows = _rows(600, seed=8)
    index.upsert([dict(r, workspace=f"w{i % 20}") for i, r in enumerate(rows)], _vectors(len(rows)))
    index.maintain()
    seen = set()
    for query in synthetic.queries(10, seed=13):
        exact, ranked = _both(index, query, Filters(), 20)
        assert ranked == exact and exact, query
        seen |= {w for _, w in ranked}
    assert len(seen) > 10


def test_rows_written_and_removed_after_the_packing_count_until_the_next(postgres_url):
    index = PgIndex(PostgresStore(postgres_url), "fulltext", 8)
    rows = _rows(400, seed=17)
    index.upsert(rows[:300], _vectors(300))
    assert _packed(index) == (-1, 300, 0)  # nothing packed: every posting is in the tail
    index.maintain()
    assert _packed(index) == (300, 0, 0)
    queries = synthetic.queries(8, seed=18)
    # Rewritten (their packed postings are left out), removed, and new past the watermark.
    rewritten = [dict(r, text="zeppelin " + r["text"], search_text="zeppelin " + r["search_text"])
                 for r in rows[:40]]
    index.upsert(rewritten, _vectors(40))
    removed = next(h["chunk_id"] for h in index.search_text(queries[0], Filters(), 50)
                   if h["chunk_id"] not in {r["chunk_id"] for r in rewritten})
    index.delete([removed])
    index.append(rows[300:], _vectors(100))
    assert _packed(index) == (300, 100, 41)
    for query in queries + ["zeppelin " + queries[1]]:
        exact, ranked = _both(index, query, Filters(workspace="a"), 10)
        assert ranked == exact and exact and removed not in {c for c, _ in ranked}, query
    zeppelin, _ = _both(index, "zeppelin", Filters(), 50)
    assert {c for c, _ in zeppelin} == {r["chunk_id"] for r in rewritten}
    index.maintain()  # a small tail stays a tail
    assert _packed(index) == (300, 100, 41)
    more = _rows(2_000, seed=19)
    index.append(more, _vectors(len(more)))
    index.maintain()  # past REPACK_ROWS: packed again, nothing left over
    assert _packed(index) == (2_399, 0, 0)
    for query in queries:
        exact, ranked = _both(index, query, Filters(), 10)
        assert ranked == exact and exact, query


def test_a_table_made_before_rows_had_numbers_gets_them_and_ranks_as_exact(postgres_url):
    store = PostgresStore(postgres_url)
    rows = _rows(300, seed=15)
    old = PgIndex(store, "old_numbers", 8)
    old.upsert(rows, _vectors(len(rows)))
    old.maintain()
    with store.connect() as con:  # as the tables were: no numbers, postings without them
        con.raw.execute('DROP TABLE "index_old_numbers_docs", "index_old_numbers_packs", '
                        '"index_old_numbers_mark", "index_old_numbers_pending", '
                        '"index_old_numbers_gone"')
        con.raw.execute('ALTER TABLE "index_old_numbers_postings" DROP COLUMN doc')
    index = PgIndex(store, "old_numbers", 8)
    for query in synthetic.queries(4, seed=16):
        exact, ranked = _both(index, query, Filters(), 10)
        assert ranked == exact and exact, query
    assert _packed(index) == (300, 0, 0)  # numbered, postings written again, packed


def test_a_search_before_the_table_is_made_leaves_the_callers_transaction_whole(postgres_url):
    store = PostgresStore(postgres_url)
    index = PgIndex(store, "not_made_yet", 8)
    with store.transaction() as con:
        assert index.search_text("backup", Filters(), 5) == []
        assert con.raw.execute("SELECT 1").fetchone()[0] == 1  # not an aborted transaction
    assert index.search_text("backup", Filters(), 5) == []  # outside one: from the query's error


def test_a_packing_waits_for_a_writer_numbered_before_one_that_committed(postgres_url):
    # The first writer draws its rows' numbers, the second draws higher ones and commits, then
    # the packing starts: it must wait for the first, or its watermark (the second's highest
    # number) would leave the first's rows in neither the packs nor the tail.
    rows = _rows(2_600, seed=20)
    store, index = _maintained(postgres_url, "racing", rows[:300])
    first_wrote, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with store.transaction():
            index.append(rows[300:400], _vectors(100))
            first_wrote.set()
            second_done.wait(30)
            time.sleep(1.0)  # the packing is waiting by now

    writer = threading.Thread(target=first)
    writer.start()
    assert first_wrote.wait(30)
    index.append(rows[400:], _vectors(2_200))  # committed
    packing = threading.Thread(target=index.pack)
    packing.start()
    second_done.set()
    writer.join(30)
    packing.join(60)
    assert _packed(index) == (2_600, 0, 0)
    first_rows = {r["chunk_id"] for r in rows[300:400]}
    for query in synthetic.queries(6, seed=21):
        exact, ranked = _both(index, query, Filters(), 200)
        assert ranked == exact, query
    found = {c for q in synthetic.queries(40, seed=22) for c, _ in _both(index, q, Filters(), 200)[1]}
    assert found & first_rows


def _rewrite(rows: list[dict], word: str) -> list[dict]:
    return [dict(r, text=f"{word} {r['text']}", search_text=f"{word} {r['search_text']}")
            for r in rows]


def test_writers_go_on_while_a_packing_runs_and_what_they_write_counts(postgres_url):
    # The packing's two steps as ``pack`` runs them, with a writer between its snapshot and its
    # commit: the writer must not wait for it, and rows it rewrites (packed before, or numbered
    # past the old watermark and packed now), removes or adds must rank as exact scoring after.
    rows = _rows(700, seed=23)
    store, index = _maintained(postgres_url, "packing_on", rows[:400])
    index.upsert(rows[400:600], _vectors(200))  # the tail: numbered past the watermark
    index.upsert(_rewrite(rows[:20], "zeppelin"), _vectors(20))  # marked gone once
    names = index._names()
    with store.connect() as con:
        with con.raw.transaction():
            con.raw.execute(packs.START.format(**names))
        with con.raw.transaction():
            con.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            con.raw.execute(f"SELECT count(*) FROM {names['postings']}")  # the snapshot
            again = _rewrite(rows[:10], "zeppelin dirigible")  # gone before, rewritten again
            later = _rewrite(rows[420:430], "dirigible")  # in the tail until this packing
            removed = [r["chunk_id"] for r in rows[100:105]]

            def write() -> None:
                index.upsert(again + later, _vectors(20))
                index.delete(removed)
                index.append(rows[600:], _vectors(100))

            writer = threading.Thread(target=write)
            writer.start()
            writer.join(30)
            assert not writer.is_alive()  # the packing held nobody back
            for query, count in [("dirigible", 20), ("zeppelin", 20), ("dirigible", 4)]:
                # searches meanwhile read the old packs: a row in their tail marked gone since
                # counts once (with 4 wanted, from 8 candidates of 20 rows that match)
                exact, ranked = _both(index, query, Filters(), count)
                assert ranked == exact and len(exact) == count, query
            con.raw.execute(packs.PACK.format(**names))
    assert _packed(index) == (600, 100, 25)  # packed as of its snapshot; the rest marked since
    dirigible, _ = _both(index, "dirigible", Filters(), 50)
    assert {c for c, _ in dirigible} == {r["chunk_id"] for r in again + later}
    zeppelin, _ = _both(index, "zeppelin", Filters(), 50)
    assert {c for c, _ in zeppelin} == {r["chunk_id"] for r in rows[:20]}
    for query in synthetic.queries(8, seed=24):
        exact, ranked = _both(index, query, Filters(workspace="a"), 10)
        assert ranked == exact and exact and not set(removed) & {c for c, _ in ranked}, query
    index.pack()  # and the next packing takes them all in
    assert _packed(index) == (695, 0, 0)
    for query in synthetic.queries(8, seed=24) + ["dirigible"]:
        exact, ranked = _both(index, query, Filters(), 50)
        assert ranked == exact and exact, query


def test_a_table_whose_gone_rows_were_keyed_keeps_its_marks(postgres_url):
    # Made while packing locked writers out: gone rows had a key and no table held the
    # watermark being packed to.
    rows = _rows(300, seed=25)
    store, index = _maintained(postgres_url, "keyed_gone", rows)
    index.upsert(_rewrite(rows[:10], "zeppelin"), _vectors(10))
    names = index._names()
    with store.connect() as con:
        con.raw.execute(f"DROP TABLE {names['pending']}")
        con.raw.execute(f"ALTER TABLE {names['gone']} ADD PRIMARY KEY (doc)")
    index = PgIndex(store, "keyed_gone", 8)
    zeppelin, packed = _both(index, "zeppelin", Filters(), 50)
    assert {c for c, _ in packed} == {r["chunk_id"] for r in rows[:10]} == {c for c, _ in zeppelin}
    assert _packed(index) == (300, 0, 10)
    index.upsert(_rewrite(rows[:10], "dirigible"), _vectors(10))  # marked again: no key to meet
    with store.connect() as con:
        assert con.raw.execute(f"SELECT count(*) FROM {names['gone']}").fetchone()[0] == 20
    for query in ["zeppelin", "dirigible"] + synthetic.queries(4, seed=26):
        exact, ranked = _both(index, query, Filters(), 50)
        assert ranked == exact, query
