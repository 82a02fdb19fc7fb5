"""Rate limits kept in this process: a moving window of recent requests per key."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from limits import parse

from workbench.errors import InvalidInput, RateLimited


class RateLimiter:
    """A moving window per key, in this process: the request past the limit is refused with
    how long to wait. ``limits`` reads the limit ("300/minute"); the window is kept here,
    since its in-memory storage starts a thread on every request to expire old entries."""

    def __init__(self, limit: str):
        try:
            self.item = parse(limit)
        except ValueError as exc:
            raise InvalidInput(f"rate limit {limit!r} is not like '300/minute' ({exc})") from None
        self.window_s = float(self.item.get_expiry())
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = time.monotonic() + self.window_s

    def hit(self, key: str) -> None:
        """Count a request under ``key``; the one past the limit is refused (RateLimited)."""
        self._admit(key, count=True)

    def check(self, key: str) -> None:
        """Refuse (RateLimited) while ``key``'s window is full, counting nothing: a sign-in
        counts its failures only (``hit`` after one)."""
        self._admit(key, count=False)

    def _admit(self, key: str, count: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) < self.item.amount:
                if count:
                    hits.append(now)
                return
            wait = max(1, math.ceil(hits[0] + self.window_s - now))
        raise RateLimited(f"too many requests: {self.item} allowed; retry in {wait} s", wait)

    def _sweep(self, now: float) -> None:
        """Forget the keys with no request in the window, once a window (many client
        addresses must not grow the table without bound)."""
        if now < self._sweep_at:
            return
        self._sweep_at = now + self.window_s
        for key in [k for k, hits in self._hits.items() if not hits or
                    hits[-1] <= now - self.window_s]:
            del self._hits[key]
