"""One logging setup: JSON lines in the home, human lines on stderr, turn ids, no text."""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from workbench import logs
from workbench.logs import configure_logging, log_path, timed, turn_scope


@pytest.fixture
def logged(tmp_path: Path):
    configure_logging(tmp_path / "home", terminal_level="WARNING", slow_ms=50, force=True)
    yield tmp_path / "home" / "logs" / "workbench.log"
    for handler in logging.getLogger("workbench").handlers:
        handler.flush()
    configure_logging(None, force=True)  # later tests write nowhere near this home


def _lines(path: Path) -> list[dict]:
    for handler in logging.getLogger("workbench").handlers:
        handler.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_lines_keep_allowed_fields_and_drop_the_rest(logged, capsys):
    assert not logged.exists()  # made on the first record, not at set-up
    log = logging.getLogger("workbench.store.example")
    log.info("imported", extra={"event": "import", "rows": 12, "query": "my secret question"})
    log.warning("index compaction deferred")
    [info, warning] = _lines(logged)
    assert info["event"] == "import" and info["rows"] == 12 and "query" not in info
    assert info["logger"] == "workbench.store.example" and info["level"] == "info"
    assert "my secret question" not in logged.read_text()
    assert warning["msg"] == "index compaction deferred"
    assert log_path() == logged
    # Only warnings reach the terminal, as one human line.
    assert capsys.readouterr().err == "WARNING workbench.store.example: index compaction deferred\n"


def test_a_turn_id_follows_the_turn_into_worker_threads(logged):
    log = logging.getLogger("workbench.chat.example")
    with ThreadPoolExecutor(1) as pool, turn_scope() as turn_id:
        log.info("question stored")
        pool.submit(contextvars.copy_context().run, log.info, "indexed").result()
    log.info("after the turn")
    lines = _lines(logged)
    assert [line.get("turn_id") for line in lines] == [turn_id, turn_id, None]
    assert len(turn_id) == 16


def test_slow_operations_are_logged_with_their_shape_only(logged):
    with timed("search", retriever="hybrid-rrf.v3", words=5):
        threading.Event().wait(0.08)
    with timed("search", retriever="hybrid-rrf.v3", words=2):
        pass  # fast: not logged
    [slow] = _lines(logged)
    assert slow["event"] == "slow" and slow["op"] == "search" and slow["duration_ms"] >= 50
    assert slow["shape"] == {"retriever": "hybrid-rrf.v3", "words": 5}


def test_the_file_rotates(tmp_path):
    configure_logging(tmp_path, rotate_bytes=2000, force=True)
    try:
        log = logging.getLogger("workbench.example")
        for n in range(100):
            log.info("record %d", n, extra={"rows": n})
        files = sorted(p.name for p in (tmp_path / "logs").iterdir())
        assert files[0] == "workbench.log" and "workbench.log.1" in files
        assert len(files) <= 1 + logs.ROTATE_KEEP
    finally:
        configure_logging(None, force=True)


def test_configured_once_unless_forced(tmp_path):
    configure_logging(tmp_path / "a", force=True)
    configure_logging(tmp_path / "b")
    assert log_path() == tmp_path / "a" / "logs" / "workbench.log"
    configure_logging(None, force=True)


def test_store_operations_are_named_by_the_method_that_opened_them(tmp_path):
    from workbench.store import DuckDBStore

    configure_logging(tmp_path, slow_ms=0, force=True)  # every operation counts as slow
    try:
        store = DuckDBStore(tmp_path / "workbench.duckdb")
        store.conversations.counts()
        lines = _lines(tmp_path / "logs" / "workbench.log")
    finally:
        configure_logging(None, force=True)
    callers = [line["shape"]["caller"] for line in lines if line["op"] == "store"]
    assert "DuckDBConversations.counts" in callers
    assert all(set(line["shape"]) <= {"caller", "read_only", "transaction"} for line in lines)
