"""Turning a plain home into an encrypted one (``encrypt``) and back (``decrypt``).

The new form is built beside the home (``.NAME.encrypting`` / ``.NAME.decrypting``) while the
home's database is held, so no other process writes meanwhile: the database by DuckDB's own
consistent copy, every other file byte for byte. It is compared with the source (per-table
counts and content hashes, each file's SHA-256) before the two folders are exchanged in one
``renameat2(RENAME_EXCHANGE)``: at every moment the home's path holds either the whole old form
or the whole new one. The old form is then deleted; a crash before that leaves it in the
hidden folder, which the next run of either command removes. A plain form (the home ``encrypt``
replaced, a plain copy a dead run left) has every file's bytes overwritten before it is
unlinked: best effort, since an SSD, a copy-on-write or a journaling filesystem may keep the old
blocks elsewhere (full-disk encryption is the real answer there).
"""

from __future__ import annotations

import ctypes
import os
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from workbench.errors import BackupFailed, HomeInUse, InvalidInput
from workbench.ops import encryption
from workbench.ops.backup import DATABASE, reason, sha256
from workbench.ops.restore import in_use
from workbench.store.connection import DuckDBFile
from workbench.store.snapshot import copy_database, file_digests

_SKIPPED = {DATABASE, f"{DATABASE}.wal"}
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_SHRED_BLOCK = 1 << 20


def _exchange(a: Path, b: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(b))


def _copy_home(source: Path, target: Path) -> dict[str, Any]:
    """Copy a home's contents (``source`` not in use) into ``target`` and check the copy."""
    database = source / DATABASE
    holder = DuckDBFile(database) if database.is_file() else None
    with holder.session() if holder else nullcontext():
        tables = copy_database(holder, target / DATABASE) if holder else {}
        files = 0
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if relative.as_posix() in _SKIPPED or relative.name == encryption.MARKER:
                continue
            if path.is_dir() and not path.is_symlink():
                (target / relative).mkdir(mode=0o700, exist_ok=True)
            elif path.is_file() and not path.is_symlink():
                shutil.copy2(path, target / relative)
                if sha256(path) != sha256(target / relative):
                    raise BackupFailed(f"{target / relative}: the copy differs from its source")
                files += 1
    if holder is not None:
        holder.release()
        copied = file_digests(target / DATABASE)
        if {k: v.to_dict() for k, v in copied.items()} != {k: v.to_dict() for k, v in tables.items()}:
            raise BackupFailed(f"{target / DATABASE}: the copied database differs from its source")
    return {"files": files, "tables": {k: v.rows for k, v in tables.items()}}


def _prepare(home: Path, suffix: str, plain: Path | None = None) -> Path:
    """A fresh staging folder beside ``home``; ``plain``: where its database is readable."""
    database = (plain or home) / DATABASE
    if database.is_file() and in_use(database):
        raise HomeInUse(f"{home}: its database is open in another process; stop it first")
    staging = home.parent / f".{home.name}.{suffix}"
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that died
    staging.mkdir(mode=0o700)
    return staging


def shred(folder: Path) -> int:
    """Overwrite every regular file under ``folder`` with zeros (synced to the disk), then
    remove the folder; returns how many files were overwritten. Unlinking alone leaves the
    bytes in the freed blocks; this reaches the blocks the filesystem maps the file to now."""
    overwritten = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        if not path.is_file() or path.is_symlink():
            continue
        try:
            with open(path, "r+b", buffering=0) as handle:
                left = os.fstat(handle.fileno()).st_size
                zeros = bytes(min(left, _SHRED_BLOCK))
                while left > 0:
                    left -= handle.write(zeros[:left])
                os.fsync(handle.fileno())
            overwritten += 1
        except OSError:
            continue  # best effort: the folder is removed all the same
    shutil.rmtree(folder, ignore_errors=True)
    return overwritten


def _finish(home: Path, staging: Path, plain_old: bool) -> None:
    """Put ``staging`` at ``home`` in one step, then delete the old form (overwritten first
    when it is plain)."""
    if home.exists():
        _exchange(staging, home)
        if plain_old:
            shred(staging)
        else:
            shutil.rmtree(staging)
    else:
        os.rename(staging, home)


def _leftovers(home: Path) -> None:
    """Remove what a run that died left beside the home: a half-made copy, or the old form
    already swapped out (for ``encrypt``, that is the plain home); either may be plain."""
    for suffix in ("encrypting", "decrypting"):
        shred(home.parent / f".{home.name}.{suffix}")


def encrypt(home: Path) -> dict[str, Any]:
    """Make ``home`` (a plain home, an empty folder or none yet) an encrypted home."""
    home = Path(home).resolve()
    _leftovers(home)
    if encryption.is_encrypted(home):
        raise InvalidInput(f"{home}: the home is already encrypted")
    key = encryption.read_key(home)
    staging = _prepare(home, "encrypting")
    point = encryption.mount_point(staging)
    try:
        encryption.init_folder(staging, key)
        encryption.mount(staging, point, key)
        try:
            copied = _copy_home(home, point) if home.is_dir() else {"files": 0, "tables": {}}
        finally:
            encryption.unmount(point)
        _finish(home, staging, plain_old=True)
    except OSError as exc:
        raise BackupFailed(f"{home}: the encrypted copy could not be written ({reason(exc)}); "
                           "the home was left as it was") from exc
    finally:
        if staging.exists() and not encryption.mounted(point):
            shutil.rmtree(staging, ignore_errors=True)
    return {"home": str(home), "encrypted": True, **copied}


def decrypt(home: Path) -> dict[str, Any]:
    """Make an encrypted ``home`` plain again (its shared mount is closed first)."""
    home = Path(home).resolve()
    _leftovers(home)
    if not encryption.is_encrypted(home):
        raise InvalidInput(f"{home}: the home is not encrypted")
    key = encryption.read_key(home)
    point = Path(f"{encryption.mount_point(home)}.decrypting")
    encryption.mount(home, point, key)  # a wrong key stops here, before anything else
    staging = None
    try:
        encryption.lock(home)
        staging = _prepare(home, "decrypting", point)
        copied = _copy_home(point, staging)
    except OSError as exc:
        raise BackupFailed(f"{home}: the plain copy could not be written ({reason(exc)}); "
                           "the home was left as it was") from exc
    except BaseException:
        if staging is not None:
            shred(staging)
        raise
    finally:
        encryption.unmount(point)
    _finish(home, staging, plain_old=False)
    return {"home": str(home), "encrypted": False, **copied}

