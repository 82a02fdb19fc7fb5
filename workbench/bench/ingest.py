"""Benchmarks as code: each returns rows for a table and stores them beside the workbench home."""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from workbench.bench import synthetic
from workbench.config import Settings
from workbench.errors import ImportRejected, InvalidInput

DEFAULT_FIXTURES = Path("tests/fixtures")


def save_results(settings: Settings, name: str, rows: list[dict[str, Any]]) -> Path:
    folder = settings.home / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{name}-{stamp}.json"
    path.write_text(json.dumps({"benchmark": name, "at": stamp, "rows": rows}, indent=2))
    return path


def run_ingest_benchmark(
    settings: Settings, messages: int = 20000, fixtures: Path | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """Parse + store throughput per fixture and for a generated ChatGPT export, into fresh stores."""
    # The stores are imported here: the embedding benchmark must run where only torch is installed.
    from workbench.ingest import ingest_file
    from workbench.store import DuckDBStore

    fixtures = fixtures or DEFAULT_FIXTURES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "generated_conversations.json"
        generated.write_text(json.dumps(synthetic.chatgpt_export(messages)))
        files = sorted(p for p in fixtures.glob("*") if p.is_file()) if fixtures.exists() else []
        for index, path in enumerate(files + [generated]):
            store = DuckDBStore(Path(tmp) / f"bench-{index}.duckdb")
            started = time.perf_counter()
            try:
                result = ingest_file(store, path, "bench")
            except ImportRejected:
                continue
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "dataset": path.name,
                    "format": result.format,
                    "messages": result.messages_added,
                    "seconds": seconds,
                    "messages_per_s": result.messages_added / seconds if seconds else 0.0,
                }
            )
    return rows, save_results(settings, "ingest", rows)


def run_pipeline_benchmark(settings: Settings, messages: int = 2000,
                           backend: str = "embedded") -> list[dict[str, Any]]:
    """End-to-end import (parse → clean → store → chunk → embed → index) against the raw embedder
    on the very texts the pipeline embedded, in the same process, with and without redaction.
    ``backend`` "postgres": each run imports into its own empty schema of the database at
    ``settings.database_url`` (dropped afterwards), the store and the pgvector index there."""
    from workbench.api import Workbench
    from workbench.embeddings.model import Embedder

    # One model for the pipeline runs and the raw run: the comparison is of the pipeline alone.
    embedder = Embedder(settings.embedding_model, settings.device,
                        query_encoder=settings.query_encoder, cache_dir=settings.cache_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "conversations.json"
        export.write_text(json.dumps(synthetic.chatgpt_export(messages, per_conversation=50)))
        # Loaded as the raw run finds it: a few texts go to the ONNX query encoder, so more
        # than those, or the first end-to-end run would pay for loading the bulk model (5.7 s).
        embedder.encode([f"warm up the model {i}" for i in range(16)])
        texts: list[str] = []
        for redact in (False, True):
            home = Path(tmp) / f"home-{redact}"
            if redact:
                from workbench.text.clean import Cleaner

                Cleaner(redact=True).clean(["Warm up John Smith's pipeline."])
            with _store_url(settings, backend, f"bench_ingest_{int(redact)}") as url:
                with Workbench(settings.model_copy(update={"home": home, "redact": redact,
                                                           "database_url": url}), embedder) as wb:
                    started = time.perf_counter()
                    result = wb.imports.ingest([export])[0]
                    seconds = time.perf_counter() - started
                    texts = wb.store.chunks.texts(settings.chunker)
            rows.append({"run": "end to end" + (" --redact" if redact else ""),
                         "messages": result.messages_added, "chunks": len(texts),
                         "seconds": seconds, "messages_per_s": result.messages_added / seconds})
        started = time.perf_counter()
        embedder.encode(texts)
        seconds = time.perf_counter() - started
        count = rows[0]["messages"]
        rows.append({"run": "raw embedder, same texts", "messages": count, "chunks": len(texts),
                     "seconds": seconds, "messages_per_s": count / seconds})
    raw = rows[-1]["messages_per_s"]
    for row in rows:
        row["ratio_to_raw"] = row["messages_per_s"] / raw
    return rows


@contextmanager
def _store_url(settings: Settings, backend: str, name: str) -> Iterator[str | None]:
    """The database URL a pipeline run imports into: none (the embedded home), or a scratch
    schema of the PostgreSQL database the settings name."""
    if backend == "embedded":
        yield None
        return
    if backend != "postgres" or not settings.database_url:
        raise InvalidInput(f"backend {backend!r}: embedded, or postgres with WORKBENCH_DATABASE_URL")
    from workbench.store.postgres import scratch_schema

    with scratch_schema(settings.database_url, name) as url:
        yield url


def run_embed_benchmark(settings: Settings, texts: int = 2000) -> list[dict[str, Any]]:
    """Raw embedding throughput on the configured device: sentence-transformers' ``encode``
    against the bulk encoder (``bulk.py``) on the same generated messages, with the lowest
    cosine between their vectors (fp16 on CUDA, so not exactly 1 there)."""
    import numpy as np

    from workbench.embeddings.model import Embedder

    embedder = Embedder(settings.embedding_model, settings.device,
                        query_encoder=settings.query_encoder, cache_dir=settings.cache_dir)
    corpus = [text for _, text in synthetic.messages(texts, seed=3)]
    model = embedder.model
    bulk = embedder.bulk
    if bulk is None:
        raise InvalidInput(f"{settings.embedding_model}: the bulk encoder reproduces mean-pooled "
                         "models only")
    warm = corpus[: min(len(corpus), 256)]  # kernels, allocator, tokenizer threads: not measured
    model.encode(warm, batch_size=embedder.batch_size)
    bulk.encode(warm)
    rows, vectors = [], []
    for name, encode in (
        ("sentence-transformers encode",
         lambda: model.encode(corpus, batch_size=embedder.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)),
        ("bulk encoder", lambda: bulk.encode(corpus)),
    ):
        _synchronise(model.device)
        started = time.perf_counter()
        vectors.append(np.asarray(encode(), dtype=np.float32))
        _synchronise(model.device)
        seconds = time.perf_counter() - started
        rows.append({"encoder": name, "device": str(model.device), "texts": len(corpus),
                     "seconds": seconds, "texts_per_s": len(corpus) / seconds})
    cosine = float(np.min(np.sum(vectors[0] * vectors[1], axis=1))) if corpus else 1.0
    for row in rows:
        row["min_cosine_to_encode"] = cosine
    # The bulk encoder's ceiling where the device is fast: its tokenizer, on all this machine's cores.
    started = time.perf_counter()
    for start in range(0, len(corpus), bulk.slice_size):
        bulk.tokenizer.encode_batch(corpus[start : start + bulk.slice_size])
    seconds = time.perf_counter() - started
    rows.append({"encoder": "its tokenizer alone (no model)", "device": "cpu", "texts": len(corpus),
                 "seconds": seconds, "texts_per_s": len(corpus) / seconds,
                 "min_cosine_to_encode": None})
    for row in rows:
        row["ratio_to_encode"] = row["texts_per_s"] / rows[0]["texts_per_s"]
    return rows


def _synchronise(device) -> None:
    if getattr(device, "type", "") == "cuda":
        import torch

        torch.cuda.synchronize(device)
