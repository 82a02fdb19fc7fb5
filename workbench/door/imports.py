"""``wb.imports``: chat exports into the store, and the log of what was imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from workbench.config import Settings
from workbench.importers.reading import Limits
from workbench.ingest import Progress, no_progress, ingest_paths
from workbench.records import ImportResult
from workbench.search.sync import SyncReport
from workbench.store import Store


class Imports:
    """Imports files whole or not at all; with ``index_on_ingest`` the new messages are
    indexed before ``ingest`` returns (``index_pending`` is the search room's)."""

    def __init__(self, store: Store, settings: Settings,
                 index_pending: Callable[..., SyncReport]):
        self.store = store
        self.settings = settings
        self._index_pending = index_pending

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
                               format, progress, redact, Limits.of(self.settings))
        if self.settings.index_on_ingest and any(r.status == "done" for r in results):
            self._index_pending(progress=progress)
        return results

    def history(self, workspace: str | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Every file imported, newest first."""
        return self.store.imports.list(workspace, limit)
