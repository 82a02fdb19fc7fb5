"""Regenerate and edit-and-resend keep what they replace on an inactive branch (as ChatGPT does),
and an empty chat's examples are the user's own recent questions.

The model is scripted through a real OpenAI-compatible HTTP server on 127.0.0.1 (``fake_openai``);
the store, the index and the embedder are real."""

from __future__ import annotations

from typing import Iterator

import pytest

from conftest import copy_home
from fake_openai import FakeOpenAI
from workbench import Workbench
from workbench.chat.llm import LLMClient, LLMConfig
from workbench.errors import EmptyMessage, InvalidInput
from workbench.ui.shape import tree

ANSWER = ('You back up nosso_projeto.db every day with sqlite3 nosso_projeto.db '
          '".backup backup/AAAAMMDD.db" in a daily cron [1].')


@pytest.fixture
def wb(sample_home, tmp_path, embedder) -> Iterator[Workbench]:
    with Workbench.open(copy_home(sample_home, tmp_path / "home"), embedder) as opened:
        yield opened


@pytest.fixture
def llm() -> Iterator[LLMClient]:
    with FakeOpenAI(ANSWER) as server:
        yield LLMClient(LLMConfig(base_url=server.base_url, model=server.model, max_tokens=256))


def test_regenerate_keeps_the_first_answer_on_an_inactive_branch(wb, llm):
    chat = wb.chat.session(llm)
    first = chat.ask("How do we back up the database every day?", "default")
    again = chat.regenerate(first.conversation_id, first.answer.id)
    with pytest.raises(InvalidInput, match="replaced already"):  # the same click, twice
        chat.regenerate(first.conversation_id, first.answer.id)
    assert again.answer is not None and again.answer.id != first.answer.id
    messages = wb.conversations.messages(first.conversation_id)
    assert [(m.role, m.on_active_branch) for m in messages] == [
        ("user", True), ("assistant", False), ("assistant", True)]
    assert messages[2].parent_id == messages[0].id  # a sibling of the first answer
    active = wb.conversations.messages(first.conversation_id, active_only=True)
    assert [m.id for m in active] == [first.user_message.id, again.answer.id]
    rows = tree(messages)
    assert [r.branch for r in rows] == [None, "branch 2 of 2", "branch 1 of 2, kept"]
    # Only an answer can be regenerated.
    wb.conversations.add_message(first.conversation_id, "user", "and weekly?")
    with pytest.raises(InvalidInput):
        chat.regenerate(first.conversation_id)


def test_edit_and_resend_branches_from_the_question_s_parent(wb, llm):
    chat = wb.chat.session(llm)
    first = chat.ask("How do we back up the database?", "default")
    second = chat.ask("And how often?", "default", first.conversation_id)
    with pytest.raises(EmptyMessage):
        chat.edit(second.user_message.id, "   ")
    with pytest.raises(InvalidInput):
        chat.edit(second.answer.id, "not a question")
    edited = chat.edit(second.user_message.id, "And where are the backups kept?")
    for _ in chat.stream(edited):
        pass
    assert edited.conversation_id == first.conversation_id and edited.answer is not None
    messages = {m.id: m for m in wb.conversations.messages(first.conversation_id)}
    assert not messages[second.user_message.id].on_active_branch
    assert not messages[second.answer.id].on_active_branch
    assert messages[edited.user_message.id].parent_id == first.answer.id
    with pytest.raises(InvalidInput, match="edited already"):
        chat.edit(second.user_message.id, "And where are the backups kept?")
    active = [m.content for m in wb.conversations.messages(first.conversation_id, True)]
    assert active == [first.user_message.content, first.text,
                      "And where are the backups kept?", edited.text]


def test_examples_are_the_user_s_own_recent_questions(wb, llm):
    before = wb.conversations.questions("default", limit=10)
    assert all(q.endswith("?") and 12 <= len(q) <= 120 for q in before)
    wb.chat.session(llm).ask("Which cron line runs the nightly backup?", "default")
    after = wb.conversations.questions("default", limit=10)
    assert after[0] == "Which cron line runs the nightly backup?"
    assert ANSWER not in after  # the model's words are not the user's
    assert wb.conversations.questions("nowhere") == []
