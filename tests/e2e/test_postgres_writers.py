"""Several workbench processes writing one PostgreSQL database at once: no lock to wait for,
nothing lost, nothing twice."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import FIXTURES
from workbench import Workbench
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
