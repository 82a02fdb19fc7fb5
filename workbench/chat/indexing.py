"""A chat turn's indexing: its new messages that are memories chunked from what the chat holds,
embedded (the question's while the model writes), stored with the answer and appended."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from workbench.records import Message
from workbench.search.sync import TurnChunks, append_turn, is_memory, plan_turn
from workbench.text.chunking import get_chunker

if TYPE_CHECKING:
    from workbench.chat.parts import ChatParts, Turn

log = logging.getLogger(__name__)


class TurnIndexing:
    """What a ``Chat`` hands to its parts' one indexing worker, in order, for each turn."""

    def __init__(self, parts: ChatParts, chunker: str | None = None):
        self.parts = parts
        self.chunker = chunker

    def is_memory(self, message: Message) -> bool:
        """Whether a message of this chat becomes a memory (see ``search.sync.is_memory``)."""
        return is_memory(message.generated, (message.metadata or {}).get("supported"),
                         self.parts.settings.index_generated)

    def new(self, question: Message, answer: Message | None) -> list[Message]:
        """The turn's messages that become memories: the question, and the answer if it is one."""
        return [question] + ([answer] if answer is not None and self.is_memory(answer) else [])

    def plan(self, turn: Turn, new: list[Message]) -> TurnChunks:
        """The chunks of the turn's ``new`` messages, made from what the chat holds."""
        chunker = get_chunker(self.chunker or self.parts.settings.chunker)
        return plan_turn(chunker, self.parts.memory.index(chunker.name), self.parts.embedder,
                         turn.conversation_id, turn.workspace, turn.title,
                         self.context(turn) + new, {m.id for m in new})

    def context(self, turn: Turn) -> list[Message]:
        """The turns before the question that are memories (an answer that is not stays out
        of the question's chunk too)."""
        return [m for m in turn.before if self.is_memory(m)]

    def embed_question(self, turn: Turn) -> None:
        """Embed the question's chunks while the model writes: they need nothing from the
        answer, and the CPU waits on a remote endpoint then (on a local model's two cores it
        takes ≈ 15 ms of theirs). The turn's indexing reuses them by chunk id."""
        started = time.perf_counter()
        try:
            plan = self.plan(turn, [turn.user_message])
            if plan.chunks:
                turn.vectors.update(zip((c.id for c in plan.chunks),
                                        self.parts.embedder.encode(plan.texts)))
        except Exception:  # noqa: BLE001 - the turn's indexing embeds them instead
            log.exception("embedding the question of %s failed", turn.conversation_id)
        turn.timings_ms["embed_question"] = (time.perf_counter() - started) * 1000

    def vectors(self, turn: Turn, plan: TurnChunks) -> np.ndarray:
        missing = [c.text for c in plan.chunks if c.id not in turn.vectors]
        fresh = iter(self.parts.embedder.encode(missing) if missing else ())
        return np.stack([turn.vectors[c.id] if c.id in turn.vectors else next(fresh)
                         for c in plan.chunks])

    def index_turn(self, turn: Turn, plan: TurnChunks, stored: threading.Event,
                    since: float) -> None:
        """Embed the turn's chunks while they are stored (``stored`` is set once the store is
        done), then append them: the turn's last piece of work. Chunks that could not be
        recorded with the answer are indexed the ordinary way; a failure leaves them pending
        for the next full sync (``workbench reindex``, an ingest)."""
        started = time.perf_counter()
        try:
            vectors = self.vectors(turn, plan) if plan.chunks else None
            stored.wait()
            if plan.recorded:
                if turn.answer is not None:  # another writer may have moved it along
                    plan.restamp(turn.answer)
                if vectors is not None:
                    append_turn(self.parts.store, self.parts.memory.index(plan.chunker), plan,
                                vectors)
            else:
                new = self.new(turn.user_message, turn.answer)
                with self.parts.store.session():
                    self.parts.memory.index_turn(turn.conversation_id, turn.workspace, turn.title,
                                                 self.context(turn) + new, {m.id for m in new},
                                                 self.chunker)
        except Exception:  # noqa: BLE001 - background work: log it, never lose the turn
            log.exception("indexing conversation %s failed", turn.conversation_id)
        finally:
            stored.wait()
            self.parts.store.let_go()  # the turn's work is done: the user's think-time starts
        ended = time.perf_counter()
        turn.timings_ms["index"] = (ended - started) * 1000
        turn.timings_ms["after_answer"] = (ended - since) * 1000  # what the turn adds after it
        # Queued behind this turn on the one indexing worker: it runs while the person reads.
        self.parts.indexer.submit(contextvars.copy_context().run, self.fold, plan.chunker)

    def fold(self, chunker: str) -> None:
        try:
            self.parts.memory.index(chunker).fold_if_due()
        except Exception:  # noqa: BLE001 - upkeep: the next turn or `maintain` folds instead
            log.exception("folding the index's appends failed")
