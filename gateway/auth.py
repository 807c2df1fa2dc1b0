"""Bearer tokens fetched by the gateway for adapters that need them (e.g. Sinch OAuth).

The adapter describes the token request and reads the answer; the send protocol
(:mod:`gateway.protocol`) asks for it. :class:`TokenCache` holds the token and the decision
(is the cached token still good?); its locks are held by the client driving the protocol
(a thread lock for the sync gateway, an asyncio lock for the async one), so that
concurrent sends share one token request instead of stampeding the token endpoint.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

MAX_MARGIN = 60.0
"""Refresh this long (at most) before the token expires."""


class TokenCache:
    """One sender's bearer token and the locks that serialize its refresh."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self.thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None

    @property
    def async_lock(self) -> asyncio.Lock:
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        return self._async_lock

    def valid(self) -> str | None:
        """The cached token, unless it is missing or about to expire."""
        if self._token is not None and self.clock() < self._refresh_at:
            return self._token
        return None

    def store(self, token: str, expires_in: float) -> str:
        # Refresh shortly before expiry: 10% of the lifetime, at most a minute.
        margin = min(MAX_MARGIN, expires_in / 10)
        self._token, self._refresh_at = token, self.clock() + expires_in - margin
        return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the provider said it expired) unless it was already replaced."""
        if self._token == token:
            self._token = None
