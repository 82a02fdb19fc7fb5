"""Backups of a home: a consistent snapshot taken while the app and imports keep running.

A backup is a folder ``workbench-<UTC time>`` holding ``workbench.duckdb`` (DuckDB's own copy,
made in one transaction under the database's lock), ``lancedb/`` (each index table copied as of
the version it had at that same moment) and ``manifest.json``: per-table counts and content
hashes of the source at the snapshot, and the size and SHA-256 of every file. The folder is
written as ``.workbench-<time>.partial`` and renamed only after its manifest is on disk, so a
backup that was killed never looks complete; the next backup into the same folder removes it.

The index is copied rather than re-derived: re-deriving means embedding every chunk again
(minutes per 10k messages on a CPU), while a copy restores in the time of a file copy. Chunks
a chat turn recorded in the snapshot but had not appended to the index yet are embedded again
by the restored home's next indexing, as after a crash.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb

from workbench.config import Settings
from workbench.errors import BackupFailed, NotFound, StoreBusy
from workbench.ops import pg_backup
from workbench.search import snapshot as index_snapshot
from workbench.store.connection import DuckDBFile
from workbench.store.postgres import is_postgres_url
from workbench.store.snapshot import copy_database

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATABASE = "workbench.duckdb"
INDEX = "lancedb"
FORMAT = 1
NAME = re.compile(r"^workbench-(\d{8}T\d{6}Z)(?:-\d+)?$")
# An import holds the database for as long as it writes one file: a backup waits for it
# rather than failing after the interactive default.
LOCK_WAIT_S = 600.0


@dataclass
class BackupReport:
    """One finished backup: where it is, what it holds and what it cost."""

    path: Path
    created_at: str
    bytes: int
    tables: dict[str, dict[str, Any]]
    index: dict[str, dict[str, Any]]
    timings: dict[str, float]
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "created_at": self.created_at, "bytes": self.bytes,
                "tables": self.tables, "index": self.index, "timings": self.timings,
                "removed": self.removed}


def reason(exc: BaseException) -> str:
    """One line saying why a file could not be written (DuckDB wraps the OS's words)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    if "No space left on device" in text:
        return "No space left on device"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def default_folder(settings: Settings) -> Path:
    return settings.home / "backups"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_list(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``folder`` but the manifest, by relative path."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative != MANIFEST:
            found[relative] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    return found


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One backup (or pruning) at a time per backup folder, so a partial one found while
    holding it was left by a process that died."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusy(f"{folder}: another backup is writing into this folder") from None
        yield


def _fsync_tree(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _new_name(folder: Path, now: datetime) -> str:
    base = f"workbench-{now.strftime('%Y%m%dT%H%M%SZ')}"
    name, n = base, 1
    while (folder / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def remove_partials(folder: Path) -> list[str]:
    removed = []
    for path in folder.glob(".workbench-*.partial"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def take_backup(settings: Settings, folder: Path | None = None,
                now: datetime | None = None) -> BackupReport:
    """Snapshot the home into a new backup under ``folder`` (default ``home/backups``)."""
    postgres = is_postgres_url(settings.database_url)
    if not postgres and not settings.duckdb_path.is_file():
        raise NotFound(f"{settings.home}: no workbench database to back up")
    folder = Path(folder or default_folder(settings)).resolve()
    now = now or datetime.now(timezone.utc)
    started = time.perf_counter()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupFailed(f"{folder}: cannot make the backup folder ({exc.strerror})") from exc
    with folder_lock(folder):
        removed = remove_partials(folder)
        name = _new_name(folder, now)
        partial = folder / f".{name}.partial"
        partial.mkdir()
        try:
            fields = (pg_backup.write if postgres else _snapshot)(settings, partial, now, started)
            report = _finish(settings, partial, now, started, fields)
            os.replace(partial, folder / name)
        except (OSError, duckdb.IOException) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise BackupFailed(f"{folder}: the backup could not be written ({reason(exc)}); "
                               "nothing was kept") from exc
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    report.path = folder / name
    report.removed = removed
    log.info("backup written", extra={"event": "backup", "path": str(report.path),
                                      "bytes": report.bytes, **report.timings})
    return report


def _snapshot(settings: Settings, partial: Path, now: datetime, started: float) -> dict[str, Any]:
    """Copy the DuckDB file and the index into ``partial``; the manifest's fields."""
    db = DuckDBFile(settings.duckdb_path, max(settings.lock_timeout_s, LOCK_WAIT_S))
    with db.session():
        locked = time.perf_counter()
        tables = copy_database(db, partial / DATABASE)
        # Read the index versions while no other process can write the database: every row
        # the index holds at them belongs to a chunk the copy holds.
        versions = index_snapshot.versions(settings.lancedb_path)
        lock_s = time.perf_counter() - locked
    database_s = time.perf_counter() - started
    index_snapshot.copy_tables(settings.lancedb_path, partial / INDEX, versions)
    index = index_snapshot.digests(partial / INDEX)
    for table, version in versions.items():
        index[table]["version"] = version
    return {
        "duckdb_version": duckdb.__version__,
        "database": {"file": DATABASE, "tables": {k: v.to_dict() for k, v in tables.items()}},
        "index": {"folder": INDEX, "tables": index},
        "timings": {"lock_s": round(lock_s, 3), "database_s": round(database_s, 3),
                    "index_s": round(time.perf_counter() - started - database_s, 3)},
    }


def _finish(settings: Settings, partial: Path, now: datetime, started: float,
            fields: dict[str, Any]) -> BackupReport:
    """List and fsync the files, then write the manifest last, atomically: its presence is
    what makes the folder a complete backup."""
    files = file_list(partial)
    timings = fields["timings"]
    timings["total_s"] = round(time.perf_counter() - started, 3)
    manifest = {"format": FORMAT, "created_at": now.isoformat(),
                "home": str(settings.home.resolve()), **fields, "files": files}
    _fsync_tree(partial)
    scratch = partial / f".{MANIFEST}.tmp"
    scratch.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    with scratch.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(scratch, partial / MANIFEST)
    _fsync_tree(partial)
    return BackupReport(partial, manifest["created_at"], sum(f["bytes"] for f in files.values()),
                        manifest["database"]["tables"], manifest["index"]["tables"], timings)


def backups(folder: Path) -> list[Path]:
    """The complete backups in ``folder`` (those with a manifest, or sealed), oldest first."""
    if not folder.is_dir():
        return []
    # A sealed (encrypted) backup gets its name only once complete: its config file marks it.
    found = [p for p in folder.iterdir() if p.is_dir() and NAME.match(p.name)
             and ((p / MANIFEST).is_file() or (p / "gocryptfs.conf").is_file())]
    return sorted(found, key=lambda p: p.name)
