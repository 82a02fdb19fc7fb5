"""``wb.search``: the derived index kept in step with the store, and hybrid queries over it."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from workbench.config import Settings
from workbench.embeddings.model import Embedder
from workbench.errors import DiskFull
from workbench.ingest import Progress, no_progress
from workbench.logs import timed
from workbench.records import Message
from workbench.search.relevance import above_floor
from workbench.search.retrieve import Hit, Retriever, SearchResult, get_retriever_config
from workbench.search.sync import (SyncReport, index_name, index_turn, rebuild, sync_index,
                                   unindex_removed)
from workbench.search.lancedb_index import LanceIndex
from workbench.search.maintenance import Upkeep
from workbench.search.protocol import Filters, Index
from workbench.store import Store
from workbench.text.chunking import CHUNKERS, get_chunker
from workbench.text.highlight import query_terms

log = logging.getLogger(__name__)


class Search:
    """Queries and index upkeep for one store; one ``Index`` per chunker, opened on first use
    and kept until the workbench closes (``indexes``)."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder, pool: Executor):
        self.store = store
        self.settings = settings
        self._embedder = embedder
        self._pool = pool
        self._lock = threading.Lock()
        self.indexes: dict[str, Index] = {}

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def index(self, chunker: str | None = None) -> Index:
        """The index for the configured model and ``chunker`` (a LanceDB table in the home, or a
        pgvector table beside a PostgreSQL store). Opening it reads nothing and writes nothing:
        a one-shot search of a read-only home starts with its query."""
        name = index_name(self._embedder, get_chunker(chunker or self.settings.chunker))
        with self._lock:
            if name not in self.indexes:
                self.indexes[name] = self._open_index(name)
            return self.indexes[name]

    def drop_orphans(self) -> int:
        """Take the chunks the store no longer has out of every index that still holds some;
        returns how many. Run by the writer that upgrades a home (a migration can stop chunks
        being memories: the chat's answers, m007), by ``maintain`` and by every import."""
        removed = 0
        for chunker in CHUNKERS:
            name = index_name(self._embedder, get_chunker(chunker))
            if self.store.chunks.orphan_marks(name):  # the index is opened only when needed
                removed += unindex_removed(self.store, self.index(chunker))
        if removed:
            log.info("took %d chunks the store no longer has out of the indexes", removed)
        return removed

    def _open_index(self, name: str) -> Index:
        from workbench.store.postgres import PostgresStore

        if isinstance(self.store, PostgresStore):
            from workbench.store.postgres.index import PgIndex

            return PgIndex(self.store, name, self._embedder.dimension, self.settings.ann_threshold)
        return LanceIndex(self.settings.lancedb_path, name, self._embedder.dimension,
                          self.settings.ann_threshold, self.settings.search_mirror)

    def query(
        self,
        text: str,
        workspace: str | None = None,
        k: int = 10,
        since: datetime | None = None,
        until: datetime | None = None,
        role: str | None = None,
        conversation: str | None = None,
        retriever: str | None = None,
        chunker: str | None = None,
        exclude_message_ids: tuple[str, ...] = (),
        now: datetime | None = None,
        neighbours: int = 0,
        **overrides: Any,
    ) -> SearchResult:
        """Hybrid search over one workspace (all when None), newest configuration by default."""
        config = get_retriever_config(retriever or self.settings.retriever, **overrides)
        engine = Retriever(self.index(chunker), self._embedder, config, self._pool)
        filters = Filters(workspace, conversation, role, since, until, exclude_message_ids)
        with timed("search", retriever=config.name, k=k, words=len(text.split()),
                   workspace=workspace is not None, conversation=conversation is not None,
                   since=since is not None, until=until is not None, role=role is not None):
            result = engine.search(text, filters, k, now)
        if self.settings.index_generated and result.hits:
            # The chat's own answers rank below imported history and the user's words.
            generated = self.store.messages.generated_among([h.message_id for h in result.hits])
            result.hits.sort(key=lambda hit: hit.message_id in generated)
        if neighbours:
            for hit in result.hits:
                hit.context = [m.to_dict() for m in
                               self.store.messages.neighbours(hit.message_id, neighbours)]
        return result

    def relevant(self, text: str, result: SearchResult) -> list[Hit]:
        """The result's hits that pass the relevance floor (a person's search: nothing shown
        beats unrelated text shown)."""
        return above_floor(self._embedder, text, query_terms(text, result.time_phrase),
                           result.hits)

    def prepare(self, chunker: str | None = None) -> threading.Thread:
        """Load the model and build the index's in-memory copy in the background: a
        long-lived process (the app) calls this at start so its first searches are fast."""

        def prepare() -> None:
            try:
                self._embedder.encode_query("warm up")
                self.index(chunker).mirror()
            except Exception as error:  # noqa: BLE001 - the first search will say what is wrong
                log.warning("search not prepared: %s", error)

        thread = threading.Thread(target=prepare, name="prepare-search", daemon=True)
        thread.start()
        return thread

    def index_pending(self, chunker: str | None = None, progress: Progress = no_progress) -> SyncReport:
        """Chunk, embed and index whatever the store holds that the index lacks."""
        chunker_ = get_chunker(chunker or self.settings.chunker)
        index = self.index(chunker_.name)
        try:
            return sync_index(self.store, index, self._embedder, chunker_, progress,
                              include_generated=self.settings.index_generated)
        except (OSError, RuntimeError) as exc:
            if not DiskFull.caused(exc):  # LanceDB says it in a RuntimeError of its own
                raise
            raise DiskFull(f"{index.name}: the disk is full ({DiskFull.REASON}); the chunks not "
                           "written stay pending for the next indexing") from exc

    def reindex(self, chunker: str | None = None, progress: Progress = no_progress) -> SyncReport:
        """Drop the derived index and rebuild it from the store, every conversation chunked
        again (what is a memory may have changed: ``index_generated``)."""
        rebuild(self.store, self.index(chunker))
        self.store.chunks.forget_signatures(get_chunker(chunker or self.settings.chunker).name)
        return self.index_pending(chunker, progress)

    def index_turn(
        self, conversation_id: str, workspace: str, title: str | None, messages: list[Message],
        new: set[str], chunker: str | None = None,
    ) -> SyncReport:
        """Index a chat turn's ``new`` messages (``messages``: those and the ones before them)."""
        chunker_ = get_chunker(chunker or self.settings.chunker)
        return index_turn(self.store, self.index(chunker_.name), self._embedder, chunker_,
                          conversation_id, workspace, title, messages, new)

    def maintain(self, chunker: str | None = None) -> Upkeep:
        """Index what the store holds that the index lacks (an import whose indexing failed),
        fold appended rows into the indexes and rebuild the vector index in one piece if it
        has too many: what an import's indexing does, for a home that only chats. Chunks the
        store no longer has leave the index first."""
        indexed = self.index_pending(chunker).chunks_embedded
        index = self.index(chunker)
        unindex_removed(self.store, index)
        upkeep = index.maintain()
        upkeep.chunks_indexed = indexed
        return upkeep

    def close(self) -> None:
        """Forget the opened indexes (their upkeep is synchronous: nothing runs behind them)."""
        with self._lock:
            self.indexes = {}
