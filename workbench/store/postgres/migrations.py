"""PostgreSQL schema migrations: ordered functions, each applied once and recorded by name.

The same shape as the DuckDB migrations (``workbench.store.migrations``) but their own list:
the two schemas differ in types (JSONB, UUID arrays, vectors) and grow apart where a backend
needs it. Every migration not yet recorded in ``_migrations`` runs with its record in one
transaction; an advisory lock makes processes that open the database together take turns.
Never edit a released migration; append a new one.
"""

from __future__ import annotations

from typing import Any, Callable

Migration = Callable[[Any], None]
PG_MIGRATIONS: list[Migration] = []
_LOCK_KEY = 7_210_417  # any constant: the advisory lock that serialises migrations


def migration(fn: Migration) -> Migration:
    PG_MIGRATIONS.append(fn)
    return fn


@migration
def pg001_initial(con: Any) -> None:
    # The conversations ↔ messages core, as DuckDB's m001-m003 leave it.
    con.execute(
        """
        CREATE TABLE workspaces (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            metadata JSONB,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE conversations (
            id UUID PRIMARY KEY,
            workspace_id UUID NOT NULL,
            title TEXT,
            source_format TEXT NOT NULL,
            source_id TEXT NOT NULL,
            metadata JSONB,
            created_at TIMESTAMPTZ,
            updated_at TIMESTAMPTZ
        );
        CREATE INDEX conversations_workspace_id ON conversations (workspace_id);
        CREATE TABLE messages (
            id UUID PRIMARY KEY,
            conversation_id UUID NOT NULL,
            parent_id UUID,
            role TEXT NOT NULL,
            speaker TEXT,
            content TEXT NOT NULL,
            content_type TEXT NOT NULL,
            created_at TIMESTAMPTZ,
            source_id TEXT NOT NULL,
            metadata JSONB,
            on_active_branch BOOLEAN NOT NULL,
            content_hash TEXT NOT NULL,
            position INTEGER,
            language TEXT
        );
        CREATE INDEX messages_conversation_id ON messages (conversation_id, position);
        CREATE TABLE imports (
            id UUID PRIMARY KEY,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            format TEXT NOT NULL,
            workspace TEXT NOT NULL,
            status TEXT NOT NULL,
            conversations_added INTEGER NOT NULL,
            conversations_updated INTEGER NOT NULL,
            messages_added INTEGER NOT NULL,
            messages_skipped INTEGER NOT NULL,
            warnings JSONB,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            seconds DOUBLE PRECISION NOT NULL
        );
        """
    )


@migration
def pg002_chunks_and_interactions(con: Any) -> None:
    con.execute(
        """
        CREATE TABLE chunks (
            id TEXT PRIMARY KEY,
            chunker TEXT NOT NULL,
            workspace_id UUID NOT NULL,
            conversation_id UUID NOT NULL,
            message_id UUID NOT NULL,
            message_ids UUID[] NOT NULL,
            part INTEGER NOT NULL,
            text TEXT NOT NULL,
            search_text TEXT NOT NULL,
            created_at TIMESTAMPTZ
        );
        CREATE INDEX chunks_message_id ON chunks (message_id);
        CREATE INDEX chunks_chunker_conversation ON chunks (chunker, conversation_id);
        CREATE TABLE chunk_state (
            chunker TEXT NOT NULL,
            conversation_id UUID NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (chunker, conversation_id)
        );
        CREATE TABLE indexed_chunks (
            index_name TEXT NOT NULL,
            chunk_id TEXT NOT NULL,
            indexed_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (index_name, chunk_id)
        );
        CREATE TABLE interactions (
            id UUID PRIMARY KEY,
            workspace TEXT NOT NULL,
            conversation_id UUID NOT NULL,
            user_message_id UUID NOT NULL,
            assistant_message_id UUID,
            model TEXT,
            endpoint TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            usage_source TEXT,
            retrieval_ms DOUBLE PRECISION,
            ttft_ms DOUBLE PRECISION,
            total_ms DOUBLE PRECISION,
            overhead_ms DOUBLE PRECISION,
            retrieved_ids TEXT[],
            cited_ids TEXT[],
            error TEXT,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX interactions_conversation_id ON interactions (conversation_id);
        """
    )


@migration
def pg003_evaluation(con: Any) -> None:
    con.execute(
        """
        CREATE TABLE eval_sets (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            workspace TEXT,
            seed BIGINT,
            params JSONB,
            source TEXT,
            fingerprint TEXT NOT NULL,
            queries INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (name, version)
        );
        CREATE TABLE eval_queries (
            set_id UUID NOT NULL,
            query_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            relevant UUID[] NOT NULL,
            workspace TEXT,
            category TEXT,
            metadata JSONB,
            PRIMARY KEY (set_id, query_id)
        );
        CREATE TABLE eval_batches (
            id UUID PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            directory TEXT,
            params JSONB,
            status TEXT NOT NULL,
            previous_id UUID,
            gate JSONB
        );
        CREATE TABLE eval_runs (
            id UUID PRIMARY KEY,
            label TEXT,
            set_id UUID NOT NULL,
            retriever TEXT NOT NULL,
            params JSONB,
            embedding_model TEXT NOT NULL,
            chunker TEXT NOT NULL,
            code_version TEXT,
            ks INTEGER[] NOT NULL,
            metrics JSONB NOT NULL,
            per_category JSONB NOT NULL,
            queries INTEGER NOT NULL,
            skipped INTEGER NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            search_ms_p50 DOUBLE PRECISION,
            search_ms_p95 DOUBLE PRECISION,
            origin TEXT NOT NULL,
            batch_id UUID,
            notebook TEXT,
            started_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE eval_results (
            run_id UUID NOT NULL,
            query_id TEXT NOT NULL,
            ranking UUID[] NOT NULL,
            metrics JSONB NOT NULL,
            search_ms DOUBLE PRECISION,
            PRIMARY KEY (run_id, query_id)
        );
        CREATE INDEX eval_runs_set_id ON eval_runs (set_id);
        """
    )


@migration
def pg004_pgvector(con: Any) -> None:
    # The index tables (one per embedding model and chunker, like LanceDB's) are derived and
    # made by the index itself, with the model's dimension; they need the extension.
    con.execute("CREATE EXTENSION IF NOT EXISTS vector")


@migration
def pg005_copies(con: Any) -> None:
    # What `workbench migrate` copied from which embedded home, so that a run interrupted
    # part-way resumes after the tables it finished.
    con.execute(
        """
        CREATE TABLE _copies (
            source TEXT NOT NULL,
            name TEXT NOT NULL,
            rows BIGINT NOT NULL,
            copied_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (source, name)
        );
        """
    )


@migration
def pg006_chunk_body(con: Any) -> None:
    # The part of its message a split chunk covers (DuckDB's m011_hostile): an index row carries
    # only its own part, never the whole message.
    con.execute("ALTER TABLE chunks ADD COLUMN body TEXT")


@migration
def pg007_server_users(con: Any) -> None:
    # The HTTP server's users, API keys and client chats (DuckDB's m008_server_users).
    con.execute(
        """
        CREATE TABLE users (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            workspaces TEXT[] NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT FALSE,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE api_keys (
            id UUID PRIMARY KEY,
            user_id UUID NOT NULL,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL UNIQUE,
            key_hash TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            last_used_at TIMESTAMPTZ,
            revoked_at TIMESTAMPTZ
        );
        CREATE TABLE client_chats (
            user_id UUID NOT NULL,
            client_key TEXT NOT NULL,
            conversation_id UUID NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (user_id, client_key)
        );
        """
    )


@migration
def pg008_answers(con: Any) -> None:
    # The chat's own answers are not memories by default (DuckDB's m007_answers); answer
    # evaluation runs.
    con.execute(
        """
        ALTER TABLE messages ADD COLUMN generated BOOLEAN DEFAULT FALSE;
        CREATE TABLE answer_runs (
            id UUID PRIMARY KEY,
            label TEXT,
            set_name TEXT NOT NULL,
            set_version INTEGER NOT NULL,
            workspace TEXT NOT NULL,
            model TEXT NOT NULL,
            mode TEXT NOT NULL,
            prompt TEXT NOT NULL,
            retriever TEXT NOT NULL,
            k INTEGER NOT NULL,
            code_version TEXT,
            metrics JSONB NOT NULL,
            questions INTEGER NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            started_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE answer_results (
            run_id UUID NOT NULL,
            question_id TEXT NOT NULL,
            answer TEXT NOT NULL,
            cited TEXT[] NOT NULL,
            metrics JSONB NOT NULL,
            PRIMARY KEY (run_id, question_id)
        );
        """
    )


def applied(con: Any) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT name FROM _migrations ORDER BY applied_at, name").fetchall()]


def migrate(con: Any, upto: int | None = None) -> list[str]:
    """Apply the pending migrations (the first ``upto`` only, for tests); return their names."""
    with con.raw.transaction():
        # Held to the end of each transaction: a process opening the database meanwhile waits,
        # then finds the migration recorded.
        con.execute("SELECT pg_advisory_xact_lock(?)", [_LOCK_KEY])
        con.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                    "applied_at TIMESTAMPTZ NOT NULL)")
        done = set(applied(con))
    ran = []
    for fn in PG_MIGRATIONS[:upto]:
        if fn.__name__ in done:
            continue
        with con.raw.transaction():
            con.execute("SELECT pg_advisory_xact_lock(?)", [_LOCK_KEY])
            if fn.__name__ in applied(con):
                continue
            fn(con)
            con.execute("INSERT INTO _migrations VALUES (?, now())", [fn.__name__])
        ran.append(fn.__name__)
    return ran
