"""``/v1``: an OpenAI-compatible model with memory (Open WebUI's connection, any OpenAI client).

``POST /v1/chat/completions`` keeps each client chat as one workbench conversation
(``wb.threads``), answers with the memories of the caller's workspace in the prompt, stores the
answer, and appends a plain "Sources" footer naming the memories. Open WebUI names its chat
with ``X-OpenWebUI-Chat-Id`` and its user with ``X-OpenWebUI-User-Id`` when its
``ENABLE_FORWARD_USER_INFO_HEADERS`` is on. Its own background tasks (titles, tags, follow-up
suggestions; prompts that begin ``### Task:``) go to the model as they are, unstored.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Iterator

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from workbench.chat.turn import Turn
from workbench.door.threads import text_of
from workbench.server.deps import ERRORS, WB, Who, in_worker

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)
_TASK = "### Task:"


class ChatMessageIn(BaseModel):
    role: str = Field(examples=["user"])
    content: str | list[dict[str, Any]] | None = Field(examples=["What did I decide about backups?"])

    model_config = ConfigDict(extra="allow")


class CompletionRequest(BaseModel):
    """OpenAI's chat completion request; sampling options are the workbench's own."""

    model: str = Field(examples=["workbench-memory"])
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = Field(False, strict=True)
    stream_options: dict[str, Any] | None = None
    workspace: str | None = Field(None, description="One of yours; default: your first")

    model_config = ConfigDict(extra="allow")


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "workbench"


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


@router.get("/models", response_model=ModelList)
async def models(wb: WB, who: Who):
    """The memory model."""
    return ModelList(data=[ModelCard(id=wb.settings.server_model, created=0)])


@router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
@in_worker
def completions(body: CompletionRequest, wb: WB, who: Who, request: Request,
                chat_id: Annotated[str | None, Header(alias="X-OpenWebUI-Chat-Id")] = None,
                client_user: Annotated[str | None, Header(alias="X-OpenWebUI-User-Id")] = None,
                sources_as: Annotated[str | None, Header(alias="X-Workbench-Sources")] = None):
    """OpenAI's chat completion, streamed as its chunks (``stream``) or whole, with usage.
    ``X-Workbench-Sources: events`` (the Open WebUI Pipe) leaves the footer out and sends the
    memories as data instead: a first ``workbench.sources`` event, or a ``sources`` field."""
    messages = [m.model_dump() for m in body.messages]
    reply = Reply(wb.settings.server_model, body.stream_options)
    if text_of(messages[-1].get("content")).lstrip().startswith(_TASK):
        deltas, usage = _task(wb, messages)
        return reply.stream(deltas, usage) if body.stream else reply.whole("".join(deltas), usage())
    space = wb.users.workspace(who.user, body.workspace)
    turn = wb.threads.start(who.user, messages, space, chat_id, client_user)
    as_data = sources_as == "events"
    sources = [{"n": n, **h.to_dict()} for n, h in enumerate(turn.hits, start=1)]
    if not body.stream:
        answer = grounded(wb, turn).strip()
        if as_data:
            return {**reply.whole(answer, _usage(wb, turn)), "sources": sources}
        return reply.whole(answer + sources_footer(turn), _usage(wb, turn))

    def deltas() -> Iterator[str]:
        yield grounded(wb, turn)
        if not as_data:
            yield sources_footer(turn)

    first = {"object": "workbench.sources", "sources": sources} if as_data else None
    return reply.stream(deltas(), lambda: _usage(wb, turn), first)


def _task(wb: Any, messages: list[dict[str, Any]]) -> tuple[Any, Any]:
    client = wb.chat.llm()
    plain = [{"role": m["role"], "content": text_of(m.get("content"))} for m in messages]
    stream = client.stream_chat(plain)
    text = list(stream)
    return text, lambda: {"prompt_tokens": stream.stats.prompt_tokens or 0,
                          "completion_tokens": stream.stats.completion_tokens or 0}


def grounded(wb: Any, turn: Turn) -> str:
    """The turn's answer as the user is shown it: the model's text only once every sentence of
    it rests on a memory, else the extractive answer. Known only after generation, so a stream
    carries it as one delta (an answer cannot be taken back once streamed)."""
    for _ in wb.chat.stream(turn):
        pass
    return turn.text


def sources_footer(turn: Turn) -> str:
    """The memories the answer rests on, as plain text any client shows: the ones it cites,
    else every one it was given."""
    if turn.error:
        return f"\n\n(the model could not answer: {turn.error})"
    cited = {c["n"] for c in turn.citations}
    shown = [(n, h) for n, h in enumerate(turn.hits, start=1) if not cited or n in cited]
    if not shown:
        return ""
    lines = []
    for n, hit in shown:
        when = hit.timestamp.strftime("%Y-%m-%d") if hit.timestamp else "undated"
        excerpt = " ".join(hit.text.split())[:140]
        lines.append(f"[{n}] {when} · {hit.title or 'untitled'} · {hit.speaker or hit.role}: {excerpt}")
    return "\n\nSources:\n" + "\n".join(lines)


def _usage(wb: Any, turn: Turn) -> dict[str, int]:
    rows = wb.chat.interactions(turn.conversation_id)
    row = rows[-1] if rows else {}
    return {"prompt_tokens": row.get("tokens_in") or 0, "completion_tokens": row.get("tokens_out") or 0}


class Reply:
    """One completion in OpenAI's shapes: a ``chat.completion`` or its ``chunk`` stream."""

    def __init__(self, model: str, stream_options: dict[str, Any] | None):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = bool((stream_options or {}).get("include_usage"))

    def whole(self, text: str, usage: dict[str, int]) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model, "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": _totals(usage)}

    def stream(self, deltas: Any, usage: Any, first: dict[str, Any] | None = None
               ) -> StreamingResponse:
        def chunks() -> Iterator[str]:
            if first is not None:
                yield self._sse({"id": self.id, "created": self.created, **first})
            yield self._chunk({"role": "assistant", "content": ""})
            for delta in deltas:
                if delta:
                    yield self._chunk({"content": delta})
            yield self._chunk({}, "stop")
            if self.include_usage:
                yield self._sse({**self._head(), "choices": [], "usage": _totals(usage())})
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "system_fingerprint": None}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload = {**self._head(), "choices": [choice]}
        if self.include_usage:
            payload["usage"] = None
        return self._sse(payload)

    @staticmethod
    def _sse(payload: dict[str, Any]) -> str:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _totals(usage: dict[str, int]) -> dict[str, int]:
    return {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
