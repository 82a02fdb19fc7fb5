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


def test_mcp_over_http_acts_as_the_user_its_api_key_names(tmp_path, indexed_home, embedder):
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    from serving import Served
    from workbench.server.mcp_http import mcp_http_app

    home = copy_home(indexed_home, tmp_path / "home")
    with Workbench.open(home, embedder, store_linger_s=2.0) as wb:
        alice = wb.users.add("alice", "alice-password", ["default"])
        wb.users.add("bob", "bob-password", ["other"])
        key, _ = wb.users.create_key(alice, "mcp")
        with Served(wb, app=mcp_http_app(wb)) as server:
            with server.client() as anonymous:
                refused = anonymous.post("/mcp", json={"jsonrpc": "2.0", "id": 1,
                                                       "method": "tools/list"})
            with server.client("wb_not-a-key") as stranger:
                forged = stranger.post("/mcp", json={"jsonrpc": "2.0", "id": 1,
                                                     "method": "tools/list"})

            async def session() -> dict:
                seen: dict = {}
                transport = streamable_http_client(f"{server.url}/mcp", http_client=(
                    create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})))
                async with mcp.Client(transport) as client:
                    seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
                    seen["search"] = _payload(await client.call_tool(
                        "search_history", {"query": "backup the database", "k": 3}))
                    seen["remembered"] = _payload(await client.call_tool(
                        "remember", {"text": "The spare key hangs behind the boiler."}))
                    seen["bob's"] = await client.call_tool("list_conversations",
                                                           {"workspace": "other"})
                return seen

            seen = anyio.run(session)
        note = wb.conversations.message(seen["remembered"]["message_id"])
        noted_in = wb.conversations.get(note.conversation_id).workspace
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert forged.status_code == 401
    assert seen["tools"] == ["get_conversation", "list_conversations", "remember",
                             "search_history"]
    assert [h["workspace"] for h in seen["search"]["hits"]] == ["default"] * 3
    assert noted_in == "default" and note.content == "The spare key hangs behind the boiler."
    assert seen["bob's"].is_error and "does not exist" in seen["bob's"].content[0].text
