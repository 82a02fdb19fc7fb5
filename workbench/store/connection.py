"""The DuckDB file: short-lived connections, bounded waits on other writers, migrations on open.

DuckDB lets one process hold a database file at a time, so the chat app, a CLI import and a
scheduled evaluation share it by opening a connection for one unit of work and closing it at
once; a process that finds the file locked waits and retries for ``lock_timeout_s``.

Starting a DuckDB instance costs 15-30 ms, and a chat turn needs the database three times
(question, answer, indexing) around an LLM call, so a turn ``hold``s the instance until its work
is done (never across the user's think-time); ``linger_s`` optionally keeps it after any unit of
work. A process waiting for the lock says so with a marker file beside the database; a holding
process sees it within 50 ms and lets go, so workbench processes never wait on an idle one.
"""

from __future__ import annotations

import atexit
import os
import random
import sys
import threading
import time
import weakref
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

import duckdb

from workbench.errors import DiskFull, StoreBusy, StoreNotWritable
from workbench.home import make_private
from workbench.logs import timed
from workbench.store.migrations import migrate
from workbench.store.reading import Reading


class DuckDBFile:
    """A DuckDB database file kept at the latest schema version.

    Every public operation opens its own connection and closes it, so several processes can
    take turns on one file; only an idle lingering connection (``linger_s``) outlives them, and
    it yields to any workbench process that asks. ``session()`` lends one connection to a short
    burst of calls from one thread (a chat turn's bookkeeping).
    """

    def __init__(self, path: Path | str, lock_timeout_s: float = 30.0, linger_s: float = 0.0,
                 read_only: bool = False):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.linger_s = linger_s
        self.read_only = read_only
        self._local = threading.local()
        self._keeper: duckdb.DuckDBPyConnection | None = None
        self._keeper_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._last_used = 0.0
        self._hold_until = 0.0
        self._reading = Reading(self.path)
        self.migrated: list[str] = []
        _STORES.add(self)
        if read_only:
            return  # a reader never migrates: its first connection checks the schema instead
        make_private(self.path.parent)
        with self.connect() as con:
            self.migrated = migrate(con)

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection for every ``connect``/``transaction`` of this thread inside the block.

        Hold it for milliseconds, never across an LLM call: other processes wait meanwhile."""
        shared = getattr(self._local, "con", None)
        if shared is not None:
            yield shared
            return
        con = self._open(self.read_only)
        self._local.con = con
        try:
            yield con
        finally:
            self._local.con = None
            con.close()
            self._last_used = time.monotonic()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        shared = getattr(self._local, "con", None)
        if shared is not None:
            yield shared
            return
        with timed("store", caller=_caller(), read_only=read_only):
            con = self._open(read_only)
            try:
                yield con
            finally:
                con.close()
                self._last_used = time.monotonic()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection, one transaction: committed when the block ends, rolled back on error.

        The connection is lent to this thread for the block, so a transaction block within
        another one joins it: several store calls (a chat answer, its log row and its chunks)
        commit together, once."""
        with self.session() as con, timed("store", caller=_caller(), transaction=True):
            if getattr(self._local, "open_tx", False):
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            self._local.open_tx = True
            try:
                yield con
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with suppress(duckdb.Error):  # a failed COMMIT has ended the transaction
                    con.execute("ROLLBACK")
                if DiskFull.caused(exc):
                    raise DiskFull(f"{self.path}: the disk is full ({DiskFull.REASON}); nothing of "
                                   "this change was written") from exc
                raise
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                self._local.open_tx = False

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            return self._reading.open(self._wait_for)
        return self._wait_for(self.path, read_only, self.lock_timeout_s)

    def _wait_for(self, path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        waiting = self._marker(os.getpid())
        try:
            while True:
                try:
                    con = duckdb.connect(str(path), read_only=read_only)
                    con.execute("SET TimeZone = 'UTC'")
                    self._retain()
                    return con
                except duckdb.ConnectionException as exc:
                    # This process holds the file in the other mode (a reader's workbench beside
                    # a writer's): a reader shares the writer's instance, a writer waits.
                    if "different configuration" not in str(exc) or time.monotonic() >= deadline:
                        raise
                    if read_only:
                        read_only = False
                        continue
                    time.sleep(delay)
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                        if "lock" in str(exc).lower():
                            raise StoreBusy(
                                f"{self.path}: still locked by another process after "
                                f"{timeout_s:.0f} s"
                            ) from exc
                        if not read_only:
                            reason = " ".join(str(exc).split())
                            raise StoreNotWritable(
                                f"{self.path}: the database cannot be opened for writing "
                                f"({reason}); commands that only read still work") from exc
                        raise
                    with suppress(OSError):  # a read-only home takes no marker
                        waiting.touch()  # a lingering holder lets go when it sees this
                    # Jitter so two waiting processes do not retry in lock-step.
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.25)
        finally:
            with suppress(OSError):
                waiting.unlink(missing_ok=True)

    # -- lingering ------------------------------------------------------------------------------
    def _marker(self, pid: int) -> Path:
        return self.path.with_name(f"{self.path.name}.wait.{pid}")

    def hold(self, seconds: float) -> None:
        """Keep the instance open between units of work for up to ``seconds`` (a chat turn:
        question, LLM call, answer, indexing) unless another process asks; ``let_go`` ends it."""
        self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def let_go(self) -> None:
        self._hold_until = 0.0

    def _retain(self) -> None:
        """Keep the instance alive past this unit of work (an idle connection holds it)."""
        self._last_used = time.monotonic()
        wanted = self.linger_s > 0 or self._hold_until > self._last_used
        if not wanted or self._keeper is not None:
            return
        with self._keeper_lock:
            if self._keeper is None:
                # The live instance: sub-ms. A reader keeps the file it reads (maybe a snapshot).
                self._keeper = duckdb.connect(str(self._reading.target if self.read_only
                                                  else self.path), read_only=self.read_only)
                self._watcher = threading.Thread(target=self._watch, name="store-linger",
                                                 daemon=True)
                self._watcher.start()

    def _watch(self) -> None:
        while self._keeper is not None:
            time.sleep(0.05)
            now = time.monotonic()
            done = now >= self._hold_until and now - self._last_used >= self.linger_s
            if done or self._others_waiting():
                self.release()
                return

    def _others_waiting(self) -> bool:
        mine = self._marker(os.getpid()).name
        fresh = time.time() - 60  # a marker left by a killed process stops counting
        for marker in self.path.parent.glob(f"{self.path.name}.wait.*"):
            try:
                if marker.name != mine and marker.stat().st_mtime >= fresh:
                    return True
            except FileNotFoundError:
                continue
        return False

    def release(self) -> None:
        """Let go of the lingering instance now (its last connection checkpoints the file),
        and wait for the linger thread to end.

        A connection closed or freed by that (daemon) thread while the interpreter shuts down
        aborts the process ("FATAL: exception not rethrown": DuckDB's destructor cannot take
        the GIL then), so a release from any other thread waits for it to finish."""
        with self._keeper_lock:
            keeper, self._keeper = self._keeper, None
            if keeper is not None:
                keeper.close()
        del keeper
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join()
        self._reading.forget()


def _caller() -> str:
    """The function that opened the unit of work (a repository method): a slow one is logged
    by this name, never with its SQL's values."""
    frame = sys._getframe(3)  # this, the generator, contextlib's __enter__, the caller
    return getattr(frame.f_code, "co_qualname", frame.f_code.co_name)


_STORES: "weakref.WeakSet[DuckDBFile]" = weakref.WeakSet()


@atexit.register
def _release_all() -> None:
    for store in list(_STORES):
        store.release()
