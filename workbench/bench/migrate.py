"""``workbench bench migrate``: a generated embedded home moved to PostgreSQL twice, straight
through and killed part-way then resumed; the time, the rows per second and the verification.

The home is built as the chat benchmark builds its own: a generated ChatGPT export imported and
chunked for real, a few thousand chunks embedded for real and perturbed copies of their vectors
for the rest (a migration copies vectors without reading them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from workbench.bench import synthetic
from workbench.bench.chat import _fill_index
from workbench.config import Settings
from workbench.errors import InvalidInput

# The killed run dies once this table is recorded as copied: the tables after it (chunks, the
# ledger, the index) are still to come, and the next one is being copied.
KILL_AFTER = "messages"
KILL_WITHIN_S = 1800


def build_home(settings: Settings, home: Path, messages: int) -> Settings:
    """An embedded home at ``home`` holding a generated export of ``messages`` messages, chunked
    and indexed as the chat benchmark does it; the settings that open it."""
    from workbench.api import Workbench

    config = settings.model_copy(update={"home": home, "database_url": None,
                                         "index_on_ingest": False})
    export = home.parent / "conversations.json"
    export.write_text(json.dumps(synthetic.chatgpt_export(messages, per_conversation=100)))
    with Workbench(config) as wb:
        [result] = wb.imports.ingest([export])
        if result.status != "done":
            raise InvalidInput(f"{export}: {result.error}")
        _fill_index(wb)
        _fill_records(wb.store)
    export.unlink()
    return config


def _fill_records(store, every: int = 100) -> None:
    """Rows for the tables an import leaves empty, through the store as the product writes
    them (one chat turn logged per ``every`` messages, an evaluation with its set, run and
    batch, an answer run, a user with a key and a linked chat), so every table is moved and
    verified."""
    from datetime import datetime, timezone

    from workbench.records import Run, RunResult, SetQuery

    messages = [m for c in store.conversations.list("default") for m in store.messages.list(c.id)]
    picked = messages[::every]
    for m in picked:
        store.interactions.log({
            "workspace": "default", "conversation_id": m.conversation_id, "user_message_id": m.id,
            "model": "bench", "tokens_in": len(m.content), "tokens_out": 12,
            "retrieved_ids": [m.id], "cited_ids": [m.id], "total_ms": 80.5})
    queries = [SetQuery(f"q{i}", m.content[:80], {m.id}, "default", m.role, {"target": m.id})
               for i, m in enumerate(picked)]
    eval_set = store.evals.sets.add("bench", "qrels", queries, f"bench-{len(queries)}", "default")
    batch = str(uuid.uuid4())
    started = datetime.now(timezone.utc)
    store.evals.batches.start(batch, started, "bench", {"set": "bench"}, "running", ["passed"])
    run = Run(str(uuid.uuid4()), "bench", eval_set.id, eval_set.name, eval_set.version,
              "hybrid-rrf.v6", {"k": 10}, "all-MiniLM-L6-v2", "turn-context.v1", None, [5, 10],
              {"R@10": 1.0}, {"user": {"R@10": 1.0}}, len(queries), 0, 1.0, 9.5, 20.5, "bench",
              batch, None, started)
    store.evals.runs.add(run, [RunResult(q.id, sorted(q.relevant), {"R@10": 1.0}, 9.5)
                               for q in queries])
    store.evals.batches.finish(batch, "passed", {"set": "bench", "tracked_run": run.id})
    store.answer_runs.add(
        {"label": "bench", "set_name": "bench", "set_version": 1, "workspace": "default",
         "model": "bench", "mode": "rag", "prompt": "answer.v1", "retriever": "hybrid-rrf.v6",
         "k": 10, "metrics": {"cited": 1.0}, "questions": len(queries), "seconds": 1.0},
        [{"question_id": q.id, "answer": q.text, "cited": sorted(q.relevant),
          "metrics": {"cited": 1.0}} for q in queries])
    user = store.users.add("bench", "hash", ["default"])
    store.users.add_key(user.id, "bench", "wbk_bench", "key-hash")
    store.users.link_client_chat(user.id, "chat:1", picked[0].conversation_id)


def run_migrate_benchmark(settings: Settings, messages: int = 100_000) -> dict[str, Any]:
    """Build a home of ``messages`` messages, migrate it into a scratch schema of
    ``settings.database_url`` straight through, then into another one with a run killed -9
    part-way and the same command again; the runs, and every table's verification."""
    from workbench.store.postgres import scratch_schema

    if not settings.database_url:
        raise InvalidInput("bench migrate needs WORKBENCH_DATABASE_URL=postgresql://...")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        home = build_home(settings, Path(tmp) / "home", messages)
        built = time.perf_counter() - started
        with scratch_schema(settings.database_url, "bench_migrate_straight") as url:
            straight = _timed_migration(home, url)
        with scratch_schema(settings.database_url, "bench_migrate_resumed") as url:
            killed_after, recorded = _killed_migration(home, url)
            resumed = _timed_migration(home, url)
    runs = [_run_row("straight through", messages, straight),
            {**_run_row("killed -9, then resumed", messages, resumed),
             "killed_after_s": killed_after, "tables_before_kill": recorded}]
    runs[0]["home_build_s"] = built
    ends = {t["name"]: t for t in resumed["tables"]}
    tables = [{"table": t["name"], "rows": t["source_rows"], "straight_same": t["same"],
               "resumed_same": ends[t["name"]]["same"],
               "resumed_copied_again": ends[t["name"]]["copied"],
               "same_result": (t["target_rows"], t["target_digest"])
               == (ends[t["name"]]["target_rows"], ends[t["name"]]["target_digest"])}
              for t in straight["tables"]]
    return {"messages": messages, "runs": runs, "tables": tables}


def _timed_migration(home: Settings, url: str) -> dict[str, Any]:
    from workbench.migrate import migrate_home

    started = time.perf_counter()
    report = migrate_home(home, url)
    return {**report.to_dict(), "wall_s": time.perf_counter() - started}


def _run_row(name: str, messages: int, report: dict[str, Any]) -> dict[str, Any]:
    return {"run": name, "messages": messages, "rows_copied": report["rows_copied"],
            "seconds": report["wall_s"], "rows_per_s": report["rows_copied"] / report["wall_s"],
            "tables": len(report["tables"]), "tables_same": sum(t["same"] for t in report["tables"]),
            "ok": report["ok"]}


def _killed_migration(home: Settings, url: str) -> tuple[float, int]:
    """``workbench migrate --to url`` in its own process, killed -9 once ``KILL_AFTER`` is
    recorded as copied; the seconds it ran and the tables it had recorded."""
    from workbench.store.postgres import PostgresStore
    from workbench.store.transfer import copied

    target = PostgresStore(url)  # the schema made here: the watcher and the run never race on it
    key = str(home.duckdb_path.resolve())
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DATABASE_URL"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "workbench", "--home", str(home.home),
                                "migrate", "--to", url, "--json"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while KILL_AFTER not in copied(target, key):
            if process.poll() is not None:
                raise RuntimeError(f"the migration ended before it could be killed: "
                                   f"{process.stderr.read().decode()[-2000:]}")
            if time.perf_counter() - started > KILL_WITHIN_S:
                raise RuntimeError(f"{KILL_AFTER} not copied within {KILL_WITHIN_S} s")
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    seconds = time.perf_counter() - started
    recorded = len(copied(target, key))
    target.release()
    return seconds, recorded
