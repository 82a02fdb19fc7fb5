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
from workbench.search.sync import SyncReport, _index_row, sync_chunks


def _fill_index(wb, seed: int = 0) -> int:
    """Chunk for real, embed ``BASE_TEXTS`` chunks for real, perturb the rest, mark all indexed."""
    chunker = get_chunker(wb.settings.chunker)
    index = wb.search.index(chunker.name)
    sync_chunks(wb.store, chunker, wb.embedder, SyncReport())
    rng = np.random.default_rng(seed)
    base = None
    total = 0
    while True:
        rows = wb.store.chunks.pending(chunker.name, index.name, 20000)
        if not rows:
            break
        if base is None:
            base = wb.embedder.encode([r.text for r in rows[:BASE_TEXTS]], batch_size=64)
        source = rng.integers(0, len(base), len(rows))
        vectors = base[source] + rng.normal(0, NOISE, (len(rows), base.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.upsert([_index_row(r) for r in rows], vectors.astype(np.float32))
        wb.store.chunks.mark_indexed(index.name, [r.chunk_id for r in rows])
        total += len(rows)
    index.optimize()
    return total


def run(settings: Settings, messages: int = 100_000, turns: int = 30,
        pause_s: float = 0.0) -> dict[str, Any]:
    """``pause_s``: a reader's pause after each answer; from 5 s on, the compaction of the
    appends runs in it (and may still run when the next question comes)."""
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
            # Compaction waits for a pause the back-to-back turns never leave: run it now and
            # report what it costs (while the person reads, in real use).
            wb.search.index().settle()
            row = {"compaction_ms": wb.search.index().last_compaction_ms,
                   "messages": imported.messages_added, "chunks_indexed": indexed,
                   "build_s": build_s, "turns": len(overhead), "pause_s": pause_s,
                   "model": chat.llm().model}
            for name, values in (("overhead", overhead), ("with_indexing", total),
                                 ("indexing", indexing), ("embed_question", early),
                                 ("retrieval", retrieval), ("ttft", ttft)):
                row[f"{name}_p50_ms"] = statistics.median(values)
                row[f"{name}_p95_ms"] = percentile(values, 0.95)
            return row
