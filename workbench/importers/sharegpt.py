"""ShareGPT-style datasets: ``[{id, conversations: [{from, value}]}]``.

The ``messages: [{role, content}]`` variant and a top-level ``{"data": [...]}`` wrapper are read
too. The format has no timestamps and no branches: every conversation is a linear chain.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import ImportRejected
from workbench.records import ConversationRecord, MessageRecord, ParsedFile
from workbench.importers.base import (
    Source,
    conversation_source_id,
    iter_dicts,
    json_or_none,
    message_source_id,
    normalise_role,
)

NAME = "sharegpt"
DESCRIPTION = "ShareGPT-style dataset (list of {id, conversations: [{from, value}]})"

# Keys that mark another format's conversation, so its "messages" list is not ours.
FOREIGN_KEYS = ("mapping", "chat_messages", "history", "chat", "conversation_id")
TURN_FIELDS = {"conversations": ("from", "value"), "messages": ("role", "content")}


def sniff(source: Source) -> bool:
    """True iff the first objects of a JSON list hold ShareGPT turn lists (and nothing foreign)."""
    try:
        items = list(iter_dicts(_items(json_or_none(source))))[:5]
    except Exception:  # a sniffer only answers yes or no
        return False
    foreign = any(key in item for item in items for key in FOREIGN_KEYS)
    return not foreign and any(_turn_key(item) is not None for item in items)


def parse(source: Source) -> ParsedFile:
    """Every conversation with a turn list; others are skipped with a warning.

    Duplicate ids get a ``#n`` suffix so no conversation silently replaces another.
    """
    items = _items(source.data)
    if not isinstance(items, list):
        raise ImportRejected(source.name, "not a ShareGPT dataset: expected a JSON list")
    warnings: list[str] = []
    conversations: list[ConversationRecord] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        record = _conversation(item, index, warnings)
        if record is None:
            continue
        seen[record.source_id] = seen.get(record.source_id, 0) + 1
        if seen[record.source_id] > 1:
            record.source_id = f"{record.source_id}#{seen[record.source_id]}"
        conversations.append(record)
    repeated = sum(n - 1 for n in seen.values())
    if repeated:
        warnings.append(f"{repeated} conversations repeat an earlier id; imported with a #n suffix")
    return ParsedFile(NAME, conversations, warnings)


def _items(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return data["data"]
    return data


def _turn_key(item: dict[str, Any]) -> str | None:
    """Which field holds the turns ("conversations" or "messages"), if this is a ShareGPT item."""
    if any(key in item for key in FOREIGN_KEYS):
        return None
    for key, (role_field, text_field) in TURN_FIELDS.items():
        turns = item.get(key)
        if isinstance(turns, list) and turns:
            first = turns[0]
            if isinstance(first, dict) and role_field in first and text_field in first:
                return key
    return None


def _conversation(item: Any, index: int, warnings: list[str]) -> ConversationRecord | None:
    key = _turn_key(item) if isinstance(item, dict) else None
    if key is None:
        label = item.get("id") if isinstance(item, dict) else None
        warnings.append(f"conversation #{index} ({label or 'no id'}): no turn list; skipped")
        return None
    title = item.get("title") if isinstance(item.get("title"), str) else None
    messages = _messages(item[key], *TURN_FIELDS[key])
    own_id = item.get("id")
    return ConversationRecord(
        source_id=conversation_source_id(own_id, title, messages),
        title=title,
        messages=messages,
        metadata={
            k: v
            for k, v in item.items()
            if k not in (key, "id") and not (k == "title" and v == title)
        },
    )


def _messages(turns: list[Any], role_field: str, text_field: str) -> list[MessageRecord]:
    records: list[MessageRecord] = []
    for index, turn in enumerate(iter_dicts(turns)):
        role = normalise_role(turn.get(role_field))
        content = turn.get(text_field)
        content = content if isinstance(content, str) else "" if content is None else str(content)
        records.append(
            MessageRecord(
                source_id=message_source_id(turn.get("id"), index, role, content),
                role=role,
                content=content,
                parent_source_id=records[-1].source_id if records else None,
                metadata={k: v for k, v in turn.items() if k not in (role_field, text_field, "id")},
            )
        )
    return records
