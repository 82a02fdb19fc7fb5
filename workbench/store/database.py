"""The DuckDB file: short-lived connections, bounded waits on other writers, migrations on open.

DuckDB lets one process hold a database file at a time, so the chat app, a CLI import and a
scheduled evaluation share it by opening a connection for one unit of work and closing it at
once; a process that finds the file locked waits and retries for ``lock_timeout_s``.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from .migrations import migrate


class StoreBusy(RuntimeError):
    """Another process kept the database locked for longer than we are willing to wait."""


class Store:
    """A DuckDB database file kept at the latest schema version.

    Every public operation opens its own connection; nothing is held between calls, so several
    processes can take turns on one file. ``session()`` lends one connection to a short burst
    of calls from one thread (a chat turn's bookkeeping): opening the file is the dearest part
    of a small write, and closing the last connection checkpoints it.
    """

    def __init__(self, path: Path | str, lock_timeout_s: float = 30.0):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.connect() as con:
            migrate(con)

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection for every ``connect``/``transaction`` of this thread inside the block.

        Hold it for milliseconds, never across an LLM call: other processes wait meanwhile."""
        shared = getattr(self._local, "con", None)
        if shared is not None:
            yield shared
            return
        con = self._open(False)
        self._local.con = con
        try:
            yield con
        finally:
            self._local.con = None
            con.close()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        shared = getattr(self._local, "con", None)
        if shared is not None:
            yield shared
            return
        con = self._open(read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection, one transaction: committed when the block ends, rolled back on error."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    if "lock" in str(exc).lower():
                        raise StoreBusy(
                            f"{self.path}: still locked by another process after "
                            f"{self.lock_timeout_s:.0f} s"
                        ) from exc
                    raise
                # Jitter so two waiting processes do not retry in lock-step.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
