"""The Workbench facade: the one door the CLI, the app and notebooks use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from . import export
from .config import Settings, load_settings
from .ingest import Progress, _quiet, ingest_paths
from .records import Conversation, ImportResult, Message
from .store import Store
from .store import conversations as crud


class Workbench:
    """A workbench home (DuckDB store + derived indexes) opened with its settings."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self.store = Store(self.settings.duckdb_path, self.settings.lock_timeout_s)

    @classmethod
    def open(cls, home: Path | str | None = None, **overrides: Any) -> "Workbench":
        if home is not None:
            overrides["home"] = Path(home)
        return cls(load_settings(**overrides))

    def _workspace(self, workspace: str | None) -> str:
        return workspace or self.settings.default_workspace

    # ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[Path | str],
        workspace: str | None = None,
        format: str | None = None,
        progress: Progress = _quiet,
    ) -> list[ImportResult]:
        return ingest_paths(self.store, paths, self._workspace(workspace), format, progress)

    def stats(self, workspace: str | None = None) -> dict[str, Any]:
        stats: dict[str, Any] = crud.counts(self.store, workspace)
        spaces = crud.list_workspaces(self.store)
        stats["per_workspace"] = [s for s in spaces if workspace is None or s["name"] == workspace]
        return stats

    def workspaces(self) -> list[dict[str, Any]]:
        return crud.list_workspaces(self.store)

    # conversations --------------------------------------------------------------------------
    def create_conversation(
        self, workspace: str | None = None, title: str | None = None, metadata: dict | None = None
    ) -> Conversation:
        return crud.create_conversation(self.store, self._workspace(workspace), title, metadata)

    def conversations(
        self, workspace: str | None = None, title_contains: str | None = None, limit: int | None = None
    ) -> list[Conversation]:
        return crud.list_conversations(self.store, workspace, title_contains, limit)

    def conversation(self, ref: str) -> Conversation:
        return crud.get_conversation(self.store, ref)

    def rename_conversation(self, ref: str, title: str) -> Conversation:
        return crud.rename_conversation(self.store, ref, title)

    def delete_conversation(self, ref: str) -> int:
        return crud.delete_conversation(self.store, ref)

    def add_message(self, conversation: str, role: str, content: str, **fields: Any) -> Message:
        return crud.add_message(self.store, conversation, role, content, **fields)

    def messages(self, conversation: str, active_only: bool = False) -> list[Message]:
        return crud.list_messages(self.store, conversation, active_only)

    def message(self, message_id: str) -> Message:
        return crud.get_message(self.store, message_id)

    def export_conversation(self, ref: str, fmt: str = "md") -> str:
        conversation = self.conversation(ref)
        messages = self.messages(conversation.id)
        if fmt == "json":
            return export.to_json(conversation, messages)
        if fmt in {"md", "markdown"}:
            return export.to_markdown(conversation, messages)
        raise ValueError(f"unknown export format {fmt!r} (use md or json)")
