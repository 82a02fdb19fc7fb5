"""The rules the extractive answer reads a question and a turn by (no model needed)."""

from __future__ import annotations

from datetime import datetime, timezone

from workbench.chat.extractive import (names_kind, only_asks, question_in, read_question, says,
                                       stems, when_said)
from workbench.chat.grounding import Evidence

SAID = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)


def test_question_kind_and_the_person_it_is_about():
    speakers = ["Caroline", "Melanie"]
    assert read_question("What pet does Caroline have?", speakers).about == "Caroline"
    assert read_question("When did Melanie paint a sunrise?", speakers).kind == "when"
    assert read_question("How long has Caroline had her friends?", speakers).kind == "count"
    assert read_question("Who performed at Melanie's party?", speakers).kind == "who"
    assert read_question("Quando fizemos o backup?", []).kind == "when"
    # The first person named is the one asked about; a shortened name counts.
    assert read_question("What book did Melanie read from Caroline's suggestion?",
                         speakers).about == "Melanie"
    assert read_question("What did Mel and her kids make?", speakers).about == "Melanie"
    assert read_question("What did I decide about backups?", speakers).about is None


def test_what_a_turn_states_and_what_it_asks():
    turn = ("Blue's my fave. Sunflowers mean warmth and happiness, right? Version 1.2 is out. "
            "What do flowers mean to you?")
    assert says(turn) == ("Blue's my fave. Sunflowers mean warmth and happiness, right? "
                          "Version 1.2 is out.")
    assert question_in(turn) == "What do flowers mean to you?"
    assert question_in("Turn this into a bash command") == "Turn this into a bash command"
    assert only_asks("That's so nice! What pet do you have?")
    assert not only_asks("I adopted a tortoise last spring. What pet do you have?")
    assert not only_asks("No question here at all.")
    assert "research" in stems("Researching adoption agencies") & stems("do some research")


def test_what_a_turn_names_for_the_kind_asked():
    assert names_kind("when", "I went to the support group yesterday.", SAID, "When did she go?")
    assert not names_kind("when", "The support group was great.", SAID, "When did she go?")
    assert names_kind("count", "I've known these friends for 4 years.", SAID, "How long?")
    assert not names_kind("count", "Long time no talk!", SAID, "How long has she known them?")
    assert names_kind("who", "It was Matt Patterson, he is so talented!", SAID,
                      "Who performed at the concert?", ["Melanie"])
    assert not names_kind("who", "Thanks, Caroline! Last night was amazing.", SAID,
                          "Who performed at the concert?", ["Caroline", "Melanie"])


def test_a_when_answer_states_the_date_the_words_point_to():
    turn = Evidence(1, "m", "c", "t", SAID, "user", "I went to the support group yesterday.")
    assert when_said("When did Caroline go to the support group?", turn) == \
        "7 May 2023 (“yesterday”, said on 8 May 2023)"
    assert when_said("What did Caroline do at the support group?", turn) == ""
    assert when_said("When did she go?", Evidence(1, "m", "c", "t", SAID, "user",
                                                  "The group was great.")) == ""
