"""Property-based: whatever the shape of each importer's input holds, an import either yields
records the store can hold or is one ImportRejected — never another exception, never a partial
write."""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import ImportRejected
from workbench.importers import Source
from workbench.ingest import _read, ingest_file
from workbench.records import ParsedFile
from workbench.store import DuckDBStore

# Text with lone surrogates, NULs, controls and marks: categories are not filtered.
TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.sampled_from(["", "NaN", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                     "\ud800", "a\x00b", "1e999", "-0", "[]", "{}", '"', "user", "assistant"]),
)
SCALAR = st.one_of(
    TEXT, st.none(), st.booleans(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)
TIME = st.one_of(SCALAR, st.floats(min_value=-1e20, max_value=1e20))
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _maybe(strategy: st.SearchStrategy, hostile: st.SearchStrategy = VALUE) -> st.SearchStrategy:
    return st.one_of(strategy, hostile)


@st.composite
def chatgpt_export(draw) -> Any:
    ids = draw(st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=1, max_size=5,
                        unique=True))
    mapping = {}
    for node in ids:
        message = draw(_maybe(st.fixed_dictionaries({
            "id": _maybe(st.just(node)),
            "author": _maybe(st.fixed_dictionaries({"role": TEXT, "name": _maybe(TEXT)})),
            "create_time": TIME,
            "content": _maybe(st.fixed_dictionaries({
                "content_type": st.sampled_from(["text", "multimodal_text", "code",
                                                 "execution_output", "thoughts", "x"]),
                "parts": _maybe(st.lists(VALUE, max_size=3)), "text": _maybe(TEXT)})),
            "metadata": VALUE,
        })))
        mapping[node] = {"id": node, "message": message,
                         "parent": draw(_maybe(st.sampled_from([None, *ids]))),
                         "children": draw(_maybe(st.lists(st.sampled_from(ids), max_size=3)))}
    conversation = {"title": draw(_maybe(TEXT)), "create_time": draw(TIME),
                    "update_time": draw(TIME), "mapping": draw(_maybe(st.just(mapping))),
                    "current_node": draw(_maybe(st.sampled_from(ids))),
                    "conversation_id": draw(_maybe(TEXT)), "extra": draw(VALUE)}
    return draw(st.lists(st.just(conversation), min_size=1, max_size=2))


@st.composite
def claude_export(draw) -> Any:
    block = st.fixed_dictionaries({
        "type": st.sampled_from(["text", "thinking", "tool_use", "tool_result", "image"]),
        "text": _maybe(TEXT), "thinking": _maybe(TEXT), "input": VALUE, "content": VALUE,
        "name": _maybe(TEXT), "start_timestamp": TIME})
    message = st.fixed_dictionaries({
        "uuid": _maybe(TEXT), "sender": _maybe(TEXT), "text": _maybe(TEXT),
        "created_at": TIME, "content": _maybe(st.lists(_maybe(block), max_size=3))})
    return draw(st.lists(st.fixed_dictionaries({
        "uuid": _maybe(TEXT), "name": _maybe(TEXT), "created_at": TIME, "updated_at": TIME,
        "chat_messages": _maybe(st.lists(_maybe(message), max_size=4)), "account": VALUE,
    }), min_size=1, max_size=3))


@st.composite
def sharegpt_export(draw) -> Any:
    turn = st.fixed_dictionaries({"from": _maybe(TEXT), "value": _maybe(TEXT), "extra": VALUE})
    return draw(st.lists(st.fixed_dictionaries({
        "id": _maybe(TEXT), "title": _maybe(TEXT),
        "conversations": _maybe(st.lists(_maybe(turn), min_size=1, max_size=4))}),
        min_size=1, max_size=3))


@st.composite
def openwebui_export(draw) -> Any:
    ids = draw(st.lists(st.text("xyz", min_size=1, max_size=3), min_size=1, max_size=4,
                        unique=True))
    messages = {i: draw(st.fixed_dictionaries({
        "id": _maybe(st.just(i)), "parentId": _maybe(st.sampled_from([None, *ids])),
        "childrenIds": _maybe(st.lists(st.sampled_from(ids), max_size=2)),
        "role": _maybe(TEXT), "content": _maybe(TEXT), "timestamp": TIME, "model": VALUE,
    })) for i in ids}
    chat = {"title": draw(_maybe(TEXT)),
            "history": {"messages": messages, "currentId": draw(_maybe(st.sampled_from(ids)))}}
    return draw(st.one_of(st.just(chat), st.just([{"id": "w", "chat": chat,
                                                    "created_at": draw(TIME)}])))


@st.composite
def generic_rows(draw) -> list[dict[str, Any]]:
    row = st.fixed_dictionaries({
        "conversation_id": _maybe(TEXT, SCALAR), "role": _maybe(TEXT, SCALAR),
        "content": _maybe(TEXT, SCALAR), "timestamp": TIME, "title": _maybe(TEXT, SCALAR),
        "speaker": _maybe(TEXT, SCALAR), "message_id": _maybe(TEXT, SCALAR),
        "parent_id": _maybe(TEXT, SCALAR), "note": VALUE})
    return draw(st.lists(row, min_size=1, max_size=5))


def _write(folder: Path, name: str, payload: Any) -> Path:
    path = folder / name
    if name.endswith(".csv"):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(payload[0]))
        writer.writeheader()
        writer.writerows(payload)
        data = buffer.getvalue().encode("utf-8", "surrogatepass")
    elif name.endswith(".jsonl"):
        data = "\n".join(json.dumps(row) for row in payload).encode()
    else:
        data = json.dumps(payload).encode()  # NaN, Infinity and escaped surrogates included
    path.write_bytes(data)
    return path


def _storable(value: Any) -> None:
    """Every text encodes as UTF-8 and every metadata is strict JSON."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        json.dumps(value, allow_nan=False).encode("utf-8")
    elif isinstance(value, float):
        assert math.isfinite(value)


def _check(parsed: ParsedFile) -> None:
    for conversation in parsed.conversations:
        for value in (conversation.source_id, conversation.title, conversation.metadata):
            _storable(value)
        for m in conversation.messages:
            for value in (m.source_id, m.role, m.content, m.speaker, m.content_type, m.metadata,
                          m.parent_source_id):
                _storable(value)


def _parsed_or_rejected(name: str, payload: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Source(_write(Path(folder), name, payload))
        try:
            parsed = _read(source, None, False, lambda *_: None)
        except ImportRejected as rejected:
            assert "\n" not in str(rejected) and str(rejected).startswith(str(source.path))
            return
        finally:
            source.close()
        _check(parsed)


@PROPERTY
@given(chatgpt_export())
def test_chatgpt_input(payload):
    _parsed_or_rejected("conversations.json", payload)


@PROPERTY
@given(claude_export())
def test_claude_input(payload):
    _parsed_or_rejected("conversations.json", payload)


@PROPERTY
@given(sharegpt_export())
def test_sharegpt_input(payload):
    _parsed_or_rejected("sharegpt.json", payload)


@PROPERTY
@given(openwebui_export())
def test_openwebui_input(payload):
    _parsed_or_rejected("chat.json", payload)


@PROPERTY
@given(generic_rows(), st.sampled_from(["rows.csv", "rows.jsonl", "rows.json"]))
def test_generic_input(rows, name):
    _parsed_or_rejected(name, rows)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(chatgpt_export(), claude_export(), generic_rows()))
def test_store_takes_all_of_a_file_or_none_of_it(payload):
    with tempfile.TemporaryDirectory() as folder:
        store = DuckDBStore(Path(folder) / "w.duckdb")
        name = "rows.jsonl" if "conversation_id" in payload[0] and "role" in payload[0] else "c.json"
        path = _write(Path(folder), name, payload)
        before = store.conversations.counts()
        try:
            result = ingest_file(store, path, "default")
        except ImportRejected:
            assert store.conversations.counts() == before
            return
        assert result.status == "done"
        again = ingest_file(store, path, "default")
        assert again.messages_added == 0
