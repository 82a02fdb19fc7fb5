"""Search latency and ANN recall at 10k, 100k and 1M messages.

Generated data stands in for a user's history: each message is one to three real sentences
(``synthetic.messages``). Embedding a million of them would take hours of CPU, so the ~2,900
sentences are embedded for real and a message's vector is the normalised mean of its
sentences' vectors ("composed": cosine 0.91 to the message's own embedding on average for
messages of two or three sentences; a repeated text gets the same vector, as an embedder gives
it). The earlier data ("copies") gave every row the vector of one of the first 3,000 messages
plus Gaussian noise, unrelated to the row's text: at 1M rows each vector has 333 copies that
differ only by isotropic noise, which a graph index cannot tell apart without reading them
all. The query path measured is the product's: the query is embedded live, full-text and
vector searches run and are fused. Every generated conversation has two named participants,
and each engine is also timed on questions that name one ("what did Carla say about …"), for
which a retriever may search again without the name (``hybrid-rrf.v5``).
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from workbench.bench import synthetic
from workbench.embeddings.model import Embedder
from workbench.search.lancedb_index import LanceIndex
from workbench.search.protocol import Filters, Index
from workbench.search.retrieve import DEFAULT_RETRIEVER, Retriever, get_retriever_config

BASE_TEXTS = 3000
NOISE = 0.035  # per-dimension σ: a perturbed copy keeps cosine ≈ 0.8 to its source
VECTORS = ("composed", "copies")


NARROW_EVERY = 50  # one row in 50 belongs to the "narrow" workspace: a scope of 2 %


def embed_base(embedder: Embedder, size: int, seed: int = 0, cache: Path | None = None,
               vectors: str = "composed") -> np.ndarray:
    """The embeddings a table of ``size`` rows is made from: every real sentence ("composed"),
    or the texts the rows copy ("copies": ``synthetic.messages`` of any size starts with the
    same texts), so one run embeds them once for every size and backend. ``cache``: a folder
    where they are kept for the next run, by model and texts."""
    if vectors == "composed":
        texts = synthetic.real_sentences()
    else:
        texts = [text for _, text in synthetic.messages(min(size, BASE_TEXTS), seed)]
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"base-{embedder.slug}-{len(texts)}-{key}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path)
    embedded = embedder.encode(texts, batch_size=64)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, embedded)
    return embedded


def composed_vectors(embedded: np.ndarray, places: list[list[int]]) -> np.ndarray:
    """Each message's vector: the sum of its sentences' vectors (normalised, their mean)."""
    out = np.zeros((len(places), embedded.shape[1]), dtype=np.float64)
    for count in (1, 2, 3):
        rows = [i for i, p in enumerate(places) if len(p) == count]
        if rows:
            out[rows] = embedded[np.array([places[i] for i in rows])].sum(axis=1)
    return out


def build(index: Index, embedder: Embedder, size: int, seed: int = 0,
          embedded: np.ndarray | None = None, vectors: str = "composed") -> None:
    """``embedded``: ``embed_base`` of at least ``size`` and the same ``vectors``, computed
    here when not given."""
    rng = np.random.default_rng(seed)
    places = synthetic.message_sentences(size, seed)
    rows = synthetic.messages_of(places)
    base = min(size, BASE_TEXTS)
    embedded = embed_base(embedder, size, seed, vectors=vectors) if embedded is None else embedded
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    for offset in range(0, size, 50_000):
        part = rows[offset : offset + 50_000]
        if vectors == "composed":
            made = composed_vectors(embedded, places[offset : offset + 50_000])
        else:
            source = rng.integers(0, base, len(part))
            made = embedded[source] + rng.normal(0, NOISE, (len(part), embedded.shape[1]))
            if offset == 0:
                made[:base] = embedded[: min(base, len(part))]
        made /= np.linalg.norm(made, axis=1, keepdims=True)
        index.upsert(
            [
                {
                    "chunk_id": f"c{offset + i}", "message_id": f"m{offset + i}",
                    "conversation_id": f"conv{(offset + i) // 50}",
                    "workspace": "narrow" if (offset + i) % NARROW_EVERY == 1 else "bench",
                    "source_id": str(offset + i), "title": topic, "role": ("user", "assistant")[i % 2],
                    "speaker": synthetic.participants((offset + i) // 50)[i % 2],
                    "created_at": start + timedelta(minutes=offset + i),
                    "position": (offset + i) % 50, "text": text, "search_text": text,
                }
                for i, (topic, text) in enumerate(part)
            ],
            made.astype(np.float32),
        )
    index.maintain()


def _exact_top(index: Index, vector: np.ndarray, scope: Filters, k: int = 10) -> set[str]:
    """The ids an exact search ranks in the top ``k``, with every row as close as the k-th:
    the generated table holds identical vectors (repeated texts; a sentence that makes a
    message alone is repeated about 110 times in 1M rows), whose order among themselves is
    arbitrary, so an ANN search that returns another of them is not wrong."""
    limit = 3 * k
    while True:
        rows = index.search_vector(vector, scope, limit, exact=True)
        if len(rows) <= k:
            return {r["chunk_id"] for r in rows}
        bound = rows[k - 1]["_distance"] + 1e-6
        if len(rows) < limit or rows[-1]["_distance"] > bound:
            return {r["chunk_id"] for r in rows if r["_distance"] <= bound}
        limit *= 4  # the tie goes on past what was read


def _recall_of(top: set[str], exact: set[str], k: int = 10) -> float:
    return min(len(top & exact), k) / max(min(len(exact), k), 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _latencies(retriever: Retriever, texts: list[str], scope: Filters | None = None
               ) -> tuple[list[float], list[float], str, float]:
    """Per query (in ``scope``, the benchmark's workspace unless given): latency and embedding
    time; the engine that answered and the share of queries searched again without a
    participant's name."""
    scope = scope or Filters(workspace="bench")
    for text in texts[:10]:  # warm caches and threads; not measured
        retriever.search(text, scope, 10)
    latencies, embed, engine, renamed = [], [], "", 0
    for text in texts[10:]:
        started = time.perf_counter()
        result = retriever.search(text, scope, 10)
        latencies.append((time.perf_counter() - started) * 1000)
        embed.append(result.timings_ms.get("embed", 0.0))
        renamed += "names" in result.timings_ms
        engine = result.engine
    return latencies, embed, engine, renamed / max(len(latencies), 1)


def measure(index: Index, embedder: Embedder, queries: int = 200, seed: int = 1,
            retriever: str = DEFAULT_RETRIEVER) -> list[dict[str, Any]]:
    """One row per engine (the in-memory mirror, then LanceDB alone), each with its own
    queries: a repeated query's embedding would come from the cache."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="search") as pool:
        return _measure(Retriever(index, embedder, get_retriever_config(retriever), pool),
                        index, embedder, queries, seed)


def _measure(retriever: Retriever, index: Index, embedder: Embedder, queries: int,
             seed: int) -> list[dict[str, Any]]:
    started = time.perf_counter()
    mirror = index.mirror(wait=True)
    mirror_build = time.perf_counter() - started
    rows = []
    for number, engine in enumerate(("mirror", "lancedb")):
        index.mirror_enabled = engine == "mirror"
        latencies, embed, used, _ = _latencies(retriever,
                                               synthetic.queries(queries + 10, seed + number))
        assert used == engine, f"{engine} asked, {used} answered"
        named, _, _, renamed = _latencies(retriever,
                                          synthetic.named_queries(queries + 10, seed + number))
        rows.append({
            "engine": engine,
            "p50_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 0.95),
            "named_p50_ms": statistics.median(named),
            "named_p95_ms": percentile(named, 0.95),
            "named_second_pass": renamed,
            "embed_p50_ms": statistics.median(embed),
            "ann": index.has_ann(),
            "mirror_build_s": mirror_build if engine == "mirror" else None,
        })
    index.mirror_enabled = True
    # Recall@10 of each engine's vector search against exact search: as the retriever asks (its
    # candidate list, top 10 kept) and as a bare top-10 query.
    found: dict[str, list[list[float]]] = {"mirror": [[], []], "lancedb": [[], []]}
    candidates = retriever.config.candidates
    for text in synthetic.queries(100, seed + 2):
        vector = embedder.encode_query(text)
        exact = _exact_top(index, vector, Filters())
        for engine, search in (("mirror", mirror.search_vector), ("lancedb", index.search_vector)):
            for slot, limit in enumerate((candidates, 10)):
                top = {r["chunk_id"] for r in search(vector, Filters(), limit)[:10]}
                found[engine][slot].append(_recall_of(top, exact))
    for row in rows:
        row["ann_recall_at_10"] = statistics.mean(found[row["engine"]][0])
        row["ann_recall_at_10_bare"] = statistics.mean(found[row["engine"]][1])
    return rows


def _recall(index: Index, embedder: Embedder, scope: Filters, limits: tuple[int, ...],
            seed: int) -> list[float]:
    """Mean recall@10 of ``index.search_vector`` against exact search, per candidate limit."""
    found: list[list[float]] = [[] for _ in limits]
    for text in synthetic.queries(50, seed):
        vector = embedder.encode_query(text)
        exact = _exact_top(index, vector, scope)
        for slot, limit in enumerate(limits):
            top = {r["chunk_id"] for r in index.search_vector(vector, scope, limit)[:10]}
            found[slot].append(_recall_of(top, exact))
    return [statistics.mean(f) for f in found]


def measure_pgvector(index, embedder: Embedder, queries: int = 200, seed: int = 1,
                     retriever: str = DEFAULT_RETRIEVER) -> list[dict[str, Any]]:
    """The pgvector index: latency of the product's search, ANN recall over everything, and
    over a 2 % scope with and without the scope guard (pgvector 0.6 filters after the HNSW
    search, so an unguarded narrow scope loses rows)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="search") as pool:
        engine = Retriever(index, embedder, get_retriever_config(retriever), pool)
        latencies, embed, _, _ = _latencies(engine, synthetic.queries(queries + 10, seed))
        # Searches without a workspace read every workspace's postings of the query's terms.
        unscoped, _, _, _ = _latencies(engine, synthetic.queries(queries + 10, seed + 5),
                                       Filters())
    candidates = get_retriever_config(retriever).candidates
    recall, bare = _recall(index, embedder, Filters(), (candidates, 10), seed + 2)
    narrow = Filters(workspace="narrow")
    guarded = _recall(index, embedder, narrow, (candidates,), seed + 3)[0]
    index.scope_guard = False
    unguarded = _recall(index, embedder, narrow, (candidates,), seed + 3)[0]
    index.scope_guard = True
    return [{"engine": "pgvector", "p50_ms": statistics.median(latencies),
             "p95_ms": percentile(latencies, 0.95), "embed_p50_ms": statistics.median(embed),
             "ann": index.has_ann(), "mirror_build_s": None, "ann_recall_at_10": recall,
             "ann_recall_at_10_bare": bare, "narrow_recall_at_10": guarded,
             "narrow_recall_at_10_unguarded": unguarded,
             "unscoped_p50_ms": statistics.median(unscoped),
             "unscoped_p95_ms": percentile(unscoped, 0.95)}]


def _index(backend: str, size: int, dimension: int, ann_threshold: int, folder: Path, store):
    """An empty index of ``backend`` for a table of ``size`` rows."""
    if backend == "postgres":
        from workbench.store.postgres.index import PgIndex

        index = PgIndex(store, f"bench_{size}", dimension, ann_threshold)
        index.drop()
        return index
    return LanceIndex(folder, f"bench_{size}", dimension, ann_threshold, mirror=True)


def run(embedder: Embedder, sizes: list[int], ann_threshold: int = 20000,
        retriever: str = DEFAULT_RETRIEVER, store=None, backends: tuple[str, ...] = ("embedded",),
        progress: Callable[[str], None] = lambda line: None, cache: Path | None = None,
        vectors: str = "composed") -> list[dict[str, Any]]:
    """Rows per size, backend and retriever; ``retriever``: one name, or several comma
    separated, measured on the same table; ``backends`` may hold "embedded" (LanceDB and its
    mirror) and "postgres" (a pgvector table in ``store``, a PostgresStore, dropped afterwards).
    ``progress`` gets a line as each phase ends, with its duration; ``cache``: a folder that
    keeps the embedded base texts for the next run; ``vectors``: see ``build``."""
    rows = []
    started = time.perf_counter()
    embedded = embed_base(embedder, max(sizes), cache=cache, vectors=vectors)
    embed_s = time.perf_counter() - started
    progress(f"{len(embedded):,} base texts ({vectors}) embedded (or read from the cache) "
             f"in {embed_s:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for backend in backends:
                index = _index(backend, size, embedder.dimension, ann_threshold, Path(tmp), store)
                started = time.perf_counter()
                build(index, embedder, size, embedded=embedded, vectors=vectors)
                built = time.perf_counter() - started
                progress(f"{backend}, {size:,} rows: built in {built:.1f} s")
                # Each size and retriever gets its own queries: a repeated query would be
                # answered from the cache.
                for number, name in enumerate(retriever.split(",")):
                    seed = size + 1000 * number
                    started = time.perf_counter()
                    found = (measure_pgvector(index, embedder, seed=seed, retriever=name)
                             if backend == "postgres" else
                             measure(index, embedder, seed=seed, retriever=name))
                    progress(f"{backend}, {size:,} rows, {name}: measured in "
                             f"{time.perf_counter() - started:.1f} s")
                    rows.extend({"messages": size, "retriever": name, "data": vectors,
                                 "build_s": built, "embed_base_s": embed_s, **row}
                                for row in found)
                index.drop()
    return rows
