"""How a reader opens the database: never the write lock, never a migration.

DuckDB lets a file be opened by one writing process or by readers, never both, so a reader
meets a writer that holds the file (an import's transaction, an import suspended with Ctrl-Z)
and would wait as long as it does. After a short wait, a reader reads a private copy of the
file as of its last checkpoint instead: what was committed and checkpointed, which is every
finished unit of work, because the workbench closes its connections (and DuckDB checkpoints on
close) after each one.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Callable

import duckdb

from workbench.errors import StoreBusy, StoreOutdated
from workbench.ops.encryption import private_tmp
from workbench.store.migrations import outstanding

# A writer's unit of work lasts milliseconds; past this, the writer is in a long one.
READER_WAIT_S = 1.0
# DuckDB's file header and its two database headers; a checkpoint ends by writing one of them.
_HEADERS = 3 * 4096

Opener = Callable[[Path, bool, float], duckdb.DuckDBPyConnection]


class Reading:
    """Where a read-only store reads: the file itself, or a private copy of its last checkpoint
    while a writer holds it (kept until ``forget``). The schema is checked on the first open."""

    def __init__(self, path: Path):
        self.path = path
        self.snapshot: Path | None = None
        self._checked = False
        self._lock = threading.Lock()

    @property
    def target(self) -> Path:
        return self.snapshot or self.path

    def open(self, wait_for: Opener) -> duckdb.DuckDBPyConnection:
        with self._lock:
            con = None
            if self.snapshot is None:
                try:
                    con = wait_for(self.path, True, READER_WAIT_S)
                except StoreBusy:
                    self.snapshot = copy_checkpoint(self.path)
                    # Gone with this object or the process, whoever forgets to ``forget``.
                    weakref.finalize(self, shutil.rmtree, self.snapshot.parent, True)
            if con is None:
                con = wait_for(self.target, True, READER_WAIT_S)
            if not self._checked:
                self._check(con)
            return con

    def _check(self, con: duckdb.DuckDBPyConnection) -> None:
        missing = outstanding(con)
        if missing:
            con.close()
            raise StoreOutdated(
                f"{self.path}: the database predates this version of the workbench "
                f"({len(missing)} migration(s) to apply: {', '.join(missing)}); a command that "
                "writes (an import, a reindex) upgrades it")
        self._checked = True

    def forget(self) -> None:
        """Drop the copy; the next open reads the file again (or a fresh copy)."""
        with self._lock:
            snapshot, self.snapshot = self.snapshot, None
        if snapshot is not None:
            shutil.rmtree(snapshot.parent, ignore_errors=True)


def copy_checkpoint(path: Path, attempts: int = 5) -> Path:
    """Copy the database file into a private temporary folder, consistent as of its last
    checkpoint: the copy stands if the headers were the same before and after it, as a
    checkpoint writes only blocks the previous one does not use and then a header."""
    # In an encrypted home the copy stays inside its mount: plain disk would hold it in clear.
    folder = Path(tempfile.mkdtemp(prefix="workbench-read-", dir=private_tmp(path.parent)))
    target = folder / path.name
    try:
        for _ in range(attempts):
            before = _headers(path)
            shutil.copyfile(path, target)
            if _headers(path) == before:
                return target
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise StoreBusy(f"{path}: locked by another process and cannot be copied: {exc}") from exc
    shutil.rmtree(folder, ignore_errors=True)
    raise StoreBusy(f"{path}: locked by another process that checkpoints it all the time")


def _headers(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(_HEADERS)
