"""The contract every ``Index`` implementation keeps: writes, counts, scoped searches, upkeep.

Parametrised over implementations: LanceDB, and pgvector in a fresh database of the run's
PostgreSQL server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from workbench.search.lancedb_index import LanceIndex
from workbench.search.protocol import Filters, Index, scored_rows
from workbench.store.postgres import PostgresStore
from workbench.store.postgres.index import PgIndex
from workbench.text.events import event_dates

DIM = 16
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
WORDS = ["backup", "cron", "lisbon", "tram", "pgvector", "chickpeas", "bonsai", "rsync"]


def _lancedb(path: Path, request: pytest.FixtureRequest) -> Index:
    return LanceIndex(path / "lancedb", "chunks", DIM, ann_threshold=100, mirror=True)


def _pgvector(path: Path, request: pytest.FixtureRequest) -> Index:
    store = PostgresStore(request.getfixturevalue("postgres_url"))
    return PgIndex(store, "chunks", DIM, ann_threshold=100)


IMPLEMENTATIONS: list[Callable[[Path, pytest.FixtureRequest], Index]] = [_lancedb, _pgvector]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda make: make.__name__.strip("_"))
def index(request, tmp_path: Path) -> Index:
    return request.param(tmp_path, request)


def rows(prefix: str, n: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    made = [{"chunk_id": f"{prefix}{i}", "message_id": f"{prefix}{i}",
             "conversation_id": f"conv{i % 5}", "workspace": ("a", "b")[i % 2],
             "source_id": str(i), "title": f"title {i % 5}", "role": ("user", "assistant")[i % 3 == 0],
             "speaker": None, "created_at": START + timedelta(days=i), "position": i,
             "text": f"{WORDS[i // 2 % len(WORDS)]} note {i}",
             "search_text": f"{WORDS[i // 2 % len(WORDS)]} note {i}"} for i in range(n)]
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return made, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def ids(found: list[dict]) -> list[str]:
    return [r["chunk_id"] for r in found]


def test_writes_and_count(index):
    assert not index.exists() and index.count() == 0
    assert index.search_text("note", Filters(), 5) == []  # nothing written yet: nothing found
    assert index.search_vector(np.ones(DIM, dtype=np.float32), Filters(), 5) == []
    made, vectors = rows("m", 40)
    index.upsert(made, vectors)
    assert index.exists() and index.count() == 40
    fresh = rows("m", 5, seed=3)[1]
    index.upsert(made[:5], fresh)  # replaced, not added
    assert index.count() == 40
    assert ids(index.search_vector(fresh[2], Filters(), 1, exact=True)) == ["m2"]
    extra, extra_vectors = rows("x", 3, seed=1)
    index.append(extra + made[:2], np.vstack([extra_vectors, vectors[:2]]))  # m0, m1 skipped
    assert index.count() == 43 and sorted(index.chunk_ids().to_pylist()) == sorted(
        [r["chunk_id"] for r in made + extra])
    index.delete(["m3", "x1", "nowhere"])
    assert index.count() == 41
    assert {"m3", "x1"}.isdisjoint(index.chunk_ids().to_pylist())
    index.drop()
    assert not index.exists() and index.count() == 0


SCOPES = [
    Filters(workspace="a"),
    Filters(workspace="b", role="user"),
    Filters(conversation_id="conv3"),
    Filters(since=START + timedelta(days=10), until=START + timedelta(days=30)),
    Filters(workspace="a", exclude_message_ids=("m0", "m2", "m4")),
]


def _in_scope(row: dict, scope: Filters) -> bool:
    return ((scope.workspace is None or row["workspace"] == scope.workspace)
            and (scope.conversation_id is None or row["conversation_id"] == scope.conversation_id)
            and (scope.role is None or row["role"] == scope.role)
            and (scope.since is None or row["created_at"] >= scope.since)
            and (scope.until is None or row["created_at"] < scope.until)
            and row["message_id"] not in scope.exclude_message_ids)


@pytest.mark.parametrize("scope", SCOPES, ids=str)
def test_scoped_searches(index, scope):
    made, vectors = rows("m", 60)
    index.upsert(made, vectors)
    index.maintain()
    expected = [r for r in made if _in_scope(r, scope)]
    text = index.search_text("backup", scope, 60)
    assert text and {r["chunk_id"] for r in text} == {
        r["chunk_id"] for r in expected if r["text"].startswith("backup")}
    assert {c for c, _ in index.search_text_scores("backup", scope, 60)} == set(ids(text))
    query = vectors[20]
    exact = index.search_vector(query, scope, 5, exact=True)
    assert all(_in_scope(r, scope) for r in exact) and len(exact) == min(5, len(expected))
    ranked = sorted(expected, key=lambda r: -float(vectors[made.index(r)] @ query))
    assert ids(exact) == [r["chunk_id"] for r in ranked[:5]]
    assert exact[0]["_distance"] == pytest.approx(1 - float(vectors[made.index(ranked[0])] @ query),
                                                  abs=1e-4)


def test_maintain_keeps_results(index):
    made, vectors = rows("m", 150)
    index.upsert(made, vectors)
    index.maintain()
    for turn in range(3):
        index.append(*rows(f"t{turn}-", 2, seed=10 + turn))
    queries = rows("q", 4, seed=7)[1]
    before = [(ids(index.search_vector(q, Filters(workspace="a"), 5, exact=True)),
               set(ids(index.search_text("cron", Filters(), 60)))) for q in queries]
    index.maintain()
    after = [(ids(index.search_vector(q, Filters(workspace="a"), 5, exact=True)),
              set(ids(index.search_text("cron", Filters(), 60)))) for q in queries]
    assert before == after and index.count() == 156
    assert index.has_full_text() and index.has_ann()
    mirror = index.mirror(wait=True)
    if mirror is not None:  # an implementation's in-memory copy answers as exact search
        for q in queries:
            assert ids(mirror.search_vector(q, Filters(workspace="a"), 5)) == ids(
                index.search_vector(q, Filters(workspace="a"), 5, exact=True))


def _in_order(found: list[dict], key: str, descending: bool) -> bool:
    """Best first; rows of equal score by time, place in the conversation, then chunk id."""
    sign = -1.0 if descending else 1.0
    keys = [(sign * r[key], r["created_at"], r["position"], r["chunk_id"]) for r in found]
    return keys == sorted(keys)


def test_ties_come_back_in_one_order(index):
    # One text, and one vector, under many chunk ids (an export imported into several
    # workspaces), written newest and highest id first: what order ties keep must not be left
    # to the index, or rank fusion would score one home differently from run to run.
    made, vectors = rows("m", 48)
    copies = [{**made[i % 4], "chunk_id": f"d{n:02d}", "message_id": f"d{n:02d}",
               "workspace": ("a", "b")[n % 2]} for n, i in enumerate(range(24))]
    written = (made + copies)[::-1]
    everything = np.vstack([vectors, vectors[[i % 4 for i in range(24)]]])[::-1]
    index.upsert(written[:60], everything[:60])
    index.maintain()
    index.append(written[60:], everything[60:])  # and some outside the built indexes
    for scope in (Filters(), Filters(workspace="a")):
        # "backup note <n>" everywhere: one score for all the rows one index scores alike
        # (LanceDB scores the rows outside its built index apart, and says so in ``_score``).
        text = index.search_text("backup", scope, 60)
        assert len(text) > 8 and _in_order([{"_score": 0.0, **r} for r in text], "_score",
                                           descending=True)
        # The ids and scores a mirror's rows are ordered by: the same rows, in the same order.
        scored = index.search_text_scores("backup", scope, 60)
        assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
        by_id = {r["chunk_id"]: r for r in text}
        assert ids(scored_rows(scored, [dict(by_id[c]) for c, _ in scored[::-1]])) == ids(text)
        # Every row in scope, so that which of the ties at the limit come back is no question.
        exact = index.search_vector(vectors[1], scope, 80, exact=True)
        assert _in_order(exact, "_distance", descending=False)
        assert len({r["_distance"] for r in exact}) < len(exact)  # there were ties to order
        mirror = index.mirror(wait=True)
        if mirror is not None:
            assert ids(mirror.search_vector(vectors[1], scope, 80)) == ids(exact)


def test_hits_carry_the_event_windows_of_their_text(index):
    # Read once as a row is written: a "when …?" search lifts the turns that date an event,
    # and reading every candidate's phrases at each search cost the pgvector search 11 ms.
    made, vectors = rows("m", 6)
    made[1] = dict(made[1], text="backup restored yesterday", search_text="backup restored yesterday")
    made[3] = dict(made[3], text="backup tested last week", search_text="backup tested last week")
    index.upsert(made, vectors)
    index.maintain()
    found = {r["chunk_id"]: r for r in index.search_text("backup", Filters(), 10)}
    found.update({r["chunk_id"]: r for r in index.search_vector(vectors[3], Filters(), 6, exact=True)})
    assert {"m0", "m1", "m3"} <= set(found)
    for chunk_id, row in found.items():
        expected = [{"since": e.since, "until": e.until}
                    for e in event_dates(row["text"], row["created_at"])]
        assert row["events"] == expected, chunk_id
    assert found["m1"]["events"][0]["since"] == START  # written on day 1: the day before
    assert found["m3"]["events"] and not found["m0"]["events"]
