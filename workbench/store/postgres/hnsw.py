"""HNSW searches on pgvector 0.6: how many candidates a scope needs, the planner's estimate of
a scope, one round trip a search, and the memory a graph is built in."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from workbench.store.postgres.connection import PgConnection

EF_SEARCH_MAX = 1000  # pgvector's own limit
EXACT_ROWS = 20_000  # a scope this small is scanned whole: exact, and about as fast
SCOPE_ESTIMATE_S = 60.0
# More links per node than pgvector's default (16, 64): messages come in clusters of
# near-duplicates, which the default graph connects poorly: a search stays in one cluster.
OPTIONS = "m = 32, ef_construction = 128"


def build_memory_mb(rows: int) -> int:
    """``maintenance_work_mem`` for an HNSW build: pgvector builds the graph in memory, about
    2.5 kB a row here (m = 32), and (its documentation says) much slower once it spills. 4 kB
    a row, from 64 MB to 8 GB: 1M rows built in 537 s with 4 GB, without spilling."""
    return min(max(64, rows * 4 // 1024), 8192)


def catalog(con: PgConnection, table: str, index: str) -> tuple[bool, bool, float]:
    """Whether the table and its HNSW index exist, and its rows as last counted: one round
    trip, as each is a wait for a busy server while the search's full-text half runs."""
    return con.raw.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL, (SELECT "
        "greatest(reltuples, 1) FROM pg_class WHERE oid = to_regclass(%s))",
        [table, index, table]).fetchone()


class ScopeEstimates:
    """The planner's estimate of the rows in a scope, kept a minute: a chat asks the same
    workspace every turn, and the estimate moves only with ANALYZE."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str], tuple[float, float]] = {}

    def rows(self, con: PgConnection, table: str, where: str, params: list[Any]) -> float:
        key = (table, where, repr(params))
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[0] < SCOPE_ESTIMATE_S:
            return known[1]
        plan = con.raw.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} WHERE {where}",
                               params).fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        scoped = max(float(plan[0]["Plan"]["Plan Rows"]), 1.0)
        if len(self._known) >= 256:
            self._known.clear()
        self._known[key] = (now, scoped)
        return scoped


def ef_search(ef: int, limit: int, scoped: float | None, total: float) -> int | None:
    """The ``ef_search`` that leaves ``limit`` rows after a scope of ``scoped`` rows of
    ``total`` (None: no scope), or None: exact."""
    wanted = max(ef, limit)
    if scoped is None:
        # As many candidates as asked. Twice as many measured 0.999 against 0.998 (recall@10,
        # 1M rows whose vectors are means of real sentences' embeddings) at twice the time
        # (p50 50 against 26 ms); it helped only on rows that are noisy copies of one another
        # (100k: 0.990 against 0.968), which no margin saves at 1M (ef_search 1,000: 0.80).
        return min(wanted, EF_SEARCH_MAX)
    if scoped <= EXACT_ROWS:
        return None
    return ef_for_share(wanted, min(scoped / total, 1.0))


def ef_for_share(wanted: int, share: float) -> int | None:
    """pgvector 0.6 filters the graph's ``ef_search`` nearest rows by the scope, so about
    ``ef × share`` of them are left: ask for ``wanted / share`` and four standard deviations
    of that count more (a scope of 98 %: 213 for 200, where twice the prediction, 408, took
    twice the time). A scope whose rows lie away from the query leaves fewer; the search
    sees it (fewer than ``limit`` rows) and runs exact."""
    if share <= 0:
        return None
    needed = math.ceil((wanted + 4 * math.sqrt(wanted * (1 - share))) / share)
    return needed if needed <= EF_SEARCH_MAX else None


def run(con: PgConnection, sql: str, args: list[Any], ef: int | None):
    """The cursor of a vector search at ``hnsw.ef_search`` = ``ef`` (None: exact)."""
    # One round trip for the transaction, its setting and the search (a pipeline).
    with con.raw.pipeline():
        with con.raw.transaction():
            if ef is None:  # pgvector's advice for an exact search
                con.raw.execute("SET LOCAL enable_indexscan = off")
            else:
                con.raw.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
            # Never a prepared statement: the graph and the exact search share this SQL, and a
            # plan cached after a few graph searches would use the index whatever the settings,
            # so an exact search would return ef_search rows the graph found (40 by default).
            cursor = con.raw.execute(sql, args, prepare=False)
    return cursor
