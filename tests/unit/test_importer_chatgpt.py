"""ChatGPT importer: whole-tree fidelity, the active branch, tool turns and damaged exports."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES
from workbench.importers import chatgpt
from workbench.errors import ImportRejected
from workbench.importers.base import Source
from workbench.records import ParsedFile



def raw(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def parse_fixture(name: str) -> ParsedFile:
    return chatgpt.parse(Source(FIXTURES / name))


def parse_data(tmp_path: Path, data: Any) -> ParsedFile:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    source = Source(path)
    assert chatgpt.sniff(source)
    return chatgpt.parse(source)


def visible_path(conversation: dict[str, Any]) -> set[str]:
    """Computed from the raw JSON: visible nodes on the parent chain of current_node."""
    mapping = conversation["mapping"]
    path, node = [], conversation["current_node"]
    while node is not None:
        path.append(node)
        node = mapping[node]["parent"]
    visible = set()
    for node_id in path:
        message = mapping[node_id]["message"]
        if message is None or message["metadata"].get("is_visually_hidden_from_conversation"):
            continue
        content = message["content"]
        if content["content_type"] == "user_editable_context":
            continue
        if message["author"]["role"] == "system" and not "".join(content.get("parts", [])).strip():
            continue
        visible.add(node_id)
    return visible


def assert_parent_before_child(messages: list) -> None:
    position = {m.source_id: i for i, m in enumerate(messages)}
    for message in messages:
        if message.parent_source_id is not None:
            assert position[message.parent_source_id] < position[message.source_id]


# --- chatgpt_branches.json -----------------------------------------------------------------


def test_branches_keep_every_node_with_its_parent() -> None:
    conversation = raw("chatgpt_branches.json")[0]
    parsed = parse_fixture("chatgpt_branches.json")
    assert parsed.format == "chatgpt"
    [record] = parsed.conversations
    assert record.source_id == conversation["conversation_id"]
    assert record.title == "Assist user with summary"
    assert len(record.messages) == len(conversation["mapping"]) == 13
    assert {m.source_id: m.parent_source_id for m in record.messages} == {
        node_id: node["parent"] for node_id, node in conversation["mapping"].items()
    }
    assert_parent_before_child(record.messages)
    assert parsed.warnings == []


def test_branches_are_listed_depth_first_in_children_order() -> None:
    mapping = raw("chatgpt_branches.json")[0]["mapping"]
    [root] = [node_id for node_id, node in mapping.items() if node["parent"] is None]
    expected: list[str] = []
    stack = [root]
    while stack:
        node_id = stack.pop()
        expected.append(node_id)
        stack.extend(reversed(mapping[node_id]["children"]))
    messages = parse_fixture("chatgpt_branches.json").conversations[0].messages
    assert [m.source_id for m in messages] == expected


def test_branches_active_set_is_the_visible_path_to_current_node() -> None:
    conversation = raw("chatgpt_branches.json")[0]
    [record] = parse_fixture("chatgpt_branches.json").conversations
    active = {m.source_id for m in record.messages if m.active}
    expected = visible_path(conversation)
    assert active == expected
    assert conversation["current_node"] in active
    assert len(active) == 6  # three user turns and three replies on the chosen branch


def test_branches_keep_interrupted_leaf_and_regeneration_inactive() -> None:
    conversation = raw("chatgpt_branches.json")[0]
    by_id = {m.source_id: m for m in parse_fixture("chatgpt_branches.json").conversations[0].messages}
    interrupted = [
        node_id
        for node_id, node in conversation["mapping"].items()
        if node["message"] and node["message"]["status"] == "in_progress"
    ]
    assert len(interrupted) == 1
    leaf = by_id[interrupted[0]]
    assert not leaf.active
    assert leaf.content.startswith("Sure! Here's a short story")
    assert leaf.metadata["status"] == "in_progress"

    current = conversation["current_node"]
    parent = conversation["mapping"][current]["parent"]
    siblings = [c for c in conversation["mapping"][parent]["children"] if c != current]
    assert siblings == ["d0d2a7df-d2fc-4df9-bf0a-1c5121e227ae"]
    assert not by_id[siblings[0]].active
    assert by_id[current].active


def test_branches_placeholder_root_and_hidden_system_prompt() -> None:
    messages = parse_fixture("chatgpt_branches.json").conversations[0].messages
    root = messages[0]
    assert root.source_id == "aaa1f70c-100e-46f0-999e-10c8565f047f"
    assert (root.role, root.content, root.content_type, root.active) == ("system", "", "placeholder", False)
    assert root.parent_source_id is None
    system = messages[1]
    assert system.role == "system" and not system.active
    assert system.metadata["metadata"] == {"is_visually_hidden_from_conversation": True}


# --- chatgpt_2024_tools.json ---------------------------------------------------------------


def test_tool_turns_kept_with_their_content_types() -> None:
    conversation = raw("chatgpt_2024_tools.json")[0]
    parsed = parse_fixture("chatgpt_2024_tools.json")
    assert len(parsed.conversations) == 2
    messages = parsed.conversations[0].messages
    assert len(messages) == len(conversation["mapping"])
    kinds = {m.content_type for m in messages}
    assert {"tether_browsing_display", "tether_quote", "code", "text"} <= kinds

    tools = [m for m in messages if m.content_type in ("tether_browsing_display", "tether_quote")]
    assert len(tools) == 5
    for message in tools:
        assert message.role == "tool"
        assert message.speaker == "browser"
        assert message.active  # browsing on the chosen path is part of the conversation
        assert message.content.strip()
        assert message.metadata["content"]["content_type"] == message.content_type

    quote = next(m for m in tools if m.content_type == "tether_quote")
    raw_quote = conversation["mapping"][quote.source_id]["message"]["content"]
    assert raw_quote["url"] in quote.content and raw_quote["text"] in quote.content
    display = next(m for m in tools if m.content_type == "tether_browsing_display")
    assert display.content.startswith(
        conversation["mapping"][display.source_id]["message"]["content"]["result"]
    )

    code = [m for m in messages if m.content_type == "code"]
    assert code and all(m.role == "assistant" and m.metadata["recipient"] == "browser" for m in code)
    assert code[0].content == 'search("Volkswagen Transporter fuel consumption with 8 people l/km")'


def test_timestamps_are_aware_utc_and_equal_create_time() -> None:
    conversations = raw("chatgpt_2024_tools.json")
    parsed = parse_fixture("chatgpt_2024_tools.json")
    for source, record in zip(conversations, parsed.conversations):
        assert record.created_at.utcoffset() == timedelta(0)
        assert record.created_at.timestamp() == pytest.approx(source["create_time"], abs=1e-6)
        assert record.updated_at.timestamp() == pytest.approx(source["update_time"], abs=1e-6)
        for message in record.messages:
            node = source["mapping"][message.source_id]
            stamp = node["message"]["create_time"] if node["message"] else None
            if stamp is None:
                assert message.created_at is None
            else:
                assert message.created_at.utcoffset() == timedelta(0)
                assert message.created_at.timestamp() == pytest.approx(stamp, abs=1e-6)


# --- chatgpt_2025_linear.json --------------------------------------------------------------


def test_2025_export_keeps_new_top_level_keys() -> None:
    source = raw("chatgpt_2025_linear.json")[0]
    [record] = parse_fixture("chatgpt_2025_linear.json").conversations
    assert record.title == "How photosynthesis works"
    for key in ("memory_scope", "is_do_not_remember", "blocked_urls", "current_node", "sugar_item_id"):
        assert key in record.metadata and record.metadata[key] == source[key]
    assert not {"mapping", "title", "create_time", "update_time"} & set(record.metadata)
    assert len(record.messages) == len(source["mapping"])
    assert {m.source_id for m in record.messages if m.active} == visible_path(source)


def test_2025_user_editable_context_kept_but_inactive() -> None:
    [record] = parse_fixture("chatgpt_2025_linear.json").conversations
    [context] = [m for m in record.messages if m.content_type == "user_editable_context"]
    assert not context.active
    assert context.content.startswith("The user provided the additional info")
    assert context.metadata["content"]["user_profile"] == ""
    assert context.metadata["channel"] is None
    texts = [m for m in record.messages if m.content_type == "text" and m.role != "system"]
    assert len(texts) == 10 and all(m.active for m in texts)


# --- damaged and odd inputs ----------------------------------------------------------------


def test_conversation_without_mapping_is_skipped_and_named(tmp_path: Path) -> None:
    good = raw("chatgpt_branches.json")[0]
    lost = {"title": "Lost one", "conversation_id": "lost-1", "create_time": 1714585031}
    parsed = parse_data(tmp_path, [lost, "junk", good])
    assert [c.source_id for c in parsed.conversations] == [good["conversation_id"]]
    assert len(parsed.conversations[0].messages) == 13
    [lost_warning] = [w for w in parsed.warnings if "lost-1" in w]
    assert lost_warning.startswith('"Lost one"')
    assert any("not a conversation" in w for w in parsed.warnings)
    assert all(w.startswith('"') and "\n" not in w for w in parsed.warnings)


def test_mapping_that_is_not_an_object_is_skipped(tmp_path: Path) -> None:
    good = raw("chatgpt_2025_linear.json")[0]
    broken = {"title": "Broken", "id": "b-1", "mapping": ["not", "a", "tree"]}
    parsed = parse_data(tmp_path, [good, broken])
    assert [c.title for c in parsed.conversations] == ["How photosynthesis works"]
    [warning] = parsed.warnings
    assert warning.startswith('"Broken" (b-1)') and "mapping" in warning


def test_export_of_only_mapless_conversations_is_recognised_but_empty(tmp_path: Path) -> None:
    parsed = parse_data(tmp_path, [{"title": "Gone", "conversation_id": "g-1", "current_node": None}])
    assert parsed.conversations == []
    assert parsed.warnings and parsed.warnings[0].startswith('"Gone" (g-1)')


def test_node_with_missing_parent_becomes_a_root(tmp_path: Path) -> None:
    conversation = copy.deepcopy(raw("chatgpt_branches.json")[0])
    orphan = "aaa236a3-cdfc-4eb1-b5c5-790c6641f880"
    conversation["mapping"][orphan]["parent"] = "gone-node"
    parsed = parse_data(tmp_path, [conversation])
    messages = parsed.conversations[0].messages
    assert len(messages) == 13
    by_id = {m.source_id: m for m in messages}
    assert by_id[orphan].parent_source_id is None
    assert by_id[orphan].metadata["source_parent"] == "gone-node"
    assert_parent_before_child(messages)
    [warning] = parsed.warnings
    assert warning.startswith('"Assist user with summary"')
    assert orphan in warning and conversation["conversation_id"] in warning


def test_parent_cycle_terminates_and_keeps_every_node(tmp_path: Path) -> None:
    conversation = copy.deepcopy(raw("chatgpt_branches.json")[0])
    mapping = conversation["mapping"]
    mapping["z"] = {"id": "z", "message": None, "parent": "x", "children": []}
    mapping["x"] = {"id": "x", "message": None, "parent": "y", "children": ["y", "z"]}
    mapping["y"] = {"id": "y", "message": None, "parent": "x", "children": ["x"]}
    parsed = parse_data(tmp_path, conversation)
    messages = parsed.conversations[0].messages
    assert len(messages) == 16
    assert_parent_before_child(messages)
    roots = {m.source_id for m in messages if m.parent_source_id is None}
    assert len(roots) == 2 and "z" not in roots  # the cycle is cut on the cycle, not below it
    assert {m.source_id: m.parent_source_id for m in messages}["z"] == "x"
    assert any("cycle" in w for w in parsed.warnings)


def test_missing_current_node_falls_back_to_last_branch(tmp_path: Path) -> None:
    conversation = copy.deepcopy(raw("chatgpt_branches.json")[0])
    del conversation["current_node"]
    parsed = parse_data(tmp_path, [conversation])
    active = {m.source_id for m in parsed.conversations[0].messages if m.active}
    conversation["current_node"] = "f63b8e17-aa5c-4ca6-a1bf-d4d285e269b8"  # the last child's leaf
    assert active == visible_path(conversation)
    assert len(parsed.warnings) == 1 and "current_node" in parsed.warnings[0]


def test_single_conversation_dict_and_wrapped_list_parse(tmp_path: Path) -> None:
    conversation = raw("chatgpt_branches.json")[0]
    single = parse_data(tmp_path, conversation)
    assert len(single.conversations) == 1 and single.message_count == 13
    wrapped = parse_data(tmp_path, {"conversations": [conversation]})
    assert wrapped.conversations[0].source_id == conversation["conversation_id"]


def test_multimodal_parts_get_placeholders_and_raw_content(tmp_path: Path) -> None:
    conversation = copy.deepcopy(raw("chatgpt_branches.json")[0])
    image = {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-abc"}
    message = conversation["mapping"]["aaa297ba-e2da-440e-84f4-e62e7be8b003"]["message"]
    message["content"] = {"content_type": "multimodal_text", "parts": [image, "what is this?"]}
    messages = parse_data(tmp_path, [conversation]).conversations[0].messages
    [turn] = [m for m in messages if m.content_type == "multimodal_text"]
    assert turn.content == "[image]\nwhat is this?"
    assert turn.metadata["content"]["parts"][0] == image


def test_conversation_without_ids_gets_a_stable_hash(tmp_path: Path) -> None:
    conversation = copy.deepcopy(raw("chatgpt_branches.json")[0])
    del conversation["conversation_id"], conversation["id"]
    first = parse_data(tmp_path, [conversation]).conversations[0].source_id
    second = parse_data(tmp_path, [conversation]).conversations[0].source_id
    assert first == second and len(first) == 64
    bare = parse_data(tmp_path, {"mapping": conversation["mapping"]})
    assert bare.conversations[0].title is None and bare.message_count == 13


def test_sniff_accepts_the_fixtures() -> None:
    for name in ("chatgpt_branches.json", "chatgpt_2024_tools.json", "chatgpt_2025_linear.json"):
        assert chatgpt.sniff(Source(FIXTURES / name))


@pytest.mark.parametrize(
    "content",
    [
        json.dumps([{"id": "1", "conversations": [{"from": "human", "value": "hi"}]}]),
        json.dumps({"title": "Notes", "messages": [{"role": "user", "content": "hi"}]}),
        json.dumps({"conversations": [{"from": "human", "value": "hi"}]}),
        json.dumps([1, "two", None]),
        "{not json",
        "title,mapping\nx,y\n",
        '{"mapping": {}}\n{"mapping": {}}\n',
        "",
    ],
    ids=["sharegpt", "dict-without-mapping", "wrapped-sharegpt", "scalars", "bad-json", "csv", "jsonl",
         "empty"],
)
def test_sniff_rejects_other_content(tmp_path: Path, content: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(content, encoding="utf-8")
    assert chatgpt.sniff(Source(path)) is False


def test_sniff_rejects_other_fixtures_and_binary(tmp_path: Path) -> None:
    for name in ("sharegpt_dummy.json", "claude_trimmed.json", "openwebui_chat.json", "locomo_dev.json"):
        assert chatgpt.sniff(Source(FIXTURES / name)) is False
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02\xff")
    assert chatgpt.sniff(Source(binary)) is False
    assert chatgpt.sniff(Source(tmp_path / "missing.json")) is False


def test_parse_rejects_a_file_that_is_not_chatgpt() -> None:
    with pytest.raises(ImportRejected) as caught:
        chatgpt.parse(Source(FIXTURES / "sharegpt_dummy.json"))
    assert "ChatGPT" in str(caught.value) and "\n" not in str(caught.value)
