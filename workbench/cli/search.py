"""``workbench search``: hybrid search from the command line, one query or a JSONL batch."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer

from workbench.cli.common import emit_json, err, fail, out, workbench
from workbench.text.timeparse import parse_now, parse_time_range


def search(
    query: Optional[str] = typer.Argument(None, help="What to look for."),
    queries: Optional[Path] = typer.Option(
        None, "--queries", help='JSONL batch: {"id", "query", "workspace"} per line.'
    ),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w"),
    k: int = typer.Option(10, "--k", "-k", min=1, max=1000),
    since: Optional[str] = typer.Option(None, "--since", help="YYYY-MM-DD or a phrase."),
    until: Optional[str] = typer.Option(None, "--until", help="YYYY-MM-DD (inclusive) or a phrase."),
    role: Optional[str] = typer.Option(None, "--role"),
    conversation: Optional[str] = typer.Option(None, "--conversation"),
    retriever: Optional[str] = typer.Option(None, "--retriever"),
    chunker: Optional[str] = typer.Option(None, "--chunker"),
    neighbours: int = typer.Option(0, "--neighbours", help="Turns of context around each hit."),
    now: Optional[str] = typer.Option(None, "--now", help="ISO date the question is asked on: "
                                      "time phrases are read against it (default: today)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hybrid search over the history: message-level hits with where they came from."""
    if (query is None) == (queries is None):
        fail("give a QUERY or --queries FILE.jsonl")
    # One query is over before an in-memory copy of the index could be built for it.
    bench = workbench(read_only=True, search_mirror=queries is not None)
    options = dict(k=k, since=_moment(since, False), until=_moment(until, True), role=role,
                   conversation=conversation, retriever=retriever, chunker=chunker,
                   neighbours=neighbours, now=_now(now))
    if queries is not None:
        for number, item in enumerate(_read_queries(queries), start=1):
            asked = {"now": _now(str(item["now"]))} if item.get("now") else {}
            result = bench.search.query(item["query"], item.get("workspace") or workspace,
                                        **(options | asked))
            sys.stdout.write(json.dumps(
                {"id": item.get("id", number), "hits": [h.to_dict() for h in result.hits]},
                ensure_ascii=False, default=str) + "\n")
        return
    result = bench.search.query(query, workspace, **options)
    if as_json:
        emit_json(result.to_dict())
        return
    if result.time_phrase:
        err.print(f"time: {result.time_reading()}", markup=False)
    for rank, hit in enumerate(result.hits, start=1):
        when = hit.timestamp.strftime("%Y-%m-%d") if hit.timestamp else "undated"
        out.print(f"[b]{rank}.[/b] {hit.title or '(untitled)'} · {when} · "
                  f"{hit.speaker or hit.role} · {hit.score:.3f}  [dim]{hit.message_id[:8]}[/dim]")
        out.print("   " + hit.text[:300].replace("\n", " "), markup=False, highlight=False)


def _moment(value: Optional[str], end: bool) -> Optional[datetime]:
    """An ISO date/time or a phrase ("last March"); a bare date as --until includes that day."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if end and len(value) <= 10:
            moment += timedelta(days=1)
        return moment
    except ValueError:
        found = parse_time_range(value, datetime.now(timezone.utc))
        if found is None:
            fail(f"cannot read the date {value!r} (use YYYY-MM-DD or a phrase like 'last March')")
        return found.until if end else found.since


def _now(value: Optional[str]) -> Optional[datetime]:
    if not value:
        return None
    try:
        return parse_now(value)
    except ValueError:
        fail(f"--now / \"now\" must be an ISO date (YYYY-MM-DD), not {value!r}")


def _read_queries(path: Path) -> list[dict]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{path}: line {number}: invalid JSON ({exc.msg})")
        if not isinstance(item, dict) or not str(item.get("query", "")).strip():
            fail(f"{path}: line {number}: needs a non-empty \"query\"")
        items.append(item)
    return items
