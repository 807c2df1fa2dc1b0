"""One retry policy for every client that sends (the rules, not the loop).

The policy decides *whether* (the error's ``retryable`` flag, the ambiguous-outcome switch
and ``max_attempts``) and *how long* (``Retry-After`` when the provider gives one, capped;
otherwise exponential backoff with full jitter), and tenacity applies them. The loop is
the send protocol in :mod:`gateway.protocol`, which both clients drive; the policy also
carries the sleep each driver uses, so tests can record waits instead of taking them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    DoSleep,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

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
    """:class:`RetrySettings` as tenacity's rules, plus the sleeps that take the waits.

    tenacity decides (``retry_if_exception``, ``stop_after_attempt``, the wait) through its
    own state machine, ``Retrying.iter``, which is sans-IO: the send protocol
    (:mod:`gateway.protocol`) steps it after each failed attempt and yields the pause it
    returns, so the sync and async clients share one loop. The first attempt needs no
    tenacity state at all: it is created on the first failure only.
    """

    def __init__(
        self,
        settings: RetrySettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or RetrySettings()
        self.sleep = sleep
        self.async_sleep = async_sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._rules = Retrying(
            retry=retry_if_exception(self.should_retry),
            stop=stop_any(stop_after_attempt(self.settings.max_attempts), _past_max_wait),
            wait=self._wait,
            reraise=True,
        )

    def should_retry(self, exc: BaseException) -> bool:
        """Whether ``exc`` may be retried at all (attempts left aside)."""
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

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return self.delay(exc, state.attempt_number)

    def begin(self, max_wait: float | None = None) -> RetryCallState:
        """tenacity's state for one exchange's retries; ``max_wait`` bounds its pauses."""
        rules = self._rules.copy()  # its own statistics, as tenacity's own wrappers do
        rules.begin()
        return RetryCallState(rules, fn=None, args=(), kwargs={"max_wait": max_wait})

    def after_failure(self, state: RetryCallState, exc: ProviderError) -> Verdict:
        """Record failed attempt ``state.attempt_number`` and ask tenacity what comes next."""
        state.set_exception((type(exc), exc, exc.__traceback__))
        try:
            action = state.retry_object.iter(state)
        except ProviderError:  # tenacity gives up by re-raising the failure
            late = state.attempt_number < self.settings.max_attempts and _past_max_wait(state)
            return Verdict(None, late=late)
        assert isinstance(action, DoSleep)  # DoAttempt only ever comes before a first attempt
        state.prepare_for_next_attempt()
        return Verdict(float(action), late=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    """After a failed attempt: the pause before the next (None: give up), and whether
    giving up was ``max_wait``'s doing."""

    pause: float | None
    late: bool


class _PastMaxWait(stop_base):
    """Stop when the next pause would take one exchange's waits past its ``max_wait``."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        max_wait = retry_state.kwargs["max_wait"]
        return max_wait is not None and retry_state.idle_for + retry_state.upcoming_sleep > max_wait


_past_max_wait = _PastMaxWait()
