"""Benchmarks as code: each returns rows for a table and stores them beside the workbench home."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import importers, synthetic
from .config import Settings
from .ingest import ingest_file
from .store import Store

DEFAULT_FIXTURES = Path("tests/fixtures")


def save_results(settings: Settings, name: str, rows: list[dict[str, Any]]) -> Path:
    folder = settings.home / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{name}-{stamp}.json"
    path.write_text(json.dumps({"benchmark": name, "at": stamp, "rows": rows}, indent=2))
    return path


def run_ingest_benchmark(
    settings: Settings, messages: int = 20000, fixtures: Path | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """Parse + store throughput per fixture and for a generated ChatGPT export, into fresh stores."""
    fixtures = fixtures or DEFAULT_FIXTURES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "generated_conversations.json"
        generated.write_text(json.dumps(synthetic.chatgpt_export(messages)))
        files = sorted(p for p in fixtures.glob("*") if p.is_file()) if fixtures.exists() else []
        for index, path in enumerate(files + [generated]):
            store = Store(Path(tmp) / f"bench-{index}.duckdb")
            started = time.perf_counter()
            try:
                result = ingest_file(store, path, "bench")
            except importers.ImportRejected:
                continue
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "dataset": path.name,
                    "format": result.format,
                    "messages": result.messages_added,
                    "seconds": seconds,
                    "messages_per_s": result.messages_added / seconds if seconds else 0.0,
                }
            )
    return rows, save_results(settings, "ingest", rows)
