"""A message's relative time phrases become the dates of the events it tells of."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from workbench.text.chunking import get_chunker
from workbench.text.events import describe, event_dates
from workbench.text.timeparse import find_time_ranges

SENT = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)  # a Monday


@pytest.mark.parametrize("text, words", [
    ("I went to a LGBTQ support group yesterday and it was so powerful.", "7 May 2023"),
    ("Last night we watched the fireworks", "7 May 2023"),
    ("last Friday I ran a charity race", "5 May 2023"),
    ("last weekend we went camping", "the weekend of 6 May 2023"),
    ("I painted a sunrise last month", "April 2023"),
    ("We moved here two years ago", "2021"),
    ("last week was the conference", "the week of 1 May 2023"),
    ("Fui ao médico ontem", "7 May 2023"),
    ("Comecei as aulas na semana passada", "the week of 1 May 2023"),
    ("We met on 3 May", "3 May 2023"),
])
def test_relative_phrases_resolve_against_the_message_date(text, words):
    assert describe(text, SENT) == words


@pytest.mark.parametrize("text", [
    "I am going next month", "this week was busy", "recently I feel tired", "today is sunny",
    "May I ask you something?", "I have 2023 items", "",
])
def test_the_present_the_future_and_non_dates_are_no_events(text):
    assert event_dates(text, SENT) == []


def test_several_phrases_give_several_events_and_no_date_gives_none():
    found = event_dates("ontem fui ao médico, e semana passada também", SENT)
    assert [e.words() for e in found] == ["7 May 2023", "the week of 1 May 2023"]
    assert event_dates("yesterday", None) == []
    assert [r.phrase for r in find_time_ranges("yesterday and last week", SENT)] == [
        "yesterday", "last week"]


def test_an_event_overlaps_the_window_it_falls_in():
    (event,) = event_dates("I went yesterday", SENT)
    may = [datetime(2023, 5, day, tzinfo=timezone.utc) for day in (7, 8)]
    assert event.overlaps(may[0], may[1])
    assert not event.overlaps(may[1], None)


def test_the_event_chunker_adds_the_dates_in_words_and_the_old_names_do_not():
    from workbench.text.chunking import Turn

    turns = [Turn("m1", "user", "Caroline", "I went to a support group yesterday.", "text", SENT)]
    count = lambda texts: [len(t.split()) for t in texts]  # noqa: E731
    (event,) = get_chunker("turn-event.v1").chunk("Chat", turns, count)
    (plain,) = get_chunker("turn-context.v1").chunk("Chat", turns, count)
    assert "(events of 7 May 2023)" in event.text and "7 May 2023" in event.search_text
    assert "events of" not in plain.text and "May" not in plain.search_text
