"""ChatGPT data export: ``conversations.json`` (a list), or the split files of later exports.

Each conversation is a ``mapping`` tree of nodes; every node becomes a message (regenerations,
edits and the null-message root included) and the path to ``current_node`` is the active branch.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator

from workbench.errors import ImportRejected
from workbench.records import ROLES, ConversationRecord, MessageRecord, ParsedFile
from workbench.importers.base import (
    Source,
    content_hash,
    json_or_none,
    normalise_role,
    parse_timestamp,
)

NAME = "chatgpt"
DESCRIPTION = "ChatGPT data export (conversations.json, or one JSON file per conversation/chunk)"

NOT_CONVERSATION_KEYS = ("mapping", "title", "create_time", "update_time")
NODE_KEYS = ("id", "message", "parent", "children")
# The content fields that carry each content type's text, joined with newlines in this order.
TEXT_FIELDS = {
    "code": ("text",),
    "execution_output": ("text",),
    "tether_browsing_display": ("result", "summary"),
    "tether_quote": ("title", "url", "text"),
    "user_editable_context": ("user_profile", "user_instructions"),
    "reasoning_recap": ("content",),
    "model_editable_context": ("model_set_context",),
    "system_error": ("name", "text"),
}


def sniff(source: Source) -> bool:
    """True iff the source is JSON holding at least one recognisably ChatGPT conversation."""
    try:
        items = _items(json_or_none(source))
    except (ImportRejected, RecursionError):  # unreadable or absurdly nested: not ours to judge
        return False
    return items is not None and any(_looks_like_conversation(item) for item in items)


def parse(source: Source) -> ParsedFile:
    """Every parseable conversation of the file; damaged ones are skipped with a warning.

    Raises ImportRejected only when the file as a whole is not a ChatGPT export.
    """
    warnings: list[str] = []
    conversations = {record.source_id: record for record in read(source, warnings)}
    return ParsedFile(NAME, list(conversations.values()), warnings)


def read(source: Source, warnings: list[str]) -> Iterator[ConversationRecord]:
    """``parse`` one conversation at a time: a big file is read item by item, never whole."""
    sample = _items(source.sample)
    if sample is None or not any(_looks_like_conversation(item) for item in sample):
        raise ImportRejected(source.name, "not a ChatGPT export: no conversation with a 'mapping'")
    items = source.items() if source.streams else sample
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        record = _conversation(item, index, warnings)
        if record is None:
            continue
        if record.source_id in seen:
            label = _label(record.title, record.source_id)
            warnings.append(f"{label}: duplicate conversation id; the later copy is kept")
        seen.add(record.source_id)
        yield record


def _items(data: Any) -> list[Any] | None:
    """The candidate conversations of a document: a list, a ``conversations`` list, or one dict."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("conversations"), list):
            return data["conversations"]
        if _looks_like_conversation(data):
            return [data]
    return None


def _looks_like_conversation(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    marked = "current_node" in item or "conversation_id" in item
    return "mapping" in item or ("title" in item and marked)


def _conversation(item: Any, index: int, warnings: list[str]) -> ConversationRecord | None:
    if not isinstance(item, dict):
        kind = type(item).__name__
        warnings.append(f'"(item {index})": not a conversation object ({kind}); skipped')
        return None
    title = None if item.get("title") is None else str(item["title"])
    source_id = _conversation_id(item)
    label = _label(title, source_id)
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        problem = "no message tree ('mapping' missing, empty or not an object)"
        warnings.append(f"{label}: {problem}; skipped")
        return None
    try:
        messages = _messages(mapping, item.get("current_node"), label, warnings)
    except Exception as exc:  # one malformed conversation must not cost the user the rest
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        warnings.append(f"{label}: unreadable message tree ({reason}); skipped")
        return None
    metadata = {k: v for k, v in item.items() if k not in NOT_CONVERSATION_KEYS}
    times = {key: _time(item.get(key)) for key in ("create_time", "update_time")}
    unread = [key for key, moment in times.items() if moment is None and item.get(key) is not None]
    metadata.update({key: item[key] for key in unread})
    unread += [m.source_id for m in messages if "create_time" in m.metadata]
    if unread:
        warnings.append(f"{label}: {len(unread)} impossible timestamps kept raw in metadata")
    return ConversationRecord(
        source_id=source_id,
        title=title,
        messages=messages,
        created_at=times["create_time"],
        updated_at=times["update_time"],
        metadata=metadata,
    )


def _conversation_id(item: dict[str, Any]) -> str:
    for key in ("conversation_id", "id"):
        if item.get(key) not in (None, ""):
            return str(item[key])
    return content_hash(item.get("title"), item.get("create_time"))


def _label(title: str | None, source_id: str) -> str:
    one_line = " ".join((title or "(untitled)").split())
    return f'"{one_line}" ({source_id})'


def _time(value: Any) -> datetime | None:
    return parse_timestamp(value)


def _messages(
    mapping: dict[str, Any], current: Any, label: str, warnings: list[str]
) -> list[MessageRecord]:
    """All nodes, parent before child; ``active`` marks the visible path to ``current``."""
    nodes: dict[str, dict[str, Any]] = {}
    for node_id, node in mapping.items():
        if isinstance(node, dict):
            nodes[str(node_id)] = node
        else:
            warnings.append(f"{label}: node {node_id} is not an object; skipped")
    kids = _children(nodes)
    order = _tree_order(nodes, kids, label, warnings)
    if not order:
        return []
    if not (isinstance(current, str) and current in nodes):
        warnings.append(
            f"{label}: current_node {current!r} is missing or not in the mapping; "
            "the last branch is taken as active"
        )
        current = _last_leaf(next(iter(order)), kids)
    path = _path_to(current, order)
    return [_message(nid, nodes[nid], parent, nid in path) for nid, parent in order.items()]


def _parent_id(node: dict[str, Any]) -> str | None:
    parent = node.get("parent")
    return None if parent is None else str(parent)


def _children(nodes: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Children by parent link: in the parent's ``children`` order, then the rest in map order.

    The parent link is authoritative, so every node sits in at most one list.
    """
    kids: dict[str, list[str]] = {nid: [] for nid in nodes}
    for nid, node in nodes.items():
        listed = node.get("children")
        for child in listed if isinstance(listed, list) else []:
            if isinstance(child, str) and child in nodes and _parent_id(nodes[child]) == nid:
                if child not in kids[nid]:
                    kids[nid].append(child)
    for nid, node in nodes.items():
        parent = _parent_id(node)
        if parent in kids and nid not in kids[parent]:
            kids[parent].append(nid)
    return kids


def _tree_order(
    nodes: dict[str, dict[str, Any]], kids: dict[str, list[str]], label: str, warnings: list[str]
) -> dict[str, str | None]:
    """Node id → kept parent, in depth-first pre-order; every node once, and no cycles."""
    order: dict[str, str | None] = {}
    for nid, node in nodes.items():
        parent = _parent_id(node)
        if parent is not None and parent not in nodes:
            warnings.append(
                f"{label}: node {nid} has parent {parent}, not in the mapping; kept as a root"
            )
        if parent is None or parent not in nodes:
            _walk(nid, kids, order)
    for nid in nodes:
        if nid not in order:
            start = _cycle_member(nid, nodes)
            warnings.append(f"{label}: node {start} is on a cycle of parent links; kept as a root")
            _walk(start, kids, order)
    return order


def _walk(root: str, kids: dict[str, list[str]], order: dict[str, str | None]) -> None:
    stack: list[tuple[str, str | None]] = [(root, None)]
    while stack:
        nid, parent = stack.pop()
        if nid in order:
            continue
        order[nid] = parent
        stack.extend((child, nid) for child in reversed(kids[nid]))


def _cycle_member(nid: str, nodes: dict[str, dict[str, Any]]) -> str:
    """A node on the cycle that ``nid``'s parent links run into (``nid`` itself if none)."""
    seen: set[str] = set()
    current: str | None = nid
    while current in nodes and current not in seen:
        seen.add(current)
        current = _parent_id(nodes[current])
    return current if current in nodes else nid


def _last_leaf(root: str, kids: dict[str, list[str]]) -> str:
    seen = {root}
    while kids[root] and kids[root][-1] not in seen:
        root = kids[root][-1]
        seen.add(root)
    return root


def _path_to(node: str | None, parents: dict[str, str | None]) -> set[str]:
    path: set[str] = set()
    while node is not None and node in parents and node not in path:
        path.add(node)
        node = parents[node]
    return path


def _message(nid: str, node: dict[str, Any], parent: str | None, on_path: bool) -> MessageRecord:
    extra: dict[str, Any] = {}
    if node.get("parent") is not None and str(node["parent"]) != parent:
        extra["source_parent"] = node["parent"]
    if any(k not in NODE_KEYS for k in node):
        extra["node"] = {k: v for k, v in node.items() if k not in NODE_KEYS}
    message = node.get("message")
    if not isinstance(message, dict):
        if message is not None:
            extra["message"] = message
        return MessageRecord(nid, "system", "", "placeholder", None, None, parent, False, extra)
    raw = message.get("content")
    content = raw if isinstance(raw, dict) else {"content_type": "text", "parts": [raw]}
    kind = str(content.get("content_type") or "text")
    text = _content_text(kind, content)
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    role = normalise_role(author.get("role"))
    role = role if role in ROLES else "tool"  # unknown agents; the raw author stays in metadata
    metadata = {k: v for k, v in message.items() if k not in ("id", "content", "create_time")}
    created = _time(message.get("create_time"))
    if created is None and message.get("create_time") is not None:
        metadata["create_time"] = message["create_time"]
    if message.get("id") not in (None, nid):
        metadata["message_id"] = message["id"]
    if kind != "text" or not _plain_text(content):
        metadata["content"] = raw
    metadata.update(extra)
    return MessageRecord(
        source_id=nid,
        role=role,
        content=text,
        content_type=kind,
        speaker=str(author["name"]) if author.get("name") else None,
        created_at=created,
        parent_source_id=parent,
        active=on_path and _visible(message, kind, role, text),
        metadata=metadata,
    )


def _visible(message: dict[str, Any], kind: str, role: str, text: str) -> bool:
    """What the ChatGPT UI shows: hidden context and empty system prompts are not conversation."""
    meta = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if meta.get("is_visually_hidden_from_conversation") or kind == "user_editable_context":
        return False
    return not (role == "system" and not text.strip())


def _plain_text(content: dict[str, Any]) -> bool:
    parts = content.get("parts")
    only_parts = set(content) <= {"content_type", "parts"} and isinstance(parts, list)
    return only_parts and all(isinstance(p, str) for p in parts)


def _content_text(kind: str, content: dict[str, Any]) -> str:
    """The readable text of a content dict; raw structure is kept by the caller in metadata."""
    if kind in ("text", "multimodal_text"):
        return _join_parts(content.get("parts"))
    if kind in TEXT_FIELDS:
        return _join(*(content.get(key) for key in TEXT_FIELDS[kind]))
    if kind == "thoughts" and isinstance(content.get("thoughts"), list):
        thoughts = [t for t in content["thoughts"] if isinstance(t, dict)]
        return _join(*(t.get("content") or t.get("summary") for t in thoughts))
    for key in ("parts", "text", "result"):
        if isinstance(content.get(key), list):
            return _join_parts(content[key])
        if isinstance(content.get(key), str):
            return content[key]
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)


def _join(*values: Any) -> str:
    return "\n".join(v for v in values if isinstance(v, str) and v.strip())


def _join_parts(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return ""
    return "\n".join(t for t in map(_part_text, parts) if t is not None)


def _part_text(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        if isinstance(part.get("text"), str) and part["text"].strip():
            return part["text"]  # e.g. voice-mode audio_transcription
        kind = str(part.get("content_type") or "attachment")
        return f"[{kind.removesuffix('_asset_pointer')}]"
    return None if part is None else str(part)
