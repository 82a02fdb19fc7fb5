"""The Workbench: the one door the CLI, the app and notebooks use."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.chat.llm import LLMSource
from workbench.chat.turn import ChatParts
from workbench.config import Settings, load_settings
from workbench.door.chat import Chats
from workbench.door.conversations import Conversations
from workbench.door.evals import Evals
from workbench.door.imports import Imports
from workbench.door.search import Search
from workbench.door.threads import Threads
from workbench.door.users import Users
from workbench.embeddings.model import Embedder
from workbench.ops.encryption import open_home
from workbench.store import open_store

log = logging.getLogger(__name__)


class Workbench:
    """A workbench home (DuckDB store + derived LanceDB indexes, or one PostgreSQL database
    when ``database_url`` is set) opened with its settings.

    It owns what its rooms (``conversations``, ``imports``, ``search``, ``chat``, ``evals``)
    work with: the embedder, the worker threads, the embedded LLM server, the index handles and
    the store's lingering connection; ``close()`` (or leaving a ``with`` block) releases them.
    An ``embedder`` passed in is shared with its owner and left open. A ``read_only`` one
    neither migrates nor takes the write lock (``store.reading``): for commands that only read.
    """

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 read_only: bool = False):
        # Settings made without load_settings may name an encrypted home: open it the same way.
        self.settings = settings = open_home(settings or load_settings())
        # A reader of a home not made yet makes it, as a writer would: there is nothing to read.
        read_only = read_only and settings.duckdb_path.exists()
        self.store = open_store(settings, read_only)
        self.embedder = embedder or Embedder(
            settings.embedding_model, settings.device, query_encoder=settings.query_encoder,
            cache_dir=settings.cache_dir,
        )
        # Full-text searches run beside the vector half; the chat's searches and its
        # one-worker indexer (turns indexed in order) run apart, so a turn's indexing never
        # waits behind a search it started.
        # Closed in this order: a chat's work uses the search pool, never the reverse.
        self._pools = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-index"),
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="chat-search"),
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="search"),
        ]
        indexer, chat_search, search_pool = self._pools
        self._llm = LLMSource(settings, settings.home)
        self.search = Search(self.store, settings, self.embedder, search_pool)
        if self.store.migrated:
            # The writer that upgrades a home settles what a migration took from the index's
            # source (a reader migrates nothing, so a one-shot search never writes here).
            self.search.drop_orphans()
        self.conversations = Conversations(self.store, settings)
        self.imports = Imports(self.store, settings, self.search.index_pending)
        self.chat = Chats(ChatParts(self.store, self.search, self.embedder, settings, indexer,
                                    chat_search), self._llm)
        self.evals = Evals(self.store, settings, self.search, self._llm)
        self.users = Users(self.store, settings)
        self.threads = Threads(self.users, self.conversations, self.chat, self.search.index_pending)
        self.closed = False

    @classmethod
    def open(cls, home: Path | str | None = None, embedder: Embedder | None = None,
             **overrides: Any) -> "Workbench":
        if home is not None:
            overrides["home"] = Path(home)
        return cls(load_settings(**overrides), embedder)

    def stats(self, workspace: str | None = None) -> dict[str, Any]:
        stats: dict[str, Any] = self.store.conversations.counts(workspace)
        spaces = self.store.conversations.workspaces()
        stats["per_workspace"] = [s for s in spaces if workspace is None or s["name"] == workspace]
        return stats

    def workspaces(self) -> list[dict[str, Any]]:
        return self.store.conversations.workspaces()

    def close(self) -> None:
        """Finish the chat turns' indexing, stop the threads and the embedded LLM server, let
        the indexes' background work end and the store's lingering connection go. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for pool in self._pools:
            pool.shutdown(wait=True)
        self._llm.close()
        self.search.close()
        self.store.release()

    def __enter__(self) -> "Workbench":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
