"""The home folder is private to its owner: conversations, their index and logs are personal.

A workbench process creates every file with ``PRIVATE_UMASK`` (set by ``process``), and the home
itself is made owner-only when it is created, so nothing in it is readable by another user
whatever umask the user had. Homes made before that (or files copied in) are found by
``exposed`` and tightened by ``tighten``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def make_private(home: Path) -> None:
    """Create ``home`` (and missing parents) owner-only; an existing folder is left as it is."""
    if home.is_dir():
        return
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)  # mkdir's mode is filtered by the umask


def exposed(home: Path) -> list[Path]:
    """The home and the entries in it that its owner's group or other users may use."""
    return [path for path, mode in _walk(home) if mode & _OTHERS]


def tighten(home: Path) -> list[Path]:
    """Take every permission of group and others off the home and everything in it; returns
    what changed. The owner's own bits stay (an executable stays executable)."""
    changed = []
    for path, mode in _walk(home):
        if mode & _OTHERS:
            os.chmod(path, stat.S_IMODE(mode) & ~_OTHERS, follow_symlinks=False)
            changed.append(path)
    return changed


def _walk(home: Path):
    """(path, st_mode) of the home and all below it; links are not followed."""
    if not home.exists():
        return
    yield home, home.lstat().st_mode
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder, name)
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # removed meanwhile (a LanceDB version cleaned up)
                continue
            if not stat.S_ISLNK(mode):
                yield path, mode
