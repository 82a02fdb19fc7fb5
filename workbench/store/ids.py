"""Stable identity: ids derived from where a row came from, so re-imports change nothing."""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("6f1d8a52-3c0b-4d38-9a57-1e0c2b7d9e41")


def workspace_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"workspace\x1f{name}"))


def conversation_id(workspace: str, source_format: str, source_id: str) -> str:
    # The workspace is part of the identity: one export imported into two workspaces is two copies.
    return str(uuid.uuid5(NAMESPACE, f"conversation\x1f{workspace}\x1f{source_format}\x1f{source_id}"))


def message_id(conversation: str, source_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"message\x1f{conversation}\x1f{source_id}"))


def message_hash(role: str, content: str) -> str:
    return hashlib.sha256(f"{role}\x1f{content}".encode("utf-8")).hexdigest()[:32]
