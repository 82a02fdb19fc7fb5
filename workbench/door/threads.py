"""``wb.threads``: a client's chat (Open WebUI, any OpenAI client) kept as one conversation.

An OpenAI-style client sends the whole chat with every request. The chat is named by the
client (Open WebUI's chat id) or, without one, by its first user message; a request without
earlier turns always starts a new conversation, so two chats that open with the same words
stay apart. Earlier turns the workbench has not seen (a chat begun elsewhere) are stored
before the new question, which then takes the ordinary chat flow.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Callable

from workbench.door.chat import Chats
from workbench.door.conversations import Conversations
from workbench.door.users import Users
from workbench.chat.turn import Turn, sanitise, title_from
from workbench.errors import InvalidInput
from workbench.records import Message, User

_KEPT_ROLES = ("user", "assistant")


def text_of(content: Any) -> str:
    """The text of an OpenAI message's content: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content
                         if isinstance(p, dict) and p.get("type") == "text")
    raise InvalidInput("a message's content must be a string or a list of parts")


def client_key(messages: list[dict[str, Any]], chat_id: str | None,
               client_user: str | None) -> str:
    """The name of the client's chat: its own id, else a hash of its first user message."""
    if chat_id:
        return f"chat:{client_user or ''}:{chat_id}"
    first = next((text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
    return "first:" + hashlib.sha256(sanitise(first).encode()).hexdigest()


class Threads:
    """Finds or makes the conversation of a client's chat, and starts its next turn."""

    def __init__(self, users: Users, conversations: Conversations, chats: Chats,
                 index_pending: Callable[[], Any]):
        self.users = users
        self.conversations = conversations
        self.chats = chats
        self._index_pending = index_pending

    def remember(self, user: User, text: str, workspace: str | None = None) -> Message:
        """Store ``text`` as a note in the workspace's "Notes" conversation (made on the first
        note) and index it, so the next search finds it."""
        note = sanitise(text)
        if not note:
            raise InvalidInput("the note is empty")
        space = self.users.workspace(user, workspace) or self.conversations.settings.default_workspace
        key = f"notes:{space}"
        known = self.users.client_chat(user, key)
        if known is None:
            known = self.conversations.create(space, "Notes", {"client_chat": key}).id
            self.users.link_client_chat(user, key, known)
        message = self.conversations.add_message(known, "user", note, speaker="note")
        self._index_pending()
        return message

    def start(self, user: User, messages: list[dict[str, Any]], workspace: str | None,
              chat_id: str | None = None, client_user: str | None = None,
              now: datetime | None = None) -> Turn:
        """The turn answering the chat's last message (which must be the user's), in the
        conversation kept for this chat; stream it with ``wb.chat.stream``."""
        if not messages or messages[-1].get("role") != "user":
            raise InvalidInput("messages: the last message must be the user's")
        question = text_of(messages[-1].get("content"))
        earlier = [(m["role"], text_of(m.get("content"))) for m in messages[:-1]
                   if m.get("role") in _KEPT_ROLES]
        earlier = [(role, text) for role, text in earlier if sanitise(text)]
        key = client_key(messages, chat_id, client_user)
        known = self.users.client_chat(user, key) if (earlier or chat_id) else None
        if known is not None:
            return self.chats.start(question, workspace, known, now)
        if not earlier:
            turn = self.chats.start(question, workspace, None, now)
            self.users.link_client_chat(user, key, turn.conversation_id)
            return turn
        conversation = self.conversations.create(workspace, title_from(earlier[0][1]),
                                                 {"client_chat": key})
        for role, text in earlier:
            self.conversations.add_message(conversation.id, role, sanitise(text))
        self.users.link_client_chat(user, key, conversation.id)
        return self.chats.start(question, conversation.workspace, conversation.id, now)
