"""Typed records that flow from importers to the store, and from the store to its callers.

Importers build these from a file and never touch a database; the store turns them into rows
and hands rows back as these (conversations, messages, eval sets, runs, batches).
A record carries the *source's* identity (``source_id``); the store derives stable UUIDs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class MessageRecord:
    """One message (a node of a conversation tree) as the source described it.

    ``source_id`` is unique within its conversation; ``parent_source_id`` names another
    message of the same conversation or is ``None`` for a root.
    """

    source_id: str
    role: str
    content: str
    content_type: str = "text"
    speaker: str | None = None
    created_at: datetime | None = None
    parent_source_id: str | None = None
    active: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    language: str | None = None


@dataclass
class ConversationRecord:
    """A conversation with its messages in source order (a tree is listed parent before child).

    ``workspace`` overrides the workspace chosen at import time (LoCoMo samples carry their own).
    """

    source_id: str
    title: str | None
    messages: list[MessageRecord]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    workspace: str | None = None


@dataclass
class ParsedFile:
    """Everything one import file holds, parsed and validated, ready to be written at once."""

    format: str
    conversations: list[ConversationRecord]
    warnings: list[str] = field(default_factory=list)
    workspace_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        return sum(len(c.messages) for c in self.conversations)

    def batches(self, messages: int) -> Iterator[list[ConversationRecord]]:
        """What a store writes: one copy per source id (the last one, as a newer export's
        copy replaces an older one), whole conversations about ``messages`` at a time."""
        latest = {c.source_id: c for c in self.conversations}
        return batched(latest.values(), messages)

    def workspaces(self, default: str) -> set[str]:
        return {c.workspace or default for c in self.conversations}


@dataclass
class Reading:
    """A file being read: its conversations one at a time, in file order, so that a big export
    is never held whole. ``warnings`` and ``workspace_metadata`` are complete once
    ``conversations`` is exhausted; a source id read again replaces its earlier copy."""

    format: str
    conversations: Iterator[ConversationRecord]
    warnings: list[str] = field(default_factory=list)
    workspace_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def batched(records: Iterable[ConversationRecord],
            messages: int) -> Iterator[list[ConversationRecord]]:
    """Whole conversations, about ``messages`` messages at a time."""
    batch: list[ConversationRecord] = []
    size = 0
    for record in records:
        batch.append(record)
        size += len(record.messages)
        if size >= messages:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass
class Conversation:
    """A stored conversation; ``id`` is a UUID string derived from its source."""

    id: str
    workspace: str
    title: str | None
    source_format: str
    source_id: str
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None
    message_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workspace": self.workspace,
            "title": self.title,
            "source_format": self.source_format,
            "source_id": self.source_id,
            "metadata": self.metadata,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "message_count": self.message_count,
        }


@dataclass
class Message:
    """A stored message, one node of its conversation's tree."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: str
    speaker: str | None
    content: str
    content_type: str
    created_at: datetime | None
    source_id: str
    metadata: dict[str, Any]
    on_active_branch: bool
    content_hash: str
    position: int
    generated: bool = False  # written by the workbench's own model: not a memory by default

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "parent_id": self.parent_id,
            "role": self.role,
            "speaker": self.speaker,
            "content": self.content,
            "content_type": self.content_type,
            "created_at": _iso(self.created_at),
            "source_id": self.source_id,
            "metadata": self.metadata,
            "on_active_branch": self.on_active_branch,
            "content_hash": self.content_hash,
            "position": self.position,
        }


@dataclass
class ImportResult:
    """What one import file changed; ``status`` is ``done`` only when it was committed."""

    path: str
    format: str
    sha256: str
    status: str
    conversations_added: int = 0
    conversations_updated: int = 0
    messages_added: int = 0
    messages_skipped: int = 0
    conversations_skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Query:
    """A judged query: its text and the ids of the messages that answer it."""

    id: str
    text: str
    relevant: set[str]
    workspace: str | None = None
    category: str | None = None


@dataclass
class SetQuery(Query):
    """A query as stored: ``metadata`` says where it came from (the target, the given ids)."""

    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalSet:
    """One stored version of a named set; ``fingerprint`` identifies its queries' content."""

    id: str
    name: str
    version: int
    kind: str
    workspace: str | None
    seed: int | None
    params: dict[str, Any]
    source: str | None
    fingerprint: str
    queries: int
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "version": self.version, "ref": self.ref,
            "kind": self.kind, "workspace": self.workspace, "seed": self.seed,
            "params": self.params, "source": self.source, "fingerprint": self.fingerprint,
            "queries": self.queries, "created_at": self.created_at.isoformat(),
        }


@dataclass
class Run:
    """One stored run; ``metrics`` keys are ir-measures names ("R@10", "RR", "nDCG@10")."""

    id: str
    label: str | None
    set_id: str
    set_name: str
    set_version: int
    retriever: str
    params: dict[str, Any]
    embedding_model: str
    chunker: str
    code_version: str | None
    ks: list[int]
    metrics: dict[str, float]
    per_category: dict[str, dict[str, float]]
    queries: int
    skipped: int
    seconds: float
    search_ms_p50: float | None
    search_ms_p95: float | None
    origin: str
    batch_id: str | None
    notebook: str | None
    started_at: datetime

    def to_dict(self) -> dict[str, Any]:
        payload = dict(self.__dict__)
        payload["started_at"] = self.started_at.isoformat()
        payload["set_ref"] = f"{self.set_name}@{self.set_version}"
        return payload


@dataclass
class RunResult:
    """One query's outcome in a run: its ranking (message ids), metrics and search time."""

    query_id: str
    ranking: list[str]
    metrics: dict[str, float]
    search_ms: float


@dataclass
class NotebookResult:
    name: str
    path: str
    status: str  # "ok" | "failed"
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Batch:
    """One execution of the notebooks: its folder, parameters, outcome and gate.

    ``status`` is running until the last notebook ends, then failed (a notebook raised),
    regressed (the gate tripped) or passed. ``gate`` holds the notebooks' outcomes and the
    comparison with the baseline; ``runs`` is filled by ``run_notebooks`` only.
    """

    id: str
    started_at: datetime
    finished_at: datetime | None
    directory: str
    params: dict[str, Any]
    status: str
    previous_id: str | None
    gate: dict[str, Any]
    runs: list = field(default_factory=list)

    @property
    def notebooks(self) -> list[NotebookResult]:
        return [NotebookResult(**n) for n in self.gate.get("notebooks", [])]

    def regressions(self) -> list[str]:
        """One line per tracked metric that dropped past its threshold."""
        where = self.gate.get("set")
        return [
            f"regression: {r['metric']} dropped {r['drop']:.3f} "
            f"({r['previous']:.3f} → {r['now']:.3f}) on set {where}"
            for r in self.gate.get("regressions", [])
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "started_at": self.started_at, "finished_at": self.finished_at,
            "directory": self.directory, "params": self.params, "status": self.status,
            "previous_id": self.previous_id, "gate": self.gate,
            "runs": [run.to_dict() for run in self.runs],
        }


@dataclass
class TextMessage:
    """An active-branch text message of a workspace, as query generation samples it."""

    id: str
    role: str
    content: str
    conversation_id: str
    language: str | None


@dataclass
class User:
    """An account of the server; ``workspaces`` are the only ones it reads and writes (None:
    every workspace, the local user of a server started without authentication)."""

    id: str
    name: str
    workspaces: list[str] | None
    disabled: bool = False
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "workspaces": self.workspaces,
                "disabled": self.disabled, "created_at": _iso(self.created_at)}


@dataclass
class ApiKey:
    """A user's API key as stored: never the key itself, only its public prefix."""

    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix,
                "created_at": _iso(self.created_at), "last_used_at": _iso(self.last_used_at),
                "revoked_at": _iso(self.revoked_at)}
