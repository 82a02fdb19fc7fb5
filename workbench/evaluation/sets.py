"""Evaluation sets: versioned lists of judged queries, read from files and checked.

A set comes from a LoCoMo file, from JSONL qrels the user brings, or is generated from the
user's own history (``evaluation.generate``). Relevant ids are resolved to message ids when a
set is stored, so every judgement compares message ids. Storing a set under an existing name
adds version + 1, unless its queries are those of the latest version, which is then returned
unchanged (the store keeps that rule).
"""

from __future__ import annotations

from workbench.errors import InvalidInput

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from workbench.evaluation.metrics import locomo_queries
from workbench.records import EvalSet, Query, SetQuery
from workbench.store import Store
from workbench.text.timeparse import parse_now

KINDS = ("locomo", "qrels", "known-item", "llm")


# --- storing --------------------------------------------------------------------------------

def fingerprint(queries: Iterable[Query]) -> str:
    """sha256 over each query's text, relevant ids, workspace, category and (when it has one)
    the date it is asked, in order."""
    digest = hashlib.sha256()
    for q in queries:
        item = [q.text, sorted(q.relevant), q.workspace, q.category]
        now = getattr(q, "metadata", {}).get("now")
        if now:  # only then, so that sets stored before "now" keep their fingerprint
            item.append(now)
        digest.update(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def store_set(
    store: Store,
    name: str,
    kind: str,
    queries: list[SetQuery],
    workspace: str | None = None,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    source: str | None = None,
) -> EvalSet:
    """Store ``queries`` as the next version of ``name`` (or return the latest if identical)."""
    if not name or "@" in name:
        raise InvalidInput(f"eval set name {name!r} must be non-empty and without '@'")
    if kind not in KINDS:
        raise InvalidInput(f"unknown eval set kind {kind!r}; known: {', '.join(KINDS)}")
    ids = [q.id for q in queries]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i, n in Counter(ids).items() if n > 1)
        raise InvalidInput(f"eval set {name!r}: query id {duplicate!r} appears twice")
    return store.evals.sets.add(name, kind, queries, fingerprint(queries), workspace, seed,
                                params, source)


# --- importing files --------------------------------------------------------------------------

def detect(path: Path) -> str:
    """"locomo" for a LoCoMo JSON file, else "qrels" (JSONL); decided by content, not name."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "qrels"
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    if isinstance(data, list) and data and all(
        isinstance(s, dict) and "sample_id" in s and "conversation" in s for s in data
    ):
        return "locomo"
    return "qrels"


@dataclass
class _QrelsLine:
    number: int
    id: str
    text: str
    given: list[str]
    workspace: str
    category: str | None
    now: str | None = None


def query_now(metadata: dict[str, Any]) -> datetime | None:
    """When a stored query is asked (its qrels line's ``"now"``), for its time phrases."""
    value = metadata.get("now")
    return None if not value else parse_now(value)


def _bad_line(path: Path, number: int, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: line {number}: {problem}")


def read_qrels(path: Path, workspace: str | None = None) -> list[_QrelsLine]:
    """Parse and check every line of a qrels file; the first bad line raises InvalidInput."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        bad = functools.partial(_bad_line, path, number)
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad(f"invalid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise bad("expected a JSON object")
        text = item.get("query")
        if not isinstance(text, str) or not text.strip():
            raise bad('needs a non-empty "query"')
        relevant = item.get("relevant")
        if isinstance(relevant, (str, int)):
            relevant = [relevant]
        if not isinstance(relevant, list) or not relevant or not all(
            isinstance(r, (str, int)) and str(r).strip() for r in relevant
        ):
            raise bad('needs "relevant": a non-empty list of message or source ids')
        space = item.get("workspace") or workspace
        if not isinstance(space, str) or not space:
            raise bad('needs a "workspace" (or pass one for the whole file)')
        category = item.get("category")
        now = item.get("now")
        try:
            if now is not None:
                parse_now(str(now))
        except ValueError:
            raise bad(f'"now" must be an ISO date, not {now!r}') from None
        items.append(_QrelsLine(number, str(item.get("id", number)), text.strip(),
                                [str(r).strip() for r in relevant], space,
                                None if category is None else str(category),
                                None if now is None else str(now)))
    if not items:
        raise InvalidInput(f"{path}: no queries")
    return items


def _id_maps(store: Store, workspace: str,
             wanted: list[str]) -> tuple[set[str], dict[str, list[str]]]:
    """Of ``wanted``, the message ids of the workspace and its source ids → message ids."""
    rows = store.messages.ids_for(workspace, wanted)
    by_source: dict[str, list[str]] = {}
    for message_id, source_id in rows:
        by_source.setdefault(source_id, []).append(message_id)
    return {r[0] for r in rows}, by_source


def _resolve(workspace: str, given: list[str], maps: dict) -> tuple[set[str], list[str]]:
    """(message ids, entries that matched nothing); a message id wins over a source id."""
    if workspace not in maps:
        return set(), given
    ids, by_source = maps[workspace]
    found: set[str] = set()
    missing = []
    for entry in given:
        if entry.lower() in ids:
            found.add(entry.lower())
        elif entry in by_source:
            found.update(by_source[entry])
        else:
            missing.append(entry)
    return found, missing


def _maps_for(store: Store, wanted: dict[str, list[str]]) -> dict[str, tuple]:
    with store.session():
        known = store.conversations.workspace_names()
        return {w: _id_maps(store, w, sorted(set(ids))) for w, ids in sorted(wanted.items())
                if w in known}


def qrels_queries(store: Store, path: Path, workspace: str | None = None) -> list[SetQuery]:
    """The queries of a qrels JSONL file with relevant ids resolved; any unknown workspace or
    id raises ValueError naming the file and line."""
    items = read_qrels(path, workspace)
    wanted: dict[str, list[str]] = {}
    for item in items:
        wanted.setdefault(item.workspace, []).extend(item.given)
    maps = _maps_for(store, wanted)
    queries, seen = [], set()
    for item in items:
        if item.workspace not in maps:
            raise InvalidInput(f"{path}: line {item.number}: workspace {item.workspace!r} does not exist")
        if item.id in seen:
            raise InvalidInput(f"{path}: line {item.number}: query id {item.id!r} appears twice")
        seen.add(item.id)
        relevant, missing = _resolve(item.workspace, item.given, maps)
        if missing:
            raise InvalidInput(f"{path}: line {item.number}: no message or source id "
                             f"{missing[0]!r} in workspace {item.workspace!r}")
        metadata: dict[str, Any] = {"given": item.given, "line": item.number}
        if item.now:
            metadata["now"] = item.now
        queries.append(SetQuery(item.id, item.text, relevant, item.workspace, item.category,
                                metadata))
    return queries


def locomo_set_queries(store: Store, path: Path) -> list[SetQuery]:
    """LoCoMo questions (categories 1-4) with evidence dia_ids resolved in each sample's
    workspace. Evidence naming no turn (the full benchmark has a few typos) is dropped and kept
    in the query's metadata, so the set stays usable; questions without evidence are kept and
    skipped by runs, as LoCoMo's own scoring does."""
    raw = locomo_queries(path)
    wanted: dict[str, list[str]] = {}
    for q in raw:
        wanted.setdefault(q.workspace, []).extend(q.relevant)
    maps = _maps_for(store, wanted)
    queries = []
    for q in raw:
        relevant, missing = _resolve(q.workspace, sorted(q.relevant), maps)
        metadata: dict[str, Any] = {"evidence": sorted(q.relevant)}
        if missing:
            metadata["unresolved"] = missing
        queries.append(SetQuery(q.id, q.text, relevant, q.workspace, q.category, metadata))
    return queries
