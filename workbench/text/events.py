"""When the things a message talks about happened: its relative time phrases, read against its date.

A turn written on 8 May 2023 that says "I went to the support group yesterday" describes an
event of 7 May 2023, yet only the session date is stored with it. Questions ask "what happened
on 7 May 2023?", so the event's own date has to be found inside the words.

Invariants:

* an event date is a closed window in the past of the message: it starts before the message's
  local day and ends no later than the morning after it ("last night" reaches 06:00); windows
  that include the message's future ("this week", "recently", "next month") are not events;
* the result depends only on ``(text, moment)``; the rules are those of
  :mod:`workbench.text.timeparse` (English and Portuguese), so a query and a message read the
  same phrase the same way;
* :meth:`EventDate.words` names the window in plain English ("7 May 2023", "the week of 1 May
  2023", "April 2023", "2022"), the form LoCoMo questions and users write dates in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache

from workbench.text.timeparse import find_time_ranges

# A window reaching past the message's day by more than this describes its future.
_MORNING_AFTER = timedelta(hours=12)
# Longer windows ("since 2019", "in the 2010s") say little about when something happened.
_LONGEST = timedelta(days=366)


@dataclass(frozen=True)
class EventDate:
    """A half-open window ``[since, until)`` that a phrase of a message points to."""

    since: datetime
    until: datetime
    phrase: str

    def overlaps(self, since: datetime | None, until: datetime | None) -> bool:
        return (until is None or self.since < until) and (since is None or self.until > since)

    def words(self) -> str:
        first, last = self.since.date(), (self.until - timedelta(microseconds=1)).date()
        days = (last - first).days + 1
        if days == 1 or self.until - self.since <= timedelta(hours=12):
            return _day(self.since)
        if first.day == 1 and first.month == 1 and last.month == 12 and last.day == 31 \
                and first.year == last.year:
            return str(first.year)
        if first.day == 1 and (last + timedelta(days=1)).day == 1 and first.month == last.month:
            return f"{self.since:%B %Y}"
        if days == 7 and first.weekday() == 0:
            return f"the week of {_day(self.since)}"
        if days == 2 and first.weekday() == 5:
            return f"the weekend of {_day(self.since)}"
        return f"{_day(self.since)} to {_day(self.until - timedelta(microseconds=1))}"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def event_dates(text: str, moment: datetime | None) -> list[EventDate]:
    """The past windows ``text`` names, read against ``moment`` (the message's time)."""
    if moment is None or not text:
        return []
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return list(_cached(text, moment))


@lru_cache(maxsize=65536)
def _cached(text: str, moment: datetime) -> tuple[EventDate, ...]:
    day = datetime.combine(moment.date(), time(), moment.tzinfo)
    found = []
    for window in find_time_ranges(text, moment):
        since, until = window.since, window.until
        if since is None or until is None or until - since > _LONGEST:
            continue
        if since < day and until <= day + _MORNING_AFTER:
            found.append(EventDate(since, until, window.phrase))
    return tuple(found)


def describe(text: str, moment: datetime | None) -> str:
    """The event dates of ``text`` in words, for a chunk: "" when it names none."""
    words = list(dict.fromkeys(e.words() for e in event_dates(text, moment)))
    return "; ".join(words)
