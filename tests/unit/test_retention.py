"""Backup retention: the newest of each of the last N days and M ISO weeks, never the newest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from workbench.errors import InvalidInput
from workbench.ops.backup import MANIFEST, backups
from workbench.ops.retention import keep, prune

START = datetime(2026, 11, 2, 2, 30, tzinfo=timezone.utc)  # a Monday


def _name(moment: datetime) -> str:
    return f"workbench-{moment.strftime('%Y%m%dT%H%M%SZ')}"


def _made(folder: Path, moments: list[datetime]) -> list[Path]:
    paths = []
    for moment in moments:
        path = folder / _name(moment)
        path.mkdir(parents=True)
        (path / MANIFEST).write_text("{}")
        paths.append(path)
    return paths


def test_keeps_the_newest_per_day_then_per_week(tmp_path):
    # Two a day for five weeks.
    moments = [START + timedelta(days=d, hours=h) for d in range(35) for h in (0, 12)]
    paths = _made(tmp_path, moments)
    kept = keep(paths, daily=3, weekly=2)
    newest = sorted(paths)[-1]
    days = sorted(p.name for p in kept)
    # The three newest days' last backups (their 14:30 one) and the newest of the previous week.
    assert days == sorted([_name(START + timedelta(days=d, hours=12)) for d in (32, 33, 34)]
                          + [_name(START + timedelta(days=27, hours=12))])
    assert newest in kept


def test_prune_deletes_the_rest_and_leaves_other_files(tmp_path):
    moments = [START + timedelta(days=d) for d in range(10)]
    _made(tmp_path, moments)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".workbench-20261101T000000Z.partial").mkdir()
    removed = prune(tmp_path, daily=2, weekly=1)
    assert len(removed) == 8
    assert [p.name for p in backups(tmp_path)] == [_name(m) for m in moments[-2:]]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_zero_keeps_only_the_newest(tmp_path):
    paths = _made(tmp_path, [START, START + timedelta(days=1)])
    assert keep(paths, 0, 0) == {paths[1]}
    with pytest.raises(InvalidInput):
        keep(paths, -1, 0)
