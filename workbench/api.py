"""The Workbench facade: the one door the CLI, the app and notebooks use."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from . import export
from .chunking import get_chunker
from .config import Settings, load_settings
from .embed import Embedder, get_embedder
from .index import Filters, Index
from .indexing import SyncReport, index_name, rebuild, sync_index
from .ingest import Progress, _quiet, ingest_paths
from .records import Conversation, ImportResult, Message
from .retrieve import Retriever, SearchResult, get_retriever_config
from .store import Store
from .store import conversations as crud


class Workbench:
    """A workbench home (DuckDB store + derived indexes) opened with its settings."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self.store = Store(self.settings.duckdb_path, self.settings.lock_timeout_s)
        self._indexes: dict[str, Index] = {}

    @classmethod
    def open(cls, home: Path | str | None = None, **overrides: Any) -> "Workbench":
        if home is not None:
            overrides["home"] = Path(home)
        return cls(load_settings(**overrides))

    def _workspace(self, workspace: str | None) -> str:
        return workspace or self.settings.default_workspace

    # ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[Path | str],
        workspace: str | None = None,
        format: str | None = None,
        progress: Progress = _quiet,
    ) -> list[ImportResult]:
        results = ingest_paths(
            self.store, paths, self._workspace(workspace), format, progress, self.settings.redact
        )
        if self.settings.index_on_ingest and any(r.status == "done" for r in results):
            self.index_pending(progress=progress)
        return results

    # index and search -----------------------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings.embedding_model, self.settings.device)

    def index(self, chunker: str | None = None) -> Index:
        """The LanceDB table for the configured model and ``chunker`` (opened once per process)."""
        name = index_name(self.embedder, get_chunker(chunker or self.settings.chunker))
        if name not in self._indexes:
            self._indexes[name] = Index(
                self.settings.lancedb_path, name, self.embedder.dimension, self.settings.ann_threshold
            )
        return self._indexes[name]

    def index_conversation(self, conversation_id: str, chunker: str | None = None) -> SyncReport:
        """Index one conversation's new turns (the chat's fast path)."""
        chunker_ = get_chunker(chunker or self.settings.chunker)
        return sync_index(self.store, self.index(chunker_.name), self.embedder, chunker_, _quiet,
                          conversations=[conversation_id])

    # chat -------------------------------------------------------------------------------------
    def chat(self, llm=None, **options: Any):
        """A ``Chat`` over this workbench; ``llm`` defaults to the configured endpoint or the
        embedded local model (started on first use)."""
        from .chat import Chat
        from .llm import ensure_llm

        if llm is None:
            llm, _ = ensure_llm(self.settings, self.settings.home)
        return Chat(self, llm, **options)

    def log_interaction(self, turn, stats=None) -> str:
        from .store.interactions import log_interaction

        timings = turn.timings_ms
        return log_interaction(self.store, {
            "workspace": turn.workspace, "conversation_id": turn.conversation_id,
            "user_message_id": turn.user_message.id,
            "assistant_message_id": turn.answer.id if turn.answer else None,
            "model": turn.model, "endpoint": turn.endpoint,
            "tokens_in": stats.prompt_tokens if stats else None,
            "tokens_out": stats.completion_tokens if stats else None,
            "usage_source": stats.usage_source if stats else None,
            "retrieval_ms": timings.get("retrieval"), "ttft_ms": timings.get("ttft"),
            "total_ms": timings.get("prepare", 0) + timings.get("generation", 0),
            "overhead_ms": timings.get("prepare"),
            "retrieved_ids": [h.message_id for h in turn.hits],
            "cited_ids": [c["message_id"] for c in turn.citations], "error": turn.error,
        })

    def interactions(self, conversation: str | None = None) -> list[dict[str, Any]]:
        from .store.interactions import list_interactions

        cid = self.conversation(conversation).id if conversation else None
        return list_interactions(self.store, cid)

    def index_pending(self, chunker: str | None = None, progress: Progress = _quiet) -> SyncReport:
        """Chunk, embed and index whatever the store holds that the index lacks."""
        chunker_ = get_chunker(chunker or self.settings.chunker)
        return sync_index(self.store, self.index(chunker_.name), self.embedder, chunker_, progress)

    def reindex(self, chunker: str | None = None, progress: Progress = _quiet) -> SyncReport:
        rebuild(self.store, self.index(chunker))
        return self.index_pending(chunker, progress)

    def search(
        self,
        query: str,
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
        engine = Retriever(self.index(chunker), self.embedder, config)
        filters = Filters(workspace, conversation, role, since, until, exclude_message_ids)
        result = engine.search(query, filters, k, now)
        if neighbours:
            for hit in result.hits:
                hit.context = [m.to_dict() for m in crud.neighbours(self.store, hit.message_id, neighbours)]
        return result

    def eval_locomo(
        self,
        path: Path | str,
        retriever: str | None = None,
        chunker: str | None = None,
        ks: Iterable[int] = (5, 10, 25, 50),
        progress: Progress = _quiet,
        **overrides: Any,
    ):
        """LoCoMo retrieval recall: imports the file if needed, searches every question in its
        own sample's workspace and scores the distinct retrieved dialog turns."""
        from .evaluate import evaluate, locomo_queries

        queries = locomo_queries(path)
        known = {w["name"] for w in self.workspaces()}
        if not {q.workspace for q in queries} <= known:
            ingest_paths(self.store, [path], self.settings.default_workspace, "locomo", progress)
        self.index_pending(chunker, progress)

        def run(query, k):
            result = self.search(query.text, query.workspace, k, retriever=retriever,
                                 chunker=chunker, **overrides)
            return [h.source_id for h in result.hits]

        report = evaluate(queries, run, ks, progress)
        report.config = {
            "retriever": retriever or self.settings.retriever,
            "chunker": chunker or self.settings.chunker,
            "embedding_model": self.settings.embedding_model,
            "overrides": overrides,
        }
        return report

    def stats(self, workspace: str | None = None) -> dict[str, Any]:
        stats: dict[str, Any] = crud.counts(self.store, workspace)
        spaces = crud.list_workspaces(self.store)
        stats["per_workspace"] = [s for s in spaces if workspace is None or s["name"] == workspace]
        return stats

    def workspaces(self) -> list[dict[str, Any]]:
        return crud.list_workspaces(self.store)

    # conversations --------------------------------------------------------------------------
    def create_conversation(
        self, workspace: str | None = None, title: str | None = None, metadata: dict | None = None
    ) -> Conversation:
        return crud.create_conversation(self.store, self._workspace(workspace), title, metadata)

    def conversations(
        self, workspace: str | None = None, title_contains: str | None = None, limit: int | None = None
    ) -> list[Conversation]:
        return crud.list_conversations(self.store, workspace, title_contains, limit)

    def conversation(self, ref: str) -> Conversation:
        return crud.get_conversation(self.store, ref)

    def rename_conversation(self, ref: str, title: str) -> Conversation:
        return crud.rename_conversation(self.store, ref, title)

    def delete_conversation(self, ref: str) -> int:
        return crud.delete_conversation(self.store, ref)

    def add_message(self, conversation: str, role: str, content: str, **fields: Any) -> Message:
        return crud.add_message(self.store, conversation, role, content, **fields)

    def messages(self, conversation: str, active_only: bool = False) -> list[Message]:
        return crud.list_messages(self.store, conversation, active_only)

    def message(self, message_id: str) -> Message:
        return crud.get_message(self.store, message_id)

    def export_conversation(self, ref: str, fmt: str = "md") -> str:
        conversation = self.conversation(ref)
        messages = self.messages(conversation.id)
        if fmt == "json":
            return export.to_json(conversation, messages)
        if fmt in {"md", "markdown"}:
            return export.to_markdown(conversation, messages)
        raise ValueError(f"unknown export format {fmt!r} (use md or json)")
