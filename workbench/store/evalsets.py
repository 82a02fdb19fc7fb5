"""Eval sets in DuckDB: versioned lists of judged queries.

Storing a set under an existing name adds version + 1, unless its queries are those of the
latest version (same fingerprint), which is then returned unchanged.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

import duckdb
import pyarrow as pa

from workbench.records import EvalSet, SetQuery
from workbench.store.connection import DuckDBFile
from workbench.errors import NotFound

_QUERY_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("position", pa.int32()), ("text", pa.string()),
    ("relevant", pa.list_(pa.string())), ("workspace", pa.string()),
    ("category", pa.string()), ("metadata", pa.string()),
])
_SET_COLUMNS = """id::VARCHAR, name, version, kind, workspace, seed, params::VARCHAR, source,
                  fingerprint, queries, created_at"""


def _eval_set(row: tuple) -> EvalSet:
    values = list(row)
    values[6] = json.loads(values[6]) if values[6] else {}
    return EvalSet(*values)


def resolve_set(con: duckdb.DuckDBPyConnection, ref: str) -> tuple:
    """The row of ``name`` (its latest version), ``name@version``, or an id (or its unique
    prefix of at least 6 characters)."""
    ref = ref.strip()
    if "@" in ref:
        name, _, version = ref.rpartition("@")
        if not version.isdigit():
            raise NotFound(f"eval set {ref!r} does not exist (use NAME@VERSION, e.g. {name}@1)")
        rows = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE name = ? AND version = ?",
                           [name, int(version)]).fetchall()
    else:
        rows = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE name = ? "
                           "ORDER BY version DESC LIMIT 1", [ref]).fetchall()
        if not rows and len(ref) >= 6:
            rows = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE id::VARCHAR LIKE ? "
                               "LIMIT 2", [ref.lower() + "%"]).fetchall()
            if len(rows) > 1:
                raise NotFound(f"eval set {ref!r} is ambiguous")
    if not rows:
        raise NotFound(f"eval set {ref!r} does not exist")
    return rows[0]


class DuckDBEvalSets:
    """Versions of named sets; a version, once stored, never changes."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def add(self, name: str, kind: str, queries: Sequence[SetQuery], fingerprint: str,
            workspace: str | None = None, seed: int | None = None,
            params: dict[str, Any] | None = None, source: str | None = None) -> EvalSet:
        """Store ``queries`` as the next version of ``name`` (or return the latest if it has
        the same ``fingerprint``)."""
        with self.db.transaction() as con:
            latest = con.execute(
                f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE name = ? ORDER BY version DESC LIMIT 1",
                [name],
            ).fetchone()
            if latest is not None and latest[8] == fingerprint:
                return _eval_set(latest)
            version = latest[2] + 1 if latest else 1
            set_id = str(uuid.uuid4())
            con.execute(
                "INSERT INTO eval_sets VALUES (?, ?, ?, ?, ?, ?, ?::JSON, ?, ?, ?, ?)",
                [set_id, name, version, kind, workspace, seed, json.dumps(params or {}), source,
                 fingerprint, len(queries), datetime.now(timezone.utc)],
            )
            self._insert_queries(con, set_id, [
                {"query_id": q.id, "position": position, "text": q.text,
                 "relevant": sorted(q.relevant), "workspace": q.workspace, "category": q.category,
                 "metadata": json.dumps(q.metadata, ensure_ascii=False)}
                for position, q in enumerate(queries)
            ])
            row = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE id = ?",
                              [set_id]).fetchone()
        return _eval_set(row)

    def _insert_queries(self, con, set_id: str, rows: list[dict[str, Any]]) -> None:
        # One Arrow table, not a statement per row: a LoCoMo set has two thousand queries.
        con.register("incoming_queries", pa.Table.from_pylist(rows, schema=_QUERY_SCHEMA))
        con.execute(
            """INSERT INTO eval_queries SELECT ?::UUID, query_id, position, text,
                   relevant::UUID[], workspace, category, metadata::JSON
               FROM incoming_queries""",
            [set_id],
        )
        con.unregister("incoming_queries")

    def list(self) -> list[EvalSet]:
        """Every version of every set, newest first."""
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {_SET_COLUMNS} FROM eval_sets ORDER BY created_at DESC, name, version DESC"
            ).fetchall()
        return [_eval_set(r) for r in rows]

    def get(self, ref: str) -> EvalSet:
        """``name`` (its latest version), ``name@version`` or an id (prefix); else NotFound."""
        with self.db.connect() as con:
            return _eval_set(resolve_set(con, ref))

    def queries(self, set_id: str) -> list[SetQuery]:
        """The set's queries in their stored order; ``relevant`` holds message ids."""
        with self.db.connect() as con:
            rows = con.execute(
                """SELECT query_id, text, relevant::VARCHAR[], workspace, category,
                          metadata::VARCHAR
                   FROM eval_queries WHERE set_id = ? ORDER BY position""",
                [set_id],
            ).fetchall()
        return [SetQuery(r[0], r[1], set(r[2]), r[3], r[4], json.loads(r[5]) if r[5] else {})
                for r in rows]
