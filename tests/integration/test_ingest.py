"""Every export lands exactly once; bad files are rejected whole and leave the store unchanged."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from datetime import timezone

import pytest

from conftest import EXPORTS, FIXTURES, run_workbench


@pytest.fixture(autouse=True)
def store_only(monkeypatch):
    """These tests are about the store; chunking and indexing are tested in test_retrieval."""
    monkeypatch.setenv("WORKBENCH_INDEX_ON_INGEST", "false")


def _counts(cli) -> dict:
    return cli.json("stats")


@pytest.mark.parametrize("name", EXPORTS)
def test_every_fixture_imports_once(cli, name):
    first = cli.json("ingest", FIXTURES / name)
    assert first[0]["status"] == "done"
    assert first[0]["messages_added"] > 0
    before = _counts(cli)
    again = cli.json("ingest", FIXTURES / name)
    assert again[0]["conversations_added"] == 0
    assert again[0]["messages_added"] == 0
    assert again[0]["conversations_updated"] == 0
    after = _counts(cli)
    assert (after["conversations"], after["messages"]) == (before["conversations"], before["messages"])
    assert after["imports"] == before["imports"] + 1


def test_chatgpt_branches_tree_and_active_path(wb):
    raw = json.loads((FIXTURES / "chatgpt_branches.json").read_text())[0]
    wb.imports.ingest([FIXTURES / "chatgpt_branches.json"])
    conv = wb.conversations.list()[0]
    stored = {m.source_id: m for m in wb.conversations.messages(conv.id)}
    assert set(stored) == set(raw["mapping"])  # every node, placeholder root included
    by_id = {m.id: m for m in stored.values()}
    for node_id, node in raw["mapping"].items():
        parent = by_id.get(stored[node_id].parent_id)
        assert (parent.source_id if parent else None) == node["parent"]
    path, node = [], raw["current_node"]
    while node is not None:
        path.append(node)
        node = raw["mapping"][node]["parent"]
    visible = {
        n for n in path
        if raw["mapping"][n]["message"]
        and not raw["mapping"][n]["message"]["metadata"].get("is_visually_hidden_from_conversation")
    }
    assert {s for s, m in stored.items() if m.on_active_branch} == visible
    assert wb.conversations.messages(conv.id, active_only=True)[-1].source_id == raw["current_node"]


def test_legacy_database_round_trips(wb):
    wb.imports.ingest([FIXTURES / "legacy_nosso_projeto.db"])
    source = sqlite3.connect(FIXTURES / "legacy_nosso_projeto.db")
    rows = source.execute("SELECT id, conversation_id, role, content, created_at FROM messages").fetchall()
    stored = {m.source_id: m for c in wb.conversations.list() for m in wb.conversations.messages(c.id)}
    assert len(stored) == len(rows) == 48
    for mid, _, role, content, created_at in rows:
        message = stored[mid]
        assert (message.role, message.content) == (role, content)
        assert message.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") == created_at
    titles = {c.title for c in wb.conversations.list()}
    assert "Configurar SQLAlchemy com SQLite" in titles


def test_locomo_samples_become_workspaces(wb):
    wb.imports.ingest([FIXTURES / "locomo_dev.json"])
    spaces = {s["name"]: s for s in wb.workspaces()}
    assert spaces["conv-26"]["messages"] == 419 and spaces["conv-30"]["messages"] == 369
    first = [c for c in wb.conversations.list("conv-26") if c.source_id.endswith("/session_1")][0]
    assert first.created_at.isoformat() == "2023-05-08T13:56:00+00:00"
    turns = wb.conversations.messages(first.id)
    assert turns[0].source_id == "D1:1" and turns[0].speaker == "Caroline"
    captions = [m for c in wb.conversations.list("conv-26") for m in wb.conversations.messages(c.id)
                if m.metadata.get("blip_caption")]
    assert captions


def _zip(path, members: dict[str, object]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload if isinstance(payload, str) else json.dumps(payload))


def test_chatgpt_zip_and_split_zip_match_plain_json(tmp_path, cli, home):
    conversations = json.loads((FIXTURES / "chatgpt_2024_tools.json").read_text())
    conversations += json.loads((FIXTURES / "chatgpt_branches.json").read_text())
    _zip(tmp_path / "export.zip", {"conversations.json": conversations, "user.json": {"id": "u"},
                                   "chat.html": "<html></html>"})
    _zip(tmp_path / "split.zip", {f"conversations/conversations-{i:03}.json": [c]
                                  for i, c in enumerate(conversations)})
    whole = cli.json("ingest", tmp_path / "export.zip")[0]
    assert (whole["format"], whole["conversations_added"]) == ("chatgpt", 3)
    split = cli.json("ingest", tmp_path / "split.zip")[0]
    assert (split["conversations_added"], split["messages_added"]) == (0, 0)


def test_newer_export_adds_only_new_messages_and_updates_titles(tmp_path, cli):
    old = json.loads((FIXTURES / "chatgpt_2025_linear.json").read_text())
    newer = json.loads(json.dumps(old))
    conv = newer[0]
    last = conv["current_node"]
    node = {
        "id": "new-node-1",
        "message": {
            "id": "new-node-1",
            "author": {"role": "user", "name": None, "metadata": {}},
            "create_time": 1750537600.5,
            "content": {"content_type": "text", "parts": ["And deserts?"]},
            "status": "finished_successfully",
            "metadata": {},
        },
        "parent": last,
        "children": [],
    }
    conv["mapping"][last]["children"].append("new-node-1")
    conv["mapping"]["new-node-1"] = node
    conv["current_node"] = "new-node-1"
    conv["title"] = "Photosynthesis and ecosystems"
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(newer))
    cli("ingest", tmp_path / "old.json")
    result = cli.json("ingest", tmp_path / "new.json")[0]
    assert (result["conversations_added"], result["conversations_updated"]) == (0, 1)
    assert result["messages_added"] == 1
    listed = cli.json("conversations", "list")
    assert [c["title"] for c in listed] == ["Photosynthesis and ecosystems"]
    shown = cli.json("conversations", "show", listed[0]["id"])
    assert shown["messages"][-1]["content"] == "And deserts?"
    assert [m["on_active_branch"] for m in shown["messages"]].count(True) >= 2


def _bad_inputs(tmp_path):
    good = (FIXTURES / "chatgpt_2024_tools.json").read_text()
    files = {
        "truncated.json": (good[: len(good) // 2], "invalid JSON at line"),
        "random.bin": (os.urandom(4096), "unrecognised"),
        "empty.json": ("", "file is empty"),
        "unsupported.json": (json.dumps([{"foo": 1, "bar": [1, 2]}]), "unrecognised JSON structure"),
        "noconv.zip": (None, "zip archive holds no conversations"),
    }
    for name, (payload, _) in files.items():
        path = tmp_path / name
        if payload is None:
            _zip(path, {"user.json": {"id": "u"}, "readme.txt": "hello"})
        elif isinstance(payload, bytes):
            path.write_bytes(b"\x89\x00" + payload)
        else:
            path.write_text(payload)
    return [(tmp_path / name, expected) for name, (_, expected) in files.items()]


def test_bad_input_is_rejected_whole(tmp_path, home, cli):
    cli("ingest", FIXTURES / "claude_trimmed.json")
    before = _counts(cli)
    for path, expected in _bad_inputs(tmp_path):
        proc = run_workbench(home, "ingest", path)
        assert proc.returncode != 0, path
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"error: {path}: ") and expected in lines[0], lines[0]
        assert _counts(cli) == before


def test_format_override_and_unknown_format(tmp_path, home, cli):
    result = cli.json("ingest", "--format", "sharegpt", FIXTURES / "sharegpt_dummy.json")[0]
    assert result["format"] == "sharegpt"
    proc = run_workbench(home, "ingest", "--format", "claude", FIXTURES / "sharegpt_dummy.json")
    assert proc.returncode != 0
    assert str(FIXTURES / "sharegpt_dummy.json") in proc.stderr
    proc = run_workbench(home, "ingest", "--format", "nope", FIXTURES / "sharegpt_dummy.json")
    assert proc.returncode != 0 and "unknown format 'nope'" in proc.stderr


def test_damaged_chatgpt_conversation_is_skipped_not_fatal(tmp_path, cli):
    conversations = json.loads((FIXTURES / "chatgpt_2024_tools.json").read_text())
    broken = dict(conversations[0], title="Broken one")
    del broken["mapping"]
    (tmp_path / "damaged.json").write_text(json.dumps([broken, conversations[1]]))
    result = cli("ingest", tmp_path / "damaged.json")
    assert "Broken one" in result.stderr
    assert _counts(cli)["conversations"] == 1


def test_workspace_option_scopes_import(cli):
    cli("ingest", "--workspace", "work", FIXTURES / "claude_trimmed.json")
    cli("ingest", "--workspace", "home", FIXTURES / "claude_trimmed.json")
    assert cli.json("stats", "--workspace", "work")["conversations"] == 1
    everything = cli.json("stats")
    assert everything["workspaces"] == 2 and everything["conversations"] == 2
