"""What a store offers, one group of tables at a time: the seam a second backend fills in.

Callers hold a ``Store`` and reach each group through it (``store.conversations.get(ref)``);
no caller sees SQL or a connection. The DuckDB implementation is ``DuckDBStore``; the contract
suite in ``tests/contract`` holds every implementation to the same behaviour.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Protocol, Sequence

from workbench.records import (
    ApiKey,
    Batch,
    Conversation,
    EvalSet,
    ImportResult,
    Message,
    ParsedFile,
    Run,
    RunResult,
    SetQuery,
    TextMessage,
    User,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class Conflict(RuntimeError):
    """A write met a row another writer stored first (a chunk indexed meanwhile)."""


class ChunkRow(Protocol):
    """The fields of a chunk the ledger stores (``text.chunking.Chunk`` has them)."""

    id: str
    message_id: str
    message_ids: list[str]
    part: int
    text: str
    search_text: str
    created_at: datetime | None
    body: str | None  # the part of its message it covers; None when it covers all of it


class ActiveMessage(NamedTuple):
    """A message on its conversation's active branch, with what chunking needs of both."""

    conversation_id: str
    title: str | None
    workspace_id: str
    conversation_time: datetime | None
    message_id: str
    role: str
    speaker: str | None
    content: str
    content_type: str
    created_at: datetime | None
    caption: str | None
    generated: bool = False  # the workbench's own model wrote it
    supported: bool | None = None  # for a generated answer: whether it rests on memories


class PendingChunk(NamedTuple):
    """A chunk the index lacks, with everything an index row needs; ``content`` is what the
    row shows: its message's text, or only the chunk's part of it when the message is split."""

    chunk_id: str
    message_id: str
    conversation_id: str
    workspace: str
    source_id: str
    title: str | None
    role: str
    speaker: str | None
    created_at: datetime | None
    content: str
    text: str
    search_text: str
    position: int


class Claimed(list):
    """A claim's pending chunks; ``last``: the store knows none is left beyond them (so an
    indexer need not ask again)."""

    def __init__(self, chunks=(), last: bool = False):
        super().__init__(chunks)
        self.last = last


class Conversations(Protocol):
    def create(self, workspace: str, title: str | None = None,
               metadata: dict[str, Any] | None = None) -> Conversation: ...

    def list(self, workspace: str | None = None, title_contains: str | None = None,
             limit: int | None = None) -> list[Conversation]: ...

    def get(self, ref: str) -> Conversation: ...

    def rename(self, ref: str, title: str) -> Conversation: ...

    def delete(self, ref: str) -> int: ...

    def workspaces(self) -> list[dict[str, Any]]: ...

    def workspace_names(self) -> set[str]: ...

    def counts(self, workspace: str | None = None) -> dict[str, int]: ...


class Messages(Protocol):
    def add(self, conversation: str, role: str, content: str, speaker: str | None = None,
            parent_id: str | None = None, metadata: dict[str, Any] | None = None,
            created_at: datetime | None = None, content_type: str = "text",
            message_id: str | None = None) -> Message: ...

    def get(self, message_id: str) -> Message: ...

    def list(self, ref: str, active_only: bool = False) -> list[Message]: ...

    def neighbours(self, message_id: str, n: int) -> list[Message]: ...

    def texts(self, workspace: str) -> list[TextMessage]: ...

    def ids_for(self, workspace: str, wanted: Sequence[str]) -> list[tuple[str, str]]: ...

    def branch_off(self, message_id: str) -> int: ...

    def questions(self, workspace: str, limit: int = 4, max_chars: int = 120) -> list[str]: ...


class Imports(Protocol):
    def write(self, parsed: ParsedFile, workspace: str, path: str, sha256: str,
              started: float, started_at: datetime) -> ImportResult: ...

    def list(self, workspace: str | None = None,
             limit: int | None = None) -> list[dict[str, Any]]: ...


class Chunks(Protocol):
    """The chunk ledger: chunks per chunker, each conversation's signature, index marks."""

    def stale(self, chunker: str) -> list[tuple[str, str]]: ...

    def claim_stale(self, chunker: str, stale: Sequence[tuple[str, str]]
                    ) -> AbstractContextManager[list[tuple[str, str]]]: ...

    def forget_deleted(self, chunker: str) -> int: ...

    def active_messages(self, conversation_ids: Sequence[str]) -> list[ActiveMessage]: ...

    def replace(self, chunker: str, chunks: "pa.Table", signatures: dict[str, str]) -> tuple[int, int]: ...

    def pending(self, chunker: str, index: str, limit: int) -> list[PendingChunk]: ...

    def pending_count(self, chunker: str, index: str) -> int: ...

    def unchunked_count(self, chunker: str) -> int: ...

    def claim(self, chunker: str, index: str,
              limit: int) -> AbstractContextManager[Claimed]: ...

    def record(self, chunker: str, index: str, workspace: str, conversation_id: str,
               chunks: Sequence[ChunkRow], conflicts: bool = False) -> int: ...

    def mark_indexed(self, index: str, chunk_ids: Sequence[str]) -> None: ...

    def unmark(self, index: str, chunk_ids: Sequence[str] | None = None) -> None: ...

    def marked_count(self, index: str) -> int: ...

    def keep_marks(self, index: str, present: Sequence[str]) -> int: ...

    def orphan_marks(self, index: str) -> list[str]: ...

    def texts(self, chunker: str) -> list[str]: ...


class Interactions(Protocol):
    def log(self, row: dict[str, Any]) -> str: ...

    def list(self, conversation_id: str | None = None) -> list[dict[str, Any]]: ...


class EvalSets(Protocol):
    def add(self, name: str, kind: str, queries: Sequence[SetQuery], fingerprint: str,
            workspace: str | None = None, seed: int | None = None,
            params: dict[str, Any] | None = None, source: str | None = None) -> EvalSet: ...

    def list(self) -> list[EvalSet]: ...

    def get(self, ref: str) -> EvalSet: ...

    def queries(self, set_id: str) -> list[SetQuery]: ...


class EvalRuns(Protocol):
    def add(self, run: Run, results: Iterable[RunResult]) -> None: ...

    def list(self, set_ref: str | None = None, label: str | None = None,
             batch_id: str | None = None, limit: int | None = None) -> list[Run]: ...

    def get(self, ref: str) -> Run: ...

    def results(self, ref: str) -> list[dict[str, Any]]: ...


class EvalBatches(Protocol):
    def start(self, batch_id: str, started: datetime, directory: str, params: dict[str, Any],
              status: str, finished: Sequence[str]) -> str | None: ...

    def finish(self, batch_id: str, status: str, gate: dict[str, Any]) -> datetime: ...

    def list(self, limit: int | None = None) -> list[Batch]: ...

    def get(self, ref: str) -> Batch: ...

    def earlier(self, batch_id: str, started: datetime,
                statuses: Sequence[str]) -> list[tuple[str, dict[str, Any]]]: ...


class Evals(Protocol):
    sets: EvalSets
    runs: EvalRuns
    batches: EvalBatches


class History(Protocol):
    """Read-only summaries of what a history holds, as tables for charts and notebooks."""

    def overview(self, workspace: str | None = None) -> "pd.DataFrame": ...

    def messages_per_week(self, workspace: str | None = None) -> "pd.DataFrame": ...

    def conversation_lengths(self, workspace: str | None = None) -> "pd.DataFrame": ...

    def roles(self, workspace: str | None = None) -> "pd.DataFrame": ...

    def languages(self, workspace: str | None = None) -> "pd.DataFrame": ...

    def duplicates(self, workspace: str | None = None, top: int = 20) -> "pd.DataFrame": ...

    def sample(self, workspace: str | None = None, n: int = 300, seed: int = 0) -> "pd.DataFrame": ...

    def chunk_sizes(self, chunkers: Sequence[str]) -> "pd.DataFrame": ...


class Users(Protocol):
    """Accounts, their hashed API keys and the client chats kept as conversations."""

    def add(self, name: str, password_hash: str, workspaces: list[str]) -> User: ...

    def get(self, name_or_id: str) -> User: ...

    def password_hash(self, name: str) -> tuple[User, str] | None: ...

    def list(self) -> list[User]: ...

    def count(self) -> int: ...

    def update(self, name: str, password_hash: str | None = None,
               disabled: bool | None = None) -> User: ...

    def add_key(self, user_id: str, name: str, prefix: str, key_hash: str) -> ApiKey: ...

    def keys(self, user_id: str) -> list[ApiKey]: ...

    def key_by_prefix(self, prefix: str) -> tuple[ApiKey, str] | None: ...

    def revoke_key(self, user_id: str, key_id: str) -> ApiKey: ...

    def touch_key(self, key_id: str) -> None: ...

    def client_chat(self, user_id: str, client_key: str) -> str | None: ...

    def link_client_chat(self, user_id: str, client_key: str, conversation_id: str) -> None: ...


class Store(Protocol):
    """The source of truth: every group of tables, and the blocks that group their writes.

    Writes made inside one ``transaction()`` block, through any group, commit together or not
    at all. ``session()`` lends one connection to a short burst of calls; ``hold``/``let_go``
    keep the database open across a chat turn (never across a person's think-time) and
    ``release`` lets go of it now. ``migrated`` names the migrations this open applied (none
    for a reader)."""

    migrated: list[str]
    conversations: Conversations
    messages: Messages
    imports: Imports
    chunks: Chunks
    interactions: Interactions
    evals: Evals
    history: History
    users: Users

    def transaction(self) -> AbstractContextManager[Any]: ...

    def session(self) -> AbstractContextManager[Any]: ...

    def hold(self, seconds: float) -> None: ...

    def let_go(self) -> None: ...

    def release(self) -> None: ...
