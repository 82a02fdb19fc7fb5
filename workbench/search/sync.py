"""Keeping chunks and the LanceDB index in step with the store, incrementally and resumably.

The store's chunk ledger records, per chunker, a signature of each conversation's active branch
and, per index, which chunks are in it. A run re-chunks only conversations whose signature
changed and embeds only chunks the index lacks, so an interrupted run resumes where it stopped
and an unchanged chunk is never embedded twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from workbench.text.chunking import Chunk, Chunker, Turn
from workbench.embeddings.model import Embedder
from workbench.search.protocol import Index
from workbench.records import Message
from workbench.store import Conflict, Store
from workbench.store.protocol import PendingChunk

Progress = Callable[[str, int, int], None]
log = logging.getLogger(__name__)

@dataclass
class SyncReport:
    conversations_rechunked: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    chunks_unindexed: int = 0
    marks_dropped: int = 0  # ledger marks for chunks the index lacked
    embed_seconds: float = 0.0
    seconds: float = 0.0
    batches: list = field(default_factory=list)


def index_name(embedder: Embedder, chunker: Chunker) -> str:
    return f"chunks__{embedder.slug}__{chunker.name.replace('.', '_').replace('-', '_')}"


def is_memory(generated: bool, supported: bool | None, include_generated: bool) -> bool:
    """Whether a message is chunked and indexed: imported history and the user's own words
    always; an answer the workbench's model wrote only when ``include_generated`` (the
    ``index_generated`` setting) and it rests on the memories."""
    return not generated or (include_generated and supported is True)


def sync_chunks(store: Store, chunker: Chunker, embedder: Embedder, report: SyncReport,
                include_generated: bool = False) -> None:
    """Re-chunk the conversations whose active branch or title changed since the last run."""
    stale = store.chunks.stale(chunker.name)
    report.chunks_removed += store.chunks.forget_deleted(chunker.name)
    for start in range(0, len(stale), 200):
        # Other indexers at work chunk the conversations they hold; this one, the rest.
        with store.chunks.claim_stale(chunker.name, stale[start : start + 200]) as batch:
            if batch:
                _rechunk(store, chunker, embedder, batch, report, include_generated)


def _rechunk(store: Store, chunker: Chunker, embedder: Embedder, batch: list, report: SyncReport,
             include_generated: bool = False) -> None:
    ids = [r[0] for r in batch]
    turns: dict[str, list[Turn]] = {cid: [] for cid in ids}
    meta: dict[str, tuple] = {}
    for m in store.chunks.active_messages(ids):
        meta[m.conversation_id] = (m.title, m.workspace_id)
        if not is_memory(m.generated, m.supported, include_generated):
            continue
        turns[m.conversation_id].append(Turn(m.message_id, m.role, m.speaker, m.content,
                                             m.content_type, m.created_at or m.conversation_time,
                                             m.caption))
    new_rows = []
    for cid in ids:
        title, wid = meta.get(cid, (None, None))
        for chunk in chunker.chunk(title, turns[cid], embedder.count_tokens):
            new_rows.append((chunk, cid, wid))
    table = pa.table({
        **_chunk_columns([c for c, _, _ in new_rows]),
        "chunker": [c.chunker for c, _, _ in new_rows],
        "workspace_id": [w for _, _, w in new_rows],
        "conversation_id": [cid for _, cid, _ in new_rows],
    })
    added, removed = store.chunks.replace(chunker.name, table, {r[0]: r[1] for r in batch})
    report.conversations_rechunked += len(ids)
    report.chunks_added += added
    report.chunks_removed += removed


def _chunk_columns(chunks: list[Chunk]) -> dict[str, Any]:
    """The columns of ``chunks`` rows that come from the chunks themselves."""
    return {
        "id": [c.id for c in chunks], "message_id": [c.message_id for c in chunks],
        "message_ids": pa.array([c.message_ids for c in chunks], pa.list_(pa.string())),
        "part": pa.array([c.part for c in chunks], pa.int32()),
        "text": [c.text for c in chunks], "search_text": [c.search_text for c in chunks],
        "created_at": pa.array([c.created_at for c in chunks], pa.timestamp("us", tz="UTC")),
        "body": pa.array([c.body for c in chunks], pa.string()),
    }


def sync_index(
    store: Store,
    index: Index,
    embedder: Embedder,
    chunker: Chunker,
    progress: Progress,
    batch_size: int = 512,
    include_generated: bool = False,
) -> SyncReport:
    """Bring chunks and the index up to date; safe to interrupt and run again
    (``include_generated``: see ``is_memory``)."""
    started = time.perf_counter()
    report = SyncReport()
    _heal(store, index)
    _reconcile(store, index, report)
    progress("chunk", 0, 0)  # the model loads here: a while, of unknown length
    sync_chunks(store, chunker, embedder, report, include_generated)
    _unindex_removed(store, index, report)
    total = store.chunks.pending_count(chunker.name, index.name)
    progress("embed", 0, total)
    while _embed_claimed(store, index, embedder, chunker, batch_size, report):
        progress("embed", report.chunks_embedded, total)
    # New rows are searchable at once (unindexed rows are scanned); the chat's appends are
    # folded in by ``Index.append``.
    if report.chunks_embedded or report.chunks_unindexed or not _has_fts(index):
        progress("index", 0, 1)
        index.maintain()
    report.seconds = time.perf_counter() - started
    return report


def _embed_claimed(store: Store, index: Index, embedder: Embedder, chunker: Chunker,
                   batch_size: int, report: SyncReport) -> bool:
    """Embed, index and mark one claimed batch of pending chunks (others indexing at the same
    time claim others); False when none is left to claim. A short batch ends the loop only
    when the store says it was the last: on a shared database the claim leaves out chunks
    another indexer finished or holds, not the last ones."""
    with store.chunks.claim(chunker.name, index.name, batch_size) as rows:
        if not rows:
            return False
        t = time.perf_counter()
        vectors = embedder.encode([r.text for r in rows])
        report.embed_seconds += time.perf_counter() - t
        report.batches.append(time.perf_counter() - t)
        index.upsert([_index_row(r) for r in rows], vectors)
        store.chunks.mark_indexed(index.name, [r.chunk_id for r in rows])
    report.chunks_embedded += len(rows)
    # Committed: with several indexers at once, these lines add up to the chunks embedded.
    log.info("claimed chunks indexed", extra={"event": "index_batch", "op": index.name,
                                              "count": len(rows)})
    return not rows.last


@dataclass
class TurnChunks:
    """A chat turn's new chunks and their index rows, made from the messages the chat holds
    (the new ones and the turn before them, for context) rather than re-read from the store.

    Re-reading and re-chunking the whole conversation would make a turn's indexing grow with
    the conversation. The conversation's chunk signature is left as it was, so the
    next full sync re-chunks it once and settles anything this view missed (a rename, an edit):
    chunks it builds the same way keep their ids and are not embedded again."""

    chunker: str
    index: str
    workspace: str
    conversation_id: str
    chunks: list[Chunk]
    rows: list[dict[str, Any]]
    recorded: bool = False  # its chunk and ledger rows are committed (see ``record_turn``)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.chunks]

    def restamp(self, stored: Message) -> None:
        """Take a message's position as the store gave it (a draft guessed it)."""
        for row in self.rows:
            if row["message_id"] == stored.id:
                row["position"] = stored.position


def plan_turn(chunker: Chunker, index: Index, embedder: Embedder, conversation_id: str,
              workspace: str, title: str | None, messages: list[Message],
              new: set[str]) -> TurnChunks:
    turns = [Turn(m.id, m.role, m.speaker, m.content, m.content_type, m.created_at,
                  (m.metadata or {}).get("blip_caption")) for m in messages]
    chunks = [c for c in chunker.chunk(title, turns, embedder.count_tokens) if c.message_id in new]
    by_id = {m.id: m for m in messages}
    rows = [
        {"chunk_id": c.id, "message_id": m.id, "conversation_id": conversation_id,
         "workspace": workspace, "source_id": m.source_id, "title": title, "role": m.role,
         "speaker": m.speaker, "created_at": c.created_at,
         "text": m.content if c.body is None else c.body,
         "search_text": c.search_text, "position": m.position}
        for c, m in ((c, by_id[c.message_id]) for c in chunks)
    ]
    return TurnChunks(chunker.name, index.name, workspace, conversation_id, chunks, rows)


def index_turn(
    store: Store, index: Index, embedder: Embedder, chunker: Chunker, conversation_id: str,
    workspace: str, title: str | None, messages: list[Message], new: set[str],
) -> SyncReport:
    """Chunk, embed and index a turn's ``new`` messages, all of them already stored: the
    index append first, then the chunk and ledger rows in one transaction. Safe to repeat."""
    started = time.perf_counter()
    report = SyncReport()
    plan = plan_turn(chunker, index, embedder, conversation_id, workspace, title, messages, new)
    if plan.chunks:
        vectors = _encode(embedder, plan.chunks, report)
        index.append(plan.rows, vectors)
        try:
            added = _store_turn_chunks(store, plan, conflicts=False)
        except Conflict:
            # Someone indexed these messages meanwhile (a full sync in another process, a retry).
            added = _store_turn_chunks(store, plan, conflicts=True)
        report.chunks_added = added
        report.chunks_embedded = len(plan.chunks)
    report.seconds = time.perf_counter() - started
    return report


def record_turn(store: Store, plan: TurnChunks) -> int:
    """Store a turn's chunks and mark them indexed before they are: in the transaction that
    stores the answer, so that the index append is all that is left after it. ``append_turn``
    takes the marks back if the append fails, and a full sync drops any a crash left behind
    (``_reconcile``). Raises Conflict when a chunk is stored already."""
    return _store_turn_chunks(store, plan, conflicts=False)


def append_turn(store: Store, index: Index, plan: TurnChunks, vectors: np.ndarray) -> None:
    """Add a recorded turn's rows to the index; on failure they are pending again."""
    try:
        index.append(plan.rows, vectors)
    except BaseException:
        store.chunks.unmark(plan.index, [c.id for c in plan.chunks])
        raise


def _encode(embedder: Embedder, chunks: list[Chunk], report: SyncReport):
    started = time.perf_counter()
    vectors = embedder.encode([c.text for c in chunks]) if chunks else None
    report.embed_seconds += time.perf_counter() - started
    return vectors


def _store_turn_chunks(store: Store, plan: TurnChunks, conflicts: bool) -> int:
    return store.chunks.record(plan.chunker, plan.index, plan.workspace, plan.conversation_id,
                               plan.chunks, conflicts)


def _index_row(r: PendingChunk) -> dict:
    return {
        "chunk_id": r.chunk_id, "message_id": r.message_id, "conversation_id": r.conversation_id,
        "workspace": r.workspace, "source_id": r.source_id, "title": r.title, "role": r.role,
        "speaker": r.speaker, "created_at": r.created_at, "text": r.content,
        "search_text": r.search_text, "position": r.position,
    }


def _has_fts(index: Index) -> bool:
    return index.exists() and index.has_full_text()


def _heal(store: Store, index: Index) -> None:
    """An index folder deleted by hand: forget what DuckDB thought was in it."""
    if not index.exists():
        store.chunks.unmark(index.name)


def _reconcile(store: Store, index: Index, report: SyncReport) -> None:
    """Drop the ledger's marks for chunks that the index lacks, so they are embedded again.

    A chat turn marks its chunks in the transaction that stores the answer and appends them
    just after (``record_turn``): a crash in between leaves marks without rows. A count tells
    whether to look; rows without a mark need nothing here, as the append and the sync's
    merge skip or replace them."""
    if not index.exists():
        return
    if store.chunks.marked_count(index.name) <= index.count():
        return
    report.marks_dropped += store.chunks.keep_marks(index.name, index.chunk_ids())


def unindex_removed(store: Store, index: Index) -> int:
    """Take the chunks that no longer exist (a changed conversation, an upgrade that made
    answers stop being memories) out of the index; returns how many."""
    report = SyncReport()
    _unindex_removed(store, index, report)
    return report.chunks_unindexed


def _unindex_removed(store: Store, index: Index, report: SyncReport) -> None:
    removed = store.chunks.orphan_marks(index.name)
    if not removed:
        return
    index.delete(removed)
    store.chunks.unmark(index.name, removed)
    report.chunks_unindexed += len(removed)


def rebuild(store: Store, index: Index) -> None:
    """Drop the derived index; the next sync rebuilds it from DuckDB."""
    index.drop()
    store.chunks.unmark(index.name)
