"""``workbench doctor``: how big the home is and how fast it grows, whether the index is
current and agrees with the ledger, and which operations were slow lately.

Each check is ``ok``, ``warn`` (works, but something waits: chunks to index, marks the next
indexing repairs) or ``fail`` (rows lost their parent: the store needs attention). Sizes are
appended to ``<home>/logs/sizes.jsonl`` on every run, so the next one can say what grew, and
the checks with their time go to ``<home>/logs/doctor.json``, which ``/metrics`` reports
without running them again (they scan the whole index).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.logs import LOG_FILE
from workbench.store import health

if TYPE_CHECKING:
    from workbench.api import Workbench

SIZES_FILE = "sizes.jsonl"
LAST_FILE = "doctor.json"
LEVELS = {"ok": 0, "warn": 1, "fail": 2}
SLOWEST = 10


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class Health:
    """What ``doctor`` found; ``status`` is the worst of its checks."""

    sizes: dict[str, int]
    growth: dict[str, int]
    since: str | None
    index: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        found = {c.status for c in self.checks}
        return "fail" if "fail" in found else "warn" if "warn" in found else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "sizes": self.sizes, "growth": self.growth,
                "since": self.since, "index": self.index,
                "checks": [c.to_dict() for c in self.checks], "slowest": self.slowest,
                "seconds": round(self.seconds, 3)}


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sizes(home: Path) -> dict[str, int]:
    db = home / "workbench.duckdb"
    return {
        "database": folder_size(db) + folder_size(db.with_name(db.name + ".wal")),
        "index": folder_size(home / "lancedb"),
        "runs": folder_size(home / "runs"),
        "backups": folder_size(home / "backups"),
        "logs": folder_size(home / "logs"),
    }


def _growth(home: Path, now: dict[str, int]) -> tuple[dict[str, int], str | None]:
    """Change since the previous doctor run, then this run recorded for the next one."""
    path = home / "logs" / SIZES_FILE
    previous, since = {}, None
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        if lines:
            try:
                last = json.loads(lines[-1])
                previous, since = last["sizes"], last["at"]
            except (ValueError, KeyError):
                previous = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"at": datetime.now(timezone.utc).isoformat(), "sizes": now})
                     + "\n")
    return {k: v - previous[k] for k, v in now.items() if k in previous}, since


def slowest(home: Path, limit: int = SLOWEST, recent: int = 5000) -> list[dict[str, Any]]:
    """The slowest operations among the last ``recent`` slow ones logged in the home."""
    found: list[dict[str, Any]] = []
    for path in (home / "logs" / f"{LOG_FILE}.1", home / "logs" / LOG_FILE):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "slow":
                found.append({k: record.get(k) for k in ("ts", "op", "duration_ms", "shape")})
    found = found[-recent:]
    return sorted(found, key=lambda r: -(r["duration_ms"] or 0))[:limit]


def examine(wb: Workbench) -> Health:
    started = time.perf_counter()
    home = wb.settings.home
    now = sizes(home)
    growth, since = _growth(home, now)
    report = Health(now, growth, since, {})
    report.checks += _store_checks(wb)
    report.checks += _index_checks(wb, report.index)
    report.slowest = slowest(home)
    report.seconds = time.perf_counter() - started
    _record(home, report)
    return report


def _record(home: Path, report: Health) -> None:
    """The checks and when they ran, for readers that cannot afford to run them."""
    path = home / "logs" / LAST_FILE
    partial = path.with_name(f".{LAST_FILE}.{os.getpid()}")
    partial.write_text(json.dumps({"at": datetime.now(timezone.utc).isoformat(),
                                   "status": report.status,
                                   "checks": [c.to_dict() for c in report.checks]}),
                       encoding="utf-8")
    os.replace(partial, path)


def last_run(home: Path) -> dict[str, Any] | None:
    """What the latest ``doctor`` run found (``at``, ``status``, ``checks``), or None."""
    try:
        found = json.loads((home / "logs" / LAST_FILE).read_text(encoding="utf-8"))
        datetime.fromisoformat(found["at"])
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pending(wb: Workbench) -> tuple[str, int, int]:
    """The configured index's name, the chunks it still lacks and the conversations never
    chunked for it: two count queries (``examine`` also finds changed conversations)."""
    from workbench.text.chunking import get_chunker

    chunker = get_chunker(wb.settings.chunker)
    index = wb.search.index(chunker.name)
    return (index.name, wb.store.chunks.pending_count(chunker.name, index.name),
            wb.store.chunks.unchunked_count(chunker.name))


def _store_checks(wb: Workbench) -> list[Check]:
    checks = []
    for name, count in health.orphans(wb.store).items():
        checks.append(Check(name, "fail" if count else "ok", f"{count} rows"))
    return checks


def _index_checks(wb: Workbench, facts: dict[str, Any]) -> list[Check]:
    from workbench.text.chunking import get_chunker

    chunker = get_chunker(wb.settings.chunker)
    index = wb.search.index(chunker.name)
    store = wb.store
    present = set(index.chunk_ids().to_pylist()) if index.exists() else set()
    marks = set(health.marked_ids(store, index.name))
    stale = len(store.chunks.stale(chunker.name))
    pending = store.chunks.pending_count(chunker.name, index.name)
    orphans = len(store.chunks.orphan_marks(index.name))
    facts.update(name=index.name, rows=len(present), marked=len(marks), pending=pending,
                 stale_conversations=stale, full_text=bool(present) and index.has_full_text())
    lost = len(marks - present)
    return [
        Check("index freshness", "warn" if pending or stale else "ok",
              f"{pending} chunks to embed, {stale} conversations to chunk"
              + (" (workbench reindex, or the next import, catches up)" if pending or stale
                 else "")),
        Check("ledger vs index", "warn" if lost or orphans else "ok",
              f"{len(marks)} marked, {len(present)} in the index; {lost} marked but missing, "
              f"{orphans} marks of removed chunks (the next indexing repairs both)"),
        Check("full-text index", "ok" if facts["full_text"] or not present else "warn",
              "present" if facts["full_text"] else "missing (workbench maintain builds it)"),
    ]
