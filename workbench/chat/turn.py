"""The chat flow: persist the question, remember, prompt, stream, cite, log, index.

The order is the original project's and is kept exactly: the user's message is stored first (a
new conversation is created, and titled, on its first message); past messages of the whole
workspace are retrieved (excluding the turns already visible in this conversation); the prompt is
built; the answer is streamed and stored with the message ids it cites; the interaction is
logged; the new turns are indexed (in the background, once the answer is stored) so the memory
grows as you chat. If no LLM answers, the question and the memories stay, the error is logged,
and ``retry`` answers it later.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

from workbench.chat.answer import Composer, truncated_note
from workbench.chat.grounding import Grounder
from workbench.chat.indexing import TurnIndexing
from workbench.chat.parts import ChatParts, Turn
from workbench.chat.llm import LLMClient
from workbench.chat.prompt import PROMPT_VERSION, build_prompt, recent_turns
from workbench.logs import new_turn_id, turn_scope
from workbench.errors import EmptyMessage, InvalidInput, LLMUnavailable
from workbench.records import Conversation, Message
from workbench.search.retrieve import Hit
from workbench.search.sync import TurnChunks, record_turn
from workbench.store import Conflict
from workbench.store.ids import message_hash
from workbench.text.chunking import get_chunker

MAX_QUERY_CHARS = 2000  # a 1 MB paste still makes a usable search query
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CITATION = re.compile(r"\[(\d{1,3})\]")

log = logging.getLogger(__name__)
_SPARE_HITS = 24  # hits asked beyond k, so that dropping the visible turns still leaves k


def sanitise(text: str) -> str:
    """Drop control characters (keeping newlines and tabs); never store a broken message."""
    return _CONTROL.sub("", text).strip()


def title_from(text: str, words: int = 8) -> str:
    first = " ".join(text.split()[:words])
    return (first[:80] + "…") if len(first) > 80 or len(text.split()) > words else first


def citations(text: str, hits: list[Hit]) -> list[dict[str, Any]]:
    """The hits the answer cites as [n], in the order first cited."""
    cited = []
    for number in dict.fromkeys(int(n) for n in _CITATION.findall(text)):
        if 1 <= number <= len(hits):
            hit = hits[number - 1]
            cited.append({"n": number, "message_id": hit.message_id,
                          "source_id": hit.source_id, "conversation_id": hit.conversation_id})
    return cited


def interaction_row(turn: Turn, stats=None) -> dict[str, Any]:
    """The interaction log's row for a turn."""
    timings = turn.timings_ms
    return {
        "workspace": turn.workspace, "conversation_id": turn.conversation_id,
        "user_message_id": turn.user_message.id,
        "assistant_message_id": turn.answer.id if turn.answer else None,
        "model": turn.model, "endpoint": turn.endpoint,
        "tokens_in": stats.prompt_tokens if stats else None,
        "tokens_out": stats.completion_tokens if stats else None,
        "usage_source": stats.usage_source if stats else None,
        "retrieval_ms": timings.get("retrieval"), "ttft_ms": timings.get("ttft"),
        # The workbench's own time is before the model (prepare) and after it (finish).
        "total_ms": sum(timings.get(part, 0) for part in ("prepare", "generation", "finish")),
        "overhead_ms": timings.get("prepare", 0) + timings.get("finish", 0),
        "retrieved_ids": [h.message_id for h in turn.hits],
        "cited_ids": [c["message_id"] for c in turn.citations], "error": turn.error,
    }


class Chat:
    """Runs turns against one workbench's parts and one LLM client; ``llm`` None answers
    every turn with an error (the question is kept for ``retry``)."""

    def __init__(self, parts: ChatParts, llm: LLMClient | None, k: int = 6,
                 history_tokens: int = 1500, memory_tokens: int = 1200,
                 retriever: str | None = None, chunker: str | None = None):
        self.parts = parts
        self.llm = llm
        self.k = k
        self.retriever = retriever
        self.chunker = chunker
        self.history_tokens = history_tokens
        self.memory_tokens = memory_tokens
        self.indexing = TurnIndexing(parts, chunker)
        self.composer = Composer(Grounder(parts.embedder),
                                 lambda mid: parts.store.messages.neighbours(mid, 1))

    # -- the flow -------------------------------------------------------------------------------
    def start(self, message: str, workspace: str | None = None,
              conversation: str | None = None, now: datetime | None = None) -> Turn:
        """Persist the question and retrieve memories: everything before the LLM is asked."""
        with turn_scope() as turn_id:
            turn = self._start(message, workspace, conversation, now)
        turn.turn_id = turn_id
        return turn

    def _start(self, message: str, workspace: str | None, conversation: str | None,
               now: datetime | None) -> Turn:
        started = time.perf_counter()
        text = sanitise(message)
        if not text:
            raise EmptyMessage("the message is empty")
        self.wait_for_indexing()
        created = conversation is None
        guess = workspace or self.parts.settings.default_workspace
        store = self.parts.store
        with self._held():
            # Retrieval needs neither the stored question nor this conversation's rows (its
            # visible turns are dropped from the hits afterwards), so it runs while the question
            # is stored; the question is still stored before the model is asked.
            early = self.parts.searcher.submit(contextvars.copy_context().run, self._search,
                                               text, guess, now, _SPARE_HITS)
            with store.session():
                if created:
                    conv = store.conversations.create(guess, title_from(text))
                else:
                    conv = store.conversations.get(conversation)
                user = store.messages.add(conv.id, "user", text)
                history, before = self._history(conv.id, before=user) if not created else ([], [])
            result = early.result()
            return self._prepare(conv, user, history, before, started, created, now,
                                 result if conv.workspace == guess else None)

    def _search(self, text: str, workspace: str, now: datetime | None, spare: int,
                exclude: tuple[str, ...] = ()):
        return self.parts.memory.query(text[:MAX_QUERY_CHARS], workspace, self.k + spare, now=now,
                                       retriever=self.retriever, chunker=self.chunker,
                                       exclude_message_ids=exclude)

    def _prepare(self, conv: Conversation, user: Message, history: list[Message],
                 before: list[Message], started: float, created: bool, now: datetime | None,
                 result=None) -> Turn:
        """The memories (``result``: a search made without knowing the visible turns, else one
        is made now) and the prompt."""
        visible = {m.id for m in history} | {user.id}
        hits = None
        if result is not None:
            hits = [h for h in result.hits if h.message_id not in visible]
            if len(hits) < self.k and len(result.hits) == self.k + _SPARE_HITS:
                hits = None  # the visible turns crowded the spare hits out: search without them
        if hits is None:
            result = self._search(user.content, conv.workspace, now, 0, tuple(visible))
            hits = result.hits
        hits = hits[: self.k]
        prompt = self._prompt(hits, history, user)
        turn = Turn(conv.id, conv.workspace, user, hits, prompt,
                    timings_ms={"retrieval": result.timings_ms.get("total", 0.0),
                                "prepare": (time.perf_counter() - started) * 1000},
                    new_conversation=created, title=conv.title, before=before)
        if not get_chunker(self.chunker or self.parts.settings.chunker).following:
            self.parts.indexer.submit(contextvars.copy_context().run, self.indexing.embed_question,
                                      turn)
        # The extractive answer reads only the question and its memories: chosen while the
        # model writes, it is ready when an answer turns out to need it (a remote model leaves
        # the CPU free then; it costs a local one what embedding the question's chunk does).
        turn.best_memory = self.parts.searcher.submit(
            contextvars.copy_context().run, self.composer.best_memory, user.content, tuple(hits))
        return turn

    def stream(self, turn: Turn) -> Iterator[str]:
        """Yield the answer's text as it arrives; the turn is complete when iteration ends."""
        # The caller pulls the tokens: each pull runs in the turn's log scope, the caller's
        # own code between pulls does not.
        if turn.turn_id is None:
            turn.turn_id = new_turn_id()
        tokens = self._stream(turn)
        while True:
            with turn_scope(turn.turn_id):
                token = next(tokens, None)
            if token is None:
                return
            yield token

    def _stream(self, turn: Turn) -> Iterator[str]:
        started = time.perf_counter()
        pieces: list[str] = []
        stats = None
        try:
            if self.llm is None:
                raise LLMUnavailable("no LLM is configured")
            turn.endpoint = self.llm.endpoint
            turn.model = self.llm.model
            stream = self.llm.stream_chat(turn.prompt)
            stats = stream.stats
            for delta in stream:
                pieces.append(delta)
                yield delta
        except LLMUnavailable as exc:
            turn.error = str(exc)
        turn.text = turn.model_text = "".join(pieces).strip()
        generation_ms = (time.perf_counter() - started) * 1000
        if stats is not None:
            turn.timings_ms["ttft"] = (stats.ttft_s or 0.0) * 1000
            turn.finish_reason = stats.finish_reason
        turn.timings_ms["generation"] = generation_ms
        self._finish(turn, stats)

    def ask(self, message: str, workspace: str | None = None, conversation: str | None = None,
            now: datetime | None = None) -> Turn:
        turn = self.start(message, workspace, conversation, now)
        for _ in self.stream(turn):
            pass
        return turn

    def wait_for_indexing(self) -> None:
        """Return once every turn stored so far through these parts is indexed."""
        self.parts.indexer.submit(lambda: None).result()

    def retry(self, conversation: str, now: datetime | None = None) -> Turn:
        """Answer the conversation's last question again (after the LLM was down)."""
        started = time.perf_counter()
        self.wait_for_indexing()
        store = self.parts.store
        with self._held():
            with store.session():
                conv = store.conversations.get(conversation)
                active = store.messages.list(conv.id, active_only=True)
                if not active or active[-1].role != "user":
                    raise InvalidInput(f"conversation {conv.id} has no unanswered question")
                history, before = self._history(conv.id, before=active[-1])
            turn = self._prepare(conv, active[-1], history, before, started, False, now)
        for _ in self.stream(turn):
            pass
        return turn

    def regenerate(self, conversation: str, answer: str | None = None,
                   now: datetime | None = None) -> Turn:
        """Answer the last question again; the previous answer stays, on an inactive branch.
        ``answer``: the one to replace; once it is not the last (replaced already, say from
        another tab, or a click delivered twice) nothing is asked again."""
        store = self.parts.store
        active = store.messages.list(conversation, active_only=True)
        if not active or active[-1].role != "assistant":
            raise InvalidInput(f"conversation {conversation} does not end with an answer")
        if answer is not None and active[-1].id != answer:
            raise InvalidInput("that answer was replaced already")
        store.messages.branch_off(active[-1].id)
        return self.retry(conversation, now)

    def edit(self, message_id: str, message: str, now: datetime | None = None) -> Turn:
        """Ask an edited question in place of an earlier one, as a new branch from the same
        parent (what followed it stays, inactive); stream the returned turn to answer it."""
        if not sanitise(message):
            raise EmptyMessage("the message is empty")
        store = self.parts.store
        original = store.messages.get(message_id)
        if original.role != "user":
            raise InvalidInput(f"message {message_id} is not a question (role {original.role})")
        if not original.on_active_branch:  # edited already (another tab, a click sent twice)
            raise InvalidInput("that question was edited already")
        conversation = store.conversations.get(original.conversation_id)
        store.messages.branch_off(message_id)
        return self.start(message, conversation.workspace, conversation.id, now)

    # -- pieces ---------------------------------------------------------------------------------
    def _finish(self, turn: Turn, stats) -> None:
        started = time.perf_counter()  # opening and closing the store count: a turn waits for them
        answer = self._draft(turn)
        plan = self.indexing.plan(turn, self.indexing.new(turn.user_message, answer))
        # The turn's chunks are embedded while the answer, its log row and the chunk and ledger
        # rows are stored in one transaction; only the index append is left after it.
        stored = threading.Event()
        self.parts.indexer.submit(contextvars.copy_context().run, self.indexing.index_turn, turn,
                                  plan, stored, started)
        try:
            with self.parts.store.session():
                self._record(turn, stats, answer, plan, started)
        finally:
            stored.set()
        turn.timings_ms["finish"] = (time.perf_counter() - started) * 1000
        turn.timings_ms["overhead"] = turn.timings_ms["prepare"] + turn.timings_ms["finish"]

    def _draft(self, turn: Turn) -> Message | None:
        """The answer as it is about to be stored (its id and time chosen here), or None."""
        if turn.error is not None:
            return None
        started = time.perf_counter()
        early = turn.best_memory.result if turn.best_memory is not None else None
        turn.composed = composed = self.composer.compose(turn.user_message.content,
                                                         turn.model_text, turn.hits, early)
        turn.timings_ms["grounding"] = (time.perf_counter() - started) * 1000
        if not turn.model_text and composed.extractive is None:
            return None  # nothing to show: logged as an empty answer
        turn.text, turn.citations = composed.text, composed.citations
        if self.llm is not None:
            turn.note = truncated_note(turn.finish_reason, self.llm.config.max_tokens)
        mid = str(uuid.uuid4())
        user = turn.user_message
        metadata = {"citations": turn.citations, "model": turn.model, "prompt": PROMPT_VERSION,
                    "sources": turn.sources, "grounding": composed.grounding.to_dict(),
                    "supported": composed.grounding.supported,
                    "extractive": composed.extractive is not None,
                    "model_answer": turn.model_text, "finish_reason": turn.finish_reason}
        return Message(mid, turn.conversation_id, user.id, "assistant", turn.model, turn.text,
                       "text", datetime.now(timezone.utc), mid, metadata,
                       True, message_hash("assistant", turn.text), user.position + 1,
                       generated=True)

    def _record(self, turn: Turn, stats, answer: Message | None, plan: TurnChunks,
                started: float) -> None:
        try:
            self._store_answer(turn, stats, answer, plan, started)
        except Conflict:
            # The question's chunk is indexed already (a retry, or a full sync in another
            # process): store the answer alone; its indexing then takes the path that
            # tolerates that.
            self._store_answer(turn, stats, answer, None, started)

    def _store_answer(self, turn: Turn, stats, answer: Message | None,
                      plan: TurnChunks | None, started: float) -> None:
        """The answer, its log row and its chunks in one transaction; ``turn.answer`` and
        ``plan.recorded`` say what it committed."""
        try:
            with self.parts.store.transaction():
                if answer is not None:
                    turn.answer = self.parts.store.messages.add(
                        turn.conversation_id, "assistant", answer.content,
                        speaker=answer.speaker, metadata=answer.metadata, created_at=answer.created_at,
                        message_id=answer.id, generated=answer.generated,
                    )
                elif turn.error is None:
                    turn.error = "the model returned an empty answer"
                # The log row cannot time its own commit: it counts the finish up to here.
                turn.timings_ms["finish"] = (time.perf_counter() - started) * 1000
                self.parts.store.interactions.log(interaction_row(turn, stats))
                if plan is not None:
                    record_turn(self.parts.store, plan)
        except BaseException:
            turn.answer = None
            raise
        if plan is not None:
            plan.recorded = True

    @contextmanager
    def _held(self) -> Iterator[None]:
        """Keep the database open from the question to the indexing of the answer (three
        openings at 15-30 ms each otherwise); a turn abandoned midway lets go at the deadline,
        one that fails before the model is asked (an unknown conversation) at once."""
        self.parts.store.hold(self.parts.settings.llm_timeout_s + 30)
        try:
            yield
        except BaseException:
            self.parts.store.let_go()
            raise

    def _history(self, conversation_id: str, before: Message) -> tuple[list[Message], list[Message]]:
        """The recent turns of this conversation that fit the history budget, oldest first,
        and the last active messages before ``before`` (the context its chunk shows)."""
        earlier = [m for m in self.parts.store.messages.list(conversation_id, True)
                   if m.id != before.id]
        return recent_turns(earlier, self._model_name(), self.history_tokens), earlier[-3:]

    def _prompt(self, hits: list[Hit], history: list[Message], user: Message) -> list[dict[str, str]]:
        return build_prompt(hits, history, user.content, self._model_name(), self.memory_tokens,
                            self.history_tokens)

    def _model_name(self) -> str:
        return (self.llm.config.model if self.llm and self.llm.config.model else "") or ""

