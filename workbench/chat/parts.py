"""What a chat turn is and what a chat works with: the records its modules share.

Kept apart from ``turn`` so that the turn's helpers (its indexing) need not import the chat.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from workbench.chat.answer import Composed
from workbench.config import Settings
from workbench.embeddings.model import Embedder
from workbench.records import Message
from workbench.search.protocol import Index
from workbench.search.retrieve import Hit, SearchResult
from workbench.search.sync import SyncReport
from workbench.store import Store


class Memory(Protocol):
    """What a chat needs from search: past turns found, and its own turns indexed."""

    def query(self, text: str, workspace: str | None = None, k: int = 10, *,
              now: datetime | None = None, retriever: str | None = None,
              chunker: str | None = None, exclude_message_ids: tuple[str, ...] = ()
              ) -> SearchResult: ...

    def index(self, chunker: str | None = None) -> Index: ...

    def index_turn(self, conversation_id: str, workspace: str, title: str | None,
                   messages: list[Message], new: set[str], chunker: str | None = None
                   ) -> SyncReport: ...


@dataclass(frozen=True)
class ChatParts:
    """What a chat works with, lent by the workbench that owns and closes it.

    ``indexer`` has one worker: new turns are indexed after the answer is stored, in order, and
    the next turn waits for them, so a question can always find what was said before it.
    ``searcher`` retrieves while the question is being stored."""

    store: Store
    memory: Memory
    embedder: Embedder
    settings: Settings
    indexer: Executor
    searcher: Executor


@dataclass
class Turn:
    """One question and, when the LLM answered, its answer; ``error`` says why there is none."""

    conversation_id: str
    workspace: str
    user_message: Message
    hits: list[Hit]
    prompt: list[dict[str, str]]
    answer: Message | None = None
    text: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str | None = None
    endpoint: str | None = None
    error: str | None = None
    new_conversation: bool = False
    title: str | None = None
    before: list[Message] = field(default_factory=list)  # the turn(s) the question follows
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # chunk id → its embedding
    turn_id: str | None = None  # carried by the turn's log records (workbench.logs)
    model_text: str = ""  # what the model wrote; ``text`` is what the user is shown
    finish_reason: str | None = None
    composed: Composed | None = None
    note: str | None = None  # said after the answer (it was cut off)
    # The memory that best answers the question, chosen while the model writes.
    best_memory: Future | None = field(default=None, repr=False)

    @property
    def sources(self) -> dict[str, Any]:
        if self.composed is None:
            return {"retrieved": [h.message_id for h in self.hits], "written": [], "attributed": []}
        return self.composed.sources(self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "workspace": self.workspace,
            "user_message_id": self.user_message.id,
            "assistant_message_id": self.answer.id if self.answer else None,
            "answer": self.text,
            "citations": self.citations,
            "memories": [h.to_dict() for h in self.hits],
            "sources": self.sources,
            "supported": self.composed.grounding.supported if self.composed else None,
            "extractive": bool(self.composed and self.composed.extractive),
            "model_answer": self.model_text,
            "finish_reason": self.finish_reason,
            "truncated": self.finish_reason == "length",
            "note": self.note,
            "model": self.model,
            "timings_ms": self.timings_ms,
            "error": self.error,
        }
