"""Several workbench processes writing one PostgreSQL database at once: no lock to wait for,
nothing lost, nothing twice; and a migration killed part-way, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import FIXTURES, ingest_into, wait_until
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


def _victim(store: PostgresStore, name: str, doing: str) -> bool:
    """The importer ``name`` has written in its import's transaction (``doing`` "import": it
    holds a transaction id) or holds a claim of pending chunks while it embeds them ("claim")."""
    where = ("backend_xid IS NOT NULL" if doing == "import" else
             "state = 'idle in transaction' AND query LIKE '/* claim pending chunks */%'")
    with store.connect() as con:
        return con.execute(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = ? "
                           f"AND {where}", [name]).fetchone()[0] > 0


def _start_victim(tmp_path, env: dict, url: str, name: str, messages: int) -> subprocess.Popen:
    export = tmp_path / f"{name}.json"
    export.write_text(json.dumps(synthetic.chatgpt_export(messages, 100, seed=len(name))))
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "ingest", str(export), "--workspace", name],
        env={**env, "WORKBENCH_DATABASE_URL": f"{url}&application_name={name}"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when(victim: subprocess.Popen, watcher: PostgresStore, name: str, doing: str) -> None:
    assert wait_until(lambda: _victim(watcher, name, doing), within_s=600), name
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def _evaluation(tmp_path, env: dict, eval_set: str) -> subprocess.Popen:
    """``eval notebooks`` of the retrieval notebook on ``eval_set``, with its own Jupyter dirs."""
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"eval_set": eval_set, "retrievers": ["hybrid-rrf.v3"]}))
    jupyter = {"IPYTHONDIR": str(tmp_path / "ipython"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
               "JUPYTER_DATA_DIR": str(tmp_path / "jd"), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    return subprocess.Popen([sys.executable, "-m", "workbench", "eval", "notebooks", "--notebook",
                             "retrieval_eval", "--params", str(params), "--json"],
                            env={**env, **jupyter}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _embedded_by_processes(home) -> int:
    """The chunks the processes embedded and committed in claimed batches (their log lines)."""
    lines = (line for path in (home / "logs").glob("workbench.log*")
             for line in path.read_text().splitlines())
    return sum(record["count"] for record in map(json.loads, lines)
               if record.get("event") == "index_batch")


def _ledger(store: PostgresStore, conversation_ids: set[str]) -> dict[str, int]:
    with store.connect() as con:
        return dict(zip(["chunks", "marked", "chat_chunks"], con.execute(
            "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM indexed_chunks), "
            "(SELECT count(*) FROM chunks WHERE conversation_id = ANY(?::UUID[]))",
            [list(conversation_ids)]).fetchone()))


@pytest.mark.slow
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("kill", [False, True], ids=["all-finish", "importers-killed"])
def test_importers_chatters_and_an_evaluation_at_once_on_one_database(tmp_path, postgres_url,
                                                                        embedder, kill):
    """8 processes at once: 4 importers that index what they import, 3 chatters (through an
    OpenAI-compatible endpoint: the embedded model is too slow for three on two cores) that
    index their turns, and ``eval notebooks``. Every chunk is embedded by one process only
    (claims), none is lost. With ``kill``, two more importers are killed -9: one while it holds
    claimed chunks, before the others start (they index its chunks), and one inside its
    import's transaction, among them (its file lands whole or not at all)."""
    home = tmp_path / "h"
    with ingest_into(home, {"evals": ["chatgpt_branches.json"]}, embedder,
                     database_url=postgres_url) as wb:
        eval_set = wb.evals.generate("evals", 8, name="branches").ref
        chunker, index = wb.settings.chunker, wb.search.index().name
        indexed_before = wb.store.chunks.marked_count(index)
    with FakeOpenAI("Noted: the memories above answer it.") as llm:
        env = {**os.environ, "WORKBENCH_DATABASE_URL": postgres_url, "WORKBENCH_HOME": str(home),
               "WORKBENCH_LLM_BASE_URL": llm.base_url, "WORKBENCH_LLM_MODEL": llm.model}
        if kill:
            # Alone at first, so that it is the one holding claims when it dies: then the eight
            # index what it held, and what it had not reached.
            watcher = PostgresStore(postgres_url)
            _kill_when(_start_victim(tmp_path, env, postgres_url, "victim-index", 600), watcher,
                       "victim-index", "claim")
            assert watcher.chunks.pending_count(chunker, index) > 0
            victim = _start_victim(tmp_path, env, postgres_url, "victim-import", 3000)
        processes = [subprocess.Popen([sys.executable, "-m", "workbench", "ingest",
                                       str(FIXTURES / name), "--workspace", "team"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for name in MIXED_EXPORTS]
        processes += [_chatter(env, question) for question in QUESTIONS]
        processes.append(_evaluation(tmp_path, env, eval_set))
        if kill:
            _kill_when(victim, watcher, "victim-import", "import")
        outputs = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=1800)
            assert process.returncode == 0, stderr
            outputs.append(stdout)
    assert json.loads(outputs[-1])["status"] == "passed"

    shared = PostgresStore(postgres_url)
    turns = [turn for stdout in outputs[len(MIXED_EXPORTS):-1] for turn in json.loads(stdout)]
    assert all(turn["error"] is None for turn in turns)
    chat_ids, chats = set(), {turn["conversation_id"] for turn in turns}
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
        landed = shared.conversations.counts("victim-import")["messages"]
        assert landed in (0, 3000 + 30), landed  # its file whole (committed first) or not at all
        # Killed after its import committed; the chunks it held went with its connection.
        assert shared.conversations.counts("victim-index")["messages"] == 600 + 6
    ledger = _ledger(shared, chats)
    assert shared.chunks.pending_count(chunker, index) == 0
    assert ledger["marked"] == ledger["chunks"]  # every chunk indexed
    # ... each by one process: the claimed batches add up to the chunks made meanwhile, less
    # the chat turns' own (which a turn embeds itself; an importer may take a question's chunk
    # first, hence a range of that size).
    embedded = _embedded_by_processes(home)
    made = ledger["chunks"] - indexed_before
    assert made - ledger["chat_chunks"] <= embedded <= made, (embedded, ledger)


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
