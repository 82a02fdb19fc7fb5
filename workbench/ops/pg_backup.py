"""Backups of a home whose store is PostgreSQL: ``pg_dump`` at one snapshot, ``pg_restore`` back.

The index lives in the same database (pgvector tables), so one dump holds everything. The dump
is taken at a snapshot exported by a repeatable-read transaction that also reads every table's
count and content hash, so the manifest describes exactly what the dump holds while other
sessions keep writing. A restore runs in one transaction (``--single-transaction``): it either
lands whole or leaves the target database as it was.

``pg_dump`` must be at least as new as the server: the tool is looked up in
``WORKBENCH_PG_BIN``, then on ``PATH`` and in the bin folder of ``pgserver`` when that package
is installed, and the newest one found is used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.errors import BackupFailed, BackupInvalid, HomeInUse, InvalidInput
from workbench.store.postgres import dump
from workbench.store.postgres.connection import redacted

DUMP = "workbench.pgdump"
BACKEND = "postgresql"
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


def _candidates(tool: str, pg_bin: Path | None) -> list[Path]:
    if pg_bin is not None:
        return [Path(pg_bin) / tool]
    found = [Path(p) for p in [shutil.which(tool)] if p]
    try:
        import pgserver  # noqa: F401 - its bundled client tools, when installed

        found.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / tool)
    except ImportError:
        pass
    return found


def _major(path: Path) -> int | None:
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        return None
    match = _VERSION.search(done.stdout)
    return int(match.group(1)) if match else None


def tool(name: str, server_major: int, pg_bin: Path | None = None) -> tuple[Path, int]:
    """The newest ``pg_dump``/``pg_restore`` found and its major version, or ``BackupFailed``
    when none can work with a server of ``server_major``."""
    versions = {path: _major(path) for path in _candidates(name, pg_bin)}
    usable = {path: major for path, major in versions.items() if major is not None}
    if not usable:
        raise BackupFailed(f"{name}: not found (install PostgreSQL {server_major}'s client "
                           "tools or set WORKBENCH_PG_BIN to their bin folder)")
    best = max(usable, key=lambda path: usable[path])
    if usable[best] < server_major:
        raise BackupFailed(f"{best}: {name} {usable[best]} cannot work with a PostgreSQL "
                           f"{server_major} server (set WORKBENCH_PG_BIN to a {server_major} "
                           "client's bin folder)")
    return best, usable[best]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise BackupFailed(f"{what}: {lines[0] if lines else f'exit {done.returncode}'}")


def write(settings: Settings, partial: Path, now: Any, started: float) -> dict[str, Any]:
    """Dump the database into ``partial`` at one snapshot; the manifest's fields."""
    url = settings.database_url or ""
    with dump.snapshot(url) as (snapshot_id, tables, major):
        pg_dump, client = tool("pg_dump", major, settings.pg_bin)
        # A lock another session waits for (maintenance's DDL) queues pg_dump's share locks
        # behind it while this snapshot's transaction holds its own: fail, never hang.
        _run([str(pg_dump), "--format=custom", f"--snapshot={snapshot_id}", "--lock-wait-timeout=60s",
              f"--file={partial / DUMP}", f"--dbname={url}"], f"{redacted(url)}: pg_dump")
        dump_s = time.perf_counter() - started
    return {
        "backend": BACKEND, "server_version": major, "pg_dump": client,
        "database": {"file": DUMP, "tables": {k: v.to_dict() for k, v in tables.items()}},
        "index": {"folder": None, "tables": {}},
        "timings": {"lock_s": 0.0, "database_s": round(dump_s, 3), "index_s": 0.0},
    }


def restore(backup: Path, manifest: dict[str, Any], url: str | None, force: bool,
            pg_bin: Path | None = None) -> dict[str, dict[str, Any]]:
    """Restore the dump into the database at ``url`` (empty, or any workbench when ``force``)
    and compare every table with the manifest; the restored digests."""
    if not url:
        raise InvalidInput(f"{backup}: a PostgreSQL backup restores into a database: "
                           "give --database-url")
    tables, others = dump.occupancy(url)
    if others:
        raise HomeInUse(f"{redacted(url)}: {others} other session(s) use this database; "
                        "stop them first")
    if tables and not force:
        raise InvalidInput(f"{redacted(url)}: already holds a workbench ({tables} tables)")
    pg_restore, _ = tool("pg_restore", dump.server_major(url), pg_bin)
    command = [str(pg_restore), "--no-owner", "--no-privileges", "--single-transaction",
               "--exit-on-error", f"--dbname={url}", str(Path(backup) / DUMP)]
    if tables:
        command[1:1] = ["--clean", "--if-exists"]
    _run(command, f"{redacted(url)}: pg_restore")
    found = {k: v.to_dict() for k, v in dump.file_digests(url).items()}
    for name, want in manifest["database"]["tables"].items():
        got = found.get(name)
        if got is None or got["rows"] != want["rows"] or got["hash"] != want["hash"]:
            raise BackupInvalid(f"{backup}: table {name} restored differs from the manifest")
    return found


def verify(backup: Path, manifest: dict[str, Any], url: str | None,
           pg_bin: Path | None = None) -> dict[str, dict[str, Any]]:
    """Restore into a new scratch database on ``url``'s server, compare, drop it."""
    if not url:
        raise InvalidInput(f"{backup}: verifying a PostgreSQL backup needs its server: "
                           "set WORKBENCH_DATABASE_URL")
    name = f"workbench_verify_{os.getpid()}_{int(time.time() * 1000)}"
    with dump.scratch_database(url, name) as scratch:
        return restore(backup, manifest, scratch, False, pg_bin)
