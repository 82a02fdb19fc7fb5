"""Render a stored conversation as Markdown or JSON (timestamps and metadata kept exactly)."""

from __future__ import annotations

import json

from workbench.records import Conversation, Message


def to_json(conversation: Conversation, messages: list[Message]) -> str:
    payload = conversation.to_dict()
    payload["messages"] = [m.to_dict() for m in messages]
    return json.dumps(payload, ensure_ascii=False, indent=2)


def to_markdown(conversation: Conversation, messages: list[Message]) -> str:
    """The active branch as a readable transcript; other branches are listed after it."""
    lines = [f"# {conversation.title or '(untitled)'}", ""]
    meta = [f"workspace: {conversation.workspace}", f"source: {conversation.source_format}"]
    if conversation.created_at:
        meta.append(f"created: {conversation.created_at.isoformat()}")
    lines += [" · ".join(meta), ""]
    active = [m for m in messages if m.on_active_branch]
    others = [m for m in messages if not m.on_active_branch and m.content.strip()]
    for message in active:
        lines += _render(message)
    if others:
        lines += ["---", "", "## Other branches and hidden turns", ""]
        for message in others:
            lines += _render(message)
    return "\n".join(lines).rstrip() + "\n"


def _render(message: Message) -> list[str]:
    who = message.speaker or message.role
    if message.speaker and message.speaker != message.role:
        who = f"{message.speaker} ({message.role})"
    when = f" · {message.created_at.isoformat()}" if message.created_at else ""
    kind = f" · {message.content_type}" if message.content_type != "text" else ""
    body = message.content
    if message.content_type in {"code", "execution_output"}:
        body = f"```\n{body}\n```"
    return [f"**{who}**{when}{kind}", "", body, ""]
