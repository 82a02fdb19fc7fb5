"""The restore drill: a home of ``messages`` generated messages, backed up, verified, restored.

The home is built as the chat benchmark builds its own (a generated ChatGPT export imported and
chunked for real; a few thousand chunks embedded for real, perturbed copies of their vectors
for the rest), so the database and the index have a real one's size. Re-deriving the index
instead of copying it would cost an embedding of every chunk: that figure is extrapolated from
the real embedder's rate on this machine, measured on ``sample`` chunk texts in the same run.
On PostgreSQL the index is in the database (pgvector), so the dump carries it and a restore
re-derives nothing either.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.bench import synthetic
from workbench.bench.chat import _fill_index
from workbench.config import Settings
from workbench.errors import InvalidInput
from workbench.ops.backup import take_backup
from workbench.ops.doctor import folder_size
from workbench.ops.restore import restore, verify


def run(settings: Settings, messages: int = 100_000, sample: int = 200,
        backend: str = "embedded") -> dict[str, Any]:
    """``backend`` "postgres": the home is a new database on the server of
    ``settings.database_url`` (as is the one it is restored into); both are dropped after."""
    if backend not in ("embedded", "postgres"):
        raise InvalidInput(f"unknown backend {backend!r}: embedded or postgres")
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "conversations.json"
        export.write_text(json.dumps(synthetic.chatgpt_export(messages, per_conversation=100)))
        if backend == "postgres":
            return _drill_postgres(settings, export, Path(tmp), sample)
        home = Path(tmp) / "home"
        config = settings.model_copy(update={"home": home, "index_on_ingest": False})
        row = _build(config, export, sample)
        report = take_backup(config, Path(tmp) / "backups")
        checked = verify(report.path)
        restored = restore(report.path, Path(tmp) / "restored")
        row.update(database_bytes=folder_size(home / "workbench.duckdb"),
                   index_bytes=folder_size(home / "lancedb"))
        return {**row, **_timings(report, checked, restored)}


def _build(config: Settings, export: Path, sample: int) -> dict[str, Any]:
    """Import the export and fill the index; the embedder's rate on ``sample`` chunk texts."""
    from workbench.api import Workbench

    with Workbench(config) as wb:
        started = time.perf_counter()
        imported = wb.imports.ingest([export])[0]
        chunks = _fill_index(wb)
        build_s = time.perf_counter() - started
        texts = wb.store.chunks.texts(config.chunker)[:sample]
        embed_started = time.perf_counter()
        wb.embedder.encode(texts)
        rate = len(texts) / (time.perf_counter() - embed_started)
    return {"backend": "postgres" if config.database_url else "embedded",
            "messages": imported.messages_added, "chunks": chunks, "build_s": build_s,
            "embed_per_s": rate, "rederive_s_estimate": chunks / rate}


def _timings(report: Any, checked: Any, restored: Any) -> dict[str, Any]:
    return {"backup_bytes": report.bytes, "backup_s": report.timings["total_s"],
            "lock_s": report.timings["lock_s"], "backup_database_s": report.timings["database_s"],
            "backup_index_s": report.timings["index_s"], "verify_s": checked.seconds,
            "restore_s": restored.seconds}


def _drill_postgres(settings: Settings, export: Path, tmp: Path, sample: int) -> dict[str, Any]:
    """The drill on PostgreSQL: the index lives in the database, so the dump holds it."""
    from workbench.store.postgres import dump

    if not settings.database_url:
        raise InvalidInput("the postgres backend needs WORKBENCH_DATABASE_URL=postgresql://...")
    name = f"workbench_drill_{os.getpid()}"
    with dump.scratch_database(settings.database_url, name) as source, \
            dump.scratch_database(settings.database_url, f"{name}_restored") as target:
        config = settings.model_copy(update={"home": tmp / "home", "index_on_ingest": False,
                                             "database_url": source})
        row = _build(config, export, sample)
        row.update(database_bytes=dump.database_bytes(source), index_bytes=0)
        report = take_backup(config, tmp / "backups")
        checked = verify(report.path, source, settings.pg_bin)
        restored = restore(report.path, None, database_url=target, pg_bin=settings.pg_bin)
        row["restored_bytes"] = dump.database_bytes(target)
        return {**row, **_timings(report, checked, restored)}
