"""Hybrid retrieval over the history: BM25 and vectors fused by weighted reciprocal rank.

Retrievers are chosen by versioned name. A search turns the query's temporal phrase ("last
March", "ontem") into a time filter, runs the full-text and the vector search over chunks (in
parallel: both release the GIL), fuses them, optionally adds a recency prior and MMR
diversity, and returns message-level hits: chunks of one message are merged into one hit.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from workbench.embeddings.model import Embedder
from workbench.errors import InvalidInput
from workbench.search import rerank
from workbench.search.protocol import Filters, Index, scored_rows
from workbench.text.timeparse import parse_time_range, strip_time_phrase


@dataclass(frozen=True)
class RetrieverConfig:
    """A retriever's parameters; ``name`` is recorded with every evaluation run."""

    name: str
    vector_weight: float = 1.0
    text_weight: float = 1.0
    rrf_k: int = 60
    candidates: int = 100
    temporal: str = "filter"  # filter | boost | off: what a time phrase in the query does
    temporal_boost: float = 1.0
    neighbour_weight: float = 0.0
    recency_weight: float = 0.0
    recency_half_life_days: float = 90.0
    mmr_lambda: float | None = None
    speaker_weight: float = 0.0
    # v4 steps, all off for the older names (see workbench.search.rerank):
    event_dates: bool = False  # a time phrase also matches the dates a turn's own words point to
    when_weight: float = 0.0  # "when …?" lifts turns that date an event, in first places
    answer_weight: float = 0.0  # "how did we fix …": share of a question's score its reply takes
    latest_weight: float = 0.0  # "what did I finally decide": first places for the newest match
    collapse: bool = False  # near-identical turns share one slot
    # v5: a participant's name in the question finds their turns through the speaker lift, not
    # as a word: in a dialogue a name in a turn mostly addresses the *other* person ("Wow,
    # Melanie!"), so as a full-text word it finds the wrong speaker's turns.
    names_by_speaker: bool = False
    # v6: the vector half too is searched without those names, and shares its weight equally
    # between the question as asked and the question without them: in the embedding the name
    # says whose turn it is (which the speaker lift also says) but, in a short question, it
    # also outweighs what is asked about ("would Melanie prefer a park?" finds Melanie's turns).
    names_vector: bool = False

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "name"}


# v2 (tuned on the LoCoMo dev split only): a small RRF constant trusts each list's top ranks,
# a time phrase lifts in-range turns instead of hiding the rest, and a turn beside a strong
# match is lifted too.
_V2 = dict(rrf_k=3, temporal="boost", neighbour_weight=0.2, candidates=200)
RETRIEVERS: dict[str, RetrieverConfig] = {
    "hybrid-rrf.v1": RetrieverConfig("hybrid-rrf.v1"),
    "hybrid-rrf.v2": RetrieverConfig("hybrid-rrf.v2", **_V2),
    "hybrid-rrf-filter.v2": RetrieverConfig("hybrid-rrf-filter.v2", **{**_V2, "temporal": "filter"}),
    "hybrid-rrf-recency.v2": RetrieverConfig("hybrid-rrf-recency.v2", **_V2, recency_weight=0.3),
    "hybrid-rrf-mmr.v2": RetrieverConfig("hybrid-rrf-mmr.v2", **_V2, mmr_lambda=0.7),
    # v3: v2, and a question that names a participant lifts that participant's own turns (as much
    # as a first place in one list; 0.6-2.0 all measured within 0.8 of R@5 on the dev split).
    "hybrid-rrf.v3": RetrieverConfig("hybrid-rrf.v3", **_V2, speaker_weight=1.0),
    # v4: time phrases read inside the turns, the reply to a matching question, the latest
    # state when asked for, and one slot per repeated turn; every step a rule, none fitted.
    "hybrid-rrf.v4": RetrieverConfig("hybrid-rrf.v4", **_V2, speaker_weight=1.0, event_dates=True,
                                     when_weight=0.5, answer_weight=0.5, latest_weight=1.0,
                                     collapse=True),
    # v5: v4, and the full-text half searches the question without the participants' names
    # it holds (a rule, no parameter).
    "hybrid-rrf.v5": RetrieverConfig("hybrid-rrf.v5", **_V2, speaker_weight=1.0, event_dates=True,
                                     when_weight=0.5, answer_weight=0.5, latest_weight=1.0,
                                     collapse=True, names_by_speaker=True),
    # v6: v5, and the vector half adds the question without those names as a second list, the
    # two sharing the vector weight (a rule, no parameter).
    "hybrid-rrf.v6": RetrieverConfig("hybrid-rrf.v6", **_V2, speaker_weight=1.0, event_dates=True,
                                     when_weight=0.5, answer_weight=0.5, latest_weight=1.0,
                                     collapse=True, names_by_speaker=True, names_vector=True),
    "vector.v1": RetrieverConfig("vector.v1", text_weight=0.0),
    "bm25.v1": RetrieverConfig("bm25.v1", vector_weight=0.0),
}
DEFAULT_RETRIEVER = "hybrid-rrf.v6"


def get_retriever_config(name: str, **overrides: Any) -> RetrieverConfig:
    try:
        config = RETRIEVERS[name]
    except KeyError:
        raise InvalidInput(f"unknown retriever {name!r}; known: {', '.join(RETRIEVERS)}") from None
    return replace(config, **overrides) if overrides else config


@dataclass
class Hit:
    """One retrieved message with where it came from; ``score`` is the fused score."""

    message_id: str
    source_id: str | None
    conversation_id: str
    title: str | None
    workspace: str
    role: str
    speaker: str | None
    timestamp: datetime | None
    score: float
    text: str
    chunk_ids: list[str] = field(default_factory=list)
    context: list[dict[str, Any]] = field(default_factory=list)
    position: int = 0
    vector: Any = field(default=None, repr=False)
    duplicates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "source_id": self.source_id,
            "conversation_id": self.conversation_id,
            "title": self.title,
            "workspace": self.workspace,
            "role": self.role,
            "speaker": self.speaker,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "score": self.score,
            "text": self.text,
            "context": self.context,
            "duplicates": len(self.duplicates),
        }


@dataclass
class SearchResult:
    hits: list[Hit]
    query: str
    since: datetime | None = None
    until: datetime | None = None
    time_phrase: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    engine: str = "lancedb"  # or "mirror": the in-memory copy answered
    # What the query's time phrase did: "filter" (only turns of the window; ``since``/``until``
    # are the window) or "lift" (turns of the window rise, the others stay: the window is here,
    # as ``since``/``until`` are the caller's own filter).
    time_use: str | None = None
    window_since: datetime | None = None
    window_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``search --json`` contract (the HTTP API answers the same)."""
        return {
            "query": self.query, "since": self.since, "until": self.until,
            "time_phrase": self.time_phrase, "time_use": self.time_use,
            "window": {"since": self.window_since, "until": self.window_until},
            "timings_ms": self.timings_ms,
            "hits": [h.to_dict() for h in self.hits],
        }

    def time_reading(self) -> str | None:
        """What the time phrase did, in words: 'filtered to' or 'lifted' and the window's days."""
        if not self.time_phrase:
            return None
        verb = "kept only turns from" if self.time_use == "filter" else "lifted turns from"
        return f"“{self.time_phrase}” {verb} {_days(self.window_since, self.window_until)}"


class Retriever:
    """Searches one index with one configuration; the full-text half of a search runs on
    ``pool`` (the caller's, which it shuts down) while the vector half runs in the caller."""

    def __init__(self, index: Index, embedder: Embedder, config: RetrieverConfig, pool: Executor):
        self.index = index
        self.embedder = embedder
        self.config = config
        self.pool = pool

    def search(
        self, query: str, filters: Filters | None = None, k: int = 10, now: datetime | None = None
    ) -> SearchResult:
        started = time.perf_counter()
        filters = filters or Filters()
        config = self.config
        text_query, filters, window, reading = self._read_time(query, filters, now)
        # Independent of k, so that R@5 does not change with the other cut-offs asked for.
        candidates = max(config.candidates, k)
        # Excluded turns (the chat's visible window) are dropped after the search: a NOT IN
        # prefilter makes LanceDB scan every row, and a few extra candidates cost nothing.
        excluded = set(filters.exclude_message_ids)
        if excluded:
            candidates += len(excluded)
            filters = replace(filters, exclude_message_ids=())
        timings: dict[str, float] = {}
        want_vectors = config.mmr_lambda is not None
        # MMR compares the hits' vectors, which only LanceDB returns.
        mirror = None if want_vectors else self.index.mirror()
        lexical = (
            self.pool.submit(self._text_rows, mirror, text_query, filters, candidates, want_vectors)
            if config.text_weight > 0 else None
        )
        vector_rows: list[dict[str, Any]] = []
        if config.vector_weight > 0:
            t = time.perf_counter()
            vector = self.embedder.encode_query(text_query or query)
            timings["embed"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            if mirror is not None:
                vector_rows = mirror.search_vector(vector, filters, candidates)
            else:
                vector_rows = self.index.search_vector(
                    vector, filters, candidates, vectors=want_vectors
                )
            timings["vector"] = (time.perf_counter() - t) * 1000
        text_rows = lexical.result() if lexical is not None else []
        nameless_rows: list[dict[str, Any]] = []
        if config.names_by_speaker and text_rows:
            text_rows, nameless_rows = self._without_names(
                mirror, text_query, vector_rows, text_rows, filters, candidates, want_vectors,
                timings)
        if excluded:
            vector_rows = [r for r in vector_rows if r["message_id"] not in excluded]
            text_rows = [r for r in text_rows if r["message_id"] not in excluded]
            nameless_rows = [r for r in nameless_rows if r["message_id"] not in excluded]
        fused = self._fuse(text_query, vector_rows, text_rows, now, window, nameless_rows)
        merged = _merge_by_message(fused)
        if config.neighbour_weight > 0:
            merged = _smooth(merged, config.neighbour_weight)
        hits = self._hits(*self._rerank(query, merged, window, k), k)
        timings["total"] = (time.perf_counter() - started) * 1000
        engine = "lancedb" if mirror is None else "mirror"
        return SearchResult(hits[:k], query, filters.since, filters.until, timings_ms=timings,
                            engine=engine, **reading)

    def _read_time(self, query: str, filters: Filters, now: datetime | None):
        """The query without its time phrase, the filters, the window to lift (None: no phrase,
        or it filters) and what the phrase did, for the result."""
        if self.config.temporal == "off" or filters.since is not None or filters.until is not None:
            return query, filters, None, {}
        found = parse_time_range(query, now or datetime.now(timezone.utc))
        if found is None:
            return query, filters, None, {}
        lifts = self.config.temporal != "filter"
        reading = dict(time_phrase=found.phrase, time_use="lift" if lifts else "filter",
                       window_since=found.since, window_until=found.until)
        if not lifts:
            filters = replace(filters, since=found.since, until=found.until)
        return strip_time_phrase(query, found), filters, found if lifts else None, reading

    def _hits(self, merged: list[Merged], duplicates: dict[str, list[str]], k: int) -> list[Hit]:
        if self.config.mmr_lambda is not None and merged:
            hits = self._mmr([_hit(m) for m in merged[: max(k * 3, 30)]], k)
        else:
            hits = [_hit(m) for m in merged[:k]]
        for hit in hits:
            hit.duplicates = duplicates.get(hit.message_id, [])
        return hits

    def _rerank(self, query: str, merged: list[Merged], window, k: int
                ) -> tuple[list[Merged], dict[str, list[str]]]:
        config = self.config
        unit = 1.0 / (config.rrf_k + 1)
        when = config.when_weight > 0 and rerank.asks_when(query)
        if config.event_dates and (window is not None or when):
            merged = rerank.lift_event_dates(merged, window, when, unit, config.temporal_boost,
                                             config.when_weight)
        if config.answer_weight > 0 and rerank.asks_how(query):
            merged = rerank.lift_answers(merged, config.answer_weight)
        # A question that names its time ("latest project in July") has said when it means, and
        # "when" or "how long" ask how things began, not how they ended.
        if (config.latest_weight > 0 and window is None and not when and not rerank.asks_since(query)
                and rerank.asks_for_current_state(query)):
            merged = rerank.prefer_latest(merged, unit, config.latest_weight)
        if config.collapse:
            return rerank.collapse_duplicates(merged, max(k * 3, 30))
        return merged, {}

    def _without_names(self, mirror, query: str, vector_rows: list[dict], text_rows: list[dict],
                       filters: Filters, limit: int, vectors: bool, timings: dict[str, float]
                       ) -> tuple[list[dict], list[dict]]:
        """The full-text matches again, for the question without the names of the participants
        it names (known from the candidates' speakers, hence a second pass, taken only then);
        the first pass's when nothing else is left. With ``names_vector``, also the vector
        matches of that question (else none), searched while the full-text pass runs."""
        names = {_WORDS.findall(s.lower())[0]
                 for s in _named_speakers(query, itertools.chain(vector_rows, text_rows))}
        words = [w for w in query.split() if (_WORDS.findall(w.lower()) or [""])[0] not in names]
        if not names or not words:
            return text_rows, []
        started = time.perf_counter()
        nameless = " ".join(words)
        lexical = self.pool.submit(self._text_rows, mirror, nameless, filters, limit, vectors)
        vector_rows = []
        if self.config.names_vector and self.config.vector_weight > 0:
            vector = self.embedder.encode_query(nameless)
            vector_rows = (mirror.search_vector(vector, filters, limit) if mirror is not None
                           else self.index.search_vector(vector, filters, limit, vectors=vectors))
        rows = lexical.result()
        timings["names"] = (time.perf_counter() - started) * 1000
        return rows, vector_rows

    def _text_rows(self, mirror, query: str, filters: Filters, limit: int, vectors: bool):
        if mirror is None:
            return self.index.search_text(query, filters, limit, vectors)
        scored = self.index.search_text_scores(query, filters, limit)
        return scored_rows(scored, mirror.rows_of([chunk_id for chunk_id, _ in scored]))

    def _fuse(self, query: str, vector_rows: list[dict], text_rows: list[dict],
              now: datetime | None, window, nameless_rows: list[dict]):
        config = self.config
        scores: dict[str, float] = {}
        rows: dict[str, dict] = {}
        # The question without its names shares the vector weight with the question as asked.
        vector_weight = config.vector_weight / (2 if nameless_rows else 1)
        for weight, ranked in ((vector_weight, vector_rows), (config.text_weight, text_rows),
                               (vector_weight, nameless_rows)):
            for rank, row in enumerate(ranked):
                scores[row["chunk_id"]] = scores.get(row["chunk_id"], 0.0) + weight / (
                    config.rrf_k + rank + 1
                )
                rows.setdefault(row["chunk_id"], row)
        if config.recency_weight > 0:
            now = now or datetime.now(timezone.utc)
            for chunk_id, row in rows.items():
                created = row.get("created_at")
                if created is not None:
                    age = max((now - created).total_seconds() / 86400.0, 0.0)
                    prior = 0.5 ** (age / config.recency_half_life_days)
                    scores[chunk_id] += config.recency_weight * prior / (config.rrf_k + 1)
        if config.speaker_weight > 0:  # "what did Anna say …": Anna's own turns rise
            named = _named_speakers(query, rows.values())
            for chunk_id, row in rows.items():
                if row.get("speaker") in named:
                    scores[chunk_id] += config.speaker_weight / (config.rrf_k + 1)
        if window is not None:  # a soft time filter: in-range turns rise, the rest stay
            for chunk_id, row in rows.items():
                created = row.get("created_at")
                if created is not None and (window.since is None or created >= window.since) and (
                    window.until is None or created < window.until
                ):
                    scores[chunk_id] += config.temporal_boost / (config.rrf_k + 1)
        return sorted(((s, rows[c]) for c, s in scores.items()), key=lambda x: -x[0])

    def _mmr(self, hits: list[Hit], k: int) -> list[Hit]:
        """Maximal marginal relevance over the hits' own texts: relevant but not repetitive."""
        pool = hits[: max(k * 3, 30)]
        vectors = np.stack([h.vector for h in pool]).astype(np.float32)
        relevance = np.array([h.score for h in pool])
        relevance = relevance / (relevance.max() or 1.0)
        lam = self.config.mmr_lambda or 0.7
        chosen: list[int] = []
        while len(chosen) < min(k, len(pool)):
            best, best_score = -1, -math.inf
            for i in range(len(pool)):
                if i in chosen:
                    continue
                redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
                score = lam * relevance[i] - (1 - lam) * redundancy
                if score > best_score:
                    best, best_score = i, score
            chosen.append(best)
        return [pool[i] for i in chosen] + [h for i, h in enumerate(pool) if i not in chosen]


def _days(since: datetime | None, until: datetime | None) -> str:
    """A half-open window as the days it covers: "2025-01-01 to 2025-12-31"."""
    first = since.strftime("%Y-%m-%d") if since else None
    last = (until - timedelta(microseconds=1)).strftime("%Y-%m-%d") if until else None
    if first and last:
        return first if first == last else f"{first} to {last}"
    return f"{first} on" if first else f"before {until:%Y-%m-%d}"


_WORDS = re.compile(r"[^\W\d_]+")

# A message among the candidates: [fused score, its best chunk's row, all its chunk ids]. Hits
# are made for the final k only (a search has about 400 candidates).
Merged = list


def _smooth(merged: list[Merged], weight: float) -> list[Merged]:
    """Lift turns next to strongly matching turns: an answer often sits beside the question."""
    at = {(row["conversation_id"], row.get("position") or 0): score for score, row, _ in merged}
    for entry in merged:
        row = entry[1]
        position = row.get("position") or 0
        entry[0] += weight * (at.get((row["conversation_id"], position - 1), 0.0)
                              + at.get((row["conversation_id"], position + 1), 0.0))
    return sorted(merged, key=lambda m: -m[0])


def _named_speakers(query: str, rows) -> set[str]:
    """The candidates' speakers that the query names by their first name (or a one-word name).
    Tools are not people: a question about "python" must not lift the interpreter's turns."""
    words = set(_WORDS.findall(query.lower()))
    speakers = {row.get("speaker") for row in rows if row.get("role") != "tool"} - {None, ""}
    return {s for s in speakers if (first := _WORDS.findall(s.lower())[:1]) and first[0] in words}


def _merge_by_message(fused: list[tuple[float, dict]]) -> list[Merged]:
    merged: dict[str, Merged] = {}
    for score, row in fused:
        entry = merged.get(row["message_id"])
        if entry is None:
            merged[row["message_id"]] = [score, row, [row["chunk_id"]]]
        else:  # another part of a long message: the best part's score stands
            entry[2].append(row["chunk_id"])
    return sorted(merged.values(), key=lambda m: -m[0])


def _hit(merged: Merged) -> Hit:
    score, row, chunk_ids = merged
    return Hit(
        message_id=row["message_id"], source_id=row["source_id"],
        conversation_id=row["conversation_id"], title=row["title"], workspace=row["workspace"],
        role=row["role"], speaker=row["speaker"], timestamp=row["created_at"], score=score,
        text=row["text"], chunk_ids=chunk_ids, position=row.get("position") or 0,
        vector=row.get("vector"),
    )
