"""Answers you can trust: grounded in the memories, cited, and never memories themselves.

The backup question runs on the real embedded model; the other tests script the model's answer
through a real OpenAI-compatible HTTP server on 127.0.0.1 (``fake_openai``)."""

from __future__ import annotations

from typing import Iterator

import duckdb
import pytest

from conftest import Cli, copy_home, wait_until
from fake_openai import FakeOpenAI
from workbench import Workbench
from workbench.chat.answer import UNSUPPORTED_NOTE
from workbench.chat.llm import LLMClient, LLMConfig

QUESTION = "What did I decide about backups?"
UNSUPPORTED = "You chose to decide about backups. CREATE DATABASE backup; DROP DATABASE nosso_projeto;"
SUPPORTED = ('You back up nosso_projeto.db every day with sqlite3 nosso_projeto.db '
             '".backup backup/AAAAMMDD.db" in a daily cron [1].')


@pytest.fixture
def wb(sample_home, tmp_path, embedder) -> Iterator[Workbench]:
    with Workbench.open(copy_home(sample_home, tmp_path / "home"), embedder) as opened:
        yield opened


def scripted(server: FakeOpenAI, max_tokens: int = 512) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.base_url, model=server.model, max_tokens=max_tokens))


def _cites_backup(wb: Workbench, turn) -> bool:
    return any(".backup" in wb.conversations.message(c["message_id"]).content
               for c in turn.citations)


def test_backup_question_answered_with_the_command_cited(wb):
    """The real embedded default: whatever SmolLM2 writes, the reply holds the command, cited."""
    llm = wb.chat.llm()
    turn = wb.chat.session(llm).ask(QUESTION, "default")
    assert turn.error is None and turn.model_text
    assert ".backup backup/AAAAMMDD.db" in turn.text and _cites_backup(wb, turn)
    # Sources are kept with the answer and read back after a reload.
    [_, stored] = wb.conversations.messages(turn.conversation_id)
    assert stored.content == turn.text and stored.generated
    sources = stored.metadata["sources"]
    assert [s["message_id"] for s in sources["retrieved"]] == [h.message_id for h in turn.hits]
    kept = set(sources["written"]) | set(sources["attributed"])
    assert kept == {c["message_id"] for c in stored.metadata["citations"]} and kept
    assert all(c["kind"] in ("written", "attributed") for c in stored.metadata["citations"])


def test_unsupported_answer_is_flagged_and_replaced_by_the_extractive_one(wb):
    with FakeOpenAI(UNSUPPORTED) as server:
        turn = wb.chat.session(scripted(server)).ask(QUESTION, "default")
    assert turn.model_text == UNSUPPORTED
    assert not turn.composed.grounding.supported and turn.composed.extractive is not None
    assert turn.text.startswith("From your memories (2024-04-05, “Backup diário”)")
    assert UNSUPPORTED_NOTE in turn.text and "DROP DATABASE" not in turn.text
    assert ".backup backup/AAAAMMDD.db" in turn.text and _cites_backup(wb, turn)
    assert [c["kind"] for c in turn.citations] == ["attributed"]
    stored = wb.conversations.message(turn.answer.id)
    assert stored.metadata["model_answer"] == UNSUPPORTED and stored.metadata["extractive"]
    assert stored.metadata["supported"] is False
    payload = turn.to_dict()
    assert payload["supported"] is False and payload["extractive"] is True


def test_generated_answers_are_not_memories_by_default(wb, sample_home, tmp_path, embedder):
    with FakeOpenAI(SUPPORTED) as server:
        turn = wb.chat.session(scripted(server)).ask("How do I back up every day? zebracorn", "default")
    with FakeOpenAI(UNSUPPORTED) as server:
        unsupported = wb.chat.session(scripted(server)).ask("zebracorn again?", "default")
    wb.chat.wait_for_indexing()
    assert turn.composed.grounding.supported and turn.answer.generated
    found = [h.message_id for h in wb.search.query("backup cron sqlite daily", "default", 20).hits]
    assert turn.answer.id not in found and unsupported.answer.id not in found
    assert turn.user_message.id in [h.message_id for h in
                                    wb.search.query("zebracorn", "default", 5).hits]
    report = wb.search.index_pending()  # a full sync agrees: nothing to add for the answers
    assert report.chunks_added == 0
    # With the setting, a supported answer is searchable, ranked below imported history.
    wb.close()
    with Workbench.open(wb.settings.home, embedder, index_generated=True) as opened:
        opened.search.reindex()
        hits = opened.search.query("backup cron sqlite daily", "default", 20).hits
        ids = [h.message_id for h in hits]
        assert turn.answer.id in ids and unsupported.answer.id not in ids
        imported = [i for i, h in enumerate(hits) if h.conversation_id != turn.conversation_id]
        assert ids.index(turn.answer.id) > max(imported)


def test_an_upgraded_home_stops_finding_its_answers(wb, embedder):
    """A home from before answers stopped being memories: its answers were indexed like
    imported history. Opening it migrates it, and search no longer returns them."""
    with Workbench.open(wb.settings.home, embedder, index_generated=True) as old:
        with FakeOpenAI(SUPPORTED) as server:
            turn = old.chat.session(scripted(server)).ask("How do I back up every day?", "default")
        old.chat.wait_for_indexing()
        assert turn.answer.id in [h.message_id for h in
                                  old.search.query("backup cron sqlite daily", "default", 20).hits]
    wb.close()
    wait_until(lambda: not list(wb.settings.home.glob("*.wait.*")), 5)
    con = duckdb.connect(str(wb.settings.duckdb_path))  # the schema and rows before m007
    indexes = con.execute(
        "SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = 'messages'").fetchall()
    for name, _ in indexes:
        con.execute(f"DROP INDEX {name}")
    con.execute("ALTER TABLE messages DROP COLUMN generated")
    for _, sql in indexes:
        con.execute(sql)
    con.execute("DROP TABLE answer_results; DROP TABLE answer_runs")
    con.execute("DELETE FROM _migrations WHERE name = 'm007_answers'")
    con.close()
    with Workbench.open(wb.settings.home, embedder) as upgraded:
        hits = upgraded.search.query("backup cron sqlite daily", "default", 20).hits
        assert turn.answer.id not in [h.message_id for h in hits]
        assert upgraded.conversations.message(turn.answer.id).generated
        assert turn.user_message.id in [h.message_id for h in
                                        upgraded.search.query("back up every day", "default", 20).hits]
        upgraded.search.index_pending()
        assert turn.answer.id not in [h.message_id for h in
                                      upgraded.search.query("backup cron sqlite daily", "default", 20).hits]


def test_cli_prints_answer_then_labelled_sources_and_says_when_cut_off(wb, monkeypatch):
    home = wb.settings.home
    wb.close()
    with FakeOpenAI(SUPPORTED, finish_reason="length") as server:
        monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("WORKBENCH_LLM_MODEL", server.model)
        result = Cli(home)("chat", QUESTION, "-w", "default")
        payload = Cli(home).json("chat", QUESTION, "-w", "default")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("You back up nosso_projeto.db every day")
    assert "cut off at the model's limit of 256 tokens" in result.stdout
    assert "WORKBENCH_LLM_MAX_TOKENS" in result.stdout
    sources = lines[lines.index("Sources") + 1:]
    labels = [line.split()[0] for line in sources]
    assert labels[0] in ("cited", "attributed") and "retrieved" in labels
    assert labels == sorted(labels, key=lambda label: label == "retrieved")
    assert payload["truncated"] is True and payload["finish_reason"] == "length"
    assert payload["sources"]["retrieved"] and payload["citations"]
