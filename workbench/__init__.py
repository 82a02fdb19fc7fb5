"""workbench: a conversation-memory RAG workbench (ingest, store, retrieve, chat, evaluate)."""

from .api import Workbench
from .config import Settings, load_settings
from .importers import ImportRejected
from .records import Conversation, ImportResult, Message

__all__ = [
    "Conversation",
    "ImportRejected",
    "ImportResult",
    "Message",
    "Settings",
    "Workbench",
    "load_settings",
]
__version__ = "0.1.0"
