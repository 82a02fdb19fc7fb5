"""Imports and the chunk ledger on PostgreSQL: bulk rows through COPY into temporary tables,
merged with ``ON CONFLICT`` so that concurrent writers never fail on each other's rows."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator, Sequence

import pyarrow as pa

from workbench.records import ImportResult, ParsedFile
from workbench.store import ids
from workbench.store.chunks import PENDING, SIGNATURES, DuckDBChunks
from workbench.store.imports import (CONVERSATION_SCHEMA, MESSAGE_SCHEMA, WRITE_BATCH_MESSAGES,
                                     DuckDBImports, _log_import, _write_workspaces,
                                     build_rows)
from workbench.store.postgres.repositories import copy_rows
from workbench.store.protocol import ActiveMessage, Claimed, ChunkRow, Conflict, PendingChunk

# The statements carry a name, so that ``pg_stat_activity`` shows who holds a claim.
_CLAIM = "/* claim pending chunks */ " + PENDING + " FOR UPDATE OF ch SKIP LOCKED"
_CLAIMED_MARKED = ("/* claim pending chunks */ SELECT chunk_id FROM indexed_chunks "
                   "WHERE index_name = ? AND chunk_id = ANY(?::TEXT[])")

# The stale conversations of a batch that no other process is chunking (each locked for the
# transaction), with their signatures read again: one chunked meanwhile is stale no more.
_CLAIM_STALE = f"""
    WITH mine AS MATERIALIZED (
        SELECT id FROM conversations
        WHERE id = ANY(?::UUID[]) AND pg_try_advisory_xact_lock(hashtext(? || id::TEXT))
    )
    SELECT s.conversation_id, s.signature
    FROM ({SIGNATURES.replace("GROUP BY", "WHERE c.id IN (SELECT id FROM mine) GROUP BY")}) s
    LEFT JOIN chunk_state st ON st.chunker = ? AND st.conversation_id = s.conversation_id::UUID
    WHERE st.signature IS DISTINCT FROM s.signature
"""

_CHUNK_COLUMNS = ["id", "chunker", "workspace_id", "conversation_id", "message_id", "message_ids",
                  "part", "text", "search_text", "created_at", "body"]


class PgImports(DuckDBImports):
    """An import file merged whole or not at all; rows another importer stored first are
    skipped, not an error."""

    def write(self, parsed: ParsedFile, workspace: str, path: str, sha256: str,
              started: float, started_at: datetime) -> ImportResult:
        warnings: list[str] = []
        seen: Counter[str] = Counter()
        with self.db.transaction() as con:
            con.execute("CREATE TEMP TABLE incoming_c ON COMMIT DROP AS "
                        "SELECT * FROM conversations WITH NO DATA")
            con.execute("CREATE TEMP TABLE incoming_m ON COMMIT DROP AS "
                        "SELECT * FROM messages WITH NO DATA")
            # Batch by batch into the server's temporary tables: one batch in memory here.
            for batch in parsed.batches(WRITE_BATCH_MESSAGES):
                conv_cols, msg_cols, found = build_rows(batch, parsed.format, workspace)
                warnings += found
                seen.update(c=len(conv_cols["id"]), m=len(msg_cols["id"]))
                copy_rows(con, "incoming_c", CONVERSATION_SCHEMA.names,
                          zip(*(conv_cols[n] for n in CONVERSATION_SCHEMA.names)))
                copy_rows(con, "incoming_m", MESSAGE_SCHEMA.names,
                          zip(*(msg_cols[n] for n in MESSAGE_SCHEMA.names)))
            _write_workspaces(con, parsed.workspaces(workspace), parsed.workspace_metadata)
            added_c = len(con.execute(
                "INSERT INTO conversations SELECT * FROM incoming_c "
                "ON CONFLICT (id) DO NOTHING RETURNING 1").fetchall())
            updated_c = len(con.execute(
                """UPDATE conversations SET title = i.title, updated_at = i.updated_at,
                          metadata = i.metadata
                   FROM incoming_c AS i
                   WHERE conversations.id = i.id
                     AND (conversations.title IS DISTINCT FROM i.title
                          OR conversations.updated_at IS DISTINCT FROM i.updated_at)
                   RETURNING 1""").fetchall())
            added_m = len(con.execute(
                "INSERT INTO messages SELECT * FROM incoming_m "
                "ON CONFLICT (id) DO NOTHING RETURNING 1").fetchall())
            # A newer export may move the active branch (an edit, a regeneration).
            con.execute(
                """UPDATE messages SET on_active_branch = i.on_active_branch, position = i.position
                   FROM incoming_m AS i
                   WHERE messages.id = i.id
                     AND (messages.on_active_branch <> i.on_active_branch
                          OR messages.position IS DISTINCT FROM i.position)""")
            result = ImportResult(
                path=path, format=parsed.format, sha256=sha256, status="done",
                conversations_added=added_c, conversations_updated=updated_c,
                conversations_skipped=seen["c"] - added_c - updated_c,
                messages_added=added_m, messages_skipped=seen["m"] - added_m,
                warnings=parsed.warnings + warnings, seconds=time.perf_counter() - started,
            )
            _log_import(con, result, workspace, started_at)
        return result


class PgChunks(DuckDBChunks):
    """The chunk ledger; marks and chunks another writer stored first are kept, not errors
    (except in ``record`` without ``conflicts``, which says so with Conflict)."""

    def active_messages(self, conversation_ids: Sequence[str]) -> list[ActiveMessage]:
        with self.db.connect() as con:
            rows = con.execute(
                """
                SELECT c.id::TEXT, c.title, c.workspace_id::TEXT,
                       coalesce(c.created_at, c.updated_at),
                       m.id::TEXT, m.role, m.speaker, m.content, m.content_type,
                       m.created_at, m.metadata ->> 'blip_caption',
                       coalesce(m.generated, FALSE), (m.metadata ->> 'supported')::BOOLEAN
                FROM conversations c JOIN messages m ON m.conversation_id = c.id
                WHERE c.id = ANY(?::UUID[]) AND m.on_active_branch
                ORDER BY c.id, m.position
                """,
                [list(conversation_ids)],
            ).fetchall()
        return [ActiveMessage(*r) for r in rows]

    @contextmanager
    def claim_stale(self, chunker: str,
                    stale: Sequence[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
        """Those of ``stale`` that still need chunking and that no other process is chunking,
        held until the block ends: each conversation is chunked by one indexer, the block's
        ``replace`` joining its transaction."""
        with self.db.transaction() as con:
            yield [tuple(r) for r in con.execute(
                _CLAIM_STALE, [[cid for cid, _ in stale], f"{chunker}:", chunker]).fetchall()]

    @contextmanager
    def claim(self, chunker: str, index: str, limit: int) -> Iterator[Claimed]:
        """Up to ``limit`` pending chunks, locked for this process until the block ends: other
        processes' claims skip them, so concurrent indexers share the work instead of repeating
        it. The block runs in one transaction, which the index rows and the marks written in it
        join: a process killed mid-way leaves neither, and its locks go with its connection, so
        the next indexer takes those chunks."""
        with self.db.transaction() as con:
            rows = [PendingChunk(*r) for r in con.execute(_CLAIM, [chunker, index, limit])]
            # A chunk locked once its indexer committed was read as pending before that commit:
            # the marks, read again now, tell.
            marked = {r[0] for r in con.execute(_CLAIMED_MARKED,
                                                [index, [r.chunk_id for r in rows]])}
            # Never ``last``: rows other indexers hold were skipped, not counted.
            yield Claimed(r for r in rows if r.chunk_id not in marked)

    def replace(self, chunker: str, chunks: pa.Table, signatures: dict[str, str]) -> tuple[int, int]:
        ids_ = list(signatures)
        columns = chunks.select(_CHUNK_COLUMNS).to_pydict()
        with self.db.transaction() as con:
            con.execute("CREATE TEMP TABLE new_chunks ON COMMIT DROP AS "
                        "SELECT * FROM chunks WITH NO DATA")
            copy_rows(con, "new_chunks", _CHUNK_COLUMNS, zip(*columns.values()))
            removed = con.execute(
                """DELETE FROM chunks WHERE chunker = ? AND conversation_id = ANY(?::UUID[])
                   AND id NOT IN (SELECT id FROM new_chunks) RETURNING 1""",
                [chunker, ids_],
            ).fetchall()
            added = con.execute("INSERT INTO chunks SELECT * FROM new_chunks "
                                "ON CONFLICT (id) DO NOTHING RETURNING 1").fetchall()
            con.execute(
                """INSERT INTO chunk_state SELECT ?, c, s FROM unnest(?::UUID[], ?::TEXT[]) AS t(c, s)
                   ON CONFLICT (chunker, conversation_id) DO UPDATE SET signature = excluded.signature""",
                [chunker, ids_, list(signatures.values())],
            )
            # Now, not at commit: the transaction may be a claim's, with more to write.
            con.execute("DROP TABLE new_chunks")
        return len(added), len(removed)

    def record(self, chunker: str, index: str, workspace: str, conversation_id: str,
               chunks: Sequence[ChunkRow], conflicts: bool = False) -> int:
        import psycopg

        if not chunks:
            return 0
        ignore = "ON CONFLICT DO NOTHING" if conflicts else ""
        row = "(?, ?, ?::UUID, ?::UUID, ?::UUID, ?::UUID[], ?, ?, ?, ?)"
        wid = ids.workspace_id(workspace)
        values = [value for c in chunks for value in (
            c.id, chunker, wid, conversation_id, c.message_id,
            list(c.message_ids), c.part, c.text, c.search_text, c.created_at)]
        try:
            with self.db.transaction() as con:
                added = con.execute(
                    f"INSERT INTO chunks VALUES {', '.join([row] * len(chunks))} {ignore} "
                    "RETURNING 1", values).fetchall()
                con.execute(f"INSERT INTO indexed_chunks SELECT ?, unnest(?::TEXT[]), ? {ignore}",
                            [index, [c.id for c in chunks], datetime.now(timezone.utc)])
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"{index}: a chunk of conversation {conversation_id} is stored "
                           "already") from exc
        return len(added)

    def mark_indexed(self, index: str, chunk_ids: Sequence[str]) -> None:
        with self.db.transaction() as con:
            con.execute("INSERT INTO indexed_chunks SELECT ?, unnest(?::TEXT[]), ? "
                        "ON CONFLICT DO NOTHING",
                        [index, list(chunk_ids), datetime.now(timezone.utc)])

    def keep_marks(self, index: str, present: Sequence[str]) -> int:
        present = present.to_pylist() if isinstance(present, pa.Array) else list(present)
        with self.db.transaction() as con:
            lost = con.execute(
                """DELETE FROM indexed_chunks WHERE index_name = ? AND chunk_id NOT IN
                   (SELECT unnest(?::TEXT[])) RETURNING 1""", [index, present],
            ).fetchall()
        return len(lost)
