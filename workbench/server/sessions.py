"""``/api/v1/auth`` and ``/api/v1/keys``: signing in, refreshing, and the caller's API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from workbench.server.deps import ERRORS, WB, Who, in_worker
from workbench.server.schemas import KeyCreate, KeyCreated, KeyOut, RefreshRequest, TokenPair, UserOut

router = APIRouter(prefix="/api/v1", responses=ERRORS)


@router.post("/auth/token", response_model=TokenPair, tags=["auth"])
@in_worker
def token(request: Request, wb: WB, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=1024)]):
    """Sign in with a user name and password (OAuth2 password form): a short-lived access
    token and a refresh token. Attempts are limited per client address."""
    request.app.state.guard.logins.hit(f"login:{request.client.host if request.client else '?'}")
    return request.app.state.tokens.issue(wb.users.authenticate(username, password))


@router.post("/auth/refresh", response_model=TokenPair, tags=["auth"])
@in_worker
def refresh(body: RefreshRequest, request: Request, wb: WB):
    """A new pair of tokens for a refresh token, while its user is still enabled."""
    tokens = request.app.state.tokens
    request.app.state.guard.logins.hit(f"login:{request.client.host if request.client else '?'}")
    return tokens.issue(wb.users.active(tokens.read(body.refresh_token, "refresh")))


@router.get("/auth/me", response_model=UserOut, tags=["auth"])
async def me(who: Who):
    """Who the credential belongs to, and the workspaces they see."""
    return who.user.to_dict()


@router.get("/keys", response_model=list[KeyOut], tags=["auth"])
@in_worker
def keys(wb: WB, who: Who):
    """Your API keys (never the keys themselves), revoked ones included."""
    return [k.to_dict() for k in wb.users.keys(who.user)]


@router.post("/keys", response_model=KeyCreated, status_code=201, tags=["auth"])
@in_worker
def create_key(body: KeyCreate, wb: WB, who: Who):
    """A new API key for OpenAI and MCP clients: ``key`` is shown in this answer only."""
    key, record = wb.users.create_key(who.user, body.name)
    return {**record.to_dict(), "key": key}


@router.delete("/keys/{key_id}", response_model=KeyOut, tags=["auth"])
@in_worker
def revoke_key(key_id: str, wb: WB, who: Who):
    """Revoke one of your keys: requests with it are refused from now on."""
    return wb.users.revoke_key(who.user, key_id).to_dict()
