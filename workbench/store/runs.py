"""Evaluation runs in DuckDB: a run and its per-query rows, written whole or not at all."""

from __future__ import annotations

import json
from typing import Any, Iterable

import duckdb
import pyarrow as pa

from workbench.records import Run, RunResult
from workbench.store.connection import DuckDBFile
from workbench.errors import NotFound
from workbench.store.evalsets import resolve_set

_RESULT_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("ranking", pa.list_(pa.string())), ("metrics", pa.string()),
    ("search_ms", pa.float64()),
])
_RUN_COLUMNS = """r.id::VARCHAR, r.label, r.set_id::VARCHAR, s.name, s.version, r.retriever,
    r.params::VARCHAR, r.embedding_model, r.chunker, r.code_version, r.ks, r.metrics::VARCHAR,
    r.per_category::VARCHAR, r.queries, r.skipped, r.seconds, r.search_ms_p50, r.search_ms_p95,
    r.origin, r.batch_id::VARCHAR, r.notebook, r.started_at"""
_RUN_FROM = "eval_runs r JOIN eval_sets s ON r.set_id = s.id"


def _run(row: tuple) -> Run:
    values = list(row)
    for i in (6, 11, 12):
        values[i] = json.loads(values[i]) if values[i] else {}
    values[10] = list(values[10])
    return Run(*values)


def _resolve_run(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    ref = ref.strip().lower()
    rows = con.execute("SELECT id::VARCHAR FROM eval_runs WHERE id::VARCHAR LIKE ? LIMIT 2",
                       [ref + "%"]).fetchall()
    if len(ref) < 6 and len(ref) != 0 and rows:
        raise NotFound(f"run {ref!r}: give at least 6 characters of its id")
    if len(rows) != 1:
        raise NotFound(f"run {ref!r} {'is ambiguous' if rows else 'does not exist'}")
    return rows[0][0]


class DuckDBEvalRuns:
    """Stored runs of eval sets; a run is found by its id or a unique prefix of 6 or more."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def add(self, run: Run, results: Iterable[RunResult]) -> None:
        with self.db.transaction() as con:
            con.execute(
                """INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?::JSON, ?, ?, ?, ?, ?::JSON, ?::JSON,
                                                 ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [run.id, run.label, run.set_id, run.retriever, json.dumps(run.params),
                 run.embedding_model, run.chunker, run.code_version, run.ks,
                 json.dumps(run.metrics), json.dumps(run.per_category), run.queries, run.skipped,
                 run.seconds, run.search_ms_p50, run.search_ms_p95, run.origin, run.batch_id,
                 run.notebook, run.started_at],
            )
            self._insert_results(con, run.id, [
                {"query_id": r.query_id, "ranking": r.ranking, "metrics": json.dumps(r.metrics),
                 "search_ms": r.search_ms}
                for r in results
            ])

    def _insert_results(self, con, run_id: str, rows: list[dict[str, Any]]) -> None:
        con.register("incoming_results", pa.Table.from_pylist(rows, schema=_RESULT_SCHEMA))
        con.execute(
            """INSERT INTO eval_results SELECT ?::UUID, query_id, ranking::UUID[],
                   metrics::JSON, search_ms FROM incoming_results""",
            [run_id],
        )
        con.unregister("incoming_results")

    def list(self, set_ref: str | None = None, label: str | None = None,
             batch_id: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first. A bare set name matches the runs of every version of that set;
        ``name@version`` or a set id, those of one version."""
        where, args = [], []
        with self.db.connect() as con:
            if set_ref is not None:
                if "@" not in set_ref and con.execute(
                    "SELECT 1 FROM eval_sets WHERE name = ? LIMIT 1", [set_ref]
                ).fetchone():
                    where.append("s.name = ?")
                    args.append(set_ref)
                else:
                    where.append("r.set_id = ?")
                    args.append(resolve_set(con, set_ref)[0])
            if label is not None:
                where.append("r.label = ?")
                args.append(label)
            if batch_id is not None:
                where.append("r.batch_id::VARCHAR = ?")
                args.append(batch_id)
            sql = f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY r.started_at DESC, r.id"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            rows = con.execute(sql, args).fetchall()
        return [_run(r) for r in rows]

    def get(self, ref: str) -> Run:
        """A run by full id or a unique prefix of at least 6 characters."""
        with self.db.connect() as con:
            run_id = _resolve_run(con, ref)
            return _run(con.execute(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE r.id = ?",
                                    [run_id]).fetchone())

    def results(self, ref: str) -> list[dict[str, Any]]:
        """A run's per-query rows, in the set's query order: text, category, relevant ids,
        ranking, metrics and search time."""
        with self.db.connect() as con:
            run_id = _resolve_run(con, ref)
            rows = con.execute(
                """SELECT e.query_id, q.text, q.workspace, q.category, q.relevant::VARCHAR[],
                          e.ranking::VARCHAR[], e.metrics::VARCHAR, e.search_ms
                   FROM eval_results e JOIN eval_runs r ON e.run_id = r.id
                   LEFT JOIN eval_queries q ON q.set_id = r.set_id AND q.query_id = e.query_id
                   WHERE e.run_id = ? ORDER BY q.position, e.query_id""",
                [run_id],
            ).fetchall()
        return [
            {"query_id": r[0], "text": r[1], "workspace": r[2], "category": r[3],
             "relevant": r[4], "ranking": r[5], "metrics": json.loads(r[6]), "search_ms": r[7]}
            for r in rows
        ]
