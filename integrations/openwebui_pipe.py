"""
title: Workbench memory
description: Answers from the workbench's memory of every past conversation, each memory a source.
version: 0.1.0
requirements: httpx
"""

# An Open WebUI Pipe function: paste this file on Open WebUI's Functions page (Admin panel →
# Functions → +), set the valves (the workbench's address and an API key from
# `workbench users key NAME`), and pick "Workbench memory" as the model of a chat. It calls the
# workbench's OpenAI-compatible endpoint with Open WebUI's chat id, so each Open WebUI chat stays
# one workbench conversation, streams the answer, and emits every memory as a `source` event,
# which Open WebUI shows under the answer (it drops unknown fields of a plain model's reply).

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import httpx
from pydantic import BaseModel, Field

Emitter = Optional[Callable[[dict], Awaitable[None]]]


class Pipe:
    class Valves(BaseModel):
        WORKBENCH_URL: str = Field("http://127.0.0.1:8000", description="Where `workbench api` listens")
        WORKBENCH_API_KEY: str = Field("", description="An API key from `workbench users key NAME`")
        WORKBENCH_MODEL: str = Field("workbench-memory", description="The model the server lists")
        TIMEOUT_S: float = Field(120.0, description="How long an answer may take")

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def pipe(self, body: dict, __user__: Optional[dict] = None,
                   __metadata__: Optional[dict] = None,
                   __event_emitter__: Emitter = None) -> AsyncIterator[str]:
        headers = {"Authorization": f"Bearer {self.valves.WORKBENCH_API_KEY}",
                   "X-Workbench-Sources": "events"}
        chat_id = (__metadata__ or {}).get("chat_id")
        if chat_id:
            headers["X-OpenWebUI-Chat-Id"] = str(chat_id)
        if __user__ and __user__.get("id"):
            headers["X-OpenWebUI-User-Id"] = str(__user__["id"])
        request = {"model": self.valves.WORKBENCH_MODEL, "stream": True,
                   "messages": [{"role": m.get("role"), "content": m.get("content")}
                                for m in body.get("messages", [])]}
        url = self.valves.WORKBENCH_URL.rstrip("/") + "/v1/chat/completions"
        async with httpx.AsyncClient(timeout=self.valves.TIMEOUT_S) as client:
            async with client.stream("POST", url, json=request, headers=headers) as answer:
                if answer.status_code != 200:
                    detail = (await answer.aread()).decode(errors="replace")
                    yield f"The workbench answered {answer.status_code}: {_message(detail)}"
                    return
                async for line in answer.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if chunk.get("object") == "workbench.sources":
                        await _emit_sources(chunk["sources"], __event_emitter__)
                        continue
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text


async def _emit_sources(sources: list[dict[str, Any]], emit: Emitter) -> None:
    if emit is None:
        return
    for source in sources:
        when = (source.get("timestamp") or "")[:10] or "undated"
        name = f"[{source['n']}] {source.get('title') or 'untitled'} · {when}"
        await emit({"type": "source", "data": {
            "document": [source.get("text", "")],
            "metadata": [{"source": name, "date": when, "speaker": source.get("speaker") or
                          source.get("role"), "conversation_id": source.get("conversation_id"),
                          "message_id": source.get("message_id")}],
            "source": {"name": name, "id": source.get("message_id")},
        }})


def _message(detail: str) -> str:
    try:
        return json.loads(detail)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return detail[:200]
