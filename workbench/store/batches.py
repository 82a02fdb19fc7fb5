"""Scheduled notebook batches in DuckDB: started, finished with a gate, looked up by prefix."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Sequence

from workbench.records import Batch
from workbench.store.connection import DuckDBFile
from workbench.errors import NotFound

_BATCH_COLUMNS = """id::VARCHAR, started_at, finished_at, directory, params::VARCHAR, status,
                    previous_id::VARCHAR, gate::VARCHAR"""


def _batch(row: tuple) -> Batch:
    return Batch(row[0], row[1], row[2], row[3], json.loads(row[4] or "{}"), row[5], row[6],
                 json.loads(row[7] or "{}"))


class DuckDBEvalBatches:
    """Batches of scheduled notebooks; a batch points at the newest batch that had finished
    when it started."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def start(self, batch_id: str, started: datetime, directory: str, params: dict[str, Any],
              status: str, finished: Sequence[str]) -> str | None:
        """Record a batch as ``status``; returns the newest batch whose status is in
        ``finished`` (its predecessor), if any."""
        with self.db.transaction() as con:
            row = con.execute(
                "SELECT id::VARCHAR FROM eval_batches WHERE status IN "
                "(SELECT unnest(?::VARCHAR[])) ORDER BY started_at DESC LIMIT 1",
                [list(finished)]).fetchone()
            previous = row[0] if row else None
            con.execute(
                "INSERT INTO eval_batches (id, started_at, directory, params, status, previous_id) "
                "VALUES (?, ?, ?, ?::JSON, ?, ?)",
                [batch_id, started, directory, json.dumps(params, default=str), status, previous])
        return previous

    def finish(self, batch_id: str, status: str, gate: dict[str, Any]) -> datetime:
        finished = datetime.now(timezone.utc)
        with self.db.transaction() as con:
            con.execute("UPDATE eval_batches SET status = ?, finished_at = ?, gate = ?::JSON "
                        "WHERE id = ?", [status, finished, json.dumps(gate, default=str), batch_id])
        return finished

    def list(self, limit: int | None = None) -> list[Batch]:
        """Recorded batches, newest first."""
        with self.db.connect() as con:
            rows = con.execute(f"SELECT {_BATCH_COLUMNS} FROM eval_batches "
                               "ORDER BY started_at DESC LIMIT ?",
                               [limit if limit is not None else 2**62]).fetchall()
        return [_batch(r) for r in rows]

    def get(self, ref: str) -> Batch:
        """A batch by id or unique id prefix."""
        with self.db.connect() as con:
            rows = con.execute(f"SELECT {_BATCH_COLUMNS} FROM eval_batches "
                               "WHERE id::VARCHAR LIKE ? || '%' LIMIT 2", [ref.lower()]).fetchall()
        if len(rows) != 1:
            raise NotFound(f"no batch {ref!r}" if not rows else f"batch prefix {ref!r} is ambiguous")
        return _batch(rows[0])

    def earlier(self, batch_id: str, started: datetime,
                statuses: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """(id, gate) of the other batches started by ``started`` whose status is in
        ``statuses``, newest first."""
        with self.db.connect() as con:
            rows = con.execute(
                "SELECT id::VARCHAR, gate::VARCHAR FROM eval_batches WHERE id <> ? "
                "AND started_at <= ? AND status IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY started_at DESC",
                [batch_id, started, list(statuses)]).fetchall()
        return [(other, json.loads(text or "{}")) for other, text in rows]
