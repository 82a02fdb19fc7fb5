"""Open WebUI chats: a single chat JSON, the exported list of chats, or the ``webui.db`` database.

A chat keeps its whole ``history`` tree (every regeneration and edit); the path from the root to
``history.currentId`` is the active branch. A chat with only a ``messages`` list is linear.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

from workbench.importers.reading import Limits, loads
from workbench.errors import ImportRejected
from workbench.store import sqlite_source
from workbench.records import ConversationRecord, MessageRecord, ParsedFile
from workbench.importers.base import (
    Source,
    conversation_source_id,
    iter_dicts,
    json_or_none,
    message_source_id,
    normalise_role,
    parse_timestamp,
)

NAME = "openwebui"
DESCRIPTION = "Open WebUI chat export (one chat JSON, the chat list, or webui.db)"

# A chat's "messages" list repeats its history's active branch, so it is not kept twice.
CHAT_KEYS = ("id", "title", "history", "messages")
WRAPPER_KEYS = ("id", "title", "chat", "created_at", "updated_at")
MESSAGE_KEYS = ("id", "parentId", "childrenIds", "role", "content", "timestamp")


def sniff(source: Source) -> bool:
    """True iff the source is an Open WebUI chat, chat list, or a database with a ``chat`` table."""
    try:
        if source.kind == "sqlite":
            return "chat" in source.sqlite_tables().get("chat", set())
        data = json_or_none(source)
        if isinstance(data, dict):
            return _has_history(data)
        items = list(iter_dicts(data))[:5]
        return bool(items) and all(
            _has_history(i) or _is_chat(_decode(i.get("chat"))) for i in items
        )
    except Exception:  # a sniffer only answers yes or no
        return False


def parse(source: Source) -> ParsedFile:
    """Every readable chat of the source; an unreadable one is skipped with a warning naming it.

    Raises ImportRejected when the source holds no Open WebUI chat structure at all.
    """
    warnings: list[str] = []
    return ParsedFile(NAME, list(read(source, warnings)), warnings)


def read(source: Source, warnings: list[str]) -> Iterator[ConversationRecord]:
    """``parse`` one chat at a time: a big exported list is read item by item, never whole."""
    wrappers: Iterable[Any]
    if source.kind == "sqlite":
        wrappers = _database_rows(source)
    elif source.streams:
        wrappers = source.items()
    else:
        data = source.data
        wrappers = [{"chat": data}] if isinstance(data, dict) else data
        if not isinstance(wrappers, list):
            raise ImportRejected(source.name, "not an Open WebUI export: expected a chat or a list")
    for index, wrapper in enumerate(wrappers, start=1):
        record = _conversation(wrapper, index, warnings)
        if record is not None:
            yield record


def _has_history(value: Any) -> bool:
    history = value.get("history") if isinstance(value, dict) else None
    return isinstance(history, dict) and isinstance(history.get("messages"), dict)


def _is_chat(value: Any) -> bool:
    """A chat object: a history tree, or (older chats) a plain ``messages`` list."""
    return _has_history(value) or (
        isinstance(value, dict) and isinstance(value.get("messages"), list)
    )


def _database_rows(source: Source) -> list[dict[str, Any]]:
    con = source.sqlite()
    try:
        return sqlite_source.rows(con, "chat")
    except sqlite3.DatabaseError as exc:
        raise ImportRejected(source.name, f"cannot read the chat table ({exc})") from exc
    finally:
        con.close()


def _conversation(wrapper: Any, index: int, warnings: list[str]) -> ConversationRecord | None:
    if not isinstance(wrapper, dict):
        warnings.append(f"chat #{index}: not a JSON object; skipped")
        return None
    if "chat" not in wrapper and _is_chat(wrapper):
        wrapper = {"chat": wrapper}  # a bare chat inside a list
    label = f"chat {wrapper.get('id') or f'#{index}'} ({wrapper.get('title') or 'untitled'})"
    chat = _decode(wrapper.get("chat"))
    if not _is_chat(chat):
        warnings.append(f"{label}: chat is not valid Open WebUI chat JSON; skipped")
        return None
    titles = (wrapper.get("title"), chat.get("title"))
    title = next((t for t in titles if isinstance(t, str) and t), None)
    messages = _messages(chat)
    extra = {
        k: _decode(v) if k == "meta" else v for k, v in wrapper.items() if k not in WRAPPER_KEYS
    }
    metadata = {k: v for k, v in chat.items() if k not in CHAT_KEYS}
    if extra:
        metadata["export"] = extra
    return ConversationRecord(
        source_id=conversation_source_id(chat.get("id") or wrapper.get("id"), title, messages),
        title=title,
        messages=messages,
        created_at=parse_timestamp(wrapper.get("created_at") or chat.get("timestamp")),
        updated_at=parse_timestamp(wrapper.get("updated_at") or chat.get("updated_at")),
        metadata=metadata,
    )


def _decode(value: Any) -> Any:
    """JSON text decoded (as the database stores it); anything else unchanged."""
    if isinstance(value, (str, bytes)):
        try:
            return loads(value, Limits())
        except (ValueError, RecursionError):  # not JSON, or JSON past the limits: kept as text
            return value
    return value


def _messages(chat: dict[str, Any]) -> list[MessageRecord]:
    history = chat.get("history")
    if isinstance(history, dict) and isinstance(history.get("messages"), dict):
        return _tree(history["messages"], history.get("currentId"))
    return _linear(list(iter_dicts(chat.get("messages"))))


def _linear(items: list[dict[str, Any]]) -> list[MessageRecord]:
    records: list[MessageRecord] = []
    for index, item in enumerate(items):
        parent = records[-1].source_id if records else None
        records.append(_message(item, index, parent, True))
    return records


def _tree(nodes: dict[str, Any], current: Any) -> list[MessageRecord]:
    """All history messages, parents before children; the path to ``current`` is active."""
    nodes = {str(n.get("id") or key): n for key, n in nodes.items() if isinstance(n, dict)}
    parents = {nid: _parent(node, nodes) for nid, node in nodes.items()}
    children: dict[str | None, list[str]] = {}
    for nid, parent in parents.items():
        children.setdefault(parent, []).append(nid)
    order = _walk(children)
    walked = set(order)
    order += [nid for nid in nodes if nid not in walked]  # cycles: keep them, unrooted
    if current is None or str(current) not in nodes:
        current = _last_leaf(children)
    active = _path(str(current) if current is not None else None, parents)
    emitted: set[str] = set()
    records = []
    for index, nid in enumerate(order):
        parent = parents[nid] if parents[nid] in emitted else None
        records.append(_message(nodes[nid], index, parent, nid in active, nid))
        emitted.add(nid)
    return records


def _parent(node: dict[str, Any], nodes: dict[str, Any]) -> str | None:
    parent = node.get("parentId")
    return str(parent) if parent is not None and str(parent) in nodes else None


def _walk(children: dict[str | None, list[str]]) -> list[str]:
    order: list[str] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        nid = stack.pop()
        order.append(nid)
        stack.extend(reversed(children.get(nid, [])))
    return order


def _last_leaf(children: dict[str | None, list[str]]) -> str | None:
    node, seen = None, set()
    while children.get(node) and node not in seen:
        seen.add(node)
        node = children[node][-1]
    return node


def _path(node: str | None, parents: dict[str, str | None]) -> set[str]:
    path: set[str] = set()
    while node is not None and node not in path:
        path.add(node)
        node = parents.get(node)
    return path


def _message(
    node: dict[str, Any], index: int, parent: str | None, active: bool, nid: str | None = None
) -> MessageRecord:
    role = normalise_role(node.get("role"))
    content = _text(node.get("content"))
    speaker = (node.get("modelName") or node.get("model")) if role == "assistant" else None
    speaker = speaker if isinstance(speaker, str) else None  # the raw value stays in metadata
    metadata = {k: v for k, v in node.items() if k not in MESSAGE_KEYS}
    if not isinstance(node.get("content"), str) and node.get("content") is not None:
        metadata["content"] = node["content"]  # multimodal parts: images etc. are not text
    if node.get("parentId") not in (None, parent):
        metadata["parentId"] = node["parentId"]  # dangling or overridden by the linear order
    return MessageRecord(
        source_id=message_source_id(nid or node.get("id"), index, role, content),
        role=role,
        content=content,
        speaker=speaker,
        created_at=parse_timestamp(node.get("timestamp")),
        parent_source_id=parent,
        active=active,
        metadata=metadata,
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: keep the text ones
        parts = [p.get("text") for p in iter_dicts(content) if isinstance(p.get("text"), str)]
        return "\n\n".join(parts)
    return "" if content is None else json.dumps(content, ensure_ascii=False)
