"""Chat overhead at scale: everything a turn costs except the LLM's own generation.

A generated ChatGPT export of ``messages`` turns is imported for real and chunked for real; a few
thousand chunks are embedded for real and the others get perturbed copies of those vectors (as in
``bench_search``), so the index has the size and shape of a real one without hours of CPU
embedding. Then chat turns run against the real LLM endpoint (the embedded SmolLM2 by default);
overhead = persisting the question, retrieval, prompt building, persisting the answer, logging
and indexing the new turns. Each turn finds the database closed, as after a person's pause.
The question's chunk is embedded while the model writes (``embed_question``, reported on its
own: it takes CPU from a local model then, and none from a remote one).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from workbench.bench import synthetic
from workbench.bench.search import BASE_TEXTS, NOISE, percentile
from workbench.text.chunking import get_chunker
from workbench.config import Settings
from workbench.search.sync import sync_index


class _Perturbed:
    """The real embedder for the first ``BASE_TEXTS`` texts, then perturbed copies of those
    vectors: an index of a real one's size and shape without hours of CPU embedding."""

    def __init__(self, embedder, seed: int = 0):
        self.embedder = embedder
        self.slug = embedder.slug
        self.dimension = embedder.dimension
        self.count_tokens = embedder.count_tokens
        self.rng = np.random.default_rng(seed)
        self.base: np.ndarray | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.base is None:
            self.base = self.embedder.encode(texts[:BASE_TEXTS], batch_size=64)
        source = self.rng.integers(0, len(self.base), len(texts))
        vectors = self.base[source] + self.rng.normal(0, NOISE, (len(texts), self.dimension))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32)


def _fill_index(wb, seed: int = 0) -> int:
    """Chunk for real, embed ``BASE_TEXTS`` chunks for real, perturb the rest, index them all."""
    chunker = get_chunker(wb.settings.chunker)
    embedder = _Perturbed(wb.embedder, seed)
    report = sync_index(wb.store, wb.search.index(chunker.name), embedder, chunker,  # type: ignore[arg-type]
                        lambda *_: None, batch_size=20000)
    return report.chunks_embedded


def run(settings: Settings, messages: int = 100_000, turns: int = 30,
        pause_s: float = 0.0) -> dict[str, Any]:
    """``pause_s``: a reader's pause after each answer. Every few turns, a turn's indexing
    folds the appends into the indexes (``compaction_ms``: the last fold)."""
    from workbench.api import Workbench

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "conversations.json"
        export.write_text(json.dumps(synthetic.chatgpt_export(messages, per_conversation=100)))
        home = Path(tmp) / "home"
        with Workbench(settings.model_copy(update={"home": home, "index_on_ingest": False,
                                                   "llm_max_tokens": 24})) as wb:
            started = time.perf_counter()
            imported = wb.imports.ingest([export])[0]
            indexed = _fill_index(wb)
            build_s = time.perf_counter() - started
            chat = wb.chat
            questions = synthetic.queries(turns + 3, seed=7)
            chat.ask(questions[0], "default")  # warm-up: server start, caches
            wb.search.index().mirror(wait=True)  # as the app has it a second after its start
            overhead, total, indexing, early, ttft, retrieval = [], [], [], [], [], []
            conversation = None
            for question in questions[3:]:
                turn = chat.ask(question, "default", conversation)
                # A reader takes longer than this to read the answer; the wait also makes the
                # background indexing's own time measurable.
                chat.wait_for_indexing()
                wb.store.release()  # the reader's pause: the next question finds the database closed
                time.sleep(pause_s)
                conversation = turn.conversation_id if len(overhead) % 5 else None
                timings = turn.timings_ms
                overhead.append(timings["overhead"])
                # The turn's indexing overlaps storing the answer: count the wall time after it.
                total.append(timings["prepare"] + timings["after_answer"])
                indexing.append(timings["index"])
                early.append(timings.get("embed_question", 0.0))
                ttft.append(timings.get("ttft", 0.0))
                retrieval.append(timings["retrieval"])
            row = {"compaction_ms": wb.search.index().last_fold_ms,
                   "messages": imported.messages_added, "chunks_indexed": indexed,
                   "build_s": build_s, "turns": len(overhead), "pause_s": pause_s,
                   "model": chat.llm().model}
            for name, values in (("overhead", overhead), ("with_indexing", total),
                                 ("indexing", indexing), ("embed_question", early),
                                 ("retrieval", retrieval), ("ttft", ttft)):
                row[f"{name}_p50_ms"] = statistics.median(values)
                row[f"{name}_p95_ms"] = percentile(values, 0.95)
            return row
