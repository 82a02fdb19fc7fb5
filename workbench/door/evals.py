"""``wb.evals``: eval sets, retrieval runs over them, and comparisons between runs."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from workbench.chat.llm import LLMSource
from workbench.config import Settings
from workbench.door.search import Search
from workbench.evaluation import answers as answer_eval
from workbench.evaluation import generate, runs
from workbench.evaluation import sets as evalsets
from workbench.evaluation.metrics import locomo_queries
from workbench.evaluation.runs import Comparison
from workbench.records import EvalSet, Query, Run
from workbench.errors import InvalidInput
from workbench.ops.encryption import private_tmp
from workbench.importers.reading import Limits
from workbench.ingest import Progress, no_progress, ingest_paths
from workbench.search.retrieve import get_retriever_config
from workbench.store import Store
from workbench.text.chunking import get_chunker


class Evals:
    """Eval sets are stored versions (``name@version``); a run searches every query of one set
    with one retriever and chunker, and is stored with them, so it can be repeated and compared."""

    def __init__(self, store: Store, settings: Settings, search: Search, llm: LLMSource):
        self.store = store
        self.settings = settings
        self.search = search
        self._llm = llm

    def sets(self) -> list[EvalSet]:
        """Every version of every eval set, newest first."""
        return self.store.evals.sets.list()

    def set(self, ref: str) -> EvalSet:
        """``name`` (its latest version), ``name@version`` or an id; raises NotFound."""
        return self.store.evals.sets.get(ref)

    def queries(self, ref: str) -> list[Query]:
        return self.store.evals.sets.queries(self.set(ref).id)

    def import_file(self, path: Path | str, name: str | None = None,
                    workspace: str | None = None, progress: Progress = no_progress) -> EvalSet:
        """Store a qrels JSONL file or a LoCoMo JSON file (told apart by content) as an eval set
        named ``name`` (default: the file's stem). A LoCoMo file whose samples are not in the
        store yet is imported first. A bad line raises InvalidInput naming the file and line."""
        path = Path(path)
        kind = evalsets.detect(path)
        if kind == "locomo":
            samples = {q.workspace for q in locomo_queries(path)}
            if not samples <= {w["name"] for w in self.store.conversations.workspaces()}:
                for result in ingest_paths(self.store, [path], self.settings.default_workspace,
                                           "locomo", progress, self.settings.redact,
                                           Limits.of(self.settings),
                                           private_tmp(self.settings.home)):
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

    def generate(self, workspace: str | None, n: int, seed: int = 0, name: str | None = None,
                 method: str = "known-item") -> EvalSet:
        """A set made from the workspace's own messages, the same for the same seed and store:
        ``known-item`` (no model; see :func:`generate.known_item_queries`) or ``llm`` (questions
        from the configured endpoint, else the embedded model)."""
        space = workspace or self.settings.default_workspace
        if n < 1:
            raise InvalidInput("n must be at least 1")
        if method == "known-item":
            shape = generate.KnownItemParams()
            queries = generate.known_item_queries(self.store, space, n, seed, shape)
            params = {"n": n, "method": method, **shape.to_dict()}
        elif method == "llm":
            queries, params = self._llm_queries(space, n, seed)
        else:
            raise InvalidInput(f"unknown generation method {method!r} (use known-item or llm)")
        if not queries and method == "llm":
            raise InvalidInput(f"{params['model']} wrote no usable question for the messages of "
                               f"workspace {space!r}")
        if not queries:
            raise InvalidInput(f"workspace {space!r} has no message to make a query of")
        return evalsets.store_set(self.store, name or f"{space}-{method}", method, queries, space,
                                  seed, params)

    def _llm_queries(self, space: str, n: int, seed: int) -> tuple[list[Query], dict[str, Any]]:
        from dataclasses import replace

        from workbench.chat.llm import LLMClient

        client = self._llm.client()
        # Greedy decoding, so the same seed and model give the same questions.
        writer = LLMClient(replace(client.config, temperature=0.0, max_tokens=64))
        queries = generate.llm_queries(self.store, space, n, writer.complete, seed)
        params = {"n": n, "method": "llm", "min_words": 8, "model": writer.model,
                  "endpoint": writer.endpoint, "prompt": generate.QUESTION_PROMPT_VERSION,
                  "temperature": 0.0}
        return queries, params

    def run(
        self,
        set_ref: str,
        retriever: str | None = None,
        chunker: str | None = None,
        ks: Iterable[int] = (5, 10, 25, 50),
        label: str | None = None,
        origin: str = "api",
        batch_id: str | None = None,
        notebook: str | None = None,
        progress: Progress = no_progress,
        **params: Any,
    ) -> Run:
        """Search every query of the set (in its own workspace, k = max(ks)), score the
        distinct retrieved messages and store the run; ``params`` override the retriever's."""
        return self._run(set_ref, retriever, chunker, ks, label, origin, batch_id, notebook,
                         progress, params)[0]

    def _run(self, set_ref, retriever, chunker, ks, label, origin, batch_id, notebook,
             progress, params) -> tuple[Run, Any]:
        eval_set = self.set(set_ref)
        queries = self.store.evals.sets.queries(eval_set.id)
        name = retriever or self.settings.retriever
        try:
            get_retriever_config(name, **params)
            json.dumps(params)
        except TypeError as exc:
            raise InvalidInput(f"retriever {name!r}: bad parameters ({exc})") from None
        chunker_ = get_chunker(chunker or self.settings.chunker).name
        self.search.index_pending(chunker_, progress)

        def search(query: Query, k: int) -> list[str]:
            result = self.search.query(query.text, query.workspace, k, retriever=name,
                                       chunker=chunker_,
                                       now=evalsets.query_now(getattr(query, "metadata", {})),
                                       **params)
            return [hit.message_id for hit in result.hits]

        config = runs.RunConfig(name, dict(params), self.settings.embedding_model, chunker_)
        return runs.execute(self.store, eval_set, queries, search, config, ks, label, origin,
                            batch_id, notebook, progress)

    def locomo(
        self,
        path: Path | str,
        retriever: str | None = None,
        chunker: str | None = None,
        ks: Iterable[int] = (5, 10, 25, 50),
        progress: Progress = no_progress,
        origin: str = "api",
        **overrides: Any,
    ):
        """LoCoMo retrieval recall: imports the file if needed, searches every question in its
        own sample's workspace and scores the distinct retrieved dialog turns. The file is
        registered as an eval set and the run is stored like any other."""
        eval_set = self.import_file(path, progress=progress)
        _, report = self._run(eval_set.ref, retriever, chunker, ks, None, origin, None, None,
                              progress, overrides)
        report.config = {
            "retriever": retriever or self.settings.retriever,
            "chunker": chunker or self.settings.chunker,
            "embedding_model": self.settings.embedding_model,
            "overrides": overrides,
        }
        return report

    def answers(self, path: Path | str | None = None, workspace: str | None = None, k: int = 6,
                label: str | None = None, modes: Iterable[str] = answer_eval.MODES,
                llm: Any = None, progress: Progress = no_progress,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Answer every question of an answer set (``path``: the bundled fixture set; ``limit``:
        its first questions only) with the workbench's model (or ``llm``) and store one run per
        mode (see :mod:`workbench.evaluation.answers`); returns the stored runs."""
        from workbench.chat.answer import Composer
        from workbench.chat.grounding import Grounder
        from workbench.evaluation.runs import code_version

        answer_set = answer_eval.read_answer_set(path or answer_eval.DEFAULT_SET)
        if limit is not None:
            answer_set = replace(answer_set, questions=answer_set.questions[:limit])
        modes = [m for m in answer_eval.MODES if m in set(modes)]
        space = workspace or self.settings.default_workspace
        answering = self._answering(answer_set, space, path or answer_eval.DEFAULT_SET)
        client = llm if llm is not None else (
            self._llm.client() if {"model", "grounded"} & set(modes) else None)
        grounder = Grounder(self.search.embedder)
        composer = Composer(grounder, lambda mid: self.store.messages.neighbours(mid, 1))
        self.search.index_pending()

        def search(question: answer_eval.AnswerQuestion):
            return self.search.query(question.question, question.workspace or space, k).hits

        started = time.perf_counter()
        rows = answer_eval.AnswerBench(search, client, composer, grounder, progress).run(
            answer_set.questions, answering, modes)
        seconds = time.perf_counter() - started
        stored = []
        for mode, results in rows.items():
            run = answer_eval.run_record(
                answer_set, mode, results, workspace=",".join(sorted(
                    {q.workspace or space for q in answer_set.questions})), label=label,
                model=client.model if client is not None and mode != "extractive" else "none",
                retriever=self.settings.retriever, k=k, code_version=code_version(),
                seconds=seconds)
            run["id"] = self.store.answer_runs.add(run, results)
            stored.append(run)
        return stored

    def _answering(self, answer_set, space: str, path) -> dict[str, set[str]]:
        """Each question's answering message ids, resolved in ``space``."""
        wanted: dict[str, list[str]] = {}
        for q in answer_set.questions:
            wanted.setdefault(q.workspace or space, []).extend(q.answers)
        found: dict[str, dict[str, str]] = {}
        for name, refs in wanted.items():
            found[name] = {}
            for mid, source in self.store.messages.ids_for(name, refs):
                found[name][source] = found[name][mid] = mid
        out = {}
        for q in answer_set.questions:
            here = found[q.workspace or space]
            ids = {here.get(ref) or here[ref.lower()] for ref in q.answers
                   if ref in here or ref.lower() in here}
            if not ids:
                raise InvalidInput(f"{path}: question {q.id!r}: none of its answering messages is in "
                                   f"workspace {q.workspace or space!r} (import the exports the set "
                                   "was made on)")
            out[q.id] = ids
        return out

    def answer_runs(self, set_name: str | None = None) -> list[dict[str, Any]]:
        """Stored answer runs, newest first."""
        return self.store.answer_runs.list(set_name)

    def runs(self, set_ref: str | None = None, label: str | None = None,
             batch_id: str | None = None, limit: int | None = None) -> list[Run]:
        """Stored runs, newest first; a bare set name matches every version of the set."""
        return self.store.evals.runs.list(set_ref, label, batch_id, limit)

    def get_run(self, ref: str) -> Run:
        """A run by full id or a unique prefix of at least 6 characters."""
        return self.store.evals.runs.get(ref)

    def results(self, ref: str) -> list[dict[str, Any]]:
        """A run's per-query rows: text, category, relevant ids, ranking, metrics, search ms."""
        return self.store.evals.runs.results(ref)

    def compare(self, run_a: str, run_b: str) -> Comparison:
        """Run b against run a: paired deltas, Wilcoxon p-values and the queries that got worse."""
        return runs.compare(self.store, run_a, run_b)
