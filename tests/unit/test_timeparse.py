"""Temporal phrases in queries become exact half-open ranges; non-temporal words never do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from workbench.text.timeparse import TimeRange, parse_time_range, strip_time_phrase

UTC = timezone.utc
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday; this week began Monday 23 Nov
MARCH_NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday in March


def at(year: int, month: int, day: int, hour: int = 0, tz=UTC) -> datetime:
    return datetime(year, month, day, hour, tzinfo=tz)


ENGLISH = [
    ("yesterday", at(2026, 11, 23), at(2026, 11, 24)),
    ("today", at(2026, 11, 24), at(2026, 11, 25)),
    ("the day before yesterday", at(2026, 11, 22), at(2026, 11, 23)),
    ("this morning", at(2026, 11, 24), at(2026, 11, 24, 12)),
    ("this afternoon", at(2026, 11, 24, 12), at(2026, 11, 24, 18)),
    ("last night", at(2026, 11, 23, 18), at(2026, 11, 24, 6)),
    ("last week", at(2026, 11, 16), at(2026, 11, 23)),
    ("this week", at(2026, 11, 23), at(2026, 11, 30)),
    ("last month", at(2026, 10, 1), at(2026, 11, 1)),
    ("this month", at(2026, 11, 1), at(2026, 12, 1)),
    ("last year", at(2025, 1, 1), at(2026, 1, 1)),
    ("this year", at(2026, 1, 1), at(2027, 1, 1)),
    ("last weekend", at(2026, 11, 21), at(2026, 11, 23)),
    ("this weekend", at(2026, 11, 28), at(2026, 11, 30)),
    ("3 days ago", at(2026, 11, 21), at(2026, 11, 22)),
    ("three days ago", at(2026, 11, 21), at(2026, 11, 22)),
    ("a week ago", at(2026, 11, 16), at(2026, 11, 23)),
    ("two weeks ago", at(2026, 11, 9), at(2026, 11, 16)),
    ("2 months ago", at(2026, 9, 1), at(2026, 10, 1)),
    ("twelve months ago", at(2025, 11, 1), at(2025, 12, 1)),
    ("two years ago", at(2024, 1, 1), at(2025, 1, 1)),
    ("a couple of weeks ago", at(2026, 11, 2), at(2026, 11, 23)),  # weeks 3..1 ago
    ("a few days ago", at(2026, 11, 20), at(2026, 11, 23)),  # days 4..2 ago
    ("in the last 3 days", at(2026, 11, 21), at(2026, 11, 25)),
    ("in the past 2 weeks", at(2026, 11, 10), at(2026, 11, 25)),
    ("over the last six months", at(2026, 5, 24), at(2026, 11, 25)),
    ("last 3 days", at(2026, 11, 21), at(2026, 11, 25)),
    ("in the last week", at(2026, 11, 17), at(2026, 11, 25)),
    ("the past month", at(2026, 10, 24), at(2026, 11, 25)),
    ("recently", at(2026, 10, 25), at(2026, 11, 25)),
    ("last March", at(2026, 3, 1), at(2026, 4, 1)),
    ("last November", at(2025, 11, 1), at(2025, 12, 1)),  # the current month is not "last"
    ("in March", at(2026, 3, 1), at(2026, 4, 1)),
    ("in November", at(2026, 11, 1), at(2026, 12, 1)),  # the current month counts
    ("in December", at(2025, 12, 1), at(2026, 1, 1)),  # never the future
    ("in may", at(2026, 5, 1), at(2026, 6, 1)),
    ("March last year", at(2025, 3, 1), at(2025, 4, 1)),
    ("March 2023", at(2023, 3, 1), at(2023, 4, 1)),
    ("Sept 2023", at(2023, 9, 1), at(2023, 10, 1)),
    ("in 2023", at(2023, 1, 1), at(2024, 1, 1)),
    ("during 2023", at(2023, 1, 1), at(2024, 1, 1)),
    ("in the year 2023", at(2023, 1, 1), at(2024, 1, 1)),
    ("8 May 2023", at(2023, 5, 8), at(2023, 5, 9)),
    ("May 8, 2023", at(2023, 5, 8), at(2023, 5, 9)),
    ("the 8th of May, 2023", at(2023, 5, 8), at(2023, 5, 9)),
    ("2023-05-08", at(2023, 5, 8), at(2023, 5, 9)),
    ("on 8 May", at(2026, 5, 8), at(2026, 5, 9)),
    ("on May 8", at(2026, 5, 8), at(2026, 5, 9)),
    ("on 30 November", at(2025, 11, 30), at(2025, 12, 1)),  # a yearless day is never future
    ("since March", at(2026, 3, 1), None),
    ("since 2023-05-08", at(2023, 5, 8), None),
    ("since last week", at(2026, 11, 16), None),
    ("before 8 May 2023", None, at(2023, 5, 8)),
    ("before 2024", None, at(2024, 1, 1)),
    ("after May", at(2026, 6, 1), None),
    ("after 2023", at(2024, 1, 1), None),
    ("until March", None, at(2026, 4, 1)),
    ("between March and May", at(2026, 3, 1), at(2026, 6, 1)),
    ("between 2022 and 2023", at(2022, 1, 1), at(2024, 1, 1)),
    ("between March and May 2023", at(2023, 3, 1), at(2023, 6, 1)),
    ("between May 2023 and June", at(2023, 5, 1), at(2023, 7, 1)),
    ("between November and March", at(2025, 11, 1), at(2026, 4, 1)),
    ("between 8 May and 10 May 2023", at(2023, 5, 8), at(2023, 5, 11)),
    ("from May 2023 to June 2023", at(2023, 5, 1), at(2023, 7, 1)),
    ("from 8 May 2023 to 10 May 2023", at(2023, 5, 8), at(2023, 5, 11)),
    ("from last Monday to yesterday", at(2026, 11, 23), at(2026, 11, 24)),
    ("from March", at(2026, 3, 1), at(2026, 4, 1)),
    ("last Monday", at(2026, 11, 23), at(2026, 11, 24)),
    ("on Monday", at(2026, 11, 23), at(2026, 11, 24)),
    ("on Tuesday", at(2026, 11, 17), at(2026, 11, 18)),  # today's weekday means a week ago
    ("last Sunday", at(2026, 11, 22), at(2026, 11, 23)),
    ("on Friday", at(2026, 11, 20), at(2026, 11, 21)),
]

PORTUGUESE = [
    ("ontem", at(2026, 11, 23), at(2026, 11, 24)),
    ("hoje", at(2026, 11, 24), at(2026, 11, 25)),
    ("anteontem", at(2026, 11, 22), at(2026, 11, 23)),
    ("antes de ontem", at(2026, 11, 22), at(2026, 11, 23)),
    ("hoje de manhã", at(2026, 11, 24), at(2026, 11, 24, 12)),
    ("ontem à noite", at(2026, 11, 23, 18), at(2026, 11, 24, 6)),
    ("semana passada", at(2026, 11, 16), at(2026, 11, 23)),
    ("na semana passada", at(2026, 11, 16), at(2026, 11, 23)),
    ("esta semana", at(2026, 11, 23), at(2026, 11, 30)),
    ("essa semana", at(2026, 11, 23), at(2026, 11, 30)),
    ("mês passado", at(2026, 10, 1), at(2026, 11, 1)),
    ("mes passado", at(2026, 10, 1), at(2026, 11, 1)),
    ("este mês", at(2026, 11, 1), at(2026, 12, 1)),
    ("ano passado", at(2025, 1, 1), at(2026, 1, 1)),
    ("no ano passado", at(2025, 1, 1), at(2026, 1, 1)),
    ("este ano", at(2026, 1, 1), at(2027, 1, 1)),
    ("fim de semana passado", at(2026, 11, 21), at(2026, 11, 23)),
    ("há 2 dias", at(2026, 11, 22), at(2026, 11, 23)),
    ("ha dois dias", at(2026, 11, 22), at(2026, 11, 23)),
    ("há uma semana", at(2026, 11, 16), at(2026, 11, 23)),
    ("há duas semanas", at(2026, 11, 9), at(2026, 11, 16)),
    ("há três meses", at(2026, 8, 1), at(2026, 9, 1)),
    ("há um mês", at(2026, 10, 1), at(2026, 11, 1)),
    ("há dez anos", at(2016, 1, 1), at(2017, 1, 1)),
    ("3 dias atrás", at(2026, 11, 21), at(2026, 11, 22)),
    ("cinco dias atrás", at(2026, 11, 19), at(2026, 11, 20)),
    ("há 2 semanas atrás", at(2026, 11, 9), at(2026, 11, 16)),
    ("há alguns dias", at(2026, 11, 20), at(2026, 11, 23)),
    ("nos últimos 3 dias", at(2026, 11, 21), at(2026, 11, 25)),
    ("nas últimas duas semanas", at(2026, 11, 10), at(2026, 11, 25)),
    ("no último mês", at(2026, 10, 24), at(2026, 11, 25)),
    ("recentemente", at(2026, 10, 25), at(2026, 11, 25)),
    ("em março", at(2026, 3, 1), at(2026, 4, 1)),
    ("em marco", at(2026, 3, 1), at(2026, 4, 1)),
    ("março passado", at(2026, 3, 1), at(2026, 4, 1)),
    ("em maio passado", at(2026, 5, 1), at(2026, 6, 1)),
    ("março do ano passado", at(2025, 3, 1), at(2025, 4, 1)),
    ("em março de 2023", at(2023, 3, 1), at(2023, 4, 1)),
    ("set 2023", at(2023, 9, 1), at(2023, 10, 1)),
    ("em 2023", at(2023, 1, 1), at(2024, 1, 1)),
    ("de 2023", at(2023, 1, 1), at(2024, 1, 1)),
    ("no ano de 2023", at(2023, 1, 1), at(2024, 1, 1)),
    ("desde março", at(2026, 3, 1), None),
    ("antes de 2024", None, at(2024, 1, 1)),
    ("depois de maio", at(2026, 6, 1), None),
    ("até março", None, at(2026, 4, 1)),
    ("entre março e maio", at(2026, 3, 1), at(2026, 6, 1)),
    ("de março a maio", at(2026, 3, 1), at(2026, 6, 1)),
    ("entre 2022 e 2023", at(2022, 1, 1), at(2024, 1, 1)),
    ("8 de maio de 2023", at(2023, 5, 8), at(2023, 5, 9)),
    ("8 de maio", at(2026, 5, 8), at(2026, 5, 9)),
    ("8 dez 2023", at(2023, 12, 8), at(2023, 12, 9)),
    ("segunda-feira passada", at(2026, 11, 23), at(2026, 11, 24)),
    ("segunda passada", at(2026, 11, 23), at(2026, 11, 24)),
    ("terça-feira passada", at(2026, 11, 17), at(2026, 11, 18)),
    ("sábado passado", at(2026, 11, 21), at(2026, 11, 22)),
    ("na última sexta", at(2026, 11, 20), at(2026, 11, 21)),
    ("na segunda-feira", at(2026, 11, 23), at(2026, 11, 24)),
    ("no domingo", at(2026, 11, 22), at(2026, 11, 23)),
]


@pytest.mark.parametrize(("text", "since", "until"), ENGLISH + PORTUGUESE, ids=lambda v: str(v))
def test_phrase_alone_gives_exact_range(text, since, until):
    found = parse_time_range(text, NOW)
    assert found == TimeRange(since, until, text)


@pytest.mark.parametrize(("text", "since", "until"), ENGLISH + PORTUGUESE, ids=lambda v: str(v))
def test_phrase_inside_a_question_gives_same_range_and_is_stripped(text, since, until):
    query = f"What did I ask about Lisbon {text}?"
    found = parse_time_range(query, NOW)
    assert (found.since, found.until) == (since, until)
    assert strip_time_phrase(query, found) == "What did I ask about Lisbon?"


@pytest.mark.parametrize(("text", "since", "until"), [
    ("LAST MARCH", at(2026, 3, 1), at(2026, 4, 1)),
    ("Em Março De 2023", at(2023, 3, 1), at(2023, 4, 1)),
    ("YESTERDAY", at(2026, 11, 23), at(2026, 11, 24)),
    ("HÁ 2 DIAS", at(2026, 11, 22), at(2026, 11, 23)),
])
def test_case_insensitive(text, since, until):
    assert parse_time_range(text, NOW) == TimeRange(since, until, text)


@pytest.mark.parametrize("text", [
    "May I ask you something?",
    "I may go to Lisbon",
    "march to the beat of your own drum",
    "how many 2023 items are left",
    "version 2.0 release notes",
    "a Sunday roast recipe",
    "planning a week-long trip",
    "write it in 2000 words",
    "mais de 2000 pessoas",
    "2 out of 3 tests",
    "1 set of rules",
    "em mar aberto",
    "na segunda vez que tentei",
    "domingo é dia de quê?",
    "the last week of June",
    "the last days of summer",
    "error 404 on line 2023",
    "I spent 3 days in Porto",
    "python 3.11 features",
    "",
])
def test_non_temporal_text_gives_none(text):
    assert parse_time_range(text, NOW) is None


@pytest.mark.parametrize(("text", "since", "until"), [
    ("last March", at(2025, 3, 1), at(2025, 4, 1)),  # the current March is not "last"
    ("março passado", at(2025, 3, 1), at(2025, 4, 1)),
    ("last February", at(2026, 2, 1), at(2026, 3, 1)),
    ("in March", at(2026, 3, 1), at(2026, 4, 1)),
    ("em março", at(2026, 3, 1), at(2026, 4, 1)),
    ("in April", at(2025, 4, 1), at(2025, 5, 1)),
    ("on 10 March", at(2026, 3, 10), at(2026, 3, 11)),  # today counts
    ("on 11 March", at(2025, 3, 11), at(2025, 3, 12)),
    ("last month", at(2026, 2, 1), at(2026, 3, 1)),
    ("a week ago", at(2026, 3, 2), at(2026, 3, 9)),
    ("between December and February", at(2025, 12, 1), at(2026, 3, 1)),
])
def test_month_semantics_when_now_is_in_march(text, since, until):
    assert parse_time_range(text, MARCH_NOW) == TimeRange(since, until, text)


def test_first_of_two_separate_expressions_wins():
    query = "what did we discuss yesterday and last week"
    found = parse_time_range(query, NOW)
    assert found == TimeRange(at(2026, 11, 23), at(2026, 11, 24), "yesterday")
    assert strip_time_phrase(query, found) == "what did we discuss and last week"


@pytest.mark.parametrize(("query", "phrase"), [
    ("notes from 8 May 2023 please", "from 8 May 2023"),
    ("in March 2023 we talked", "in March 2023"),
    ("since last March", "since last March"),
    ("the day before yesterday", "the day before yesterday"),
    ("fim de semana passado", "fim de semana passado"),
    ("em março do ano passado", "em março do ano passado"),
])
def test_longest_overlapping_match_wins(query, phrase):
    assert parse_time_range(query, NOW).phrase == phrase


@pytest.mark.parametrize(("query", "stripped"), [
    ("what did I ask about Lisbon last March?", "what did I ask about Lisbon?"),
    ("o que perguntei sobre Lisboa em março?", "o que perguntei sobre Lisboa?"),
    ("Last week, what did we decide?", "what did we decide?"),
    ("recipes  from   yesterday", "recipes"),
    ("Lisbon, last March?", "Lisbon?"),
    ("conversas de ontem sobre Python", "conversas sobre Python"),
    ("yesterday", ""),
])
def test_strip_time_phrase(query, stripped):
    assert strip_time_phrase(query, parse_time_range(query, NOW)) == stripped


def test_strip_removes_dangling_preposition_left_before_the_phrase():
    found = TimeRange(at(2026, 3, 1), at(2026, 4, 1), "last March")
    assert strip_time_phrase("trip notes in last March", found) == "trip notes"
    assert strip_time_phrase("viagem em last March", found) == "viagem"


def test_strip_with_a_phrase_not_in_text_only_tidies():
    found = TimeRange(None, None, "last March")
    assert strip_time_phrase("  hello   world ? ", found) == "hello world?"


def test_calendar_days_follow_nows_timezone():
    tokyo = ZoneInfo("Asia/Tokyo")
    now = datetime(2026, 11, 24, 1, 0, tzinfo=tokyo)  # still 23 Nov in UTC
    found = parse_time_range("yesterday", now)
    assert (found.since, found.until) == (at(2026, 11, 23, tz=tokyo), at(2026, 11, 24, tz=tokyo))
    assert found.since.utcoffset() == timedelta(hours=9)
    assert found.since.astimezone(UTC) == at(2026, 11, 22, 15)


def test_week_across_a_dst_change_keeps_local_midnights():
    lisbon = ZoneInfo("Europe/Lisbon")
    now = datetime(2026, 3, 31, 12, 0, tzinfo=lisbon)  # clocks went forward on Sunday 29 March
    found = parse_time_range("last week", now)
    assert (found.since, found.until) == (at(2026, 3, 23, tz=lisbon), at(2026, 3, 30, tz=lisbon))
    assert found.since.utcoffset() == timedelta(0)
    assert found.until.utcoffset() == timedelta(hours=1)
    night = parse_time_range("last night", now)
    assert night.until.hour == 6 and night.until.tzinfo is lisbon


def test_naive_now_is_read_as_utc():
    found = parse_time_range("last month", datetime(2026, 11, 24, 15, 0))
    assert (found.since, found.until) == (at(2026, 10, 1), at(2026, 11, 1))
    assert found.since.tzinfo is UTC


def test_fixed_offset_timezone():
    brt = timezone(timedelta(hours=-3))
    now = datetime(2026, 11, 24, 23, 30, tzinfo=brt)  # already 25 Nov in UTC
    found = parse_time_range("hoje", now)
    assert (found.since, found.until) == (at(2026, 11, 24, tz=brt), at(2026, 11, 25, tz=brt))


@pytest.mark.parametrize("text", [q for q, *_ in ENGLISH + PORTUGUESE])
def test_every_range_is_well_formed(text):
    found = parse_time_range(text, NOW)
    assert found.since is not None or found.until is not None
    for end in (found.since, found.until):
        assert end is None or end.tzinfo is not None
    if found.since and found.until:
        assert found.since < found.until
