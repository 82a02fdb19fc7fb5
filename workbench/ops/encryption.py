"""An encrypted home: the whole folder is a gocryptfs cipher folder, opened through a FUSE mount.

gocryptfs (an audited FUSE overlay) encrypts every file in 4 KiB blocks with AES-256-GCM and
random nonces from the OS, and encrypts file names; DuckDB's own encryption is not used because
the pinned DuckDB can only write encrypted files with a non-cryptographic nonce generator (see
docs/operations.md). A home is encrypted when ``gocryptfs.conf`` sits at its top level. Opening
it mounts it once per machine at a private mount point named by a hash of the home's path; every
later process of the same user shares that mount (a lock file makes mounting race-free) after
proving it holds the key, and ``lock`` unmounts it. Everything the workbench writes (database,
WAL, spill files, indexes, logs, runs, backups) goes through the mount; what the disk still shows
is the number of files, their sizes (to 4 KiB blocks), their times and the folder nesting.

The key comes from ``WORKBENCH_ENCRYPTION_KEY`` or the owner-only file named by
``WORKBENCH_ENCRYPTION_KEY_FILE``, and reaches gocryptfs on its standard input: it is never on a
command line, in a file of ours or in a log.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from workbench.errors import EncryptionUnavailable, HomeInUse, HomeLocked, InvalidInput

MARKER = "gocryptfs.conf"
TMP = "tmp"  # inside the mount: temporary files that hold plain text (zip members, spools)
WRONG_KEY = 12  # gocryptfs's exit status for a key that does not open the master key
_INSTALL = "gocryptfs is not installed (apt-get install gocryptfs fuse3)"


def is_encrypted(home: Path) -> bool:
    return (Path(home) / MARKER).is_file()


def read_key(home: Path) -> str:
    """The key from the environment, or ``HomeLocked`` naming the home."""
    key = os.environ.get("WORKBENCH_ENCRYPTION_KEY") or ""
    path = os.environ.get("WORKBENCH_ENCRYPTION_KEY_FILE")
    if not key and path:
        key = _key_file(path)
    if not key:
        raise HomeLocked(f"{home}: the home is encrypted; set WORKBENCH_ENCRYPTION_KEY")
    return key


def _key_file(path: str | Path) -> str:
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise HomeLocked(f"{path}: the key file must be readable by its owner only "
                             "(chmod 600)")
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise HomeLocked(f"{path}: cannot read the key file ({exc.strerror})") from None


def job_environment(home: Path) -> dict[str, str]:
    """What a scheduled job's command line sets to open ``home`` (nothing for a plain home):
    the key file, and the runtime folder of the session that scheduled it, so the job joins
    the mount the app uses (two mounts of one cipher folder would not share DuckDB's lock)."""
    if not is_encrypted(home):
        return {}
    env = {"WORKBENCH_ENCRYPTION_KEY_FILE": str(key_file_for_jobs(home))}
    if os.environ.get("XDG_RUNTIME_DIR"):
        env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    return env


def key_file_for_jobs(home: Path) -> Path:
    """The key file a job without a terminal (cron) opens the encrypted ``home`` with:
    ``WORKBENCH_ENCRYPTION_KEY_FILE``, owner-only, and checked to open the home now. A key in
    the environment alone is refused: a crontab would have to hold the key itself."""
    name = os.environ.get("WORKBENCH_ENCRYPTION_KEY_FILE")
    if not name:
        raise HomeLocked(f"{home}: the home is encrypted and a scheduled job needs its key in "
                         "a file: set WORKBENCH_ENCRYPTION_KEY_FILE to an owner-only file "
                         "(chmod 600) holding it; the key is never written into the crontab")
    path = Path(name).resolve()
    key = _key_file(path)
    try:
        unlock(home, key)
    except HomeLocked:
        raise HomeLocked(f"{path}: the key in this file does not open {home}") from None
    return path


def _runtime() -> Path:
    """A folder only this user can enter, for mount points and their lock files."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        root = Path(base) / "workbench"
    else:
        root = Path(tempfile.gettempdir()) / f"workbench-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = root.lstat()
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)):
        raise EncryptionUnavailable(f"{root}: not a private folder of this user; remove it")
    return root


def mount_point(home: Path) -> Path:
    digest = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:16]
    return _runtime() / digest


def _mounts(kind: str | None = None) -> set[str]:
    found = set()
    with open("/proc/mounts", encoding="utf-8") as handle:
        for line in handle:
            point, fs = line.split(" ")[1:3]
            if kind is None or fs == kind:
                found.add(_unescape(point))
    return found


def mounted(point: Path) -> bool:
    return str(point) in _mounts()


def _gocryptfs(args: list[str], key: str, where: Path) -> None:
    """Run gocryptfs with the key on its standard input (it reads it there when stdin is not a
    terminal); a wrong key is ``HomeLocked``, anything else ``EncryptionUnavailable``."""
    program = shutil.which("gocryptfs")
    if program is None:
        raise EncryptionUnavailable(f"{where}: {_INSTALL}")
    # The mounted daemon keeps no pipe of ours open: stdout and stderr go to a file, not a pipe.
    with tempfile.TemporaryFile() as output:
        done = subprocess.run([program, "-q", *args], input=key.encode(), stdout=output,
                              stderr=output, timeout=120, check=False)
        output.seek(0)
        said = output.read().decode(errors="replace").strip().splitlines()
    if done.returncode == WRONG_KEY:
        raise HomeLocked(f"{where}: wrong encryption key; nothing was changed")
    if done.returncode != 0:
        detail = said[-1] if said else f"exit status {done.returncode}"
        if "fusermount" in detail or "/dev/fuse" in detail:
            detail += " (FUSE is needed: apt-get install fuse3; in Docker "\
                      "--device /dev/fuse --cap-add SYS_ADMIN)"
        raise EncryptionUnavailable(f"{where}: gocryptfs failed: {detail}")


def init_folder(folder: Path, key: str) -> None:
    """Make ``folder`` (empty) a gocryptfs cipher folder for ``key`` (``-q``: gocryptfs prints
    no master key, so no copy of it exists outside the folder's config, wrapped by the key)."""
    _gocryptfs(["-init", str(folder)], key, folder)


def mount(folder: Path, point: Path, key: str) -> None:
    point.mkdir(mode=0o700, exist_ok=True)
    _gocryptfs(["-noprealloc", str(folder), str(point)], key, folder)


def unmount(point: Path) -> None:
    program = shutil.which("fusermount3") or shutil.which("fusermount")
    if program is None:
        raise EncryptionUnavailable(f"{point}: fusermount is not installed (apt-get install fuse3)")
    done = subprocess.run([program, "-u", str(point)], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0 and mounted(point):
        raise HomeInUse(f"{point}: the encrypted home is in use by a running process; stop it "
                        "first")
    try:
        point.rmdir()
    except OSError:
        pass


@contextmanager
def _exclusive(point: Path) -> Iterator[None]:
    with open(f"{point}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _proof(key: str, salt: bytes) -> str:
    return hashlib.scrypt(key.encode(), salt=salt, n=1 << 14, r=8, p=1).hex()


def _check_proof(point: Path, key: str, home: Path) -> None:
    """A process joining a mount another one made must hold the same key: the mount itself
    would let anyone of this user in."""
    try:
        recorded = json.loads(Path(f"{point}.key").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise HomeLocked(f"{home}: mounted outside the workbench; unmount it first") from None
    if not hmac.compare_digest(_proof(key, bytes.fromhex(recorded["salt"])), recorded["proof"]):
        raise HomeLocked(f"{home}: wrong encryption key; nothing was changed")


def _stale(point: Path) -> bool:
    """A mount whose gocryptfs process died answers every call with ENOTCONN."""
    try:
        os.stat(point)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def unlock(home: Path, key: str | None = None) -> Path:
    """The mount point of an encrypted ``home``, mounting it unless it is mounted already;
    ``key``: instead of the one the environment gives."""
    home = Path(home).resolve()
    key = read_key(home) if key is None else key
    point = mount_point(home)
    with _exclusive(point):
        if mounted(point) and _stale(point):
            unmount(point)
        if mounted(point):
            _check_proof(point, key, home)
            return point
        mount(home, point, key)
        # No other process uses this mount yet: what is in tmp was left by one that died.
        shutil.rmtree(point / TMP, ignore_errors=True)
        salt = os.urandom(16)
        proof = Path(f"{point}.key")
        proof.write_text(json.dumps({"salt": salt.hex(), "proof": _proof(key, salt)}),
                         encoding="utf-8")
        return point


def lock(home: Path) -> bool:
    """Unmount an encrypted home's shared mount; whether it was mounted."""
    home = Path(home).resolve()
    if not is_encrypted(home):
        raise InvalidInput(f"{home}: the home is not encrypted")
    point = mount_point(home)
    with _exclusive(point):
        if not mounted(point):
            return False
        unmount(point)
        Path(f"{point}.key").unlink(missing_ok=True)
        return True


def scratch_for(folder: Path) -> Path | None:
    """Where temporary copies of ``folder``'s files go: beside them inside an encrypted home's
    mount (the system's temporary folder is plain disk), else None (the system's)."""
    folder = Path(folder).resolve()
    for point in _mounts("fuse.gocryptfs"):
        if folder.is_relative_to(point):
            return Path(point)
    return None


def private_tmp(path: Path) -> Path | None:
    """The folder for temporary files made while working on ``path`` when it lies inside an
    encrypted home's mount (``<mount>/tmp``, owner-only, emptied when the home is mounted),
    else None: the system's temporary folder, which for an encrypted home would hold in clear
    what the home keeps encrypted."""
    point = scratch_for(path)
    if point is None:
        return None
    folder = point / TMP
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def on_disk(home: Path) -> Path:
    """The home as it is named on disk: the cipher folder when ``home`` is its mount (a job
    scheduled for later must open the home itself, not a mount that may be gone by then)."""
    home = Path(home).resolve()
    with open("/proc/mounts", encoding="utf-8") as handle:
        for line in handle:
            source, point, kind = line.split(" ")[:3]
            if kind == "fuse.gocryptfs" and Path(_unescape(point)) == home:
                return Path(_unescape(source))
    return home


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")  # /proc/mounts writes a space as \040


def open_home(settings):
    """``settings`` with its home replaced by the mount of that home when it is encrypted."""
    if getattr(settings, "database_url", None) or not is_encrypted(settings.home):
        return settings
    return settings.model_copy(update={"home": unlock(settings.home)})
