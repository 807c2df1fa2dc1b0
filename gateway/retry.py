"""One retry policy for the sync and the async gateway.

The policy decides *whether* (the error's ``retryable`` flag, plus the ambiguous-outcome
switch) and *how long* (``Retry-After`` when the provider gives one, capped; otherwise
exponential backoff with full jitter). tenacity runs the loop: ``Retrying`` for
:class:`~gateway.client.Gateway`, ``AsyncRetrying`` for :class:`~gateway.client.AsyncGateway`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, RetryCallState, Retrying, stop_after_attempt

from gateway.errors import OutcomeUnknown, ProviderError


class RetrySettings(BaseModel):
    """``[gateway.retry]`` in the config file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=4, ge=1, le=20)
    initial_backoff: float = Field(default=0.5, ge=0)
    max_backoff: float = Field(default=8.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    retry_after_cap: float = Field(default=30.0, ge=0)
    retry_ambiguous: bool = False
    """Retry when the request was sent but no response came (risk: a duplicate message)."""


class RetryPolicy:
    """Turns :class:`RetrySettings` into tenacity controllers."""

    def __init__(
        self,
        settings: RetrySettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or RetrySettings()
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, OutcomeUnknown):
            return self.settings.retry_ambiguous
        return isinstance(exc, ProviderError) and exc.retryable

    def delay(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        s = self.settings
        retry_after = exc.retry_after if isinstance(exc, ProviderError) else None
        if retry_after is not None:
            return min(retry_after, s.retry_after_cap)
        ceiling = min(s.max_backoff, s.initial_backoff * s.multiplier ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    def _waiter(self, after: int) -> Any:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.delay(exc, state.attempt_number + after)

        return wait

    def _retry(self, state: RetryCallState) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        exc = state.outcome.exception()
        return exc is not None and self.should_retry(exc)

    def _kwargs(self, after: int) -> dict[str, Any]:
        return {
            "retry": self._retry,
            "wait": self._waiter(after),
            "stop": stop_after_attempt(self.settings.max_attempts - after),
            "reraise": True,
        }

    # The first attempt runs without tenacity (it succeeds almost always, and building a
    # retry controller per send costs more than the send's own work); after a retryable
    # failure the gateway pauses, then tenacity runs the remaining attempts.

    def retries_after(self, exc: ProviderError) -> bool:
        """Whether a failed first attempt is followed by tenacity's retries."""
        return self.should_retry(exc) and self.settings.max_attempts > 1

    def pause(self, exc: ProviderError) -> None:
        self._sleep(self.delay(exc, 1))

    async def async_pause(self, exc: ProviderError) -> None:
        await self._async_sleep(self.delay(exc, 1))

    def retrying(self, after: int = 0) -> Retrying:
        """Attempts ``after + 1`` … ``max_attempts``."""
        return Retrying(sleep=self._sleep, **self._kwargs(after))

    def async_retrying(self, after: int = 0) -> AsyncRetrying:
        return AsyncRetrying(sleep=self._async_sleep, **self._kwargs(after))
