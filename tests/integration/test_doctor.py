"""`workbench doctor`: sizes and growth, index freshness, ledger vs index, slow operations."""

from __future__ import annotations

import threading

import duckdb

from tests.conftest import Cli, copy_home
from workbench.logs import configure_logging, timed


def test_doctor_reports_a_healthy_home_then_what_went_wrong(indexed_home, tmp_path):
    home = copy_home(indexed_home, tmp_path / "home")
    cli = Cli(home)
    configure_logging(home, slow_ms=10, force=True)
    try:
        with timed("search", retriever="hybrid-rrf.v3", words=4):
            threading.Event().wait(0.03)
    finally:
        configure_logging(None, force=True)

    first = cli.json("doctor")
    assert first["status"] == "ok", first["checks"]
    assert first["sizes"]["database"] > 0 and first["sizes"]["index"] > 0
    assert first["index"]["rows"] == first["index"]["marked"] > 0
    assert first["index"]["pending"] == 0 and first["index"]["full_text"]
    [slow] = first["slowest"]
    assert slow["op"] == "search" and slow["shape"] == {"retriever": "hybrid-rrf.v3", "words": 4}

    # A chunk the ledger marks but the index lost: a warning, repaired by the next indexing.
    import lancedb

    table = lancedb.connect(str(home / "lancedb")).open_table(first["index"]["name"])
    victim = table.search().select(["chunk_id"]).limit(1).to_arrow()["chunk_id"][0].as_py()
    table.delete(f"chunk_id = '{victim}'")
    second = cli.json("doctor")
    assert second["status"] == "warn"
    ledger = next(c for c in second["checks"] if c["name"] == "ledger vs index")
    assert ledger["status"] == "warn" and "1 marked but missing" in ledger["detail"]
    assert second["since"] is not None and set(second["growth"]) == set(second["sizes"])

    # Messages whose conversation is gone: a failure, exit 1.
    con = duckdb.connect(str(home / "workbench.duckdb"))
    con.execute("DELETE FROM conversations WHERE id = (SELECT min(conversation_id) FROM messages)")
    con.close()
    failed = cli("doctor", ok=False)
    assert failed.exit_code == 1
    assert "messages without their conversation" in failed.stdout
