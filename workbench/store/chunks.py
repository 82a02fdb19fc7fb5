"""The chunk ledger in DuckDB: chunks per chunker, each conversation's signature, index marks.

Per chunker, ``chunk_state`` holds a signature of each conversation's active branch and title,
so only conversations whose signature changed are chunked again; per index, ``indexed_chunks``
marks the chunks it holds, so an interrupted indexing resumes where it stopped.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator, Sequence

import duckdb
import pyarrow as pa

from workbench.store import ids
from workbench.store.connection import DuckDBFile
from workbench.store.protocol import ActiveMessage, Claimed, ChunkRow, Conflict, PendingChunk

SIGNATURES = """
    SELECT c.id::VARCHAR AS conversation_id,
           md5(coalesce(c.title, '') || '|' || coalesce(string_agg(
               m.id::VARCHAR || ':' || m.on_active_branch::INTEGER || ':' || m.content_hash,
               ',' ORDER BY m.id), '')) AS signature
    FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
    GROUP BY c.id, c.title
"""

PENDING = """
    SELECT ch.id, ch.message_id::VARCHAR, ch.conversation_id::VARCHAR, w.name, m.source_id,
           c.title, m.role, m.speaker, ch.created_at, coalesce(ch.body, m.content), ch.text,
           ch.search_text,
           m.position
    FROM chunks ch
    JOIN messages m ON m.id = ch.message_id
    JOIN conversations c ON c.id = ch.conversation_id
    JOIN workspaces w ON w.id = ch.workspace_id
    WHERE ch.chunker = ? AND ch.id NOT IN (SELECT chunk_id FROM indexed_chunks WHERE index_name = ?)
    ORDER BY ch.id
    LIMIT ?
"""


class DuckDBChunks:
    """Chunks and index marks: a chunk belongs to one chunker and conversation and goes when
    its conversation does; a mark says an index holds a chunk, and at most one mark exists per
    index and chunk."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    # -- chunks ---------------------------------------------------------------------------------
    def stale(self, chunker: str) -> list[tuple[str, str]]:
        """(conversation id, signature) of the conversations whose active branch or title
        changed since ``chunker`` last chunked them."""
        with self.db.connect() as con:
            return con.execute(
                f"""
                SELECT s.conversation_id, s.signature FROM ({SIGNATURES}) s
                LEFT JOIN chunk_state st
                  ON st.chunker = ? AND st.conversation_id = s.conversation_id::UUID
                WHERE st.signature IS DISTINCT FROM s.signature
                """,
                [chunker],
            ).fetchall()

    @contextmanager
    def claim_stale(self, chunker: str,
                    stale: Sequence[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
        """Those of ``stale`` (from ``stale()``) for the block to chunk and ``replace``: all of
        them, as one process at a time writes a DuckDB file."""
        yield list(stale)

    def forget_signatures(self, chunker: str) -> None:
        """Make every conversation stale for ``chunker``: the next sync chunks them all again
        (chunks made the same way keep their ids, so nothing is embedded twice)."""
        with self.db.transaction() as con:
            con.execute("DELETE FROM chunk_state WHERE chunker = ?", [chunker])

    def forget_deleted(self, chunker: str) -> int:
        """Drop the chunks and signatures of deleted conversations; returns the chunks dropped."""
        with self.db.connect() as con:
            gone = [r[0] for r in con.execute(
                """SELECT conversation_id::VARCHAR FROM chunk_state WHERE chunker = ?
                   AND conversation_id NOT IN (SELECT id FROM conversations)""",
                [chunker],
            ).fetchall()]
        if not gone:
            return 0
        with self.db.transaction() as con:
            removed = con.execute(
                "DELETE FROM chunks WHERE chunker = ? AND conversation_id IN "
                "(SELECT unnest(?::UUID[])) RETURNING 1",
                [chunker, gone],
            ).fetchall()
            con.execute(
                "DELETE FROM chunk_state WHERE chunker = ? AND conversation_id IN "
                "(SELECT unnest(?::UUID[]))",
                [chunker, gone],
            )
        return len(removed)

    def active_messages(self, conversation_ids: Sequence[str]) -> list[ActiveMessage]:
        """The active branch of each conversation, in conversation id then position order."""
        with self.db.connect() as con:
            rows = con.execute(
                """
                SELECT c.id::VARCHAR, c.title, c.workspace_id::VARCHAR,
                       coalesce(c.created_at, c.updated_at),
                       m.id::VARCHAR, m.role, m.speaker, m.content, m.content_type,
                       m.created_at, json_extract_string(m.metadata, '$.blip_caption'),
                       coalesce(m.generated, FALSE),
                       TRY_CAST(json_extract(m.metadata, '$.supported') AS BOOLEAN)
                FROM conversations c JOIN messages m ON m.conversation_id = c.id
                WHERE c.id IN (SELECT unnest(?::UUID[])) AND m.on_active_branch
                ORDER BY c.id, m.position
                """,
                [list(conversation_ids)],
            ).fetchall()
        return [ActiveMessage(*r) for r in rows]

    def replace(self, chunker: str, chunks: pa.Table, signatures: dict[str, str]) -> tuple[int, int]:
        """Make ``chunks`` (columns id, message_id, message_ids, part, text, search_text,
        created_at, body, chunker, workspace_id, conversation_id) the chunks of the conversations of
        ``signatures``, and record their signatures; returns (added, removed)."""
        ids_ = list(signatures)
        state = pa.table({"conversation_id": ids_, "signature": list(signatures.values())})
        with self.db.transaction() as con:
            con.register("new_chunks", chunks)
            con.register("new_state", state)
            removed = con.execute(
                """DELETE FROM chunks WHERE chunker = ?
                   AND conversation_id IN (SELECT unnest(?::UUID[]))
                   AND id NOT IN (SELECT id FROM new_chunks) RETURNING 1""",
                [chunker, ids_],
            ).fetchall()
            # OR IGNORE probes the primary key instead of anti-joining every chunk.
            added = con.execute(
                """INSERT OR IGNORE INTO chunks SELECT id, chunker, workspace_id::UUID,
                   conversation_id::UUID, message_id::UUID, message_ids::UUID[], part, text,
                   search_text, created_at, body FROM new_chunks RETURNING 1"""
            ).fetchall()
            con.execute(
                """INSERT OR REPLACE INTO chunk_state
                   SELECT ?, conversation_id::UUID, signature FROM new_state""",
                [chunker],
            )
            con.unregister("new_chunks")
            con.unregister("new_state")
        return len(added), len(removed)

    def texts(self, chunker: str) -> list[str]:
        with self.db.connect() as con:
            return [r[0] for r in con.execute(
                "SELECT text FROM chunks WHERE chunker = ?", [chunker]).fetchall()]

    # -- what an index holds --------------------------------------------------------------------
    def pending(self, chunker: str, index: str, limit: int) -> list[PendingChunk]:
        """Up to ``limit`` chunks of ``chunker`` that ``index`` lacks, by chunk id."""
        with self.db.connect() as con:
            return [PendingChunk(*r) for r in con.execute(PENDING, [chunker, index, limit])
                    .fetchall()]

    @contextmanager
    def claim(self, chunker: str, index: str, limit: int) -> Iterator[Claimed]:
        """Up to ``limit`` pending chunks for the block to embed and mark: one writing process
        holds a DuckDB file, so nobody else can be indexing them meanwhile, and a short batch
        is the last one (asking again would scan the chunks once more to find none)."""
        rows = self.pending(chunker, index, limit)
        yield Claimed(rows, last=len(rows) < limit)

    def pending_count(self, chunker: str, index: str) -> int:
        with self.db.connect() as con:
            return con.execute(
                """SELECT count(*) FROM chunks WHERE chunker = ? AND id NOT IN
                   (SELECT chunk_id FROM indexed_chunks WHERE index_name = ?)""",
                [chunker, index],
            ).fetchone()[0]

    def unchunked_count(self, chunker: str) -> int:
        """Conversations ``chunker`` never chunked (an import not indexed yet): a cheap part of
        ``stale``, which also finds the changed ones but reads every message to say so."""
        with self.db.connect() as con:
            return con.execute(
                """SELECT count(*) FROM conversations c WHERE NOT EXISTS
                   (SELECT 1 FROM chunk_state st
                    WHERE st.chunker = ? AND st.conversation_id = c.id)""",
                [chunker],
            ).fetchone()[0]

    def record(self, chunker: str, index: str, workspace: str, conversation_id: str,
               chunks: Sequence[ChunkRow], conflicts: bool = False) -> int:
        """Store a chat turn's chunks and mark them indexed, in one transaction; returns how
        many chunks were new. Without ``conflicts`` a chunk stored already raises Conflict.

        ``OR IGNORE`` makes DuckDB merge over the whole table, so the first try inserts
        plainly and only a key conflict pays for it; plain parameters beat a registered
        table at a turn's few rows."""
        if not chunks:
            return 0
        ignore = "OR IGNORE" if conflicts else ""
        row = "(?, ?, ?::UUID, ?::UUID, ?::UUID, ?::UUID[], ?, ?, ?, ?, ?)"
        wid = ids.workspace_id(workspace)
        values = [value for c in chunks for value in (
            c.id, chunker, wid, conversation_id, c.message_id,
            c.message_ids, c.part, c.text, c.search_text, c.created_at, c.body)]
        try:
            with self.db.transaction() as con:
                added = con.execute(
                    f"INSERT {ignore} INTO chunks VALUES {', '.join([row] * len(chunks))} "
                    "RETURNING 1", values).fetchall()
                con.execute(f"INSERT {ignore} INTO indexed_chunks SELECT ?, unnest(?), ?",
                            [index, [c.id for c in chunks], datetime.now(timezone.utc)])
        except duckdb.ConstraintException as exc:
            raise Conflict(f"{index}: a chunk of conversation {conversation_id} is stored "
                           "already") from exc
        return len(added)

    def mark_indexed(self, index: str, chunk_ids: Sequence[str]) -> None:
        done = pa.table({"chunk_id": pa.array(list(chunk_ids), pa.string())})
        with self.db.transaction() as con:
            con.register("done_ids", done)
            con.execute(
                "INSERT OR IGNORE INTO indexed_chunks SELECT ?, chunk_id, ? FROM done_ids",
                [index, datetime.now(timezone.utc)],
            )
            con.unregister("done_ids")

    def unmark(self, index: str, chunk_ids: Sequence[str] | None = None) -> None:
        """Forget that ``index`` holds these chunks (all of its chunks when None)."""
        with self.db.transaction() as con:
            if chunk_ids is None:
                con.execute("DELETE FROM indexed_chunks WHERE index_name = ?", [index])
            else:
                con.execute("DELETE FROM indexed_chunks WHERE index_name = ? AND chunk_id IN "
                            "(SELECT unnest(?::VARCHAR[]))", [index, list(chunk_ids)])

    def marked_count(self, index: str) -> int:
        with self.db.connect() as con:
            return con.execute("SELECT count(*) FROM indexed_chunks WHERE index_name = ?",
                               [index]).fetchone()[0]

    def keep_marks(self, index: str, present: Sequence[str]) -> int:
        """Drop the marks of chunks not in ``present`` (what the index holds); returns how many."""
        with self.db.transaction() as con:
            con.register("present_ids", pa.table({"chunk_id": pa.array(list(present), pa.string())}))
            lost = con.execute(
                """DELETE FROM indexed_chunks WHERE index_name = ? AND chunk_id NOT IN
                   (SELECT chunk_id FROM present_ids) RETURNING 1""", [index],
            ).fetchall()
            con.unregister("present_ids")
        return len(lost)

    def orphan_marks(self, index: str) -> list[str]:
        """Marked chunks that no longer exist (their conversation changed or went)."""
        with self.db.connect() as con:
            return [r[0] for r in con.execute(
                """SELECT chunk_id FROM indexed_chunks WHERE index_name = ?
                   AND chunk_id NOT IN (SELECT id FROM chunks)""",
                [index],
            ).fetchall()]
