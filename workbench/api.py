"""The Workbench facade: the one door the CLI, the app and notebooks use."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from workbench.config import Settings, load_settings
from workbench.embeddings.model import Embedder, get_embedder
from workbench.errors import InvalidInput
from workbench.ingest import Progress, _quiet, ingest_paths
from workbench.records import Conversation, ImportResult, Message
from workbench.search.retrieve import Retriever, SearchResult, get_retriever_config
from workbench.search.sync import SyncReport, index_name, index_turn, rebuild, sync_index
from workbench.search.table import Filters, Index
from workbench.store import Store
from workbench.store import conversations as crud
from workbench.text.chunking import get_chunker

if TYPE_CHECKING:
    from workbench.evaluation.metrics import Query
    from workbench.evaluation.runs import Comparison, Run
    from workbench.evaluation.sets import EvalSet

log = logging.getLogger(__name__)


class Workbench:
    """A workbench home (DuckDB store + derived indexes) opened with its settings."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self.store = Store(
            self.settings.duckdb_path, self.settings.lock_timeout_s, self.settings.store_linger_s
        )
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
        return get_embedder(
            self.settings.embedding_model, self.settings.device, self.settings.query_encoder,
            self.settings.cache_dir,
        )

    def index(self, chunker: str | None = None) -> Index:
        """The LanceDB table for the configured model and ``chunker`` (opened once per process)."""
        name = index_name(self.embedder, get_chunker(chunker or self.settings.chunker))
        if name not in self._indexes:
            self._indexes[name] = Index(
                self.settings.lancedb_path, name, self.embedder.dimension,
                self.settings.ann_threshold, self.settings.search_mirror,
            )
        return self._indexes[name]

    def prepare_search(self, chunker: str | None = None) -> threading.Thread:
        """Load the model and build the index's in-memory copy in the background: a
        long-lived process (the app) calls this at start so its first searches are fast."""

        def prepare() -> None:
            try:
                self.embedder.encode_query("warm up")
                self.index(chunker).mirror()
            except Exception as error:  # noqa: BLE001 - the first search will say what is wrong
                log.warning("search not prepared: %s", error)

        thread = threading.Thread(target=prepare, name="prepare-search", daemon=True)
        thread.start()
        return thread

    def index_turn(
        self, conversation_id: str, workspace: str, title: str | None, messages: list[Message],
        new: set[str], chunker: str | None = None,
    ) -> SyncReport:
        """Index a chat turn's ``new`` messages (``messages``: those and the ones before them)."""
        chunker_ = get_chunker(chunker or self.settings.chunker)
        return index_turn(self.store, self.index(chunker_.name), self.embedder, chunker_,
                          conversation_id, workspace, title, messages, new)

    # chat -------------------------------------------------------------------------------------
    def chat(self, llm=None, **options: Any):
        """A ``Chat`` over this workbench; ``llm`` defaults to the configured endpoint or the
        embedded local model (started on first use)."""
        from workbench.chat.turn import Chat
        from workbench.chat.llm import ensure_llm

        if llm is None:
            llm, _ = ensure_llm(self.settings, self.settings.home)
        return Chat(self, llm, **options)

    def log_interaction(self, turn, stats=None) -> str:
        from workbench.store.interactions import log_interaction

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
            # The workbench's own time is before the model (prepare) and after it (finish).
            "total_ms": sum(timings.get(part, 0) for part in ("prepare", "generation", "finish")),
            "overhead_ms": timings.get("prepare", 0) + timings.get("finish", 0),
            "retrieved_ids": [h.message_id for h in turn.hits],
            "cited_ids": [c["message_id"] for c in turn.citations], "error": turn.error,
        })

    def interactions(self, conversation: str | None = None) -> list[dict[str, Any]]:
        from workbench.store.interactions import list_interactions

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

    # evaluation -------------------------------------------------------------------------------
    def eval_locomo(
        self,
        path: Path | str,
        retriever: str | None = None,
        chunker: str | None = None,
        ks: Iterable[int] = (5, 10, 25, 50),
        progress: Progress = _quiet,
        origin: str = "api",
        **overrides: Any,
    ):
        """LoCoMo retrieval recall: imports the file if needed, searches every question in its
        own sample's workspace and scores the distinct retrieved dialog turns. The file is
        registered as an eval set and the run is stored like any other."""
        eval_set = self.eval_import(path, progress=progress)
        _, report = self._eval_run(eval_set.ref, retriever, chunker, ks, None, origin, None, None,
                                   progress, overrides)
        report.config = {
            "retriever": retriever or self.settings.retriever,
            "chunker": chunker or self.settings.chunker,
            "embedding_model": self.settings.embedding_model,
            "overrides": overrides,
        }
        return report

    def eval_sets(self) -> list[EvalSet]:
        """Every version of every eval set, newest first."""
        from workbench.evaluation import sets as evalsets

        return evalsets.list_sets(self.store)

    def eval_set(self, ref: str) -> EvalSet:
        """``name`` (its latest version), ``name@version`` or an id; raises NotFound."""
        from workbench.evaluation import sets as evalsets

        return evalsets.get_set(self.store, ref)

    def eval_queries(self, ref: str) -> list[Query]:
        from workbench.evaluation import sets as evalsets

        return evalsets.load_queries(self.store, self.eval_set(ref).id)

    def eval_import(self, path: Path | str, name: str | None = None,
                    workspace: str | None = None, progress: Progress = _quiet) -> EvalSet:
        """Store a qrels JSONL file or a LoCoMo JSON file (told apart by content) as an eval set
        named ``name`` (default: the file's stem). A LoCoMo file whose samples are not in the
        store yet is imported first. A bad line raises InvalidInput naming the file and line."""
        from workbench.evaluation import sets as evalsets
        from workbench.evaluation.metrics import locomo_queries

        path = Path(path)
        kind = evalsets.detect(path)
        if kind == "locomo":
            samples = {q.workspace for q in locomo_queries(path)}
            if not samples <= {w["name"] for w in self.workspaces()}:
                for result in ingest_paths(self.store, [path], self._workspace(None), "locomo",
                                           progress, self.settings.redact):
                    if result.status != "done":
                        raise InvalidInput(result.error or f"{path}: import failed")
            queries = evalsets.locomo_set_queries(self.store, path)
            workspace = None if len(samples) != 1 else next(iter(samples))
        else:
            queries = evalsets.qrels_queries(self.store, path, workspace)
            spaces = {q.workspace for q in queries}
            workspace = next(iter(spaces)) if len(spaces) == 1 else None
        return evalsets.store_set(self.store, name or path.stem, kind, queries, workspace,
                                  source=str(path.resolve()))

    def eval_generate(self, workspace: str | None, n: int, seed: int = 0, name: str | None = None,
                      method: str = "known-item") -> EvalSet:
        """A set made from the workspace's own messages, the same for the same seed and store:
        ``known-item`` (no model; see :func:`evalsets.known_item_queries`) or ``llm`` (questions
        from the configured endpoint, else the embedded model)."""
        from workbench.evaluation import sets as evalsets

        space = self._workspace(workspace)
        if n < 1:
            raise InvalidInput("n must be at least 1")
        if method == "known-item":
            shape = evalsets.KnownItemParams()
            queries = evalsets.known_item_queries(self.store, space, n, seed, shape)
            params = {"n": n, "method": method, **shape.to_dict()}
        elif method == "llm":
            from dataclasses import replace

            from workbench.chat.llm import LLMClient, ensure_llm

            client, _ = ensure_llm(self.settings, self.settings.home)
            # Greedy decoding, so the same seed and model give the same questions.
            writer = LLMClient(replace(client.config, temperature=0.0, max_tokens=64))
            queries = evalsets.llm_queries(self.store, space, n, writer.complete, seed)
            params = {"n": n, "method": method, "min_words": 8, "model": writer.model,
                      "endpoint": writer.endpoint, "prompt": evalsets.QUESTION_PROMPT_VERSION,
                      "temperature": 0.0}
        else:
            raise InvalidInput(f"unknown generation method {method!r} (use known-item or llm)")
        if not queries and method == "llm":
            raise InvalidInput(f"{params['model']} wrote no usable question for the messages of "
                             f"workspace {space!r}")
        if not queries:
            raise InvalidInput(f"workspace {space!r} has no message to make a query of")
        return evalsets.store_set(self.store, name or f"{space}-{method}", method, queries, space,
                                  seed, params)

    def eval_run(
        self,
        set_ref: str,
        retriever: str | None = None,
        chunker: str | None = None,
        ks: Iterable[int] = (5, 10, 25, 50),
        label: str | None = None,
        origin: str = "api",
        batch_id: str | None = None,
        notebook: str | None = None,
        progress: Progress = _quiet,
        **params: Any,
    ) -> Run:
        """Search every query of the set (in its own workspace, k = max(ks)), score the
        distinct retrieved messages and store the run; ``params`` override the retriever's."""
        return self._eval_run(set_ref, retriever, chunker, ks, label, origin, batch_id, notebook,
                              progress, params)[0]

    def _eval_run(self, set_ref, retriever, chunker, ks, label, origin, batch_id, notebook,
                  progress, params) -> tuple[Run, Any]:
        from workbench.evaluation import runs
        from workbench.evaluation import sets as evalsets

        eval_set = self.eval_set(set_ref)
        queries = evalsets.load_queries(self.store, eval_set.id)
        name = retriever or self.settings.retriever
        try:
            get_retriever_config(name, **params)
            json.dumps(params)
        except TypeError as exc:
            raise InvalidInput(f"retriever {name!r}: bad parameters ({exc})") from None
        chunker_ = get_chunker(chunker or self.settings.chunker).name
        self.index_pending(chunker_, progress)

        def search(query: Query, k: int) -> list[str]:
            result = self.search(query.text, query.workspace, k, retriever=name, chunker=chunker_,
                                 **params)
            return [hit.message_id for hit in result.hits]

        config = runs.RunConfig(name, dict(params), self.settings.embedding_model, chunker_)
        return runs.execute(self.store, eval_set, queries, search, config, ks, label, origin,
                            batch_id, notebook, progress)

    def eval_runs(self, set_ref: str | None = None, label: str | None = None,
                  batch_id: str | None = None, limit: int | None = None) -> list[Run]:
        """Stored runs, newest first; a bare set name matches every version of the set."""
        from workbench.evaluation import runs

        return runs.list_runs(self.store, set_ref, label, batch_id, limit)

    def eval_get_run(self, ref: str) -> Run:
        """A run by full id or a unique prefix of at least 6 characters."""
        from workbench.evaluation import runs

        return runs.get_run(self.store, ref)

    def eval_results(self, ref: str) -> list[dict[str, Any]]:
        """A run's per-query rows: text, category, relevant ids, ranking, metrics, search ms."""
        from workbench.evaluation import runs

        return runs.results(self.store, ref)

    def eval_compare(self, run_a: str, run_b: str) -> Comparison:
        """Run b against run a: paired deltas, Wilcoxon p-values and the queries that got worse."""
        from workbench.evaluation import runs

        return runs.compare(self.store, run_a, run_b)

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
        from workbench.text import export

        conversation = self.conversation(ref)
        messages = self.messages(conversation.id)
        if fmt == "json":
            return export.to_json(conversation, messages)
        if fmt in {"md", "markdown"}:
            return export.to_markdown(conversation, messages)
        raise InvalidInput(f"unknown export format {fmt!r} (use md or json)")
