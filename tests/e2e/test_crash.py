"""kill -9 during a large import leaves all of it or none of it; a re-run completes it exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from workbench.bench import synthetic

MESSAGES = 20000
PER_CONVERSATION = 100


def _counts(db) -> tuple[int, int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return tuple(
            con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("conversations", "messages", "imports")
        )
    finally:
        con.close()


@pytest.mark.slow
def test_kill_during_import_is_all_or_nothing(tmp_path):
    export = tmp_path / "big.json"
    export.write_text(json.dumps(synthetic.chatgpt_export(MESSAGES, PER_CONVERSATION, seed=7)))
    # Every node of every tree is stored: one placeholder root per conversation besides the turns.
    conversations = MESSAGES // PER_CONVERSATION
    full = (conversations, MESSAGES + conversations, 1)
    # The store's atomicity is under test; the derived index is not built here.
    env = {**os.environ, "WORKBENCH_INDEX_ON_INGEST": "false"}
    command = [sys.executable, "-m", "workbench.cli", "ingest", str(export)]

    # How long one whole import takes here, then kills spread over that span.
    timing_home = tmp_path / "timing"
    started = time.perf_counter()
    subprocess.run(command, env={**env, "WORKBENCH_HOME": str(timing_home)}, check=True,
                   capture_output=True)
    duration = time.perf_counter() - started
    assert _counts(timing_home / "workbench.duckdb") == full

    home = tmp_path / "home"
    db = home / "workbench.duckdb"
    killed_running = 0
    for fraction in (0.2, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95):
        proc = subprocess.Popen(command, env={**env, "WORKBENCH_HOME": str(home)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * fraction)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_running += 1
        proc.wait()
        if db.exists():
            state = _counts(db)
            assert state in {(0, 0, 0), full}, (fraction, state)
            if state == full:
                break
    assert killed_running >= 1

    subprocess.run(command, env={**env, "WORKBENCH_HOME": str(home)}, check=True,
                   capture_output=True)
    conversations_, messages_, _ = _counts(db)
    assert (conversations_, messages_) == full[:2]
