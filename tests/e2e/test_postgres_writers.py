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
from fake_openai import FakeOpenAI
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


MIXED_EXPORTS = ["chatgpt_2024_tools.json", "sharegpt_dummy.json", "legacy_nosso_projeto.db",
                 "claude_trimmed.json"]
QUESTIONS = ["How do I back up the database?", "What did we say about the trip?",
             "Which recipe did I like?"]


def _chatter(env: dict, question: str) -> subprocess.Popen:
    """Two turns of one conversation, the second started once the first has answered."""
    script = (
        "import json, subprocess, sys\n"
        "ask = [sys.executable, '-m', 'workbench', 'chat', '-w', 'team', '--json']\n"
        "first = json.loads(subprocess.run(ask + [sys.argv[1]], check=True, capture_output=True,"
        " text=True).stdout)\n"
        "second = json.loads(subprocess.run(ask + ['-c', first['conversation_id'], 'And then?'],"
        " check=True, capture_output=True, text=True).stdout)\n"
        "print(json.dumps([first, second]))\n")
    return subprocess.Popen([sys.executable, "-c", script, question], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _reference_ids(tmp_path, embedder, exports: list[str]) -> set[str]:
    with Workbench.open(tmp_path / "one-by-one", embedder, index_on_ingest=False) as reference:
        reference.imports.ingest([FIXTURES / name for name in exports], workspace="team")
        return _messages(reference.store)


def _victim_writing(store: PostgresStore) -> bool:
    """The victim importer's transaction has written (holds a transaction id)."""
    with store.connect() as con:
        return con.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'victim' AND backend_xid IS NOT NULL").fetchone()[0] > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kill", [False, True], ids=["all-finish", "one-importer-killed"])
def test_importers_and_chatters_at_once_on_one_database(tmp_path, postgres_url, embedder, kill):
    """4 importers and 3 chatters (which index their turns) through an OpenAI-compatible
    endpoint, all at once; with ``kill``, a fifth importer of a large export is killed -9 while
    its transaction is open: its file lands whole or not at all, the others are untouched."""
    with FakeOpenAI("Noted: the memories above answer it.") as llm:
        env = {**os.environ, "WORKBENCH_DATABASE_URL": postgres_url,
               "WORKBENCH_HOME": str(tmp_path / "h"), "WORKBENCH_LLM_BASE_URL": llm.base_url,
               "WORKBENCH_LLM_MODEL": llm.model}
        # The importers leave indexing to one process: each indexer embeds every pending chunk
        # of the database (no claim between processes), so four would repeat each other's work.
        importer_env = {**env, "WORKBENCH_INDEX_ON_INGEST": "false"}
        victim = None
        if kill:
            export = tmp_path / "large.json"
            export.write_text(json.dumps(synthetic.chatgpt_export(3000, 100, seed=7)))
            victim = subprocess.Popen(
                [sys.executable, "-m", "workbench", "ingest", str(export), "--workspace", "victim"],
                env={**importer_env, "WORKBENCH_DATABASE_URL": postgres_url + "&application_name=victim"},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        processes = [subprocess.Popen([sys.executable, "-m", "workbench", "ingest",
                                       str(FIXTURES / name), "--workspace", "team"], env=importer_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for name in MIXED_EXPORTS]
        processes += [_chatter(env, question) for question in QUESTIONS]
        if victim is not None:
            watcher = PostgresStore(postgres_url)
            assert wait_until(lambda: _victim_writing(watcher), within_s=600)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        outputs = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=800)
            assert process.returncode == 0, stderr
            outputs.append(stdout)

    shared = PostgresStore(postgres_url)
    turns = [turn for stdout in outputs[len(MIXED_EXPORTS):] for turn in json.loads(stdout)]
    assert all(turn["error"] is None for turn in turns)
    chat_ids = set()
    for first, second in zip(turns[::2], turns[1::2]):
        assert first["conversation_id"] == second["conversation_id"]
        stored = shared.messages.list(first["conversation_id"])
        assert [m.role for m in stored] == ["user", "assistant"] * 2
        assert [m.id for m in stored] == [first["user_message_id"], first["assistant_message_id"],
                                          second["user_message_id"], second["assistant_message_id"]]
        chat_ids |= {m.id for m in stored}
    # Every imported message once, under the id a lone import gives it; the chats' own besides.
    assert _messages(shared) == _reference_ids(tmp_path, embedder, MIXED_EXPORTS) | chat_ids
    counts = shared.conversations.counts("team")
    assert counts["messages"] == len(_messages(shared)) and counts["imports"] == len(MIXED_EXPORTS)
    if kill:
        landed = shared.conversations.counts("victim")["messages"]
        assert landed in (0, 3000 + 30), landed  # its file whole (committed first) or not at all


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
