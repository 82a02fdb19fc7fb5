"""``wb.users``: accounts, API keys, and what each user may see.

A user reads and writes only the workspaces on their row (their name's workspace by default);
anything else answers exactly as if it did not exist. Passwords are kept as Argon2 hashes; an
API key is shown once and kept as a SHA-256 of itself (a key is 256 random bits, so a slow hash
would only slow every request down), found by its public prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from functools import cached_property
from typing import Any, Callable

from workbench.config import Settings
from workbench.errors import InvalidInput, NotFound, RateLimited, Unauthorized
from workbench.records import ApiKey, Conversation, Run, User
from workbench.store import Store

KEY_PREFIX = "wbk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Users:
    """Accounts and their keys; ``workspace`` and ``conversation`` are the checks every face
    makes before it lets a user read or write (a ``User`` with ``workspaces`` None sees all)."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        # A checked credential is trusted for ``auth_cache_s``: looking a key up in DuckDB
        # costs ≈ 11 ms a request. Changes made here clear it; another process's take effect
        # within that time.
        self._trusted: dict[str, tuple[float, Any]] = {}

    @cached_property
    def _hasher(self) -> Any:
        from argon2 import PasswordHasher

        return PasswordHasher()

    # -- accounts -------------------------------------------------------------------------------
    def add(self, name: str, password: str, workspaces: list[str] | None = None) -> User:
        """A new user owning ``workspaces`` (default: one named after the user)."""
        if not _NAME.match(name or ""):
            raise InvalidInput(f"user name {name!r} must be 1-64 letters, digits or . _ @ -")
        spaces = [w.strip() for w in (workspaces or [name]) if w.strip()]
        if not spaces:
            raise InvalidInput("a user needs at least one workspace")
        return self.store.users.add(name, self._hash(password), spaces)

    def list(self) -> list[User]:
        return self.store.users.list()

    def get(self, name: str) -> User:
        return self.store.users.get(name)

    def any(self) -> bool:
        return self.store.users.count() > 0

    def disable(self, name: str, disabled: bool = True) -> User:
        self._trusted.clear()
        return self.store.users.update(name, disabled=disabled)

    def reset(self, name: str, password: str) -> User:
        self._trusted.clear()
        return self.store.users.update(name, password_hash=self._hash(password))

    def authenticate(self, name: str, password: str) -> User:
        """The user, if the password is theirs and the account is enabled."""
        from argon2.exceptions import VerificationError

        found = self.store.users.password_hash(name)
        stored = found[1] if found else self._decoy
        try:
            self._hasher.verify(stored, password)  # an unknown name takes as long as a known one
        except VerificationError:
            found = None
        if found is None or found[0].disabled:
            raise Unauthorized("wrong user name or password")
        return found[0]

    def sign_in(self, name: str, password: str, client: str) -> User:
        """``authenticate`` for a person at a form (the app), with failed attempts limited per
        client address as the server limits its logins (``login_rate_limit``): past the limit
        the password is not even checked."""
        try:
            self._logins.check(client)
        except RateLimited as exc:
            raise RateLimited(f"too many failed sign-ins; try again in {exc.retry_after_s} s",
                              exc.retry_after_s) from None
        try:
            return self.authenticate(name, password)
        except Unauthorized:
            self._logins.hit(client)
            raise

    @cached_property
    def _logins(self) -> Any:
        from workbench.ratelimit import RateLimiter

        return RateLimiter(self.settings.login_rate_limit)

    def active(self, user_id: str) -> User:
        """The user a token names, while it still exists and is enabled."""
        return self._remembered(f"user:{user_id}", lambda: self._active(user_id))

    def trusted_user(self, user_id: str) -> User | None:
        """``active``'s answer while it is still trusted, without reading the store; None when
        it must be checked (``active``)."""
        return self._kept(f"user:{user_id}")

    def _active(self, user_id: str) -> User:
        try:
            user = self.store.users.get(user_id)
        except NotFound:
            raise Unauthorized("the token's user no longer exists") from None
        if user.disabled:
            raise Unauthorized(f"user {user.name!r} is disabled")
        return user

    # -- API keys -------------------------------------------------------------------------------
    def create_key(self, user: User, name: str) -> tuple[str, ApiKey]:
        """A new key for ``user``: the key itself (shown this once) and its stored record."""
        if not name.strip():
            raise InvalidInput("an API key needs a name")
        prefix = KEY_PREFIX + secrets.token_hex(6)
        key = f"{prefix}.{secrets.token_urlsafe(32)}"
        return key, self.store.users.add_key(user.id, name.strip(), prefix, _key_hash(key))

    def keys(self, user: User) -> list[ApiKey]:
        return self.store.users.keys(user.id)

    def revoke_key(self, user: User, key_id: str) -> ApiKey:
        self._trusted.clear()
        return self.store.users.revoke_key(user.id, key_id)

    def by_key(self, key: str) -> tuple[User, ApiKey]:
        """The enabled user a live key belongs to, and the key's record."""
        return self._remembered(f"key:{_key_hash(key)}", lambda: self._by_key(key))

    def trusted_key(self, key: str) -> tuple[User, ApiKey] | None:
        """``by_key``'s answer while it is still trusted, without reading the store; None when
        it must be checked (``by_key``)."""
        return self._kept(f"key:{_key_hash(key)}")

    def _by_key(self, key: str) -> tuple[User, ApiKey]:
        prefix = key.split(".", 1)[0]
        found = self.store.users.key_by_prefix(prefix) if prefix.startswith(KEY_PREFIX) else None
        if found is None or not hmac.compare_digest(found[1], _key_hash(key)):
            raise Unauthorized("unknown API key")
        record = found[0]
        if record.revoked_at is not None:
            raise Unauthorized(f"API key {record.name!r} was revoked")
        return self.active(record.user_id), record

    def touch_key(self, key: ApiKey) -> None:
        self.store.users.touch_key(key.id)

    # -- what a user may see --------------------------------------------------------------------
    def workspace(self, user: User, name: str | None = None) -> str | None:
        """The workspace a request works in: ``name`` if the user may use it, else their first
        (a user who sees every workspace gets ``name`` as given: None means all of them)."""
        if user.workspaces is None:
            return name
        if name is None:
            return user.workspaces[0]
        if name not in user.workspaces:
            raise NotFound(f"workspace {name!r} does not exist")
        return name

    def may_see(self, user: User, workspace: str | None) -> bool:
        return user.workspaces is None or workspace in user.workspaces

    def conversation(self, user: User, ref: str) -> Conversation:
        """The conversation, if it is in one of the user's workspaces; else NotFound, as if
        it did not exist."""
        conversation = self.store.conversations.get(ref)
        if not self.may_see(user, conversation.workspace):
            raise NotFound(f"conversation {ref!r} does not exist")
        return conversation

    def runs(self, user: User, evals: Any, set_ref: str | None = None,
             limit: int | None = None) -> list[Run]:
        """Stored runs over eval sets of the user's workspaces, newest first."""
        runs = evals.runs(set_ref)
        if user.workspaces is not None:
            visible = self._visible_sets(user, evals)
            runs = [r for r in runs if r.set_id in visible]
        return runs[:limit]

    def run(self, user: User, evals: Any, ref: str) -> Run:
        run = evals.get_run(ref)
        if user.workspaces is not None and run.set_id not in self._visible_sets(user, evals):
            raise NotFound(f"run {ref!r} does not exist")
        return run

    def _visible_sets(self, user: User, evals: Any) -> set[str]:
        return {s.id for s in evals.sets() if self.may_see(user, s.workspace)}

    def client_chat(self, user: User, client_key: str) -> str | None:
        return self.store.users.client_chat(user.id, client_key)

    def link_client_chat(self, user: User, client_key: str, conversation_id: str) -> None:
        self.store.users.link_client_chat(user.id, client_key, conversation_id)

    # -- pieces ---------------------------------------------------------------------------------
    def _remembered(self, name: str, check: Callable[[], Any]) -> Any:
        kept = self._kept(name)
        if kept is not None:
            return kept
        found = check()  # a refusal is never kept: the next request asks again
        self._trusted[name] = (time.monotonic() + self.settings.auth_cache_s, found)
        return found

    def _kept(self, name: str) -> Any:
        kept = self._trusted.get(name)
        return kept[1] if kept is not None and kept[0] > time.monotonic() else None

    def _hash(self, password: str) -> str:
        if len(password or "") < MIN_PASSWORD:
            raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
        return self._hasher.hash(password)

    @cached_property
    def _decoy(self) -> str:
        return self._hasher.hash(secrets.token_hex(8))


# The one user of a server started without authentication: every workspace is theirs.
LOCAL = User("00000000-0000-4000-8000-000000000000", "local", None)
