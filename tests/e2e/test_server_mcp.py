"""`workbench mcp` over stdio, driven by the official MCP SDK client."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest

from conftest import copy_home
from workbench import Workbench

mcp = pytest.importorskip("mcp")


def test_mcp_tools_search_read_list_and_remember(tmp_path, indexed_home, embedder):
    home = copy_home(indexed_home, tmp_path / "home")
    with Workbench.open(home, embedder) as wb:
        wb.users.add("alice", "alice-password", ["default"])
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "workbench.cli", "mcp", "--user", "alice"],
        env={**os.environ, "WORKBENCH_HOME": str(home)})

    async def session() -> dict:
        seen: dict = {}
        async with mcp.Client(params) as client:
            seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
            found = await client.call_tool("search_history", {"query": "backup the database",
                                                               "k": 3})
            seen["search"] = _payload(found)
            cid = seen["search"]["hits"][0]["conversation_id"]
            seen["conversation"] = _payload(await client.call_tool("get_conversation", {"id": cid}))
            seen["listed"] = _payload(await client.call_tool("list_conversations", {"limit": 2}))
            seen["remembered"] = _payload(await client.call_tool(
                "remember", {"text": "The cabin in Gerês has a blue door."}))
            seen["recall"] = _payload(await client.call_tool(
                "search_history", {"query": "which door does the cabin have", "k": 3}))
            seen["other"] = await client.call_tool("search_history", {"query": "x",
                                                                      "workspace": "other"})
        return seen

    seen = anyio.run(session)
    assert seen["tools"] == ["get_conversation", "list_conversations", "remember",
                             "search_history"]
    assert len(seen["search"]["hits"]) == 3
    assert all(h["workspace"] == "default" for h in seen["search"]["hits"])
    assert seen["conversation"]["messages"]
    assert len(seen["listed"]["conversations"]) == 2 and seen["listed"]["has_more"]
    assert seen["recall"]["hits"][0]["message_id"] == seen["remembered"]["message_id"]
    assert seen["other"].is_error and "does not exist" in seen["other"].content[0].text


def _payload(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)
