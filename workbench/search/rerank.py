"""Steps that reorder message candidates after fusion, each a rule read from how people ask.

A candidate is ``[score, row, chunk_ids]`` (see ``retrieve.Merged``); every step takes the
candidates best first and returns them best first. Steps look at the top ``pool`` candidates
only: a lower one could not reach the first page, and each step stays a few microseconds per
candidate. ``unit`` is what a first place in one ranked list is worth (``1 / (rrf_k + 1)``), so
every lift is expressed in places, not in fitted scores.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from workbench.text.events import event_dates

Candidate = list  # [score, row, chunk ids]

_WORD = re.compile(r"[^\W_]+")
# Questions that ask for the state things ended in, not for every time a topic came up.
_CURRENT = re.compile(
    r"\b(?:finally|final|in the end|ended up|latest|current(?:ly)?|now|these days|nowadays|"
    r"at the moment|afinal|no fim|hoje em dia|atualmente|agora|atual)\b",
    re.I,
)
# Questions that ask when something happened want the turn that tells of it.
_WHEN = re.compile(r"^\s*(?:when|what (?:date|day|month|year)|how long ago|quando|em que (?:dia|data|"
                   r"mes|mês|ano))\b", re.I)


# Questions about how something was solved: the reply holds the fix, the question the words.
_HOW = re.compile(r"\b(?:how (?:did|do|does|can|could|should|to)|fix(?:ed)?|solved?|solution|"
                  r"workaround|resolved?|como (?:resolv|corrig|fa[cç]o|fiz|posso)|resolvi)", re.I)


def asks_how(query: str) -> bool:
    return _HOW.search(query) is not None


def asks_for_current_state(query: str) -> bool:
    return _CURRENT.search(query) is not None


# "How long has she had her current friends?" asks since when, which the first mention answers.
_SINCE = re.compile(r"\b(?:how long|since when|h[aá] quanto tempo|desde quando)\b", re.I)


def asks_since(query: str) -> bool:
    return _SINCE.search(query) is not None


def asks_when(query: str) -> bool:
    return _WHEN.search(query) is not None


def _resort(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: -c[0])


def lift_event_dates(candidates: list[Candidate], window: Any, when: bool, unit: float,
                     temporal_boost: float, when_weight: float, pool: int = 50) -> list[Candidate]:
    """A turn whose relative phrases ("yesterday", "last month") point into the query's window
    rises as if it had been written then; for a "when …?" question a turn that dates an event
    rises a little, as it is the turn that can answer."""
    for entry in candidates[:pool]:
        row = entry[1]
        created = row.get("created_at")
        events = _events(row)
        if window is not None and not _in(created, window) and any(
            (window.until is None or since < window.until)
            and (window.since is None or until > window.since) for since, until in events
        ):
            entry[0] += temporal_boost * unit
        if when and events:
            entry[0] += when_weight * unit
    return _resort(candidates)


def _events(row: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    """The row's event windows: stored with it at indexing, else read from its text (an index
    made before they were stored, until ``workbench maintain`` fills them in)."""
    if "events" in row:
        return [(e["since"], e["until"]) for e in row["events"] or ()]
    return [(e.since, e.until) for e in event_dates(row.get("text") or "", row.get("created_at"))]


def _in(moment: datetime | None, window: Any) -> bool:
    return moment is not None and (window.since is None or moment >= window.since) and (
        window.until is None or moment < window.until)


def lift_answers(candidates: list[Candidate], weight: float) -> list[Candidate]:
    """The reply that follows a matching question takes part of the question's score, and the
    question before a matching reply likewise: "how did we fix X" is answered by the reply,
    while the question holds the words."""
    score_at = {(c[1]["conversation_id"], c[1].get("position") or 0): (c[0], c[1].get("role"))
                for c in candidates}
    for entry in candidates:
        row = entry[1]
        key = row["conversation_id"], row.get("position") or 0
        before = score_at.get((key[0], key[1] - 1))
        after = score_at.get((key[0], key[1] + 1))
        if row.get("role") == "assistant" and before and before[1] == "user":
            entry[0] += weight * before[0]
        elif row.get("role") == "user" and after and after[1] == "assistant":
            entry[0] += weight * 0.5 * after[0]
    return _resort(candidates)


def prefer_latest(candidates: list[Candidate], unit: float, weight: float,
                  pool: int = 20) -> list[Candidate]:
    """Among the candidates that match the topic, the most recent gains up to ``weight`` first
    places, the oldest nothing: for a question about how a decision ended."""
    top = candidates[:pool]
    moments = [c[1].get("created_at") for c in top if c[1].get("created_at") is not None]
    if len(moments) < 2:
        return candidates
    oldest, newest = min(moments), max(moments)
    span = (newest - oldest).total_seconds() or 1.0
    for entry in top:
        created = entry[1].get("created_at")
        if created is not None:
            entry[0] += weight * unit * (created - oldest).total_seconds() / span
    return _resort(candidates)


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def collapse_duplicates(candidates: list[Candidate], pool: int, similarity: float = 0.8
                        ) -> tuple[list[Candidate], dict[str, list[str]]]:
    """Near-identical turns (the same question asked again, a pasted message) keep one slot:
    the best of them stays, the others leave the list and are counted on it. Returns the
    candidates and, per kept message id, the ids of its duplicates."""
    kept: list[tuple[Candidate, frozenset[str]]] = []
    duplicates: dict[str, list[str]] = {}
    for entry in candidates[:pool]:
        words = _words(entry[1].get("text") or "")
        twin = next((k for k, w in kept if words and _alike(words, w, similarity)), None)
        if twin is None:
            kept.append((entry, words))
        else:
            duplicates.setdefault(twin[1]["message_id"], []).append(entry[1]["message_id"])
    rest = candidates[pool:]
    return [k for k, _ in kept] + rest, duplicates


def _alike(a: frozenset[str], b: frozenset[str], similarity: float) -> bool:
    """Jaccard overlap of at least ``similarity``. The overlap is at most the smaller set over
    the larger, so a size test spares most intersections."""
    small, large = (len(a), len(b)) if len(a) <= len(b) else (len(b), len(a))
    return small / large >= similarity and len(a & b) / len(a | b) >= similarity
