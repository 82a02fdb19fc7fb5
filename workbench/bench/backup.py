"""The restore drill: a home of ``messages`` generated messages, backed up, verified, restored.

The home is built as the chat benchmark builds its own (a generated ChatGPT export imported and
chunked for real; a few thousand chunks embedded for real, perturbed copies of their vectors
for the rest), so the database and the index have a real one's size. Re-deriving the index
instead of copying it would cost an embedding of every chunk: that figure is extrapolated from
the real embedder's rate on this machine, measured on ``sample`` chunk texts in the same run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.bench import synthetic
from workbench.bench.chat import _fill_index
from workbench.config import Settings
from workbench.ops.backup import take_backup
from workbench.ops.doctor import folder_size
from workbench.ops.restore import restore, verify


def run(settings: Settings, messages: int = 100_000, sample: int = 200) -> dict[str, Any]:
    from workbench.api import Workbench

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "conversations.json"
        export.write_text(json.dumps(synthetic.chatgpt_export(messages, per_conversation=100)))
        home = Path(tmp) / "home"
        config = settings.model_copy(update={"home": home, "index_on_ingest": False})
        with Workbench(config) as wb:
            started = time.perf_counter()
            imported = wb.imports.ingest([export])[0]
            chunks = _fill_index(wb)
            build_s = time.perf_counter() - started
            texts = wb.store.chunks.texts(config.chunker)[:sample]
            embed_started = time.perf_counter()
            wb.embedder.encode(texts)
            rate = len(texts) / (time.perf_counter() - embed_started)
        report = take_backup(config, Path(tmp) / "backups")
        checked = verify(report.path)
        restored = restore(report.path, Path(tmp) / "restored")
        return {
            "messages": imported.messages_added, "chunks": chunks, "build_s": build_s,
            "database_bytes": folder_size(home / "workbench.duckdb"),
            "index_bytes": folder_size(home / "lancedb"), "backup_bytes": report.bytes,
            "backup_s": report.timings["total_s"], "lock_s": report.timings["lock_s"],
            "backup_database_s": report.timings["database_s"],
            "backup_index_s": report.timings["index_s"],
            "verify_s": checked.seconds, "restore_s": restored.seconds,
            "embed_per_s": rate, "rederive_s_estimate": chunks / rate,
        }
