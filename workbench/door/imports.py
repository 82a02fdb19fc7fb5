"""``wb.imports``: chat exports into the store, and the log of what was imported."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Iterable

from workbench.config import Settings
from workbench.errors import WorkbenchError
from workbench.importers.reading import Limits
from workbench.ops.encryption import private_tmp
from workbench.ingest import Progress, no_progress, ingest_paths
from workbench.records import ImportResult
from workbench.search.sync import SyncReport
from workbench.store import Store

log = logging.getLogger(__name__)


# What the surroundings make indexing fail with: LanceDB's I/O and resource errors (a full
# disk, a read-only folder, "resources exhausted"), memory, a store kept busy. Each leaves
# the ledger's chunks pending, so the next indexing picks them up.
INDEXING_FAILURES = (OSError, RuntimeError, MemoryError, WorkbenchError)
# LanceDB's messages end with the place in its Rust source that raised them.
_RUST_PLACE = re.compile(r",? \S+\.rs:\d+:\d+")


class Imports:
    """Imports files whole or not at all; with ``index_on_ingest`` the new messages are
    indexed before ``ingest`` returns (``index_pending`` is the search room's). A file that
    was stored but could not be indexed is ``not_indexed``, with an error naming it: it is in
    the store, not yet searchable, and the next import or ``maintain`` indexes it."""

    def __init__(self, store: Store, settings: Settings,
                 index_pending: Callable[..., SyncReport]):
        self.store = store
        self.settings = settings
        self._index_pending = index_pending

    @property
    def scratch(self) -> Path | None:
        """Where temporary copies of an export go (an upload, a zip's members, the parsed
        records): inside an encrypted home's mount, else None (the system's temp folder)."""
        return private_tmp(self.settings.home)

    def ingest(
        self,
        paths: Iterable[Path | str],
        workspace: str | None = None,
        format: str | None = None,
        progress: Progress = no_progress,
        redact: bool | None = None,
    ) -> list[ImportResult]:
        """``redact`` overrides the settings' for this call (the app's per-session choice)."""
        redact = self.settings.redact if redact is None else redact
        results = ingest_paths(self.store, paths, workspace or self.settings.default_workspace,
                               format, progress, redact, Limits.of(self.settings), self.scratch)
        if self.settings.index_on_ingest and any(r.status == "done" for r in results):
            try:
                self._index_pending(progress=progress)
            except INDEXING_FAILURES as exc:
                _not_indexed(results, exc)
        return results

    def history(self, workspace: str | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Every file imported, newest first."""
        return self.store.imports.list(workspace, limit)


def _not_indexed(results: list[ImportResult], exc: BaseException) -> None:
    # The traceback goes to the home's log (INFO: not the terminal, where the error line is
    # enough), so that a bug among these exceptions is not lost in one line.
    log.info("indexing after an import failed", exc_info=exc)
    problem = _RUST_PLACE.sub("", " ".join(f"{type(exc).__name__}: {exc}".split()))[:300]
    for result in results:
        if result.status == "done":
            result.status = "not_indexed"
            result.error = (f"{result.path}: stored, but not indexed ({problem}); "
                            "the next import or index maintenance indexes it")
