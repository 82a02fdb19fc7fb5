"""The store contract: what every ``Store`` implementation must do, through its public surface.

Each test runs once per implementation; adding a backend is adding a name to ``BACKENDS`` and a
factory to ``_FACTORIES`` (PostgreSQL: a fresh database on the run's private server). The tests
use no SQL and no connection: only ``store.<group>.<verb>``, ``transaction()`` and ``session()``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pytest

from workbench.records import (
    ConversationRecord,
    MessageRecord,
    ParsedFile,
    Run,
    RunResult,
    SetQuery,
)
from workbench.store import Conflict, DuckDBStore, Store
from workbench.store.postgres import PostgresStore
from workbench.errors import InvalidInput, NotFound

BACKENDS = ["duckdb", "postgres"]
# Each makes an empty store from the test's request (for server fixtures) and its temp folder.
_FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "duckdb": lambda request, folder: DuckDBStore(folder / "contract.duckdb"),
    "postgres": lambda request, folder: PostgresStore(request.getfixturevalue("postgres_url")),
}
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path: Path) -> Store:
    return _FACTORIES[request.param](request, tmp_path)


def _parsed(*texts: str, source: str = "c1", title: str = "Backups") -> ParsedFile:
    messages = [
        MessageRecord(f"m{i}", "user" if i % 2 == 0 else "assistant", text,
                      created_at=T0 + timedelta(minutes=i),
                      parent_source_id=f"m{i - 1}" if i else None)
        for i, text in enumerate(texts)
    ]
    return ParsedFile("generic", [ConversationRecord(source, title, messages, T0, T0)])


def _import(store: Store, parsed: ParsedFile, workspace: str = "default"):
    return store.imports.write(parsed, workspace, "export.json", "0" * 64, time.perf_counter(),
                               datetime.now(timezone.utc))


# --- conversations and messages ---------------------------------------------------------------

def test_conversation_crud(store: Store):
    first = store.conversations.create("home", "Travel", {"tag": "trip"})
    second = store.conversations.create("work", "Budget")
    assert (first.workspace, first.title, first.metadata, first.message_count) == \
        ("home", "Travel", {"tag": "trip"}, 0)
    assert {c.id for c in store.conversations.list()} == {first.id, second.id}
    assert [c.id for c in store.conversations.list(workspace="home")] == [first.id]
    assert [c.id for c in store.conversations.list(title_contains="budg")] == [second.id]
    assert len(store.conversations.list(limit=1)) == 1
    assert store.conversations.get(first.id[:8]).id == first.id
    assert store.conversations.rename(first.id, "Lisbon trip").title == "Lisbon trip"
    assert store.conversations.get(first.id).title == "Lisbon trip"
    assert [w["name"] for w in store.conversations.workspaces()] == ["home", "work"]
    assert store.conversations.workspace_names() == {"home", "work"}
    store.messages.add(first.id, "user", "hello")
    assert store.conversations.delete(first.id[:8]) == 1
    with pytest.raises(NotFound):
        store.conversations.get(first.id)
    with pytest.raises(NotFound):
        store.conversations.get("zzzz")
    assert store.conversations.counts() == {"workspaces": 2, "conversations": 1, "messages": 0,
                                            "imports": 0}


def test_messages_follow_the_active_branch(store: Store):
    conv = store.conversations.create("default", "Chat")
    question = store.messages.add(conv.id, "user", "Where is the backup?")
    answer = store.messages.add(conv.id, "assistant", "On the NAS.", speaker="model",
                                metadata={"citations": []})
    assert (answer.parent_id, answer.position, answer.on_active_branch) == \
        (question.id, question.position + 1, True)
    assert store.messages.get(answer.id) == answer
    assert [m.id for m in store.messages.list(conv.id)] == [question.id, answer.id]
    assert store.conversations.get(conv.id).message_count == 2
    mine = str(uuid.uuid4())
    assert store.messages.add(conv.id, "user", "And the copy?", message_id=mine).id == mine
    assert [m.id for m in store.messages.neighbours(answer.id, 1)] == [question.id, answer.id, mine]
    with pytest.raises(NotFound):
        store.messages.get(str(uuid.uuid4()))


def test_an_import_keeps_trees_and_marks_the_active_branch(store: Store):
    parsed = _parsed("Where is the backup?", "On the NAS.", "Thanks")
    parsed.conversations[0].messages.append(
        MessageRecord("m1b", "assistant", "On a USB disk.", parent_source_id="m0", active=False))
    _import(store, parsed)
    conv = store.conversations.list()[0]
    everything = store.messages.list(conv.id)
    active = store.messages.list(conv.id, active_only=True)
    assert len(everything) == 4 and [m.content for m in active] == \
        ["Where is the backup?", "On the NAS.", "Thanks"]
    branch = next(m for m in everything if m.source_id == "m1b")
    assert branch.parent_id == everything[0].id and not branch.on_active_branch
    texts = store.messages.texts("default")
    assert [t.id for t in texts] == sorted(m.id for m in active)
    assert {t.content for t in texts} == {m.content for m in active}
    assert store.messages.ids_for("default", ["m1", everything[2].id.upper()]) == sorted(
        [(everything[1].id, "m1"), (everything[2].id, "m2")])
    with pytest.raises(NotFound):
        store.messages.texts("nowhere")


# --- imports ----------------------------------------------------------------------------------

def test_an_import_is_written_once(store: Store):
    first = _import(store, _parsed("one", "two"))
    again = _import(store, _parsed("one", "two"))
    newer = _import(store, _parsed("one", "two", "three"))
    assert (first.status, first.conversations_added, first.messages_added) == ("done", 1, 2)
    assert (again.conversations_added, again.messages_added, again.messages_skipped) == (0, 0, 2)
    assert (newer.messages_added, newer.messages_skipped) == (1, 2)
    logged = store.imports.list()  # newest first
    assert [(i["status"], i["messages_added"]) for i in logged] == [("done", 1), ("done", 0),
                                                                    ("done", 2)]
    assert store.imports.list("default", limit=1) == logged[:1]
    assert logged[0]["path"] == "export.json" and logged[0]["workspace"] == "default"
    assert store.conversations.counts("default")["imports"] == 3
    assert store.conversations.counts()["messages"] == 3


# --- transactions -----------------------------------------------------------------------------

def test_writes_in_one_transaction_commit_together_or_not_at_all(store: Store):
    conv = store.conversations.create("default", "Chat")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.messages.add(conv.id, "user", "kept only with its answer")
            store.interactions.log({"workspace": "default", "conversation_id": conv.id,
                                    "user_message_id": str(uuid.uuid4())})
            raise RuntimeError("the answer failed")
    assert store.messages.list(conv.id) == [] and store.interactions.list() == []
    with store.session():
        with store.transaction():
            question = store.messages.add(conv.id, "user", "question")
            store.messages.add(conv.id, "assistant", "answer")
    assert [m.parent_id for m in store.messages.list(conv.id)] == [None, question.id]


# --- interactions -----------------------------------------------------------------------------

def test_a_chat_turn_is_logged(store: Store):
    conv = store.conversations.create("default", "Chat")
    question = store.messages.add(conv.id, "user", "question")
    hit = str(uuid.uuid4())
    iid = store.interactions.log({
        "workspace": "default", "conversation_id": conv.id, "user_message_id": question.id,
        "model": "tiny", "tokens_in": 12, "tokens_out": 3, "retrieved_ids": [hit],
        "cited_ids": [hit], "total_ms": 40.5,
    })
    other = store.conversations.create("default", "Other")
    store.interactions.log({"workspace": "default", "conversation_id": other.id,
                            "user_message_id": str(uuid.uuid4()), "error": "no LLM"})
    [row] = store.interactions.list(conv.id)
    assert (row["id"], row["model"], row["tokens_in"], row["total_ms"]) == (iid, "tiny", 12, 40.5)
    assert [str(i) for i in row["retrieved_ids"]] == [hit]
    assert row["assistant_message_id"] is None and row["error"] is None
    assert [r["error"] for r in store.interactions.list()] == [None, "no LLM"]


# --- the chunk ledger -------------------------------------------------------------------------

@dataclass
class _Chunk:
    id: str
    message_id: str
    message_ids: list[str]
    text: str
    part: int = 0
    search_text: str = ""
    created_at: datetime | None = None
    body: str | None = None


def _chunk_table(chunker: str, workspace_id: str, cid: str, chunks: list[_Chunk]) -> pa.Table:
    return pa.table({
        "id": [c.id for c in chunks], "message_id": [c.message_id for c in chunks],
        "message_ids": pa.array([c.message_ids for c in chunks], pa.list_(pa.string())),
        "part": pa.array([c.part for c in chunks], pa.int32()),
        "text": [c.text for c in chunks], "search_text": [c.text.lower() for c in chunks],
        "created_at": pa.array([c.created_at for c in chunks], pa.timestamp("us", tz="UTC")),
        "body": pa.array([c.body for c in chunks], pa.string()),
        "chunker": [chunker] * len(chunks), "workspace_id": [workspace_id] * len(chunks),
        "conversation_id": [cid] * len(chunks),
    })


def _chunked(store: Store, chunker: str = "turn.v1") -> tuple[str, list[_Chunk]]:
    """Import a conversation and chunk it as a chunker would: one chunk per active message."""
    _import(store, _parsed("Where is the backup?", "On the NAS."))
    [(cid, signature)] = store.chunks.stale(chunker)
    active = store.chunks.active_messages([cid])
    chunks = [_Chunk(f"{chunker}:{m.message_id}", m.message_id, [m.message_id], m.content,
                     created_at=m.created_at) for m in active]
    table = _chunk_table(chunker, active[0].workspace_id, cid, chunks)
    assert store.chunks.replace(chunker, table, {cid: signature}) == (2, 0)
    return cid, chunks


def test_chunks_are_written_per_chunker_and_only_when_stale(store: Store):
    cid, chunks = _chunked(store)
    active = store.chunks.active_messages([cid])
    assert [(m.conversation_id, m.title, m.role) for m in active] == \
        [(cid, "Backups", "user"), (cid, "Backups", "assistant")]
    assert store.chunks.stale("turn.v1") == []
    assert [c for c, _ in store.chunks.stale("window.v1")] == [cid]  # another chunker: its own
    assert sorted(store.chunks.texts("turn.v1")) == sorted(c.text for c in chunks)
    store.messages.add(cid, "user", "Thanks")
    [(stale, signature)] = store.chunks.stale("turn.v1")
    kept = _chunk_table("turn.v1", active[0].workspace_id, cid, chunks[:1])
    assert store.chunks.replace("turn.v1", kept, {cid: signature}) == (0, 1)
    assert store.chunks.texts("turn.v1") == [chunks[0].text]


def test_pending_chunks_are_marked_indexed_per_index(store: Store):
    _, chunks = _chunked(store)
    pending = store.chunks.pending("turn.v1", "ix", 10)
    assert [p.chunk_id for p in pending] == sorted(c.id for c in chunks)
    assert {(p.workspace, p.title) for p in pending} == {("default", "Backups")}
    assert [p.chunk_id for p in store.chunks.pending("turn.v1", "ix", 1)] == [pending[0].chunk_id]
    assert store.chunks.pending_count("turn.v1", "ix") == 2
    store.chunks.mark_indexed("ix", [pending[0].chunk_id])
    store.chunks.mark_indexed("ix", [pending[0].chunk_id])  # twice: still one mark
    assert [p.chunk_id for p in store.chunks.pending("turn.v1", "ix", 10)] == [pending[1].chunk_id]
    assert store.chunks.pending_count("turn.v1", "other-ix") == 2
    store.chunks.mark_indexed("ix", [pending[1].chunk_id])
    assert store.chunks.pending_count("turn.v1", "ix") == 0 and store.chunks.marked_count("ix") == 2
    assert store.chunks.keep_marks("ix", [pending[0].chunk_id]) == 1
    store.chunks.unmark("ix", [pending[0].chunk_id])
    assert store.chunks.marked_count("ix") == 0
    store.chunks.mark_indexed("ix", [p.chunk_id for p in pending])
    store.chunks.unmark("ix")
    assert store.chunks.pending_count("turn.v1", "ix") == 2



def test_claimed_stale_conversations_are_chunked_in_the_claim(store: Store):
    _import(store, _parsed("Where is the backup?", "On the NAS."))
    stale = store.chunks.stale("turn.v1")
    with store.chunks.claim_stale("turn.v1", stale) as mine:
        assert mine == stale
        [(cid, signature)] = mine
        active = store.chunks.active_messages([cid])
        chunks = [_Chunk(f"c:{m.message_id}", m.message_id, [m.message_id], m.content)
                  for m in active]
        store.chunks.replace("turn.v1", _chunk_table("turn.v1", active[0].workspace_id, cid, chunks),
                             {cid: signature})
    assert store.chunks.stale("turn.v1") == []


def test_claimed_chunks_are_the_pending_ones_and_leave_once_marked(store: Store):
    _, chunks = _chunked(store)
    with store.chunks.claim("turn.v1", "ix", 1) as first:
        assert [p.chunk_id for p in first] == [min(c.id for c in chunks)]
        assert not first.last  # one more is pending
        store.chunks.mark_indexed("ix", [first[0].chunk_id])
    with store.chunks.claim("turn.v1", "ix", 10) as rest:
        assert [p.chunk_id for p in rest] == [max(c.id for c in chunks)]
        assert {(p.workspace, p.title) for p in rest} == {("default", "Backups")}
        # One writer holds a DuckDB file: a short batch is the last. A shared database's claim
        # skips what others hold, so only asking again tells there.
        assert rest.last == isinstance(store, DuckDBStore)
        store.chunks.mark_indexed("ix", [rest[0].chunk_id])
    with store.chunks.claim("turn.v1", "ix", 10) as none:
        assert none == []
    assert store.chunks.pending_count("turn.v1", "ix") == 0


def test_a_split_message_s_chunks_carry_only_their_part(store: Store):
    """A message split in parts: each pending row shows its own part, never the whole message;
    a message in one chunk shows the message as stored."""
    _import(store, _parsed("First half. Second half.", "Short answer."))
    [(cid, signature)] = store.chunks.stale("turn.v1")
    question, answer = store.chunks.active_messages([cid])
    chunks = [_Chunk(f"q{i}", question.message_id, [question.message_id], part, part=i, body=part)
              for i, part in enumerate(["First half.", "Second half."])]
    chunks.append(_Chunk("a0", answer.message_id, [answer.message_id], answer.content))
    store.chunks.replace("turn.v1", _chunk_table("turn.v1", question.workspace_id, cid, chunks),
                         {cid: signature})
    shown = {p.chunk_id: p.content for p in store.chunks.pending("turn.v1", "ix", 10)}
    assert shown == {"q0": "First half.", "q1": "Second half.", "a0": "Short answer."}

def test_deleting_a_conversation_removes_its_chunks(store: Store):
    cid, chunks = _chunked(store)
    store.chunks.mark_indexed("ix", [c.id for c in chunks])
    assert store.chunks.orphan_marks("ix") == []
    store.conversations.delete(cid)
    assert store.chunks.stale("turn.v1") == []
    assert store.chunks.forget_deleted("turn.v1") == 2
    assert store.chunks.forget_deleted("turn.v1") == 0
    assert store.chunks.texts("turn.v1") == []
    assert sorted(store.chunks.orphan_marks("ix")) == sorted(c.id for c in chunks)


def test_a_chat_turn_records_its_chunks_as_indexed(store: Store):
    conv = store.conversations.create("default", "Chat")
    question = store.messages.add(conv.id, "user", "Where is the backup?")
    chunk = _Chunk(f"turn.v1:{question.id}", question.id, [question.id], question.content)
    assert store.chunks.record("turn.v1", "ix", "default", conv.id, [chunk]) == 1
    assert store.chunks.pending_count("turn.v1", "ix") == 0
    assert store.chunks.marked_count("ix") == 1
    with pytest.raises(Conflict):
        store.chunks.record("turn.v1", "ix", "default", conv.id, [chunk])
    assert store.chunks.record("turn.v1", "ix", "default", conv.id, [chunk], conflicts=True) == 0
    assert store.chunks.record("turn.v1", "ix", "default", conv.id, []) == 0


# --- evaluation -------------------------------------------------------------------------------

def _queries(store: Store) -> list[SetQuery]:
    conv = store.conversations.create("default", "Chat")
    target = store.messages.add(conv.id, "user", "The backup is on the NAS.")
    return [SetQuery("q1", "where is the backup", {target.id}, "default", "user",
                     {"target": target.id}),
            SetQuery("q0", "nas", {target.id}, "default", None)]


def test_eval_sets_are_versioned_by_content(store: Store):
    queries = _queries(store)
    first = store.evals.sets.add("mine", "qrels", queries, "f1", "default", 3, {"n": 2}, "a.jsonl")
    assert (first.name, first.version, first.queries, first.params, first.seed) == \
        ("mine", 1, 2, {"n": 2}, 3)
    assert store.evals.sets.add("mine", "qrels", queries, "f1").id == first.id
    second = store.evals.sets.add("mine", "qrels", queries[:1], "f2")
    assert second.version == 2
    assert store.evals.sets.get("mine").id == second.id
    assert store.evals.sets.get("mine@1").id == first.id
    assert store.evals.sets.get(first.id[:8]).id == first.id
    assert [s.ref for s in store.evals.sets.list()] == ["mine@2", "mine@1"]
    assert store.evals.sets.queries(first.id) == queries
    for missing in ("theirs", "mine@3", "mine@x"):
        with pytest.raises(NotFound):
            store.evals.sets.get(missing)


def _run(eval_set, label: str | None = None, batch_id: str | None = None,
         started: datetime = T0) -> Run:
    return Run(str(uuid.uuid4()), label, eval_set.id, eval_set.name, eval_set.version,
               "hybrid-rrf.v1", {"k": 60}, "all-MiniLM-L6-v2", "turn.v1", "abc123", [5, 10],
               {"R@10": 0.5}, {"user": {"R@10": 0.5}}, 2, 0, 1.5, 3.0, 4.0, "api", batch_id,
               None, started)


def test_eval_runs_are_stored_whole_and_found_by_prefix(store: Store):
    queries = _queries(store)
    eval_set = store.evals.sets.add("mine", "qrels", queries, "f1")
    ranking = sorted(queries[0].relevant)
    run = _run(eval_set, "baseline")
    store.evals.runs.add(run, [RunResult("q1", ranking, {"R@10": 1.0}, 2.5),
                               RunResult("q0", [], {"R@10": 0.0}, 3.5)])
    later = _run(eval_set, batch_id=str(uuid.uuid4()), started=T0 + timedelta(hours=1))
    store.evals.runs.add(later, [])
    assert store.evals.runs.get(run.id[:8]) == run
    assert [r.id for r in store.evals.runs.list()] == [later.id, run.id]
    assert [r.id for r in store.evals.runs.list(set_ref="mine")] == [later.id, run.id]
    assert [r.id for r in store.evals.runs.list(set_ref="mine@1", label="baseline")] == [run.id]
    assert [r.id for r in store.evals.runs.list(batch_id=later.batch_id)] == [later.id]
    assert len(store.evals.runs.list(limit=1)) == 1
    rows = store.evals.runs.results(run.id)
    assert [(r["query_id"], r["text"], r["ranking"], r["metrics"]) for r in rows] == [
        ("q1", "where is the backup", ranking, {"R@10": 1.0}), ("q0", "nas", [], {"R@10": 0.0})]
    for missing in (str(uuid.uuid4()), run.id[:3]):
        with pytest.raises(NotFound):
            store.evals.runs.get(missing)
    with pytest.raises(NotFound):
        store.evals.runs.list(set_ref="theirs")


def test_eval_batches_point_at_their_predecessor(store: Store):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert store.evals.batches.start(first, T0, "/runs/1", {"n": 1}, "running", ["passed"]) is None
    finished = store.evals.batches.finish(first, "passed", {"set": "mine", "tracked_run": "r1"})
    assert finished.tzinfo is not None
    later = T0 + timedelta(days=1)
    assert store.evals.batches.start(second, later, "/runs/2", {}, "running", ["passed"]) == first
    assert [b.id for b in store.evals.batches.list()] == [second, first]
    assert [b.id for b in store.evals.batches.list(limit=1)] == [second]
    got = store.evals.batches.get(first[:8])
    assert (got.status, got.directory, got.params, got.gate["tracked_run"]) == \
        ("passed", "/runs/1", {"n": 1}, "r1")
    assert store.evals.batches.get(second).previous_id == first
    assert store.evals.batches.earlier(second, later, ["passed"]) == \
        [(first, {"set": "mine", "tracked_run": "r1"})]
    assert store.evals.batches.earlier(second, later, ["regressed"]) == []
    with pytest.raises(NotFound):
        store.evals.batches.get(str(uuid.uuid4()))


def test_users_keys_and_client_chats(store: Store):
    alice = store.users.add("alice", "hash-a", ["default", "work"])
    assert store.users.get("alice") == store.users.get(alice.id) == alice
    assert alice.workspaces == ["default", "work"] and not alice.disabled
    with pytest.raises(InvalidInput):
        store.users.add("alice", "hash-b", ["default"])
    assert store.users.password_hash("alice") == (alice, "hash-a")
    assert store.users.password_hash("nobody") is None
    assert store.users.update("alice", password_hash="hash-c", disabled=True).disabled
    assert store.users.password_hash("alice")[1] == "hash-c"
    assert [u.name for u in store.users.list()] == ["alice"] and store.users.count() == 1

    key = store.users.add_key(alice.id, "laptop", "wbk_0123", "key-hash")
    store.users.touch_key(key.id)
    found, digest = store.users.key_by_prefix("wbk_0123")
    assert (found.id, found.name, digest) == (key.id, "laptop", "key-hash")
    assert found.last_used_at is not None and found.revoked_at is None
    assert store.users.revoke_key(alice.id, key.id).revoked_at is not None
    with pytest.raises(NotFound):
        store.users.revoke_key(alice.id, str(uuid.uuid4()))

    _import(store, _parsed("a backup every night"))
    cid = store.conversations.list("default")[0].id
    assert store.users.client_chat(alice.id, "chat:1") is None
    store.users.link_client_chat(alice.id, "chat:1", cid)
    store.users.link_client_chat(alice.id, "chat:1", cid)  # linking again keeps one row
    assert store.users.client_chat(alice.id, "chat:1") == cid
