"""Claims on the pending chunks of a PostgreSQL store: indexers working at once take disjoint
batches, and a batch whose indexer failed or died is pending again for the next one."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import psycopg
import pyarrow as pa
import pytest

from conftest import wait_until
from workbench.records import ConversationRecord, MessageRecord, ParsedFile
from workbench.store.postgres import PostgresStore

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
CHUNKER, INDEX = "turn.v1", "ix"


def _imported(store: PostgresStore, n: int, conversations: int = 1) -> None:
    messages = [MessageRecord(f"m{i}", "user", f"message {i}", created_at=T0 + timedelta(minutes=i),
                              parent_source_id=f"m{i - 1}" if i else None) for i in range(n)]
    store.imports.write(ParsedFile("generic", [ConversationRecord(f"c{c}", "Claims", messages, T0, T0)
                                               for c in range(conversations)]),
                        "default", "export.json", "0" * 64, time.perf_counter(), T0)


def _chunked(store: PostgresStore, n: int) -> list[str]:
    """A conversation of ``n`` messages, one chunk each, none indexed; the chunk ids."""
    _imported(store, n)
    [(cid, signature)] = store.chunks.stale(CHUNKER)
    _replace(store, cid, signature)
    return sorted(f"{CHUNKER}:{m.message_id}" for m in store.chunks.active_messages([cid]))


def _replace(store: PostgresStore, cid: str, signature: str) -> None:
    active = store.chunks.active_messages([cid])
    n = len(active)
    ids = [f"{CHUNKER}:{m.message_id}" for m in active]
    store.chunks.replace(CHUNKER, pa.table({
        "id": ids, "message_id": [m.message_id for m in active],
        "message_ids": pa.array([[m.message_id] for m in active], pa.list_(pa.string())),
        "part": pa.array([0] * n, pa.int32()), "text": [m.content for m in active],
        "search_text": [m.content for m in active],
        "created_at": pa.array([m.created_at for m in active], pa.timestamp("us", tz="UTC")),
        "body": pa.array([None] * n, pa.string()), "chunker": [CHUNKER] * n,
        "workspace_id": [active[0].workspace_id] * n, "conversation_id": [cid] * n,
    }), {cid: signature})


def _claimable(store: PostgresStore) -> list[str]:
    with store.chunks.claim(CHUNKER, INDEX, 100) as rows:
        return [r.chunk_id for r in rows]


def test_indexers_at_once_claim_disjoint_batches_and_mark_each_chunk_once(postgres_url):
    one, other = PostgresStore(postgres_url), PostgresStore(postgres_url)
    ids = _chunked(one, 6)
    with one.chunks.claim(CHUNKER, INDEX, 4) as first:
        with other.chunks.claim(CHUNKER, INDEX, 4) as second:
            assert [r.chunk_id for r in first] == ids[:4]
            assert [r.chunk_id for r in second] == ids[4:]  # the rest, not the locked ones
            other.chunks.mark_indexed(INDEX, [r.chunk_id for r in second])
        assert _claimable(other) == []  # all of them marked or held
        one.chunks.mark_indexed(INDEX, [r.chunk_id for r in first])
    assert one.chunks.pending_count(CHUNKER, INDEX) == 0
    assert one.chunks.marked_count(INDEX) == 6


def test_a_failed_batch_leaves_its_chunks_pending_and_unmarked(postgres_url):
    store = PostgresStore(postgres_url)
    ids = _chunked(store, 3)
    with pytest.raises(RuntimeError):
        with store.chunks.claim(CHUNKER, INDEX, 10) as rows:
            store.chunks.mark_indexed(INDEX, [r.chunk_id for r in rows])
            raise RuntimeError("the embedder failed")
    assert store.chunks.marked_count(INDEX) == 0
    assert _claimable(store) == ids


def test_the_claim_of_an_indexer_whose_connection_died_is_taken_by_the_next(postgres_url):
    dying, next_one = PostgresStore(postgres_url), PostgresStore(postgres_url)
    ids = _chunked(dying, 5)
    with pytest.raises(psycopg.OperationalError):
        with dying.chunks.claim(CHUNKER, INDEX, 10) as held:
            assert [r.chunk_id for r in held] == ids and _claimable(next_one) == []
            with next_one.connect() as con:  # what kill -9 of its process does to the server
                con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "query LIKE '/* claim pending chunks */%' AND pid <> pg_backend_pid()")
            assert wait_until(lambda: _claimable(next_one) == ids, within_s=30)
            dying.chunks.mark_indexed(INDEX, ids)
    assert next_one.chunks.marked_count(INDEX) == 0


def test_a_stale_conversation_is_chunked_by_one_indexer(postgres_url):
    one, other = PostgresStore(postgres_url), PostgresStore(postgres_url)
    _imported(one, 2, conversations=3)
    stale = sorted(one.chunks.stale(CHUNKER))
    with one.chunks.claim_stale(CHUNKER, stale[:2]) as mine:
        assert sorted(mine) == stale[:2]
        with other.chunks.claim_stale(CHUNKER, stale) as theirs:
            assert sorted(theirs) == stale[2:]  # not the ones held
        for cid, signature in mine:
            _replace(one, cid, signature)
    # Read as stale before the first indexer committed, chunked since: nothing left to do.
    with other.chunks.claim_stale(CHUNKER, stale[:2]) as late:
        assert late == []
    with pytest.raises(RuntimeError):
        with other.chunks.claim_stale(CHUNKER, stale[2:]) as failing:
            _replace(other, *failing[0])
            raise RuntimeError("the chunker failed")
    assert one.chunks.stale(CHUNKER) == stale[2:]  # its replace rolled back with the claim
