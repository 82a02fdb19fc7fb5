"""Answer evaluation runs: one row per (model, mode) run over an answer set, one per question."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from workbench.store.connection import DuckDBFile
from workbench.store.rows import dumps, loads

_RUN_COLUMNS = ("id", "label", "set_name", "set_version", "workspace", "model", "mode", "prompt",
                "retriever", "k", "code_version", "metrics", "questions", "seconds", "started_at")


class DuckDBAnswerRuns:
    """Runs are written once with their results, in one transaction, and never changed."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def add(self, run: dict[str, Any], results: list[dict[str, Any]]) -> str:
        rid = str(uuid.uuid4())
        values = {**run, "id": rid, "metrics": dumps(run["metrics"]),
                  "started_at": run.get("started_at") or datetime.now(timezone.utc)}
        with self.db.transaction() as con:
            con.execute(
                f"INSERT INTO answer_runs ({', '.join(_RUN_COLUMNS)}) VALUES "
                f"({', '.join('?::JSON' if c == 'metrics' else '?' for c in _RUN_COLUMNS)})",
                [values.get(c) for c in _RUN_COLUMNS],
            )
            con.executemany(
                "INSERT INTO answer_results VALUES (?, ?, ?, ?, ?::JSON)",
                [[rid, r["question_id"], r["answer"], r["cited"], dumps(r["metrics"])]
                 for r in results],
            )
        return rid

    def list(self, set_name: str | None = None) -> list[dict[str, Any]]:
        """Runs, newest first."""
        where, params = ("WHERE set_name = ?", [set_name]) if set_name else ("", [])
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {', '.join(c + '::VARCHAR' if c == 'id' else c for c in _RUN_COLUMNS)} "
                f"FROM answer_runs {where} ORDER BY started_at DESC", params).fetchall()
        runs = [dict(zip(_RUN_COLUMNS, row)) for row in rows]
        for run in runs:
            run["metrics"] = loads(run["metrics"])
        return runs

    def results(self, run_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as con:
            rows = con.execute(
                """SELECT question_id, answer, cited, metrics FROM answer_results
                   WHERE run_id = ? ORDER BY question_id""", [run_id]).fetchall()
        return [{"question_id": q, "answer": a, "cited": list(c), "metrics": loads(m)}
                for q, a, c, m in rows]
