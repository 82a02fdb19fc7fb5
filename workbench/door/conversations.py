"""``wb.conversations``: conversations and their messages in one workbench's store."""

from __future__ import annotations

from typing import Any

from workbench.config import Settings
from workbench.errors import InvalidInput
from workbench.records import Conversation, Message
from workbench.store import Store
from workbench.text import export


class Conversations:
    """Lists, reads, writes and exports conversations; a conversation is named by its id or a
    unique prefix of it, and a missing one raises ``NotFound``."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings

    def create(
        self, workspace: str | None = None, title: str | None = None, metadata: dict | None = None
    ) -> Conversation:
        return self.store.conversations.create(
            workspace or self.settings.default_workspace, title, metadata
        )

    def list(
        self, workspace: str | None = None, title_contains: str | None = None, limit: int | None = None
    ) -> list[Conversation]:
        return self.store.conversations.list(workspace, title_contains, limit)

    def get(self, ref: str) -> Conversation:
        return self.store.conversations.get(ref)

    def rename(self, ref: str, title: str) -> Conversation:
        return self.store.conversations.rename(ref, title)

    def delete(self, ref: str) -> int:
        return self.store.conversations.delete(ref)

    def add_message(self, conversation: str, role: str, content: str, **fields: Any) -> Message:
        return self.store.messages.add(conversation, role, content, **fields)

    def messages(self, conversation: str, active_only: bool = False) -> list[Message]:
        return self.store.messages.list(conversation, active_only)

    def message(self, message_id: str) -> Message:
        return self.store.messages.get(message_id)

    def questions(self, workspace: str | None = None, limit: int = 4) -> list[str]:
        """Recent short questions the user asked in a workspace: examples for an empty chat."""
        return self.store.messages.questions(workspace or self.settings.default_workspace, limit)

    def export(self, ref: str, fmt: str = "md") -> str:
        conversation = self.get(ref)
        messages = self.messages(conversation.id)
        if fmt == "json":
            return export.to_json(conversation, messages)
        if fmt in {"md", "markdown"}:
            return export.to_markdown(conversation, messages)
        raise InvalidInput(f"unknown export format {fmt!r} (use md or json)")
