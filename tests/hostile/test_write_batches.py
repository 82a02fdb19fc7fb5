"""A file written in several batches lands exactly as in one, in one transaction."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from conftest import FIXTURES
from workbench.importers import parse
from workbench.store import DuckDBStore
from workbench.store import imports as store_imports


def _write(path, parsed):
    store = DuckDBStore(path)
    result = store.imports.write(parsed, "default", "export.json", "0" * 64, time.perf_counter(),
                                 datetime.now(timezone.utc))
    with store.connect() as con:
        rows = con.execute("SELECT id, content, on_active_branch, position FROM messages "
                           "ORDER BY id").fetchall()
    return store, result, rows


def test_batches_write_what_one_write_does(tmp_path, monkeypatch):
    parsed = parse(FIXTURES / "chatgpt_2024_tools.json")
    assert len(parsed.conversations) > 1
    _, whole, whole_rows = _write(tmp_path / "one.duckdb", parsed)
    monkeypatch.setattr(store_imports, "WRITE_BATCH_MESSAGES", 1)
    store, batched, batched_rows = _write(tmp_path / "many.duckdb", parsed)
    assert batched_rows == whole_rows
    fields = ("conversations_added", "conversations_updated", "conversations_skipped",
              "messages_added", "messages_skipped")
    assert [getattr(batched, f) for f in fields] == [getattr(whole, f) for f in fields]
    again = store.imports.write(parsed, "default", "export.json", "0" * 64, time.perf_counter(),
                                datetime.now(timezone.utc))
    assert again.messages_added == 0 and again.messages_skipped == whole.messages_added
