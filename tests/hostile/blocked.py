"""Folders a command finds read-only or full, for real even as root, whom file modes do not
stop: a mount in a private mount namespace that lives as long as the command (``unshare``),
so nothing stays mounted after it, whatever happens to the test."""

from __future__ import annotations

import os
import shlex
import subprocess
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pytest


@lru_cache(maxsize=1)
def _mount_namespaces() -> str | None:
    """None when this process may mount in a namespace of its own; else why not."""
    if os.geteuid() != 0:
        return "not root"
    probe = subprocess.run(["unshare", "--mount", "--", "mount", "-t", "tmpfs", "-o", "size=4k",
                            "tmpfs", "/mnt"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare --mount failed: {probe.stderr.strip()}"


def _prefix(script: str) -> list[str]:
    return ["unshare", "--mount", "--", "sh", "-c", f'{script} && exec "$@"', "sh"]


@contextmanager
def read_only(*paths: Path) -> Iterator[list[str]]:
    """A prefix for commands that must find ``paths`` read-only: as root a read-only bind mount
    of each; otherwise their modes, restored afterwards. Skips when neither can hold."""
    if os.geteuid() != 0:
        for path in paths:
            subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)
        try:
            yield []
        finally:
            for path in paths:
                subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
        return
    if (why := _mount_namespaces()) is not None:
        pytest.skip(f"root ignores file modes, and a read-only mount is not possible: {why}")
    mounts = [f"mount --bind {q} {q} && mount -o remount,bind,ro {q}"
              for q in map(shlex.quote, map(str, paths))]
    yield _prefix(" && ".join(mounts))


@contextmanager
def full(path: Path) -> Iterator[list[str]]:
    """A prefix for commands that must find the folder ``path`` on a full disk: a small tmpfs
    mounted over it and filled (what the folder held is hidden from the command)."""
    if (why := _mount_namespaces()) is not None:
        pytest.skip(f"a full disk needs a tmpfs mount: {why}")
    q = shlex.quote(str(path))
    yield _prefix(f"mount -t tmpfs -o size=64k,mode=0700 tmpfs {q} && "
                  f"{{ cat /dev/zero > {q}/.filler 2>/dev/null; true; }}")
