"""workbench: a conversation-memory RAG workbench (ingest, store, retrieve, chat, evaluate)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.api import Workbench
    from workbench.config import Settings, load_settings
    from workbench.errors import ImportRejected
    from workbench.records import Conversation, ImportResult, Message

# Imported on first use, so that a part such as the bulk encoder or the embedding benchmark runs
# where only torch is installed, and `workbench --help` does not load DuckDB and LanceDB.
_EXPORTS = {
    "Conversation": "records",
    "ImportRejected": "errors",
    "ImportResult": "records",
    "Message": "records",
    "Settings": "config",
    "Workbench": "api",
    "load_settings": "config",
}
__all__ = ["Conversation", "ImportRejected", "ImportResult", "Message", "Settings", "Workbench",
           "load_settings"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
