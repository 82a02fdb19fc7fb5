"""What an encrypted home costs: the same work on a plain home and an encrypted one, in one run.

Both homes get the same fixture exports, imported, chunked, embedded and indexed for real, twice
and in both orders (a home that goes first is not favoured), with one embedder shared and after
a warm-up import of the same files into a third home, so that the loading of parsers and models
is timed in neither; then the same searches and the same chat turns. A chat turn runs without
an LLM (the question is stored, retrieved against and indexed), so its time is the workbench's
own overhead, the part encryption can change. Searches and turns alternate between the homes,
round by round, so a machine whose load changes slows both.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.ops import encryption
from workbench.ops.encrypt_home import encrypt

EXPORTS = ["claude_trimmed.json", "chatgpt_2025_linear.json", "legacy_nosso_projeto.db",
           "openwebui_chat.json"]
QUERIES = ["backup every day", "pgvector index", "como configurar o banco", "trip to Lisbon",
           "database migration", "what did we decide about the schema"]
MODES = ("plain", "encrypted")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(settings: Settings, fixtures: Path, rounds: int = 5, turns: int = 5) -> list[dict[str, Any]]:
    from workbench.api import Workbench
    from workbench.embeddings.model import Embedder

    files = [fixtures / name for name in EXPORTS if (fixtures / name).is_file()]
    embedder = Embedder(settings.embedding_model, settings.device,
                        query_encoder=settings.query_encoder, cache_dir=settings.cache_dir)
    saved_key = os.environ.get("WORKBENCH_ENCRYPTION_KEY")
    os.environ.setdefault("WORKBENCH_ENCRYPTION_KEY", secrets.token_urlsafe(24))
    results = {mode: {"import_s": 0.0, "search_ms": [], "turn_ms": []} for mode in MODES}
    try:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            homes = {mode: Path(tmp) / mode for mode in MODES}
            # The first import of a process loads parsers, spaCy and the encoders: timed in neither.
            warm = settings.model_copy(update={"home": Path(tmp) / "warm", "database_url": None})
            with Workbench(warm, embedder) as wb:
                wb.imports.ingest(files, workspace="default")
                wb.search.query(QUERIES[0], "default", k=10)
            encrypt(homes["encrypted"])
            stack.callback(encryption.lock, homes["encrypted"])
            opened = {}
            for mode in MODES:
                config = settings.model_copy(update={"home": homes[mode], "database_url": None})
                opened[mode] = stack.enter_context(Workbench(config, embedder))
            # Twice, in both orders (the second into another workspace: a full import again),
            # so that going first or second weighs on neither.
            for workspace, order in (("default", MODES), ("again", MODES[::-1])):
                for mode in order:
                    started = time.perf_counter()
                    opened[mode].imports.ingest(files, workspace=workspace)
                    results[mode]["import_s"] += (time.perf_counter() - started) / 2
            for _ in range(rounds):
                for mode, wb in opened.items():
                    results[mode]["search_ms"] += _searches(wb)
            for _ in range(turns):
                for mode, wb in opened.items():
                    results[mode]["turn_ms"].append(_turn(wb))
    finally:
        if saved_key is None:
            os.environ.pop("WORKBENCH_ENCRYPTION_KEY", None)
    return [_row(mode, results[mode], len(files)) for mode in MODES]


def _searches(wb) -> list[float]:
    times = []
    for query in QUERIES:
        started = time.perf_counter()
        wb.search.query(query, "default", k=10)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _turn(wb) -> float:
    started = time.perf_counter()
    wb.chat.session(None).ask("How do I back up the database every day?", "default")
    wb.chat.wait_for_indexing()
    return (time.perf_counter() - started) * 1000


def _row(mode: str, result: dict[str, Any], files: int) -> dict[str, Any]:
    return {"mode": mode, "files": files, "import_s": round(result["import_s"], 3),
            "search_p50_ms": round(statistics.median(result["search_ms"]), 2),
            "search_p95_ms": round(_p(result["search_ms"], 0.95), 2),
            "turn_p50_ms": round(statistics.median(result["turn_ms"]), 2),
            "turn_p95_ms": round(_p(result["turn_ms"], 0.95), 2),
            "searches": len(result["search_ms"]), "turns": len(result["turn_ms"]),
            "load_average": round(os.getloadavg()[0], 1)}
