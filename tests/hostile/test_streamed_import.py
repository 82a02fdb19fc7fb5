"""A big export is read, cleaned and written a batch of conversations at a time, through a
spool on disk: the store ends up exactly as with a file read whole, and nothing is left behind."""

from __future__ import annotations

import json
import tempfile

import pytest

from conftest import FIXTURES
from hostile_files import chatgpt
from workbench.errors import ImportRejected
from workbench.importers import Source, read
from workbench.importers.reading import Limits
from workbench.ingest import ingest_file
from workbench.store import DuckDBStore

STREAMED = Limits(stream_json_bytes=1)  # every JSON array of these tests is read item by item


def _rows(store: DuckDBStore) -> tuple[list, list]:
    with store.connect() as con:
        conversations = con.execute("SELECT id, title, metadata::VARCHAR FROM conversations "
                                    "ORDER BY id").fetchall()
        messages = con.execute("SELECT id, content, on_active_branch, position, language "
                               "FROM messages ORDER BY id").fetchall()
    return conversations, messages


@pytest.fixture
def spool_folder(tmp_path, monkeypatch):
    """The temporary folder the spool goes to, this test's own so that leftovers show."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_streamed_export_lands_as_one_read_whole(tmp_path, spool_folder):
    conversations = json.loads((FIXTURES / "chatgpt_2024_tools.json").read_text())
    earlier = chatgpt("dup", "the first copy of a conversation", title="first")
    later = chatgpt("dup", "the later copy of the same conversation", title="later")
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([earlier, *conversations, later]))
    assert Source(path, limits=STREAMED).streams and not Source(path).streams

    whole = DuckDBStore(tmp_path / "whole.duckdb")
    streamed = DuckDBStore(tmp_path / "streamed.duckdb")
    done_whole = ingest_file(whole, path, "default")
    done_streamed = ingest_file(streamed, path, "default", limits=STREAMED)
    assert _rows(streamed) == _rows(whole)
    assert done_streamed.messages_added == done_whole.messages_added > 0
    assert any("duplicate conversation id" in w for w in done_streamed.warnings)
    titles = [title for _, title, _ in _rows(streamed)[0]]
    assert "later" in titles and "first" not in titles  # the later copy wins, as read whole
    assert list(spool_folder.iterdir()) == []


def test_a_streamed_file_that_fails_at_its_end_writes_nothing(tmp_path, spool_folder):
    items = [chatgpt(f"c{n}", f"message number {n}") for n in range(50)]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(items)[:-30])  # the last conversation is cut short
    store = DuckDBStore(tmp_path / "w.duckdb")
    with pytest.raises(ImportRejected, match="invalid JSON"):
        ingest_file(store, path, "default", limits=STREAMED)
    assert _rows(store) == ([], [])
    assert list(spool_folder.iterdir()) == []


def test_reading_gives_conversations_before_the_file_is_read_to_its_end(tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([chatgpt(f"c{n}", f"message {n}") for n in range(20)])[:-30])
    reading = read(Source(path, limits=STREAMED))
    assert next(reading.conversations).source_id == "c0"  # streamed: the damage is not yet seen
    with pytest.raises(ImportRejected, match="invalid JSON"):
        list(reading.conversations)
