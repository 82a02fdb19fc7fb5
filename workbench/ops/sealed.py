"""Backups of an encrypted home stay encrypted.

A backup into the home's own folder (``HOME/backups``) is written through the mount, so it is
inside the cipher folder already. A backup of an encrypted home into any other folder is
*sealed*: it is written into a new gocryptfs folder made with the home's key, mounted privately
for the time of the backup, and that folder gets the backup's name once the backup inside is
complete (``.workbench-…-sealed.partial`` until then, removed like any partial backup). Restoring
or verifying a sealed backup mounts it the same way; a sealed backup restored into a new home
makes that home an encrypted one.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from workbench.config import Settings
from workbench.errors import BackupInvalid
from workbench.ops import encryption
from workbench.ops import restore as plain
from workbench.ops.backup import BackupReport, folder_lock, remove_partials, take_backup


def encrypted_source(home: Path) -> Path | None:
    """The cipher folder whose mount ``home`` is, or None for a plain home."""
    source = encryption.on_disk(home)
    return None if source == Path(home).resolve() else source


def is_sealed(backup: Path) -> bool:
    return encryption.is_encrypted(backup)


def backup(settings: Settings, folder: Path | None) -> BackupReport:
    """``take_backup``, sealed when the home is encrypted and ``folder`` is outside it."""
    cipher = encrypted_source(settings.home)
    if cipher is None or folder is None or Path(folder).resolve().is_relative_to(settings.home):
        return take_backup(settings, folder)
    key = encryption.read_key(cipher)
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):
        removed = remove_partials(folder)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        partial = folder / f".workbench-{stamp}-sealed.partial"
        partial.mkdir(mode=0o700)
        try:
            encryption.init_folder(partial, key)
            with _mounted(partial, key, ".sealing") as inside:
                report = take_backup(settings, inside)
            final = folder / report.path.name
            while final.exists():
                final = final.with_name(final.name + "-1")
            partial.rename(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    report.path, report.removed = final, removed
    return report


@contextmanager
def _mounted(folder: Path, key: str, suffix: str) -> Iterator[Path]:
    point = Path(f"{encryption.mount_point(folder)}{suffix}")
    encryption.mount(folder, point, key)
    try:
        yield point
    finally:
        encryption.unmount(point)


@contextmanager
def opened(backup: Path) -> Iterator[Path]:
    """The backup folder to read: ``backup`` itself, or the one inside a sealed backup."""
    if not is_sealed(backup):
        yield Path(backup)
        return
    with _mounted(Path(backup).resolve(), encryption.read_key(backup), ".reading") as inside:
        found = [p for p in inside.iterdir() if p.is_dir() and p.name.startswith("workbench-")]
        if len(found) != 1:
            raise BackupInvalid(f"{backup}: a sealed backup that holds {len(found)} backups")
        yield found[0]


def restore(backup: Path, home: Path | None, force: bool = False,
            database_url: str | None = None, pg_bin: Path | None = None) -> plain.RestoreReport:
    """Restore a backup (sealed or not); a sealed one into a new home makes it encrypted.
    A PostgreSQL backup is never sealed: it goes to ``plain.restore`` as it is."""
    if home is None or not is_sealed(backup) and not encryption.is_encrypted(Path(home)):
        return plain.restore(backup, home, force, database_url, pg_bin)
    home = Path(home)
    if is_sealed(backup) and not home.exists():
        from workbench.ops.encrypt_home import encrypt

        encrypt(home)
    target = encryption.unlock(home) if encryption.is_encrypted(home) else home
    with opened(backup) as folder:
        report = plain.restore(folder, target, force)
    report.backup, report.home = Path(backup), home
    return report


def verify(backup: Path, database_url: str | None = None,
           pg_bin: Path | None = None) -> plain.RestoreReport:
    """``restore.verify``; a sealed backup is restored into a temporary encrypted folder, so
    its contents never reach the disk in clear."""
    if not is_sealed(backup):
        return plain.verify(backup, database_url, pg_bin)
    key = encryption.read_key(backup)
    with opened(backup) as folder, tempfile.TemporaryDirectory(prefix="workbench-verify-") as tmp:
        scratch = Path(tmp) / "sealed"
        scratch.mkdir(mode=0o700)
        encryption.init_folder(scratch, key)
        with _mounted(scratch, key, ".verifying") as inside:
            report = plain.restore(folder, inside / "home")
    report.backup, report.home = Path(backup), None
    return report
