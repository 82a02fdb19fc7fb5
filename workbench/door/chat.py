"""``wb.chat``: chat turns with memory, on the workbench's LLM, and the interaction log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from workbench.chat.llm import LLMClient, LLMSource
from workbench.chat.turn import Chat, ChatParts, Turn


class Chats:
    """Turns on the workbench's own LLM (``start``/``stream``/``ask``/``retry``, with the
    settings' options), or on any client and options (``session``). Every session shares the
    workbench's indexing worker, so turns are indexed in the order they were stored."""

    def __init__(self, parts: ChatParts, llm: LLMSource):
        self.parts = parts
        self._llm = llm
        self._default: Chat | None = None

    def llm(self) -> LLMClient:
        """The configured endpoint's client, else the embedded server's (started on first use)."""
        return self._llm.client()

    def session(self, llm: LLMClient | None, **options: Any) -> Chat:
        """A ``Chat`` on ``llm`` (None: no LLM; turns keep the question for ``retry``) with
        ``options`` (k, history_tokens, memory_tokens, retriever, chunker)."""
        return Chat(self.parts, llm, **options)

    def _chat(self) -> Chat:
        if self._default is None:
            self._default = self.session(self.llm())
        return self._default

    def start(self, message: str, workspace: str | None = None,
              conversation: str | None = None, now: datetime | None = None) -> Turn:
        return self._chat().start(message, workspace, conversation, now)

    def stream(self, turn: Turn) -> Iterator[str]:
        return self._chat().stream(turn)

    def ask(self, message: str, workspace: str | None = None, conversation: str | None = None,
            now: datetime | None = None) -> Turn:
        return self._chat().ask(message, workspace, conversation, now)

    def retry(self, conversation: str, now: datetime | None = None) -> Turn:
        return self._chat().retry(conversation, now)

    def wait_for_indexing(self) -> None:
        """Return once every turn stored so far through this workbench is indexed."""
        self.parts.indexer.submit(lambda: None).result()

    def interactions(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """The interaction log (one row per turn), of one conversation or all, oldest first."""
        store = self.parts.store
        cid = store.conversations.get(conversation).id if conversation else None
        return store.interactions.list(cid)
