"""Which backups to keep: the newest of each of the last N days and of the last M weeks.

Days and ISO weeks are counted in UTC over the days (weeks) that have a backup, so a machine
that was off for a week still keeps N daily backups. The newest backup is always kept.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from workbench.errors import InvalidInput
from workbench.ops.backup import NAME, backups, folder_lock


def taken_at(path: Path) -> datetime:
    stamp = NAME.match(path.name).group(1)  # type: ignore[union-attr]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def keep(paths: list[Path], daily: int, weekly: int) -> set[Path]:
    """The backups the policy keeps among ``paths``."""
    if daily < 0 or weekly < 0:
        raise InvalidInput("backups to keep cannot be negative")
    newest_first = sorted(paths, key=lambda p: (taken_at(p), p.name), reverse=True)
    kept: set[Path] = set(newest_first[:1])
    for count, bucket in ((daily, lambda t: t.date()), (weekly, lambda t: t.isocalendar()[:2])):
        seen: list[object] = []
        for path in newest_first:
            key = bucket(taken_at(path))
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(key)
            kept.add(path)
    return kept


def prune(folder: Path, daily: int, weekly: int) -> list[str]:
    """Delete the complete backups in ``folder`` the policy does not keep; their names."""
    with folder_lock(folder):
        found = backups(folder)
        kept = keep(found, daily, weekly)
        removed = [p for p in found if p not in kept]
        for path in removed:
            shutil.rmtree(path)
    return [p.name for p in removed]
