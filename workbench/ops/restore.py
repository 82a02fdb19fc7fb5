"""Restoring a backup into a home, and verifying one by restoring it into a throwaway home.

Nothing is written to the target home until the backup's files have been copied beside it and
their counts and hashes match the manifest; the database file and the index folder are then
moved into place. Other folders of the home (runs, logs) are left as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from workbench.errors import BackupFailed, BackupInvalid, HomeInUse, InvalidInput
from workbench.ops import pg_backup
from workbench.ops.backup import DATABASE, FORMAT, INDEX, MANIFEST, reason, sha256
from workbench.ops.encryption import private_tmp, scratch_for
from workbench.search import snapshot as index_snapshot
from workbench.store.snapshot import file_digests

_REPLACED = (DATABASE, f"{DATABASE}.wal", INDEX)


@dataclass
class RestoreReport:
    """A restore (or a verification): what was compared and how long it took."""

    backup: Path
    home: Path | None
    tables: dict[str, dict[str, Any]]
    index: dict[str, dict[str, Any]]
    seconds: float
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"backup": str(self.backup), "home": str(self.home) if self.home else None,
                "tables": self.tables, "index": self.index, "seconds": round(self.seconds, 3),
                "bytes": self.bytes}


def read_manifest(backup: Path) -> dict[str, Any]:
    """The manifest of a complete backup, or ``BackupInvalid`` saying why it is not one."""
    backup = Path(backup)
    if not backup.exists():
        raise BackupInvalid(f"{backup}: no such backup")
    if not backup.is_dir():
        raise BackupInvalid(f"{backup}: not a backup folder")
    path = backup / MANIFEST
    if not path.is_file():
        raise BackupInvalid(f"{backup}: incomplete backup (no {MANIFEST}; it was interrupted)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files, tables = manifest["files"], manifest["database"]["tables"]
        manifest["index"]["tables"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupInvalid(f"{path}: unreadable manifest ({type(exc).__name__})") from None
    if manifest.get("format") != FORMAT:
        raise BackupInvalid(f"{path}: backup format {manifest.get('format')!r}, "
                            f"this workbench reads {FORMAT}")
    if manifest["database"].get("file") not in files or not isinstance(tables, dict):
        raise BackupInvalid(f"{path}: the manifest lists no database")
    return manifest


def check_files(backup: Path, manifest: dict[str, Any]) -> int:
    """Every file the manifest lists is there with its size and SHA-256; their total size."""
    total = 0
    for relative, expected in manifest["files"].items():
        path = Path(backup) / relative
        if not path.is_file():
            raise BackupInvalid(f"{backup}: {relative} is missing")
        if path.stat().st_size != expected["bytes"] or sha256(path) != expected["sha256"]:
            raise BackupInvalid(f"{backup}: {relative} is corrupt (its SHA-256 differs from "
                                "the manifest)")
        total += expected["bytes"]
    return total


def in_use(database: Path) -> bool:
    """Whether another process has the database file open (it holds DuckDB's lock)."""
    if not database.is_file():
        return False
    try:
        duckdb.connect(str(database)).close()
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            return True
        raise
    return False


def restore(backup: Path, home: Path | None, force: bool = False,
            database_url: str | None = None, pg_bin: Path | None = None) -> RestoreReport:
    """Restore ``backup`` into ``home`` (a PostgreSQL one into ``database_url``); a home that
    already holds a workbench only when ``force``, and never one another process has open."""
    started = time.perf_counter()
    backup = Path(backup)
    manifest = read_manifest(backup)
    if manifest.get("backend") == pg_backup.BACKEND:
        size = check_files(backup, manifest)
        tables = pg_backup.restore(backup, manifest, database_url, force, pg_bin)
        return RestoreReport(backup, None, tables, {}, time.perf_counter() - started, size)
    if home is None:
        raise InvalidInput(f"{backup}: give the home to restore into (--home)")
    home = Path(home)
    occupied = [name for name in _REPLACED if (home / name).exists()]
    if occupied and not force:
        raise InvalidInput(f"{home}: already holds a workbench ({occupied[0]})")
    if in_use(home / DATABASE):
        raise HomeInUse(f"{home}: its database is open in another process; stop it first")
    size = check_files(backup, manifest)
    created = not home.exists()
    try:
        home.mkdir(parents=True, exist_ok=True)
        # An encrypted home's mount is a filesystem of its own: stage inside it, not beside it.
        staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-",
                                        dir=scratch_for(home) or home.parent))
    except OSError as exc:
        raise BackupFailed(f"{home}: cannot make the home ({exc.strerror})") from exc
    try:
        tables, index = _stage(backup, staging, manifest)
        _swap(staging, home)
    except OSError as exc:
        if created:
            shutil.rmtree(home, ignore_errors=True)
        raise BackupFailed(f"{home}: the restore could not be written ({reason(exc)}); "
                           "the home was left as it was") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreReport(backup, home, tables, index, time.perf_counter() - started, size)


def _stage(backup: Path, staging: Path, manifest: dict[str, Any]) -> tuple[dict, dict]:
    shutil.copy2(backup / DATABASE, staging / DATABASE)
    if (backup / INDEX).is_dir():
        shutil.copytree(backup / INDEX, staging / INDEX)
    return compare(staging, manifest, backup)


def compare(home: Path, manifest: dict[str, Any], backup: Path) -> tuple[dict, dict]:
    """The restored files' digests, or ``BackupInvalid`` naming the first that differs."""
    try:
        tables = {k: v.to_dict() for k, v in file_digests(home / DATABASE).items()}
    except duckdb.Error as exc:
        raise BackupInvalid(f"{backup}: {DATABASE} does not open "
                            f"({str(exc).splitlines()[0]})") from None
    index = index_snapshot.digests(home / INDEX)
    _same(backup, "table", manifest["database"]["tables"], tables)
    expected = {k: {"rows": v["rows"], "hash": v["hash"]}
                for k, v in manifest["index"]["tables"].items()}
    _same(backup, "index table", expected, index)
    return tables, index


def _same(backup: Path, kind: str, expected: dict, found: dict) -> None:
    for name in sorted(set(expected) | set(found)):
        want, got = expected.get(name), found.get(name)
        if want is None or got is None:
            raise BackupInvalid(f"{backup}: {kind} {name} is "
                                f"{'missing' if got is None else 'not in the manifest'}")
        if want["rows"] != got["rows"]:
            raise BackupInvalid(f"{backup}: {kind} {name} has {got['rows']} rows, the manifest "
                                f"says {want['rows']}")
        if want["hash"] != got["hash"]:
            raise BackupInvalid(f"{backup}: {kind} {name}'s content hash differs from the "
                                "manifest")


def _swap(staging: Path, home: Path) -> None:
    """Move the staged files into the home; the ones they replace go first, beside them."""
    old = staging / "replaced"
    old.mkdir()
    for name in _REPLACED:
        if (home / name).exists():
            os.replace(home / name, old / name)
    for name in (DATABASE, INDEX):
        if (staging / name).exists():
            os.replace(staging / name, home / name)


def verify(backup: Path, database_url: str | None = None,
           pg_bin: Path | None = None) -> RestoreReport:
    """Restore into a temporary home (a PostgreSQL backup: a scratch database on the server of
    ``database_url``) and compare every table's count and hash with the manifest; the
    temporary home is removed afterwards."""
    manifest = read_manifest(backup)
    if manifest.get("backend") == pg_backup.BACKEND:
        started = time.perf_counter()
        size = check_files(backup, manifest)
        tables = pg_backup.verify(Path(backup), manifest, database_url, pg_bin)
        return RestoreReport(Path(backup), None, tables, {}, time.perf_counter() - started, size)
    # A backup inside an encrypted home is restored inside its mount, not in clear on plain disk.
    with tempfile.TemporaryDirectory(prefix="workbench-verify-",
                                     dir=private_tmp(Path(backup))) as scratch:
        report = restore(backup, Path(scratch) / "home")
        report.home = None
        return report
