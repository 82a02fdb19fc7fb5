"""JSON text in and out of the store's JSON columns."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """JSON text for a metadata column; non-JSON values (datetimes, bytes) become strings."""
    return json.dumps(value, ensure_ascii=False, default=str)


def loads(text: str | dict | None) -> dict[str, Any]:
    if isinstance(text, dict):  # PostgreSQL's JSONB arrives parsed
        return text
    return json.loads(text) if text else {}
