"""One-shot commands run one after the other, as a person types them: a search right after a
chat, an import or another search finds what it should on the first try, every time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, copy_home, run_workbench
from fake_openai import FakeOpenAI

QUESTIONS = ["How do I back up nosso_projeto.db every day?", "And how do I restore that backup?"]


def _search(home: Path, query: str) -> list[dict]:
    done = run_workbench(home, "search", query, "--workspace", "default", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["hits"]


def _chat(home: Path, question: str, conversation: str | None = None) -> dict:
    more = ["--conversation", conversation] if conversation else []
    done = run_workbench(home, "chat", question, "--workspace", "default", *more, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.timeout(900)  # fourteen commands, each a new process (5-40 s each on a loaded machine)
def test_a_search_after_any_command_finds_hits_on_the_first_try(indexed_home, tmp_path, monkeypatch):
    home = copy_home(indexed_home, tmp_path / "home")
    with FakeOpenAI() as llm:
        monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", llm.base_url)
        monkeypatch.setenv("WORKBENCH_LLM_MODEL", llm.model)
        conversation = None
        for number, question in enumerate(QUESTIONS):
            turn = _chat(home, question, conversation)
            # A chat command used to abort as it exited, now and then (a DuckDB close cut short).
            assert turn["model_answer"] == "Noted." and turn["answer"] and turn["error"] is None
            conversation = turn["conversation_id"]
            # At once, in a new process: the history, and the turn the chat just stored.
            assert _search(home, "database backup"), f"empty after chat {number + 1}"
            mine = _search(home, question)
            assert any(h["conversation_id"] == conversation for h in mine), number
            assert _search(home, "PostgreSQL")  # and a second search in a row
        done = run_workbench(home, "ingest", FIXTURES / "claude_trimmed.json", "--workspace", "default")
        assert done.returncode == 0, done.stderr
        assert _search(home, "database backup"), "empty after ingest"
        turn = _chat(home, "Which backups did we talk about?")
        assert _search(home, "database backup"), "empty after a chat that follows an ingest"
    assert len(llm.requests) == len(QUESTIONS) + 1
