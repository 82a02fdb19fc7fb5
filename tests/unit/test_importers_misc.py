"""The Claude, Open WebUI, ShareGPT, legacy, LoCoMo and generic importers against their fixtures."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import FIXTURES
from workbench.importers import claude, generic, legacy, locomo, openwebui, sharegpt
from workbench.errors import ImportRejected
from workbench.importers.base import Source, parse_timestamp

UTC = timezone.utc

# Which module owns which fixture; every other module must refuse it.
OWNERS = {
    "claude_trimmed.json": claude,
    "openwebui_chat.json": openwebui,
    "sharegpt_dummy.json": sharegpt,
    "legacy_nosso_projeto.db": legacy,
    "locomo_dev.json": locomo,
    "chatgpt_2024_tools.json": None,
    "chatgpt_2025_linear.json": None,
    "chatgpt_branches.json": None,
}
MODULES = [claude, openwebui, sharegpt, legacy, locomo, generic]


def fixture(name: str) -> Source:
    return Source(FIXTURES / name)


def write_json(path: Path, data: object) -> Source:
    path.write_text(json.dumps(data), encoding="utf-8")
    return Source(path)


def by_id(conversation):
    return {m.source_id: m for m in conversation.messages}


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
@pytest.mark.parametrize("name", sorted(OWNERS))
def test_each_fixture_is_sniffed_by_its_own_module_only(module, name):
    assert module.sniff(fixture(name)) is (OWNERS[name] is module)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01binary", b"not json at all", b"[1, 2, 3]", b"{\"a\": [", b"SQLite format 3\x00junk"],
)
def test_sniff_never_raises_on_junk(module, content, tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(content)
    assert module.sniff(Source(path)) is False


def test_generic_tables_are_not_sniffed_by_other_modules(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"conversation_id": "c", "role": "user", "content": "hi"}\n' * 2)
    source = Source(path)
    assert generic.sniff(source)
    assert not any(m.sniff(source) for m in MODULES if m is not generic)


# --- Claude -----------------------------------------------------------------------------------


def test_claude_fixture():
    parsed = claude.parse(fixture("claude_trimmed.json"))
    assert parsed.format == "claude" and parsed.warnings == []
    [conversation] = parsed.conversations
    assert conversation.source_id == "1db4c66e-b369-4e3a-96a9-6c16f8301ee8"
    assert conversation.title == "Bash Command for OpenAI API"
    assert conversation.metadata["account"] == {"uuid": "2a0434bc-651f-407a-bc74-bdc295dc009b"}
    first, second = conversation.messages
    assert [first.role, second.role] == ["user", "assistant"]
    assert first.content == "Turn this into a bash command"
    assert first.created_at == second.created_at == datetime(2024, 10, 18, 5, 30, 20, 458713, UTC)
    assert second.parent_source_id == first.source_id and first.parent_source_id is None
    assert first.metadata["files"] == [{"file_name": "CleanShot 20241017 at 22.29.542x.png"}]


def test_claude_blocks_become_their_own_messages(tmp_path):
    source = write_json(
        tmp_path / "conversations.json",
        [
            {
                "uuid": "c1",
                "name": "",
                "created_at": "2025-01-02T03:04:05Z",
                "chat_messages": [
                    {
                        "uuid": "m1", "text": "What is 2+2?", "sender": "human",
                        "created_at": "2025-01-02T03:04:05Z", "content": [],
                        "attachments": [{"file_name": "a.txt", "extracted_content": "notes"}],
                        "files": [],
                    },
                    {
                        "uuid": "m2", "text": "ignored", "sender": "assistant",
                        "created_at": "2025-01-02T03:04:09Z",
                        "content": [
                            {"type": "thinking", "thinking": "Simple sum."},
                            {"type": "tool_use", "name": "calc", "input": {"expr": "2+2"}},
                            {"type": "tool_result", "name": "calc",
                             "content": [{"type": "text", "text": "4"}]},
                            {"type": "text", "text": "It is"},
                            {"type": "text", "text": "4."},
                        ],
                    },
                    {"uuid": "m3", "text": "Thanks", "sender": "human", "created_at": None},
                ],
            }
        ],
    )
    [conversation] = claude.parse(source).conversations
    assert conversation.title is None
    ids = [m.source_id for m in conversation.messages]
    assert ids == ["m1", "m2", "m2#0", "m2#1", "m2#2", "m3"]
    messages = by_id(conversation)
    assert messages["m1"].metadata["attachments"][0]["extracted_content"] == "notes"
    assert messages["m2"].content == "It is\n\n4." and messages["m2"].metadata["text"] == "ignored"
    thinking, tool_use, tool_result = messages["m2#0"], messages["m2#1"], messages["m2#2"]
    assert (thinking.content_type, thinking.content, thinking.active) == ("thinking", "Simple sum.", False)
    assert tool_use.content_type == "tool_use" and tool_use.active
    assert tool_use.content.startswith("calc") and json.loads(tool_use.content[5:]) == {"expr": "2+2"}
    assert (tool_result.content_type, tool_result.content, tool_result.role) == ("tool_result", "4", "tool")
    assert {thinking.parent_source_id, tool_use.parent_source_id, tool_result.parent_source_id} == {"m2"}
    # Linear chain over visible messages only: the blocks are side branches.
    assert messages["m2"].parent_source_id == "m1" and messages["m3"].parent_source_id == "m2"


def test_claude_conversation_without_messages_list_is_skipped_with_warning(tmp_path):
    source = write_json(
        tmp_path / "c.json",
        [{"uuid": "ok", "name": "fine", "chat_messages": [{"text": "hi", "sender": "human"}]},
         {"uuid": "bad", "name": "broken", "chat_messages": "nope"}],
    )
    parsed = claude.parse(source)
    assert [c.source_id for c in parsed.conversations] == ["ok"]
    assert len(parsed.warnings) == 1 and "bad" in parsed.warnings[0]
    [message] = parsed.conversations[0].messages
    assert message.source_id.startswith("0:") and len(message.source_id) == 18


# --- Open WebUI -------------------------------------------------------------------------------


def test_openwebui_fixture_tree_and_timestamps():
    parsed = openwebui.parse(fixture("openwebui_chat.json"))
    [conversation] = parsed.conversations
    assert conversation.title == "🧠 Goldwater Rule Ethics"
    assert len(conversation.source_id) == 32  # id "" falls back to a content hash
    user, assistant = conversation.messages
    assert user.parent_source_id is None and assistant.parent_source_id == user.source_id
    assert user.active and assistant.active
    assert (user.role, assistant.role) == ("user", "assistant")
    assert assistant.metadata["usage"]["total_tokens"] == 336
    # Message timestamps are seconds, the chat's is milliseconds: both land in April 2025.
    assert user.created_at == datetime(2025, 4, 13, 20, 52, 37, tzinfo=UTC)
    assert conversation.created_at == datetime(2025, 4, 13, 20, 52, 37, 127000, tzinfo=UTC)


def _branching_chat(current: str | None) -> dict:
    def node(nid, parent, children, role, ts):
        return {"id": nid, "parentId": parent, "childrenIds": children, "role": role,
                "content": f"text {nid}", "timestamp": ts}

    history = {"messages": {
        "u1": node("u1", None, ["a1", "a2"], "user", 1_700_000_000),
        "a1": node("a1", "u1", ["u2"], "assistant", 1_700_000_001_000),
        "a2": node("a2", "u1", [], "assistant", 1_700_000_002),
        "u2": node("u2", "a1", [], "user", 1_700_000_003),
    }}
    if current is not None:
        history["currentId"] = current
    return {"id": "chat-1", "title": "Branches", "history": history}


@pytest.mark.parametrize(("current", "active"),
                         [("a2", {"u1", "a2"}), ("u2", {"u1", "a1", "u2"}), (None, {"u1", "a2"})])
def test_openwebui_active_branch_is_path_to_current(tmp_path, current, active):
    chat = write_json(tmp_path / "chat.json", _branching_chat(current))
    [conversation] = openwebui.parse(chat).conversations
    assert conversation.source_id == "chat-1"
    messages = by_id(conversation)
    assert set(messages) == {"u1", "a1", "a2", "u2"}
    assert {m.source_id for m in conversation.messages if m.active} == active
    assert messages["u2"].parent_source_id == "a1"
    order = [m.source_id for m in conversation.messages]
    assert all(order.index(m.parent_source_id) < order.index(m.source_id)
               for m in conversation.messages if m.parent_source_id)
    assert messages["a1"].created_at.year == messages["a2"].created_at.year == 2023


def test_openwebui_wrapper_list(tmp_path):
    linear = {"title": "inner", "messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}
    source = write_json(tmp_path / "export.json", [
        {"id": "w1", "user_id": "u", "title": "Outer", "chat": {**_branching_chat("u2"), "id": ""},
         "created_at": 1_700_000_000, "updated_at": 1_700_000_100, "archived": False},
        {"id": "w2", "title": "", "chat": linear, "created_at": 1_700_000_000},
    ])
    assert openwebui.sniff(source)
    first, second = openwebui.parse(source).conversations
    assert (first.source_id, first.title) == ("w1", "Outer")
    assert first.metadata["export"] == {"user_id": "u", "archived": False}
    assert first.updated_at == datetime.fromtimestamp(1_700_000_100, UTC)
    assert (second.source_id, second.title) == ("w2", "inner")
    assert [m.parent_source_id for m in second.messages] == [None, second.messages[0].source_id]


def test_openwebui_database_skips_invalid_chat_json(tmp_path):
    path = tmp_path / "webui.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE chat (id TEXT PRIMARY KEY, user_id TEXT, title TEXT, chat TEXT, "
                "created_at INTEGER, updated_at INTEGER, share_id TEXT, archived INTEGER, "
                "folder_id TEXT, meta TEXT, pinned INTEGER)")
    rows = [("good", "u", "Good chat", json.dumps(_branching_chat("u2")), 1_735_689_600, 1_735_689_700,
             None, 0, None, '{"tags": ["x"]}', 1),
            ("bad", "u", "Broken chat", "{not json", 1_735_689_600, 1_735_689_600, None, 0, None, "{}", 0)]
    con.executemany("INSERT INTO chat VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    source = Source(path)
    assert openwebui.sniff(source) and not legacy.sniff(source)
    parsed = openwebui.parse(source)
    [conversation] = parsed.conversations
    assert (conversation.source_id, conversation.title) == ("chat-1", "Good chat")
    assert conversation.created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert conversation.metadata["export"]["meta"] == {"tags": ["x"]}
    assert len(conversation.messages) == 4
    assert len(parsed.warnings) == 1 and "bad" in parsed.warnings[0] and "Broken chat" in parsed.warnings[0]


# --- ShareGPT ---------------------------------------------------------------------------------


def test_sharegpt_fixture():
    parsed = sharegpt.parse(fixture("sharegpt_dummy.json"))
    assert len(parsed.conversations) == 500 and parsed.message_count == 2000
    first = parsed.conversations[0]
    assert first.source_id == "identity_0"
    assert [m.role for m in first.messages] == ["user", "assistant", "user", "assistant"]
    assert first.messages[0].content == "Who are you?"
    assert all(m.created_at is None for m in first.messages)
    assert [m.parent_source_id for m in first.messages[1:]] == [m.source_id for m in first.messages[:-1]]
    assert len({c.source_id for c in parsed.conversations}) == 500


def test_sharegpt_variants_and_duplicate_ids(tmp_path):
    source = write_json(tmp_path / "d.json", {"data": [
        {"id": "x", "conversations": [{"from": "system", "value": "be kind"},
                                      {"from": "human", "value": "hi"}]},
        {"id": "x", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    ]})
    assert sharegpt.sniff(source)
    parsed = sharegpt.parse(source)
    assert [c.source_id for c in parsed.conversations] == ["x", "x#2"]
    assert [m.role for m in parsed.conversations[0].messages] == ["system", "user"]
    assert [m.role for m in parsed.conversations[1].messages] == ["user", "assistant"]
    assert len(parsed.warnings) == 1


# --- legacy -----------------------------------------------------------------------------------


def test_legacy_fixture_matches_source_rows():
    path = FIXTURES / "legacy_nosso_projeto.db"
    parsed = legacy.parse(Source(path))
    assert parsed.warnings == []
    assert len(parsed.conversations) == 8 and parsed.message_count == 48
    con = sqlite3.connect(path)
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT id, conversation_id, role, content, created_at FROM messages")}
    titles = dict(con.execute("SELECT id, title FROM conversations"))
    con.close()
    for conversation in parsed.conversations:
        assert conversation.title == titles[conversation.source_id]
        assert conversation.metadata == {"model": "gpt-4", "tags": ["fase1"]}
        for message in conversation.messages:
            cid, role, content, created = rows[message.source_id]
            assert cid == conversation.source_id
            assert (message.role, message.content) == (role, content)
            assert message.created_at == datetime.fromisoformat(created).replace(tzinfo=UTC)
        times = [m.created_at for m in conversation.messages]
        assert times == sorted(times)
        assert [m.parent_source_id for m in conversation.messages[1:]] == [
            m.source_id for m in conversation.messages[:-1]]


def test_legacy_damaged_database_is_imported_with_warnings(tmp_path):
    path = tmp_path / "nosso_projeto.db"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE conversations (id VARCHAR(36) PRIMARY KEY, title VARCHAR(255), metadata TEXT,
                                    created_at DATETIME, updated_at DATETIME);
        CREATE TABLE messages (id VARCHAR(36) PRIMARY KEY, conversation_id VARCHAR(36), role VARCHAR(20),
                               content TEXT, metadata TEXT, created_at DATETIME);
        INSERT INTO conversations VALUES ('c1', NULL, '{broken', '2024-03-01 10:00:00', 1709287200);
        INSERT INTO messages VALUES ('m3', 'c1', 'assistant', NULL, NULL, '01/03/2024 10:05');
        INSERT INTO messages VALUES ('m1', 'c1', 'user', 'first', '{"tokens": 1}', '2024-03-01T10:00:00Z');
        INSERT INTO messages VALUES ('m2', 'c1', 'Human', 'second', 'nope', 1709287380);
        INSERT INTO messages VALUES ('m4', 'c1', 'user', 'later', NULL, '2024-03-01T07:06:00-03:00');
        INSERT INTO messages VALUES ('o1', 'gone', 'user', 'orphan', NULL, '2024-02-01 09:00:00');
    """)
    con.close()
    parsed = legacy.parse(Source(path))
    conversation, orphan = parsed.conversations
    assert conversation.title is None
    assert conversation.metadata["raw_metadata"] == "{broken"
    assert conversation.updated_at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert conversation.metadata["source_updated_at"] == 1709287200
    ordered = [m.source_id for m in conversation.messages]
    assert ordered == ["m1", "m2", "m3", "m4"]  # 10:00, 10:03, 10:05 (day-first), 10:06 UTC
    m = by_id(conversation)
    assert m["m3"].content == "" and m["m3"].metadata["source_created_at"] == "01/03/2024 10:05"
    assert m["m2"].role == "user" and m["m2"].metadata["raw_metadata"] == "nope"
    assert m["m1"].metadata == {"tokens": 1}
    assert m["m4"].created_at == datetime(2024, 3, 1, 10, 6, tzinfo=UTC)
    assert (orphan.source_id, orphan.title, orphan.metadata) == ("gone", None, {"orphaned": True})
    assert [x.content for x in orphan.messages] == ["orphan"]
    assert any("1 orphan" in w for w in parsed.warnings)
    assert sum("invalid metadata" in w for w in parsed.warnings) == 2


# --- LoCoMo -----------------------------------------------------------------------------------


def test_locomo_fixture():
    parsed = locomo.parse(fixture("locomo_dev.json"))
    assert set(parsed.workspace_metadata) == {"conv-26", "conv-30"}
    spaces = {c.workspace for c in parsed.conversations}
    assert spaces == {"conv-26", "conv-30"}
    per_space = {s: [c for c in parsed.conversations if c.workspace == s] for s in spaces}
    assert {s: len(cs) for s, cs in per_space.items()} == {"conv-26": 19, "conv-30": 19}
    assert {s: sum(len(c.messages) for c in cs) for s, cs in per_space.items()} == {
        "conv-26": 419, "conv-30": 369}
    sessions = [c.metadata["session"] for c in per_space["conv-26"]]
    assert sessions == list(range(1, 20))
    first = per_space["conv-26"][0]
    assert first.source_id == "conv-26/session_1"
    assert first.title == "Caroline & Melanie · session 1"
    assert first.created_at == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert first.metadata["date_time"] == "1:56 pm on 8 May, 2023"
    assert first.metadata["session_summary"]
    assert per_space["conv-26"][15].created_at == datetime(2023, 9, 13, 0, 9, tzinfo=UTC)  # 12:09 am
    turn = first.messages[0]
    assert (turn.source_id, turn.speaker, turn.role) == ("D1:1", "Caroline", "user")
    assert turn.created_at == first.created_at
    captioned = [m for c in parsed.conversations for m in c.messages if "blip_caption" in m.metadata]
    assert len(captioned) == 116 + 72
    meta = parsed.workspace_metadata["conv-26"]["locomo"]
    assert meta["speaker_a"] == "Caroline" and len(meta["qa"]) > 0
    assert {"event_summary", "observation", "session_summary"} <= set(meta)
    # Sessions 20-35 have a date but no turns: skipped, their dates still kept.
    assert "session_35_date_time" in meta["conversation_extra"]


# --- generic ----------------------------------------------------------------------------------


def test_generic_jsonl(tmp_path):
    path = tmp_path / "chat.jsonl"
    rows = [
        {"conversation_id": "a", "role": "user", "content": "hi", "timestamp": "2024-05-01T10:00:00Z",
         "title": "Greeting", "mood": "happy"},
        {"conversation_id": "b", "role": "human", "content": "other", "message_id": "b1"},
        {"conversation_id": "a", "role": "assistant", "content": "hello", "timestamp": 1714557660},
        {"conversation_id": "a", "role": "assistant", "content": "hey", "message_id": "alt",
         "parent_id": None},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    source = Source(path)
    assert source.kind == "jsonl" and generic.sniff(source)
    a, b = generic.parse(source).conversations
    assert (a.source_id, a.title, len(a.messages)) == ("a", "Greeting", 3)
    assert a.messages[0].metadata == {"mood": "happy"}
    assert a.messages[1].parent_source_id == a.messages[0].source_id
    assert a.messages[1].created_at == datetime(2024, 5, 1, 10, 1, tzinfo=UTC)
    assert a.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert a.messages[2].parent_source_id == a.messages[1].source_id
    assert (b.messages[0].source_id, b.messages[0].role) == ("b1", "user")


def test_generic_csv_tree(tmp_path):
    path = tmp_path / "chat.csv"
    path.write_text(
        "conversation_id,message_id,parent_id,role,content,speaker,extra\n"
        "c,1,,user,question,Ana,\n"
        "c,2,1,assistant,\"first\nanswer\",,x\n"
        "c,3,1,assistant,second answer,,\n"
    )
    source = Source(path)
    assert source.kind == "csv" and generic.sniff(source)
    [conversation] = generic.parse(source).conversations
    messages = by_id(conversation)
    assert messages["2"].content == "first\nanswer" and messages["2"].metadata == {"extra": "x"}
    assert messages["1"].speaker == "Ana"
    assert messages["3"].parent_source_id == "1" and messages["2"].parent_source_id == "1"
    assert {m.source_id for m in conversation.messages if m.active} == {"1", "3"}


def test_generic_json_array(tmp_path):
    source = write_json(tmp_path / "rows.json", [
        {"conversation_id": 7, "role": "user", "content": "x"},
        {"conversation_id": 7, "role": "assistant", "content": "y"},
    ])
    assert generic.sniff(source) and not sharegpt.sniff(source)
    [conversation] = generic.parse(source).conversations
    assert conversation.source_id == "7" and len(conversation.messages) == 2


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.csv", "conversation_id,role,content\nc,user,hi\nc,assistant,\"multi\nline\"\n\nc,user,\n",
         "line 6: missing 'content'"),
        ("short.csv", "conversation_id,role,content\nc,user,hi\nc,user\n", "line 3: missing 'content'"),
        ("bad.jsonl", '{"conversation_id": "c", "role": "user", "content": "a"}\n\n'
                      '{"conversation_id": "c", "role": "user"}\n', "line 3: missing 'content'"),
    ],
)
def test_generic_missing_required_value_names_the_line(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ImportRejected, match=where):
        generic.parse(Source(path))


def test_parse_timestamp_units_agree():
    assert parse_timestamp(1744577557) == parse_timestamp(1744577557000)
