"""Find the time window a search query talks about ("last March", "há 2 semanas") and cut it out.

Invariants:

* every range is half-open ``[since, until)``; one end may be ``None`` (open), never both;
* both ends are aware datetimes in ``now``'s timezone (UTC when ``now`` is naive), at local
  midnight unless the phrase names a part of a day ("this morning", "ontem à noite");
* the result depends only on ``(text, now)``: no clock, locale or I/O is consulted;
* calendar weeks run Monday to Monday (ISO 8601);
* among overlapping matches the longest wins (ties: the earliest); of several separate
  expressions the first one in the text wins.

Semantics of the ambiguous phrases (``today`` is ``now``'s local date):

* "yesterday", "last week/month/year", "N days/weeks/months/years ago", "há N meses":
  the whole calendar unit N units before the current one ("two weeks ago" is the Monday-to-Monday
  week two weeks before this one; "a week ago" equals "last week"). Vague counts ("a couple of",
  "a few", "alguns") widen that by one unit each side: "a few days ago" is days 4..2 ago.
* "this week/month/year", "este mês": the whole current unit, future days included.
* "in the last/past N units", "nos últimos N dias": from local midnight N units before today
  to the end of today; without N ("the past week", "in the last week") N is 1, but a bare
  "the last week" is not a window ("the last week of June"). "recently" is the last 30 days.
* "last March", "março passado": the most recent March strictly before the current month.
* "in March", "since March", bare day "on 8 May": the most recent one not in the future (the
  current month or day counts); "March last year" is March of the previous calendar year.
* "last Monday", "on Monday", "segunda passada": the most recent Monday strictly before today.
* "last weekend": Saturday and Sunday of the previous calendar week.
* "since X" starts at X's start, "after X" at X's end, "before X" ends at X's start,
  "until X" at X's end; "between X and Y"/"from X to Y" span X's start to Y's end, and a yearless
  end takes the other end's year ("between November and March" spans one winter).
* Month names, years and weekdays alone ("May I ask", "2023 items", "Sunday roast") are not
  temporal; they need a preposition ("in May", "em 2023", "on Sunday") or a year/day.
  Month abbreviations ("Sept", "set", "out") count only with a year ("Sept 2023").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable, Iterator, NamedTuple

from dateutil.relativedelta import relativedelta


@dataclass(frozen=True)
class TimeRange:
    """A half-open window ``[since, until)``; ``phrase`` is the matched text, verbatim."""

    since: datetime | None
    until: datetime | None
    phrase: str


class _Hit(NamedTuple):
    """A closed span ``since < until``; ``md`` is (month, day | None) when no year was given."""

    since: datetime
    until: datetime
    md: tuple[int, int | None] | None = None


class _Atom(NamedTuple):
    start: int
    end: int
    kind: str  # "safe" stands alone; "month", "year", "weekday", "mday" need a preposition
    hit: _Hit


class _Cand(NamedTuple):
    start: int
    end: int
    since: datetime | None
    until: datetime | None


Handler = Callable[["re.Match[str]", datetime], "_Hit | None"]

_MONTH_NAMES = (
    "january janeiro", "february fevereiro", "march marco", "april abril", "may maio", "june junho",
    "july julho", "august agosto", "september setembro", "october outubro", "november novembro",
    "december dezembro",
)
_MONTHS = {name: number for number, names in enumerate(_MONTH_NAMES, 1) for name in names.split()}
_MONTH_ABBRS = {
    "jan": 1, "feb": 2, "fev": 2, "mar": 3, "apr": 4, "abr": 4, "mai": 5, "jun": 6, "jul": 7,
    "aug": 8, "ago": 8, "sep": 9, "sept": 9, "set": 9, "oct": 10, "out": 10, "nov": 11,
    "dec": 12, "dez": 12,
}
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5,
    "domingo": 6,
}
_COUNTS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "um": 1, "uma": 1, "dois": 2,
    "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6, "sete": 7, "oito": 8, "nove": 9,
    "dez": 10, "onze": 11, "doze": 12,
}
_VAGUE = {
    "a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3, "several": 3,
    "alguns": 3, "algumas": 3, "uns": 3, "umas": 3, "poucos": 3, "poucas": 3,
}
# Measure nouns after a number mark it as a quantity, not a year: "in 2000 words".
_QUANTITY_NOUNS = "words|tokens|characters|chars|items|lines|rows|palavras|caracteres|itens|linhas"


def _alt(words: Iterable[str]) -> str:
    """Regex alternation, longest first so "marco" is tried before "mar"."""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered)


_FULL = _alt(_MONTHS)
_MON = rf"(?P<mon>{_FULL}|{_alt(_MONTH_ABBRS)})\.?"
_YEAR = r"(?P<y>(?:19|20)\d\d)"
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th|º)?"
_COUNT = rf"(?P<n>\d{{1,3}}|{_alt([*_COUNTS, *_VAGUE])})"
_UNIT = r"(?P<u>days?|weeks?|months?|years?|dias?|semanas?|meses|mes|anos?)"
_WD_PT_SHORT = "segunda|terca|quarta|quinta|sexta"
_WD_ALL = _alt(_WEEKDAYS)
# "segunda", "quinta"... alone are also ordinals ("na segunda vez"); they need "-feira".
_WD_ALONE = _alt(w for w in _WEEKDAYS if w not in _WD_PT_SHORT.split("|"))
_THIS_PT = r"[nd]?(?:est|ess)[ea]"  # este, esta, esse, neste, desta...


def _fold(text: str) -> str:
    """Drop accents char by char, so offsets in the result are offsets in ``text``."""
    return "".join(unicodedata.normalize("NFD", c)[0] for c in text)


def _days(now: datetime, first: date, stop: date) -> _Hit:
    """Local midnight of ``first`` to local midnight of ``stop``."""
    return _Hit(datetime.combine(first, time(), now.tzinfo), datetime.combine(stop, time(), now.tzinfo))


def _unit_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def _shift(day: date, unit: str, count: int) -> date:
    """``day`` moved by ``count`` units; month ends clamp (31 March - 1 month = 28 February)."""
    months = {"month": 1, "year": 12}.get(unit)
    if months:
        return day + relativedelta(months=months * count)
    return day + timedelta(days=count * (7 if unit == "week" else 1))


def _unit(word: str) -> str:
    return {"d": "day", "w": "week", "s": "week", "m": "month", "y": "year", "a": "year"}[word[0].lower()]


def _count(word: str) -> tuple[int, bool]:
    """(count, vague) for "3", "three", "duas", "a few"."""
    key = " ".join(word.lower().split())
    if key.isdigit():
        return int(key), False
    return (_VAGUE[key], True) if key in _VAGUE else (_COUNTS[key], False)


def _calendar(now: datetime, unit: str, back: int, slack: int = 0) -> _Hit:
    """Whole calendar units from ``back + slack`` to ``back - slack`` units before the current one."""
    current = _unit_start(now.date(), unit)
    return _days(now, _shift(current, unit, -back - slack), _shift(current, unit, 1 - back + slack))


def _rolling(now: datetime, unit: str, count: int) -> _Hit:
    """Midnight ``count`` units before today, to the end of today."""
    today = now.date()
    return _days(now, _shift(today, unit, -count), today + timedelta(days=1))


def _resolve(now: datetime, md: tuple[int, int | None], year: int | None = None) -> _Hit | None:
    """A month (day None) or day of ``year``; without a year the most recent not in the future."""
    month, day = md
    today = now.date()
    if year is None:
        year = today.year - ((month, day or 1) > (today.month, today.day))
    try:
        first = date(year, month, day or 1)
    except ValueError:  # 30 February, month 13, 29 February outside a leap year
        return None
    return _days(now, first, _shift(first, "month" if day is None else "day", 1))


def _on_date(m: re.Match[str], now: datetime) -> _Hit | None:
    word, groups = m["mon"].lower(), m.groupdict()
    md = (_MONTHS.get(word) or _MONTH_ABBRS[word], int(groups["d"]) if groups.get("d") else None)
    if groups.get("y"):
        return _resolve(now, md, int(groups["y"]))
    if word not in _MONTHS:  # "2 out of 3", "1 set": a yearless abbreviation is usually a word
        return None
    hit = _resolve(now, md)
    return hit._replace(md=md) if hit else None


def _iso(m: re.Match[str], now: datetime) -> _Hit | None:
    return _resolve(now, (int(m["m"]), int(m["d"])), int(m["y"]))


def _year(m: re.Match[str], now: datetime) -> _Hit:
    year = int(m["y"])
    return _days(now, date(year, 1, 1), date(year + 1, 1, 1))


def _last_named_month(m: re.Match[str], now: datetime) -> _Hit | None:
    month, today = _MONTHS[m["mon"].lower()], now.date()
    if re.search(r"year|ano", m[0], re.I):
        return _resolve(now, (month, None), today.year - 1)
    return _resolve(now, (month, None), today.year - (month >= today.month))


def _this_or_last(m: re.Match[str], now: datetime) -> _Hit:
    return _calendar(now, _unit(m["u"]), 1 if re.search("last|previous|passad", m[0], re.I) else 0)


def _weekend(m: re.Match[str], now: datetime) -> _Hit:
    monday = _calendar(now, "week", 1 if re.search("last|previous|passad", m[0], re.I) else 0).since
    return _days(now, monday.date() + timedelta(days=5), monday.date() + timedelta(days=7))


def _weekday(m: re.Match[str], now: datetime) -> _Hit:
    today = now.date()
    day = today - timedelta(days=(today.weekday() - _WEEKDAYS[m["wd"].lower()]) % 7 or 7)
    return _days(now, day, day + timedelta(days=1))


def _ago(m: re.Match[str], now: datetime) -> _Hit | None:
    if not (m["ha"] or m["ago"]):
        return None
    count, vague = _count(m["n"])
    return _calendar(now, _unit(m["u"]), count, int(vague))


def _in_the_last(m: re.Match[str], now: datetime) -> _Hit | None:
    unit = m["u"].lower()
    if m["n"] is None:
        # "the last days of summer", "the last week of June" are not windows ending now.
        if unit.endswith("s") and unit != "mes":
            return None
        if not re.match(r"(?:in|over|during|within|n[oa]s?)\s|past|the\s+past", m[0], re.I):
            return None
    return _rolling(now, _unit(unit), _count(m["n"])[0] if m["n"] else 1)


_PARTS = {"morning": (0, 12), "manha": (0, 12), "afternoon": (12, 18), "tarde": (12, 18),
          "evening": (18, 24), "night": (18, 30), "noite": (18, 30)}


def _part_of_day(m: re.Match[str], now: datetime) -> _Hit:
    back = 1 if re.match("yesterday|ontem|last", m[0], re.I) else 0
    midnight = _calendar(now, "day", back).since
    first, stop = _PARTS[m["part"].lower()]
    return _Hit(midnight + timedelta(hours=first), midnight + timedelta(hours=stop))


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", re.I)


# Order matters only for ties: an earlier rule wins a candidate of equal span ("antes de ontem").
_RULES: list[tuple[str, re.Pattern[str], Handler]] = [
    (kind, _compile(pattern), handler)
    for kind, pattern, handler in (
        ("safe", r"(?:the\s+)?day\s+before\s+yesterday|anteontem|antes\s+de\s+ontem",
         lambda m, now: _calendar(now, "day", 2)),
        ("safe", r"yesterday|ontem", lambda m, now: _calendar(now, "day", 1)),
        ("safe", r"today|hoje", lambda m, now: _calendar(now, "day", 0)),
        ("safe", r"(?:(?:this|today|yesterday|last|hoje|ontem|esta)\s+(?:(?:de|a)\s+)?|to)"
                 r"(?P<part>morning|afternoon|evening|night|manha|tarde|noite)", _part_of_day),
        ("safe", r"(?:last|previous|this|current)\s+(?P<u>week|month|year)(?!\s+of\s)", _this_or_last),
        ("safe", r"(?:[oa]\s+)?(?P<u>semana|mes|ano)\s+passad[oa]", _this_or_last),
        ("safe", rf"{_THIS_PT}\s+(?P<u>semana|mes|ano)", _this_or_last),
        ("safe", rf"(?:last|previous|this)\s+weekend|(?:o\s+)?fim\s+de\s+semana\s+passado"
                 rf"|{_THIS_PT}\s+fim\s+de\s+semana", _weekend),
        ("safe", rf"(?:(?P<ha>ha|faz)\s+)?{_COUNT}\s+{_UNIT}(?:\s+(?P<ago>ago|atras))?", _ago),
        ("safe", rf"(?:(?:in|over|during|within)\s+)?(?:the\s+)?(?:last|past)\s+(?:{_COUNT}\s+)?{_UNIT}",
         _in_the_last),
        ("safe", rf"(?:n?[oa]s?\s+)?ultim[oa]s?\s+(?:{_COUNT}\s+)?{_UNIT}", _in_the_last),
        ("safe", r"recently|lately|recentemente|ultimamente", lambda m, now: _rolling(now, "day", 30)),
        ("safe", rf"(?:last|previous|(?:n?[oa]\s+)?ultim[oa])\s+(?P<wd>{_WD_ALL})(?:[-\s]feira)?", _weekday),
        ("safe", rf"(?P<wd>{_WD_ALL})(?:[-\s]feira)?\s+passad[oa]", _weekday),
        ("weekday", rf"(?P<wd>{_WD_ALONE}|(?:{_WD_PT_SHORT})(?=[-\s]feira))(?:[-\s]feira)?", _weekday),
        ("safe", rf"(?:last|previous)\s+(?P<mon>{_FULL})", _last_named_month),
        ("safe", rf"(?P<mon>{_FULL})\s+passad[oa]", _last_named_month),
        ("safe", rf"(?P<mon>{_FULL})\s+(?:(?:of\s+)?last\s+year|d[eo]\s+ano\s+passado)", _last_named_month),
        ("safe", rf"(?:the\s+)?{_DAY}(?:\s+of|\s+de)?\s+{_MON}(?:,?\s+(?:(?:de|of)\s+)?{_YEAR})?", _on_date),
        ("safe", rf"{_MON}\s+{_DAY},?\s+{_YEAR}", _on_date),
        ("mday", rf"{_MON}\s+{_DAY}", _on_date),
        ("safe", rf"{_MON},?\s+(?:(?:de|of)\s+)?{_YEAR}", _on_date),
        ("safe", rf"{_YEAR}-(?P<m>[01]\d)-(?P<d>[0-3]\d)", _iso),
        ("month", rf"(?P<mon>{_FULL})", _on_date),
        ("year", rf"{_YEAR}(?![.,/:]\d|\s+(?:{_QUANTITY_NOUNS})\b)", _year),
    )
]

# Prepositions that make a bare month/year/weekday temporal; a "safe" atom absorbs any of them.
_CONTAIN: dict[str, set[str]] = {
    "year": {"in", "during", "from", "em", "de", "durante", "in the year", "no ano de"},
    "month": {"in", "during", "from", "em", "de", "durante", "in the month of", "no mes de"},
    "weekday": {"on", "from", "no", "na", "de"},
    "mday": {"on", "from"},
}
_CONTAIN["safe"] = set().union(*_CONTAIN.values()) | {"nos", "nas", "do", "da", "no dia"}
_BOUNDS = {
    "since": "since", "desde": "since", "after": "after", "depois de": "after", "apos": "after",
    "before": "before", "antes de": "before", "prior to": "before", "until": "until",
    "till": "until", "up to": "until", "ate": "until",
}
_CONNECTORS = {
    opener: re.compile(rf"\s+(?:{words})\s+", re.I)
    for opener, words in (
        ("between", "and"), ("from", "to|until|till|through|thru"), ("since", "until|till|to"),
        ("entre", "e"), ("de", "a|ate"), ("desde", "ate|a"),
    )
}
# "mais de 2000": quantities, listed so that their "de" is not read as "from".
_NOT_TEMPORAL = {"mais de", "menos de", "cerca de", "more than", "less than"}
_PREP = re.compile(
    rf"(?<![\w-])(?P<p>{_alt(_CONTAIN['safe'] | set(_BOUNDS) | set(_CONNECTORS) | _NOT_TEMPORAL)})\s+$",
    re.I,
)


def _atoms(folded: str, now: datetime) -> list[_Atom]:
    atoms = []
    for kind, regex, handler in _RULES:
        for m in regex.finditer(folded):
            hit = handler(m, now)
            if hit is not None and hit.since < hit.until:
                atoms.append(_Atom(m.start(), m.end(), kind, hit))
    return atoms


def _align(now: datetime, first: _Hit, last: _Hit) -> tuple[_Hit | None, _Hit | None]:
    """Give a yearless end of a range the other end's year, keeping ``first`` before ``last``."""
    if first.md:
        moved = _resolve(now, first.md, last.since.year)
        if moved and moved.since > last.since:
            moved = _resolve(now, first.md, last.since.year - 1)
        return moved, last
    if last.md:
        moved = _resolve(now, last.md, first.since.year)
        if moved and moved.since < first.since:
            moved = _resolve(now, last.md, first.since.year + 1)
        return first, moved
    return first, last


def _range(folded: str, a: _Atom, atoms: list[_Atom], opener: str, now: datetime) -> _Cand | None:
    """"between A and B", "from A to B", "de A a B": A's start to B's end."""
    link = _CONNECTORS[opener].match(folded, a.end)
    ends = [b for b in atoms if link and b.start == link.end()]
    if not ends:
        return None
    b = max(ends, key=lambda atom: atom.end)
    first, last = _align(now, a.hit, b.hit)
    if first is None or last is None or first.since >= last.until:
        return None
    return _Cand(a.start, b.end, first.since, last.until)


def _candidates(folded: str, atoms: list[_Atom], now: datetime) -> Iterator[_Cand]:
    """Each atom read with the preposition before it; bare atoms only when they stand alone."""
    for a in atoms:
        prep = _PREP.search(folded, max(0, a.start - 40), a.start)  # preps are short
        word = " ".join(prep["p"].lower().split()) if prep else ""
        span = _range(folded, a, atoms, word, now) if word in _CONNECTORS else None
        if prep and span:
            yield span._replace(start=prep.start())
        elif prep and word in _BOUNDS:
            since, until = a.hit.since, a.hit.until
            yield _Cand(prep.start(), a.end, *{
                "since": (since, None), "after": (until, None),
                "before": (None, since), "until": (None, until),
            }[_BOUNDS[word]])
        elif prep and word in _CONTAIN[a.kind]:
            yield _Cand(prep.start(), a.end, a.hit.since, a.hit.until)
        elif a.kind == "safe":
            yield _Cand(a.start, a.end, a.hit.since, a.hit.until)


def parse_time_range(text: str, now: datetime) -> TimeRange | None:
    """The time window ``text`` names, read relative to ``now``; None when it names none.

    A naive ``now`` is taken as UTC. See the module docstring for what each phrase spans.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    folded = _fold(text)
    candidates = list(_candidates(folded, _atoms(folded, now), now))
    if not candidates:
        return None
    first = min(candidates, key=lambda c: (c.start, -c.end))
    overlapping = [c for c in candidates if c.start < first.end and first.start < c.end]
    best = max(overlapping, key=lambda c: (c.end - c.start, -c.start))
    return TimeRange(best.since, best.until, text[best.start:best.end])


def parse_now(value: str) -> datetime:
    """When a question is asked, from an ISO date or date-time; naive values are UTC.
    Raises ValueError."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def find_time_ranges(text: str, now: datetime) -> list[TimeRange]:
    """Every separate time window ``text`` names, left to right, read relative to ``now``.

    Overlapping matches resolve as in :func:`parse_time_range` (the longest wins); a message
    that says "yesterday … and last week" yields both.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    folded = _fold(text)
    candidates = sorted(_candidates(folded, _atoms(folded, now), now), key=lambda c: (c.start, -c.end))
    found: list[TimeRange] = []
    while candidates:
        first = candidates[0]
        overlapping = [c for c in candidates if c.start < first.end and first.start < c.end]
        best = max(overlapping, key=lambda c: (c.end - c.start, -c.start))
        found.append(TimeRange(best.since, best.until, text[best.start:best.end]))
        candidates = [c for c in candidates if c.start >= max(best.end, first.end)]
    return found


_DANGLING = re.compile(
    r"(?<![\w-])(?:in|on|at|from|during|since|of|em|de|do|da|no|na|nos|nas|durante|desde)\s*$", re.I
)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([?.!,;:])", r"\1", " ".join(text.split()))
    text = re.sub(r"[,;:]+(?=[?.!]|$)", "", text)
    return text.strip(" ,;:")


def strip_time_phrase(text: str, found: TimeRange) -> str:
    """``text`` without ``found.phrase`` (its first occurrence) and a preposition left before it.

    Whitespace is collapsed, no space is left before punctuation, and commas or colons left
    dangling at either end are dropped: "what did I ask about Lisbon last March?" becomes
    "what did I ask about Lisbon?". A phrase not in ``text`` only tidies it.
    """
    start = text.find(found.phrase) if found.phrase else -1
    if start < 0:
        return _tidy(text)
    head = _DANGLING.sub("", text[:start])
    return _tidy(f"{head} {text[start + len(found.phrase):]}")
