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
    export.unlink()
    return config


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
