"""Schema migrations: ordered functions, each applied once and recorded by name.

A fresh database and an old one take the same path: every migration not yet recorded in
``_migrations`` runs, with its record, in one transaction. Never edit a released migration;
append a new one.
"""

from __future__ import annotations

from typing import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE workspaces (
            id UUID PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            metadata JSON,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE conversations (
            id UUID PRIMARY KEY,
            workspace_id UUID NOT NULL,
            title VARCHAR,
            source_format VARCHAR NOT NULL,
            source_id VARCHAR NOT NULL,
            metadata JSON,
            created_at TIMESTAMPTZ,
            updated_at TIMESTAMPTZ
        );
        CREATE TABLE messages (
            id UUID PRIMARY KEY,
            conversation_id UUID NOT NULL,
            parent_id UUID,
            role VARCHAR NOT NULL,
            speaker VARCHAR,
            content VARCHAR NOT NULL,
            content_type VARCHAR NOT NULL,
            created_at TIMESTAMPTZ,
            source_id VARCHAR NOT NULL,
            metadata JSON,
            on_active_branch BOOLEAN NOT NULL,
            content_hash VARCHAR NOT NULL
        );
        CREATE TABLE imports (
            id UUID PRIMARY KEY,
            path VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            workspace VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            conversations_added INTEGER NOT NULL,
            conversations_updated INTEGER NOT NULL,
            messages_added INTEGER NOT NULL,
            messages_skipped INTEGER NOT NULL,
            warnings JSON,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            seconds DOUBLE NOT NULL
        );
        """
    )


@migration
def m002_message_order_and_lookup(con: duckdb.DuckDBPyConnection) -> None:
    # Source order within a conversation: timestamps are missing (ShareGPT) or tie (LoCoMo).
    con.execute("ALTER TABLE messages ADD COLUMN position INTEGER")
    con.execute(
        """
        UPDATE messages SET position = ordered.n
        FROM (
            SELECT id, row_number() OVER (
                PARTITION BY conversation_id ORDER BY created_at NULLS FIRST, source_id
            ) - 1 AS n
            FROM messages
        ) AS ordered
        WHERE messages.id = ordered.id
        """
    )
    con.execute("CREATE INDEX messages_conversation_id ON messages (conversation_id)")
    con.execute("CREATE INDEX conversations_workspace_id ON conversations (workspace_id)")


@migration
def m003_cleaning_chunks_and_index_state(con: duckdb.DuckDBPyConnection) -> None:
    # language comes from cleaning; pii counts live in the message metadata when redacted.
    con.execute("ALTER TABLE messages ADD COLUMN language VARCHAR")
    con.execute(
        """
        CREATE TABLE chunks (
            id VARCHAR PRIMARY KEY,
            chunker VARCHAR NOT NULL,
            workspace_id UUID NOT NULL,
            conversation_id UUID NOT NULL,
            message_id UUID NOT NULL,
            message_ids UUID[] NOT NULL,
            part INTEGER NOT NULL,
            text VARCHAR NOT NULL,
            search_text VARCHAR NOT NULL,
            created_at TIMESTAMPTZ
        );
        CREATE INDEX chunks_message_id ON chunks (message_id);
        CREATE TABLE chunk_state (
            chunker VARCHAR NOT NULL,
            conversation_id UUID NOT NULL,
            signature VARCHAR NOT NULL,
            PRIMARY KEY (chunker, conversation_id)
        );
        CREATE TABLE indexed_chunks (
            index_name VARCHAR NOT NULL,
            chunk_id VARCHAR NOT NULL,
            indexed_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (index_name, chunk_id)
        );
        """
    )


@migration
def m004_interactions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE interactions (
            id UUID PRIMARY KEY,
            workspace VARCHAR NOT NULL,
            conversation_id UUID NOT NULL,
            user_message_id UUID NOT NULL,
            assistant_message_id UUID,
            model VARCHAR,
            endpoint VARCHAR,
            tokens_in INTEGER,
            tokens_out INTEGER,
            usage_source VARCHAR,
            retrieval_ms DOUBLE,
            ttft_ms DOUBLE,
            total_ms DOUBLE,
            overhead_ms DOUBLE,
            retrieved_ids VARCHAR[],
            cited_ids VARCHAR[],
            error VARCHAR,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX interactions_conversation_id ON interactions (conversation_id);
        """
    )


@migration
def m005_evaluation(con: duckdb.DuckDBPyConnection) -> None:
    # Relevant ids are resolved to message ids when a set is stored, so every ranking and
    # judgement compares message ids, whatever the set's source called them.
    con.execute(
        """
        CREATE TABLE eval_sets (
            id UUID PRIMARY KEY,
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            kind VARCHAR NOT NULL,
            workspace VARCHAR,
            seed BIGINT,
            params JSON,
            source VARCHAR,
            fingerprint VARCHAR NOT NULL,
            queries INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (name, version)
        );
        CREATE TABLE eval_queries (
            set_id UUID NOT NULL,
            query_id VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            text VARCHAR NOT NULL,
            relevant UUID[] NOT NULL,
            workspace VARCHAR,
            category VARCHAR,
            metadata JSON,
            PRIMARY KEY (set_id, query_id)
        );
        CREATE TABLE eval_batches (
            id UUID PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            directory VARCHAR,
            params JSON,
            status VARCHAR NOT NULL,
            previous_id UUID,
            gate JSON
        );
        CREATE TABLE eval_runs (
            id UUID PRIMARY KEY,
            label VARCHAR,
            set_id UUID NOT NULL,
            retriever VARCHAR NOT NULL,
            params JSON,
            embedding_model VARCHAR NOT NULL,
            chunker VARCHAR NOT NULL,
            code_version VARCHAR,
            ks INTEGER[] NOT NULL,
            metrics JSON NOT NULL,
            per_category JSON NOT NULL,
            queries INTEGER NOT NULL,
            skipped INTEGER NOT NULL,
            seconds DOUBLE NOT NULL,
            search_ms_p50 DOUBLE,
            search_ms_p95 DOUBLE,
            origin VARCHAR NOT NULL,
            batch_id UUID,
            notebook VARCHAR,
            started_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE eval_results (
            run_id UUID NOT NULL,
            query_id VARCHAR NOT NULL,
            ranking UUID[] NOT NULL,
            metrics JSON NOT NULL,
            search_ms DOUBLE,
            PRIMARY KEY (run_id, query_id)
        );
        CREATE INDEX eval_runs_set_id ON eval_runs (set_id);
        """
    )


@migration
def m007_answers(con: duckdb.DuckDBPyConnection) -> None:
    # The workbench's own answers are kept and shown, but are not memories by default: an
    # answer, once given, must not be retrieved as if the user had said or imported it. The
    # chat's answers are the assistant messages whose source id is their own id and which
    # record the prompt that produced them.
    con.execute("ALTER TABLE messages ADD COLUMN generated BOOLEAN DEFAULT FALSE")
    con.execute(
        """UPDATE messages SET generated = TRUE
           WHERE role = 'assistant' AND source_id = id::VARCHAR
             AND json_extract_string(metadata, '$.prompt') IS NOT NULL"""
    )
    # Their chunks go (the next search takes them out of the index: their marks are orphans),
    # and their conversations are chunked again, so no question's chunk carries an answer as
    # its context.
    con.execute(
        """DELETE FROM chunk_state WHERE conversation_id IN
           (SELECT DISTINCT conversation_id FROM messages WHERE generated)"""
    )
    con.execute(
        "DELETE FROM chunks WHERE message_id IN (SELECT id FROM messages WHERE generated)"
    )
    con.execute(
        """
        CREATE TABLE answer_runs (
            id UUID PRIMARY KEY,
            label VARCHAR,
            set_name VARCHAR NOT NULL,
            set_version INTEGER NOT NULL,
            workspace VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            mode VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            retriever VARCHAR NOT NULL,
            k INTEGER NOT NULL,
            code_version VARCHAR,
            metrics JSON NOT NULL,
            questions INTEGER NOT NULL,
            seconds DOUBLE NOT NULL,
            started_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE answer_results (
            run_id UUID NOT NULL,
            question_id VARCHAR NOT NULL,
            answer VARCHAR NOT NULL,
            cited VARCHAR[] NOT NULL,
            metrics JSON NOT NULL,
            PRIMARY KEY (run_id, question_id)
        );
        """
    )


@migration
def m008_server_users(con: duckdb.DuckDBPyConnection) -> None:
    # A user sees the workspaces listed on their row; API keys are stored as a hash of the key,
    # found by its public prefix. A client chat (an Open WebUI chat, an OpenAI client's
    # conversation) is kept as one workbench conversation through ``client_chats``.
    con.execute(
        """
        CREATE TABLE users (
            id UUID PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            password_hash VARCHAR NOT NULL,
            workspaces VARCHAR[] NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT FALSE,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE api_keys (
            id UUID PRIMARY KEY,
            user_id UUID NOT NULL,
            name VARCHAR NOT NULL,
            prefix VARCHAR NOT NULL UNIQUE,
            key_hash VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            last_used_at TIMESTAMPTZ,
            revoked_at TIMESTAMPTZ
        );
        CREATE TABLE client_chats (
            user_id UUID NOT NULL,
            client_key VARCHAR NOT NULL,
            conversation_id UUID NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (user_id, client_key)
        );
        """
    )


@migration
def m011_hostile(con: duckdb.DuckDBPyConnection) -> None:
    # A split message's chunks each showed the whole message in the index; they now keep their
    # own part. Split messages chunked before lose their chunks, marks and signatures, so the
    # next sync chunks and indexes them again with their parts.
    con.execute(
        """
        ALTER TABLE chunks ADD COLUMN body VARCHAR;
        CREATE TEMP TABLE split_chunks AS
            SELECT id, chunker, conversation_id FROM chunks
            WHERE message_id IN (SELECT message_id FROM chunks WHERE part > 0);
        DELETE FROM indexed_chunks WHERE chunk_id IN (SELECT id FROM split_chunks);
        DELETE FROM chunk_state st WHERE EXISTS (SELECT 1 FROM split_chunks s
            WHERE s.chunker = st.chunker AND s.conversation_id = st.conversation_id);
        DELETE FROM chunks WHERE id IN (SELECT id FROM split_chunks);
        DROP TABLE split_chunks;
        """
    )


def applied(con: duckdb.DuckDBPyConnection) -> list[str]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
    )
    return [r[0] for r in con.execute("SELECT name FROM _migrations ORDER BY applied_at, name").fetchall()]


def outstanding(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The migrations not applied yet, read without writing (a read-only connection)."""
    try:
        done = {r[0] for r in con.execute("SELECT name FROM _migrations").fetchall()}
    except duckdb.CatalogException:
        done = set()
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in done]


def migrate(con: duckdb.DuckDBPyConnection, upto: int | None = None) -> list[str]:
    """Apply the pending migrations (the first ``upto`` only, for tests); return their names."""
    done = set(applied(con))
    ran = []
    for fn in MIGRATIONS[:upto]:
        if fn.__name__ in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO _migrations VALUES (?, now())", [fn.__name__])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        ran.append(fn.__name__)
    return ran
