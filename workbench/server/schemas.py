"""The JSON the REST API takes and gives: one typed model per request and response."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CONVERSATION_ID = "3f2a9c1e-5b7d-4c1a-9e2f-8a6b4c3d2e1f"


class Strict(BaseModel):
    """A request body: each field of its own JSON type only (``"stream": 0`` is refused, not
    read as false), as the schema documents it."""

    model_config = ConfigDict(strict=True)


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["conversation '3f2a9c1e' does not exist"])


class ErrorResponse(BaseModel):
    """Every 4xx (and 503) answer: one error with a stable code and one line."""

    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ConversationOut(BaseModel):
    id: str = Field(examples=[_CONVERSATION_ID])
    workspace: str = Field(examples=["alice"])
    title: str | None = Field(examples=["Trip to Lisbon"])
    source_format: str = Field(examples=["chatgpt"])
    source_id: str
    metadata: dict[str, Any]
    created_at: str | None
    updated_at: str | None
    message_count: int


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    offset: int
    limit: int
    has_more: bool


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    parent_id: str | None
    role: str = Field(examples=["user"])
    speaker: str | None
    content: str = Field(examples=["How do I back up the database every day?"])
    content_type: str
    created_at: str | None
    source_id: str
    metadata: dict[str, Any]
    on_active_branch: bool
    position: int

    model_config = ConfigDict(extra="ignore")


class ConversationDetail(ConversationOut):
    """A conversation with every message of every branch (``on_active_branch`` marks the one
    shown)."""

    messages: list[MessageOut]


class ConversationCreate(Strict):
    title: str | None = Field(None, max_length=500, examples=["Backups"])
    workspace: str | None = Field(None, description="One of yours; default: your first")
    metadata: dict[str, Any] = Field(default_factory=dict)


class ConversationRename(Strict):
    title: str = Field(min_length=1, max_length=500, examples=["Trip to Lisbon"])


class Deleted(BaseModel):
    id: str
    messages_deleted: int


class MessageCreate(Strict):
    role: Literal["system", "user", "assistant", "tool"] = Field(examples=["user"])
    content: str = Field(min_length=1, examples=["Remember: the backup runs at 02:00."])
    speaker: str | None = None
    parent_id: str | None = Field(None, description="Default: after the active branch's last")
    metadata: dict[str, Any] = Field(default_factory=dict)


class HitOut(BaseModel):
    message_id: str
    source_id: str | None
    conversation_id: str
    title: str | None
    workspace: str
    role: str
    speaker: str | None
    timestamp: str | None
    score: float
    text: str
    context: list[dict[str, Any]] | None = None
    duplicates: int = 0


class SearchResponse(BaseModel):
    """The same fields as ``workbench search --json``."""

    query: str
    since: datetime | None
    until: datetime | None
    time_phrase: str | None
    time_use: str | None = Field(None, description='What the time phrase did: "filter" or "lift"')
    window: dict[str, datetime | None] = Field(
        default_factory=dict, description="The time phrase's window (since, until)")
    timings_ms: dict[str, float]
    hits: list[HitOut]


class ChatRequest(Strict):
    message: str = Field(min_length=1, max_length=200_000,
                         examples=["What did I decide about backups?"])
    conversation_id: str | None = Field(None, description="Continue this conversation")
    workspace: str | None = None
    now: str | None = Field(None, description="ISO date the question is asked on",
                            examples=["2026-01-10"])
    stream: bool = Field(False, description="Server-Sent Events: memories, deltas, done")


class Citation(BaseModel):
    n: int
    message_id: str
    source_id: str | None
    conversation_id: str


class ChatResponse(BaseModel):
    """A turn, as ``workbench chat --json`` prints it."""

    conversation_id: str
    workspace: str
    user_message_id: str
    assistant_message_id: str | None
    answer: str
    citations: list[Citation]
    memories: list[HitOut]
    model: str | None
    timings_ms: dict[str, float]
    error: str | None


class WorkspaceStats(BaseModel):
    name: str
    created_at: str
    conversations: int
    messages: int


class Stats(BaseModel):
    workspaces: int
    conversations: int
    messages: int
    imports: int
    per_workspace: list[WorkspaceStats]


class RunOut(BaseModel):
    id: str
    label: str | None
    set_ref: str
    retriever: str
    chunker: str
    embedding_model: str
    ks: list[int]
    metrics: dict[str, float]
    per_category: dict[str, dict[str, float]]
    queries: int
    started_at: str
    origin: str

    model_config = ConfigDict(extra="ignore")


class JobOut(BaseModel):
    """An upload's import: ``queued``, ``running``, ``done`` or ``failed`` (nothing written)."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    filename: str
    workspace: str
    progress: dict[str, list[int]] = Field(default_factory=dict,
                                           description="stage → [done, total]")
    result: dict[str, Any] | None = None
    error: str | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token lives")


class RefreshRequest(Strict):
    refresh_token: str


class UserOut(BaseModel):
    id: str
    name: str
    workspaces: list[str] | None
    disabled: bool
    created_at: str | None


class KeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100, examples=["open-webui"])


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")
