"""Typed records that flow from importers to the store.

Importers build these from a file and never touch a database; the store turns them into rows.
A record carries the *source's* identity (``source_id``); the store derives stable UUIDs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
