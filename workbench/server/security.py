"""Who is asking: bearer tokens (JWT or an API key), and how often they may ask.

The server decides *who* a request comes from here; the door (``wb.users``) decides what that
user may see. Every route but ``/health`` goes through ``Guard.identify``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from workbench.config import Settings
from workbench.door.users import KEY_PREFIX, LOCAL, Users
from workbench.errors import Unauthorized
from workbench.ratelimit import RateLimiter
from workbench.records import User

_ALGORITHM = "HS256"
_TOUCH_EVERY_S = 60.0  # a key's "last used" is written at most once a minute, not per request


def load_secret(settings: Settings) -> str:
    """The signing secret: from the settings, else a file in the home made on first start,
    readable by its owner only."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path: Path = settings.secret_path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()


class Tokens:
    """Short-lived access tokens and longer refresh tokens, both HS256 JWTs naming a user id."""

    def __init__(self, secret: str, access_s: int, refresh_s: int):
        self._secret = secret
        self.access_s = access_s
        self.refresh_s = refresh_s

    def issue(self, user: User) -> dict[str, Any]:
        now = int(time.time())

        def token(kind: str, lifetime: int) -> str:
            claims = {"sub": user.id, "name": user.name, "typ": kind, "iat": now,
                      "exp": now + lifetime, "jti": secrets.token_hex(8)}
            return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

        return {"access_token": token("access", self.access_s),
                "refresh_token": token("refresh", self.refresh_s),
                "token_type": "bearer", "expires_in": self.access_s}

    def read(self, token: str, kind: str) -> str:
        """The user id of a valid, unexpired token of this kind."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[_ALGORITHM],
                                options={"require": ["sub", "exp", "typ"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid") from None
        if claims.get("typ") != kind:
            raise Unauthorized(f"a {claims.get('typ')} token cannot be used as a {kind} token")
        return str(claims["sub"])


@dataclass
class Caller:
    """The user behind a request and the key their requests are counted under."""

    user: User
    limit_key: str


class Guard:
    """Turns a request's bearer credential into a ``Caller`` (a JWT from ``/api/v1/auth/token``
    or an API key), counting it against the per-caller rate limit. Without authentication
    (``auth`` False) every request is the local user's."""

    def __init__(self, users: Users, tokens: Tokens, settings: Settings, auth: bool = True):
        self.users = users
        self.tokens = tokens
        self.auth = auth
        self.requests = RateLimiter(settings.rate_limit)
        self.logins = RateLimiter(settings.login_rate_limit)
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def identify(self, credential: str | None) -> Caller:
        """The caller, checking the credential in the store if need be: call it off the event
        loop."""
        caller = self._caller(credential, read=True)
        assert caller is not None
        return caller

    def trusted(self, credential: str | None) -> Caller | None:
        """The caller when that needs no store access (no authentication, or a credential
        checked within ``auth_cache_s`` whose key needs no "last used" write); else None, and
        ``identify`` must run. Cheap enough for the event loop: a request saves a hand-off to
        a worker thread."""
        return self._caller(credential, read=False)

    def _caller(self, credential: str | None, read: bool) -> Caller | None:
        if not self.auth:
            caller = Caller(LOCAL, "local")
        elif not credential:
            raise Unauthorized("sign in: send 'Authorization: Bearer TOKEN' (a token from "
                               "/api/v1/auth/token or an API key)")
        elif credential.startswith(KEY_PREFIX):
            found = self.users.by_key(credential) if read else self.users.trusted_key(credential)
            if found is None or not (read or self._touched_lately(found[1])):
                return None
            user, key = found
            if read:
                self._touch(key)
            caller = Caller(user, f"key:{key.id}")
        else:
            user_id = self.tokens.read(credential, "access")
            user = self.users.active(user_id) if read else self.users.trusted_user(user_id)
            if user is None:
                return None
            caller = Caller(user, f"user:{user.id}")
        self.requests.hit(caller.limit_key)
        return caller

    def _touched_lately(self, key: Any) -> bool:
        return time.monotonic() - self._touched.get(key.id, -_TOUCH_EVERY_S) < _TOUCH_EVERY_S

    def _touch(self, key: Any) -> None:
        with self._lock:
            if self._touched_lately(key):
                return
            self._touched[key.id] = time.monotonic()
        self.users.touch_key(key)
