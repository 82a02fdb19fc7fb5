"""The server under load: search and chat completions over HTTP from a second process.

A home of ``messages`` generated turns is built as for ``bench chat`` (imported and chunked for
real, a few thousand chunks embedded for real, the rest perturbed copies). The same queries are
timed in this process first (the in-process figure), then ``workbench api`` runs as its own
process on 127.0.0.1 and this one sends a bounded number of requests at each concurrency from
its threads, each with its own connection: requests/s, p50/p95/p99 and errors per route.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import httpx

from workbench.bench import synthetic
from workbench.bench.chat import _fill_index
from workbench.bench.search import percentile
from workbench.config import Settings

_USER = ("bench", "bench-password")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _build(settings: Settings, home: Path, messages: int, queries: list[str]) -> tuple[str, list[float]]:
    """The home, a user with an API key, and the in-process search latencies (ms)."""
    from workbench.api import Workbench

    export = home.parent / "conversations.json"
    export.write_text(json.dumps(synthetic.chatgpt_export(messages, per_conversation=100)))
    with Workbench(settings.model_copy(update={"home": home, "index_on_ingest": False})) as wb:
        wb.imports.ingest([export])
        _fill_index(wb)
        wb.search.index().mirror(wait=True)
        user = wb.users.add(*_USER, ["default"])
        key, _ = wb.users.create_key(user, "bench")
        for query in queries[:20]:
            wb.search.query(query, "default", k=10)  # warm caches, as the server's are
        spent = []
        for query in queries:
            started = time.perf_counter()
            wb.search.query(query, "default", k=10)
            spent.append((time.perf_counter() - started) * 1000)
    return key, spent


def _start(home: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--home", str(home), "api", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped: {server.stderr.read()[-500:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not answer /health within 120 s")


def _load(url: str, key: str, requests: int, clients: int,
          send: Callable[[httpx.Client, int], httpx.Response]) -> dict[str, Any]:
    """``requests`` requests spread over ``clients`` threads, each with its own connection."""
    def worker(start: int) -> list[tuple[float, bool]]:
        out = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                          timeout=300) as client:
            for n in range(start, requests, clients):
                began = time.perf_counter()
                ok = send(client, n).status_code == 200
                out.append(((time.perf_counter() - began) * 1000, ok))
        return out

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = [r for part in pool.map(worker, range(clients)) for r in part]
    wall = time.perf_counter() - began
    spent = [ms for ms, _ in results]
    return {"clients": clients, "requests": len(results), "rps": len(results) / wall,
            "p50_ms": statistics.median(spent), "p95_ms": percentile(spent, 0.95),
            "p99_ms": percentile(spent, 0.99), "errors": sum(not ok for _, ok in results)}


def run(settings: Settings, messages: int = 100_000, searches: int = 300, chats: int = 16,
        levels: tuple[int, ...] = (1, 8, 32),
        chat_levels: tuple[int, ...] = (1, 8, 32),
        llm_base_url: str | None = None) -> dict[str, Any]:
    """Search and chat rows per concurrency level, and the in-process search figure. With
    ``llm_base_url`` the server generates there (a scripted endpoint measures the server
    alone), else with the embedded model."""
    queries = synthetic.queries(max(searches, 50), seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        key, local = _build(settings, home, messages, queries)
        port = _free_port()
        env = {**os.environ, "WORKBENCH_LLM_MAX_TOKENS": "16",
               "WORKBENCH_RATE_LIMIT": "1000000/minute"}
        if llm_base_url:
            env["WORKBENCH_LLM_BASE_URL"] = llm_base_url
        server = _start(home, port, env)
        url = f"http://127.0.0.1:{port}"
        try:
            def search(client: httpx.Client, n: int) -> httpx.Response:
                return client.get("/api/v1/search", params={"q": queries[n % len(queries)], "k": 10})

            def chat(client: httpx.Client, n: int) -> httpx.Response:
                return client.post("/v1/chat/completions", json={
                    "model": "workbench-memory",
                    "messages": [{"role": "user", "content": queries[n % len(queries)]}]})

            _load(url, key, 20, 1, search)  # warm-up: the mirror, the query encoder
            _load(url, key, 1, 1, chat)  # warm-up: the embedded model starts
            rows = [{"route": "/api/v1/search", **_load(url, key, searches, c, search)}
                    for c in levels]
            rows += [{"route": "/v1/chat/completions", **_load(url, key, max(chats, c), c, chat)}
                     for c in chat_levels]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"messages": messages, "llm": llm_base_url or "embedded",
            "in_process_search_p50_ms": statistics.median(local),
            "in_process_search_p95_ms": percentile(local, 0.95), "rows": rows}
