"""The app's choices (model endpoint, k, retriever, chunker, redaction, theme), kept in the home.

A small JSON file beside the database: every browser session of the home starts from it, and
what is missing from it comes from the settings (``WORKBENCH_*``). A damaged file is set aside
with a warning, never a reason for the app not to open.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from workbench.config import Settings

FILE = "app-preferences.json"
THEMES = ("light", "dark")

log = logging.getLogger(__name__)


def defaults(settings: Settings) -> dict[str, Any]:
    return {
        "llm_base_url": settings.llm_base_url or "",
        "llm_model": settings.llm_model or "",
        "k": int(settings.chat_k),
        "retriever": settings.retriever,
        "chunker": settings.chunker,
        "redact": settings.redact,
        "theme": "light",
    }


def load(settings: Settings) -> dict[str, Any]:
    """The settings' values, overridden by what the home's file keeps (known keys only)."""
    chosen = defaults(settings)
    path = settings.home / FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return chosen
    except (OSError, ValueError) as exc:
        log.warning("preferences %s unreadable (%s); using the defaults", path, exc)
        return chosen
    if isinstance(stored, dict):
        chosen.update({k: v for k, v in stored.items()
                       if k in chosen and isinstance(v, type(chosen[k]))})
    if chosen["theme"] not in THEMES:
        chosen["theme"] = "light"
    return chosen


def save(settings: Settings, chosen: dict[str, Any]) -> Path:
    """Write the choices atomically (a reader never sees half a file)."""
    path = settings.home / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    known = {k: chosen[k] for k in defaults(settings) if k in chosen}
    partial.write_text(json.dumps(known, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)
    return path
