"""Claude.ai data export: ``conversations.json``, a list of conversations with ``chat_messages``.

Each chat message becomes one visible message; its thinking, tool_use and tool_result content
blocks follow it as child messages of their own (thinking off the active branch). Chats are
linear, so each visible message's parent is the visible message before it.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from workbench.errors import ImportRejected
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

NAME = "claude"
DESCRIPTION = "Claude.ai data export (conversations.json)"

CONVERSATION_KEYS = ("uuid", "name", "created_at", "updated_at", "chat_messages")
MESSAGE_KEYS = ("uuid", "text", "sender", "created_at", "content")
BLOCK_ROLES = {"thinking": "assistant", "tool_use": "assistant", "tool_result": "tool"}


def sniff(source: Source) -> bool:
    """True iff the source is a JSON list whose objects all carry a ``chat_messages`` field."""
    try:
        items = list(iter_dicts(json_or_none(source)))[:5]
    except Exception:  # a sniffer only answers yes or no
        return False
    return bool(items) and all("chat_messages" in item for item in items)


def parse(source: Source) -> ParsedFile:
    """Every conversation of the export; a malformed one is skipped with a warning.

    Raises ImportRejected when the file is not a list of Claude conversations.
    """
    warnings: list[str] = []
    return ParsedFile(NAME, list(read(source, warnings)), warnings)


def read(source: Source, warnings: list[str]) -> Iterator[ConversationRecord]:
    """``parse`` one conversation at a time: a big file is read item by item, never whole."""
    sample = source.sample
    if not isinstance(sample, list) or not any("chat_messages" in i for i in iter_dicts(sample)):
        raise ImportRejected(source.name, "not a Claude export: no list of chat_messages found")
    for index, item in enumerate(source.items(), start=1):
        record = _conversation(item, index, warnings)
        if record is not None:
            yield record


def _conversation(item: Any, index: int, warnings: list[str]) -> ConversationRecord | None:
    if not isinstance(item, dict) or not isinstance(item.get("chat_messages"), list):
        label = item.get("uuid") if isinstance(item, dict) else None
        warnings.append(
            f"conversation #{index} ({label or 'no id'}): no chat_messages list; skipped"
        )
        return None
    name = item.get("name")
    title = name if isinstance(name, str) and name else None
    messages = _messages(item["chat_messages"])
    metadata = {k: v for k, v in item.items() if k not in CONVERSATION_KEYS}
    if name and title is None:
        metadata["name"] = name  # not text: kept as it came, not made a title
    return ConversationRecord(
        source_id=conversation_source_id(item.get("uuid"), title, messages),
        title=title,
        messages=messages,
        created_at=parse_timestamp(item.get("created_at")),
        updated_at=parse_timestamp(item.get("updated_at")),
        metadata=metadata,
    )


def _messages(chat_messages: list[Any]) -> list[MessageRecord]:
    """Visible messages in order, each followed by its block messages; parents chain linearly."""
    records: list[MessageRecord] = []
    previous: str | None = None
    for index, raw in enumerate(iter_dicts(chat_messages)):
        message = _visible(raw, index, previous)
        records.append(message)
        records.extend(_block_messages(raw, message))
        previous = message.source_id
    return records


def _visible(raw: dict[str, Any], index: int, parent: str | None) -> MessageRecord:
    role = normalise_role(raw.get("sender"))
    blocks = raw.get("content") if isinstance(raw.get("content"), list) else []
    texts = [_str(b.get("text")) for b in iter_dicts(blocks) if b.get("type") == "text"]
    text = raw.get("text") if isinstance(raw.get("text"), str) else ""
    content = "\n\n".join(t for t in texts if t) if texts else text
    metadata = {k: v for k, v in raw.items() if k not in MESSAGE_KEYS}
    if texts and text != content:
        metadata["text"] = raw.get("text")
    _keep_blocks(metadata, blocks)
    return MessageRecord(
        source_id=message_source_id(raw.get("uuid"), index, role, content),
        role=role,
        content=content,
        created_at=parse_timestamp(raw.get("created_at")),
        parent_source_id=parent,
        metadata=metadata,
    )


def _keep_blocks(metadata: dict[str, Any], blocks: list[Any]) -> None:
    # Text blocks minus their text (already the content), and blocks we do not turn into messages.
    text_blocks = [
        {k: v for k, v in b.items() if k != "text" or not isinstance(v, str)}
        for b in iter_dicts(blocks)
        if b.get("type") == "text"
    ]
    if any(len(b) > 1 for b in text_blocks):
        metadata["text_blocks"] = text_blocks
    handled = (*BLOCK_ROLES, "text")
    other = [b for b in blocks if not isinstance(b, dict) or b.get("type") not in handled]
    if other:
        metadata["other_blocks"] = other


def _block_messages(raw: dict[str, Any], parent: MessageRecord) -> list[MessageRecord]:
    blocks = raw.get("content") if isinstance(raw.get("content"), list) else []
    records = []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_ROLES:
            continue
        content, used = _block_content(kind, block)
        records.append(
            MessageRecord(
                source_id=f"{parent.source_id}#{i}",
                role=BLOCK_ROLES[kind],
                content=content,
                content_type=kind,
                created_at=parse_timestamp(block.get("start_timestamp")) or parent.created_at,
                parent_source_id=parent.source_id,
                active=kind != "thinking",
                metadata={k: v for k, v in block.items() if k not in used},
            )
        )
    return records


def _block_content(kind: str, block: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The block's text, and the keys that text was made of (left out of its metadata)."""
    if kind == "thinking":
        return str(block.get("thinking") or ""), ("type", "thinking")
    if kind == "tool_use":
        arguments = json.dumps(block.get("input"), ensure_ascii=False, sort_keys=True)
        return f"{block.get('name') or 'tool'} {arguments}", ("type",)
    content = block.get("content")
    used = ("type", "content") if _only_text(content) else ("type",)  # images etc. stay
    return _result_text(content), used


def _only_text(content: Any) -> bool:
    if isinstance(content, list):
        return all(isinstance(p, dict) and set(p) <= {"type", "text"} for p in content)
    return isinstance(content, str) or content is None


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_result_text(part) for part in content]
        return "\n\n".join(p for p in parts if p)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return content["text"]
        return json.dumps(content, ensure_ascii=False, sort_keys=True)
    return "" if content is None else str(content)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
