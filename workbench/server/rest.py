"""``/api/v1``: conversations, messages, search, chat, stats and eval runs, on the door.

Each route names the caller, asks ``wb.users`` what that caller may touch, and calls the room
that does the work; a conversation of another user is answered as one that does not exist.
"""

from __future__ import annotations

import json
from typing import Iterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from workbench import __version__
from workbench.server.compat import grounded
from workbench.server.deps import ERRORS, WB, Who, asked_on, in_worker, moment
from workbench.server.schemas import (
    ChatRequest,
    ChatResponse,
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    ConversationRename,
    Deleted,
    Health,
    MessageCreate,
    MessageOut,
    RunOut,
    SearchResponse,
    Stats,
)

router = APIRouter(responses=ERRORS)
v1 = "/api/v1"


@router.get("/health", response_model=Health, tags=["server"], responses={})
async def health() -> Health:
    """Liveness, without authentication."""
    return Health(version=__version__)


@router.get("/metrics", tags=["server"], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
@in_worker
def metrics(request: Request, wb: WB, who: Who) -> Response:
    """Request counts and latencies; the home's sizes and the chunks its index lacks, as
    `workbench doctor` reports them; the latest `doctor` run's checks and their time.
    Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    request.app.state.metrics.note(wb)
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


# -- conversations ------------------------------------------------------------------------------
@router.get(f"{v1}/conversations", response_model=ConversationPage, tags=["conversations"])
@in_worker
def list_conversations(wb: WB, who: Who, workspace: str | None = None,
                       title: str | None = Query(None, description="Part of the title"),
                       offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500)):
    """Newest first, one page at a time."""
    space = wb.users.workspace(who.user, workspace)
    found = wb.conversations.list(space, title, offset + limit + 1)[offset:]
    return ConversationPage(items=[c.to_dict() for c in found[:limit]], offset=offset,
                            limit=limit, has_more=len(found) > limit)


@router.post(f"{v1}/conversations", response_model=ConversationOut, status_code=201,
             tags=["conversations"])
@in_worker
def create_conversation(body: ConversationCreate, wb: WB, who: Who):
    space = wb.users.workspace(who.user, body.workspace)
    return wb.conversations.create(space, body.title, body.metadata).to_dict()


@router.get(f"{v1}/conversations/{{conversation_id}}", response_model=ConversationDetail,
            tags=["conversations"])
@in_worker
def get_conversation(conversation_id: str, wb: WB, who: Who):
    """The conversation and every message of every branch."""
    conversation = wb.users.conversation(who.user, conversation_id)
    messages = wb.conversations.messages(conversation.id)
    return {**conversation.to_dict(), "messages": [m.to_dict() for m in messages]}


@router.patch(f"{v1}/conversations/{{conversation_id}}", response_model=ConversationOut,
              tags=["conversations"])
@in_worker
def rename_conversation(conversation_id: str, body: ConversationRename, wb: WB, who: Who):
    conversation = wb.users.conversation(who.user, conversation_id)
    return wb.conversations.rename(conversation.id, body.title).to_dict()


@router.delete(f"{v1}/conversations/{{conversation_id}}", response_model=Deleted,
               tags=["conversations"])
@in_worker
def delete_conversation(conversation_id: str, request: Request, wb: WB, who: Who):
    """Delete it with its messages; they leave the index in the background."""
    conversation = wb.users.conversation(who.user, conversation_id)
    deleted = wb.conversations.delete(conversation.id)
    request.app.state.jobs.index_soon()
    return Deleted(id=conversation.id, messages_deleted=deleted)


@router.get(f"{v1}/conversations/{{conversation_id}}/messages", response_model=list[MessageOut],
            tags=["messages"])
@in_worker
def list_messages(conversation_id: str, wb: WB, who: Who, active_only: bool = False):
    conversation = wb.users.conversation(who.user, conversation_id)
    return [m.to_dict() for m in wb.conversations.messages(conversation.id, active_only)]


@router.post(f"{v1}/conversations/{{conversation_id}}/messages", response_model=MessageOut,
             status_code=201, tags=["messages"])
@in_worker
def add_message(conversation_id: str, body: MessageCreate, request: Request, wb: WB, who: Who):
    """Append a message (after the active branch's last one unless ``parent_id`` says); it is
    indexed in the background, searchable a moment later."""
    conversation = wb.users.conversation(who.user, conversation_id)
    message = wb.conversations.add_message(conversation.id, body.role, body.content,
                                           speaker=body.speaker, parent_id=body.parent_id,
                                           metadata=body.metadata)
    request.app.state.jobs.index_soon()
    return message.to_dict()


# -- search and chat ----------------------------------------------------------------------------
@router.get(f"{v1}/search", response_model=SearchResponse, tags=["search"])
@in_worker
def search(wb: WB, who: Who, q: str = Query(min_length=1, max_length=2000),
           workspace: str | None = None, k: int = Query(10, ge=1, le=1000),
           since: str | None = Query(None, description="YYYY-MM-DD or a phrase"),
           until: str | None = Query(None, description="YYYY-MM-DD (inclusive) or a phrase"),
           role: str | None = None, conversation: str | None = None,
           now: str | None = Query(None, description="ISO date time phrases are read against")):
    """Hybrid search, the same JSON as ``workbench search --json``."""
    space = wb.users.workspace(who.user, workspace)
    if conversation is not None:
        conversation = wb.users.conversation(who.user, conversation).id
    result = wb.search.query(q, space, k=k, since=moment(since, False, "since"),
                             until=moment(until, True, "until"), role=role,
                             conversation=conversation, now=asked_on(now))
    return result.to_dict()


@router.post(f"{v1}/chat", response_model=ChatResponse, tags=["chat"],
             responses={200: {"content": {"text/event-stream": {}}}})
@in_worker
def chat(body: ChatRequest, wb: WB, who: Who):
    """A turn with memories and citations; with ``stream`` the answer comes as Server-Sent
    Events: ``memories`` (the hits), unnamed events ``{"delta": ...}``, then ``done`` (the
    turn, as without streaming)."""
    space = wb.users.workspace(who.user, body.workspace)
    conversation = None
    if body.conversation_id is not None:
        conversation = wb.users.conversation(who.user, body.conversation_id)
        space = conversation.workspace
    turn = wb.chat.start(body.message, space, conversation.id if conversation else None,
                         asked_on(body.now))
    if not body.stream:
        grounded(wb, turn)
        return turn.to_dict()

    def events() -> Iterator[str]:
        yield _event({"memories": [h.to_dict() for h in turn.hits],
                      "conversation_id": turn.conversation_id}, "memories")
        yield _event({"delta": grounded(wb, turn)})
        yield _event(turn.to_dict(), "done")

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _event(payload: dict, name: str | None = None) -> str:
    data = json.dumps(payload, ensure_ascii=False, default=str)
    return (f"event: {name}\n" if name else "") + f"data: {data}\n\n"


# -- stats and evaluation -----------------------------------------------------------------------
@router.get(f"{v1}/stats", response_model=Stats, tags=["stats"])
@in_worker
def stats(wb: WB, who: Who, workspace: str | None = None):
    """Counts of one of your workspaces (default: your first)."""
    return wb.stats(wb.users.workspace(who.user, workspace))


@router.get(f"{v1}/eval/runs", response_model=list[RunOut], tags=["evaluation"])
@in_worker
def eval_runs(wb: WB, who: Who, set: str | None = Query(None, description="name or name@version"),
              limit: int = Query(50, ge=1, le=1000)):
    """Stored evaluation runs over sets of your workspaces, newest first."""
    return [r.to_dict() for r in wb.users.runs(who.user, wb.evals, set, limit)]


@router.get(f"{v1}/eval/runs/{{run_id}}", response_model=RunOut, tags=["evaluation"])
@in_worker
def eval_run(run_id: str, wb: WB, who: Who):
    return wb.users.run(who.user, wb.evals, run_id).to_dict()
