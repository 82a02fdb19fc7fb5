"""The extractive answer over a dialogue between two people, as LoCoMo and shared chats hold
them: the real embedder, store and index, a dialogue written for the test."""

from __future__ import annotations

import json

import pytest

from workbench.api import Workbench
from workbench.chat.answer import Composer
from workbench.chat.grounding import Grounder

TURNS = [
    ("Anna", "Hi Ben! I went to a pottery class yesterday and made a blue bowl for my desk."),
    ("Ben", "That sounds lovely, Anna. Any plans for the weekend?"),
    ("Anna", "Visiting my aunt in Porto, she grows lemons and figs in her garden."),
    ("Ben", "Nice! I have a parrot called Kiwi who talks all day. What pet do you have?"),
    ("Anna", "Oh, I have a tortoise named Pebble who loves strawberries."),
    ("Ben", "Sounds great, Anna! Let's plan something for the weekend!"),
]


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("dialogue")
    sample = {"sample_id": "anna-ben", "qa": [], "conversation": {
        "speaker_a": "Anna", "speaker_b": "Ben", "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [{"speaker": who, "dia_id": f"D1:{n}", "text": text}
                      for n, (who, text) in enumerate(TURNS, start=1)]}}
    path = folder / "dialogue.json"
    path.write_text(json.dumps([sample]), encoding="utf-8")
    with Workbench.open(folder / "home", embedder) as wb:
        assert [r.status for r in wb.imports.ingest([path])] == ["done"]
        yield wb


def _answer(wb: Workbench, question: str):
    hits = wb.search.query(question, "anna-ben", k=6).hits
    composer = Composer(Grounder(wb.embedder), lambda mid: wb.store.messages.neighbours(mid, 1))
    best = composer.best_memory(question, hits)
    composed = composer.compose(question, "I am not sure.", hits)
    return best, composed


def test_the_named_persons_reply_answers_not_the_question_or_the_other_speaker(dialogue):
    best, composed = _answer(dialogue, "What pet does Anna have?")
    assert best.source_id == "D1:5" and best.speaker == "Anna"
    # The reply is quoted after the question it answers, each under its speaker's name.
    assert "> *Ben:* Nice! I have a parrot" in composed.text
    assert "> *Anna:* Oh, I have a tortoise named Pebble" in composed.text
    [citation] = composed.citations
    assert citation["source_id"] == "D1:5"


def test_an_echo_of_the_question_is_no_answer(dialogue):
    best, _ = _answer(dialogue, "What are Anna's plans for the weekend?")
    assert best.source_id == "D1:3"


def test_a_when_answer_states_the_date_the_turn_points_to(dialogue):
    best, composed = _answer(dialogue, "When did Anna go to a pottery class?")
    assert best.source_id == "D1:1"
    assert composed.text.splitlines()[2] == "On 7 May 2023 (“yesterday”, said on 8 May 2023):"
