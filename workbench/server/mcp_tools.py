"""The MCP face (official ``mcp`` SDK): the memory as tools for Claude Desktop, IDE agents.

``workbench mcp`` serves these tools over stdio for one user (``--user``), or for the local
user (every workspace); ``workbench mcp --http`` serves them over streamable HTTP
(``mcp_http``), each request as the user its API key or token names. Each tool calls the door,
scoped as the REST API is.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from mcp.server.mcpserver import Context

from workbench.api import Workbench
from workbench.errors import WorkbenchError
from workbench.records import User
from workbench.server.deps import asked_on, moment


def build_mcp(wb: Workbench, user: User | None) -> Any:
    """An ``MCPServer`` with the workbench's tools, acting as ``user``; with None, as the
    caller the HTTP guard put on each request (``mcp_http``)."""
    from mcp.server.mcpserver import MCPServer

    def acting(ctx: Context) -> User:
        if user is not None:
            return user
        return ctx.request_context.request.state.caller.user

    server = MCPServer("workbench", log_level="WARNING", instructions="Long-term memory over the user's past "
                       "conversations: search it, read a conversation, store a note.")

    @_guarded(server)
    def search_history(query: str, since: str | None = None, until: str | None = None,
                       k: int = 10, workspace: str | None = None,
                       now: str | None = None, ctx: Context = None) -> dict[str, Any]:
        """Search every past conversation (hybrid: meaning and words; time phrases like "last
        March" are understood). since/until: YYYY-MM-DD or a phrase. Each hit names its
        conversation, date and speaker: cite them."""
        space = wb.users.workspace(acting(ctx), workspace)
        result = wb.search.query(query, space, k=max(1, min(k, 100)),
                                 since=moment(since, False, "since"),
                                 until=moment(until, True, "until"), now=asked_on(now))
        return {"query": result.query, "time_phrase": result.time_phrase,
                "hits": [h.to_dict() for h in result.hits]}

    @_guarded(server)
    def get_conversation(id: str, ctx: Context = None) -> dict[str, Any]:
        """One conversation (id or a unique prefix) with its active branch's messages."""
        conversation = wb.users.conversation(acting(ctx), id)
        messages = wb.conversations.messages(conversation.id, active_only=True)
        return {**conversation.to_dict(),
                "messages": [{"id": m.id, "role": m.role, "speaker": m.speaker,
                              "created_at": m.to_dict()["created_at"], "content": m.content}
                             for m in messages]}

    @_guarded(server)
    def list_conversations(title: str | None = None, workspace: str | None = None,
                           limit: int = 20, offset: int = 0,
                           ctx: Context = None) -> dict[str, Any]:
        """Conversations, newest first; title: part of the title."""
        space = wb.users.workspace(acting(ctx), workspace)
        limit, offset = max(1, min(limit, 200)), max(0, offset)
        found = wb.conversations.list(space, title, offset + limit + 1)[offset:]
        return {"conversations": [c.to_dict() for c in found[:limit]],
                "has_more": len(found) > limit}

    @_guarded(server)
    def remember(text: str, workspace: str | None = None,
                 ctx: Context = None) -> dict[str, Any]:
        """Store a note in the memory (searchable at once)."""
        message = wb.threads.remember(acting(ctx), text, workspace)
        return {"message_id": message.id, "conversation_id": message.conversation_id}

    return server


def _guarded(server: Any) -> Callable[[Callable[..., Any]], Any]:
    """Registers a tool whose ``WorkbenchError`` reaches the client as its one line (the SDK
    keeps any other exception's text on the server)."""
    from mcp.server.mcpserver.exceptions import ToolError

    def register(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except WorkbenchError as exc:
                raise ToolError(str(exc).strip("'\"")) from exc

        return server.tool()(run)

    return register
