"""Several workbench processes writing one PostgreSQL database at once: no lock to wait for,
nothing lost, nothing twice; and a migration killed part-way, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import FIXTURES, wait_until
from workbench import Workbench
from workbench.bench import synthetic
from workbench.store.postgres import PostgresStore

EXPORTS = ["chatgpt_2024_tools.json", "sharegpt_dummy.json", "legacy_nosso_projeto.db"]


def _messages(store) -> set[str]:
    return {m.id for c in store.conversations.list("team") for m in store.messages.list(c.id)}


def test_importers_in_parallel_processes_lose_and_repeat_nothing(tmp_path, postgres_url, embedder):
    env = {**os.environ, "WORKBENCH_DATABASE_URL": postgres_url, "WORKBENCH_HOME": str(tmp_path / "h"),
           "WORKBENCH_INDEX_ON_INGEST": "false"}
    # Each export twice, all at once: the second copy of a file finds (or races) the first.
    importers = [subprocess.Popen([sys.executable, "-m", "workbench", "ingest", str(FIXTURES / name),
                                   "--workspace", "team"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for name in EXPORTS * 2]
    for process in importers:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr

    with Workbench.open(tmp_path / "one-by-one", embedder, index_on_ingest=False) as reference:
        reference.imports.ingest([FIXTURES / name for name in EXPORTS], workspace="team")
        expected = reference.store.conversations.counts("team")
        expected_ids = _messages(reference.store)
    shared = PostgresStore(postgres_url)
    counts = shared.conversations.counts("team")
    assert counts["messages"] == expected["messages"] and counts["conversations"] == expected["conversations"]
    assert counts["imports"] == 2 * len(EXPORTS)
    assert _messages(shared) == expected_ids
    added = sum(row["messages_added"] for row in shared.imports.list("team"))
    assert added == expected["messages"]  # each message written by exactly one importer


def _copied_tables(url: str) -> int:
    with PostgresStore(url).connect() as con:
        return con.execute("SELECT count(*) FROM _copies").fetchone()[0]


@pytest.mark.timeout(600)
def test_migrate_killed_mid_way_resumes_to_the_same_result(tmp_path, postgres_url):
    export = tmp_path / "big.json"
    export.write_text(json.dumps(synthetic.chatgpt_export(5000, 100, seed=5)))
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_INDEX_ON_INGEST": "false"}
    subprocess.run([sys.executable, "-m", "workbench", "ingest", str(export)], env=env, check=True,
                   capture_output=True, timeout=300)
    command = [sys.executable, "-m", "workbench", "migrate", "--to", postgres_url, "--json"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Killed once the first tables are recorded and before the last one is.
    assert wait_until(lambda: _copied_tables(postgres_url) >= 2, within_s=240)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = _copied_tables(postgres_url)
    assert first.returncode == -signal.SIGKILL and finished < 13

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["ok"] and all(t["same"] for t in report["tables"])
    assert sum(not t["copied"] for t in report["tables"]) == finished  # not copied twice
    assert {t["name"]: t["target_rows"] for t in report["tables"]}["messages"] == 5000 + 50
