"""The send protocol, written once and driven by every client (sans-IO).

A flow is a generator, as in httpx's ``Auth.auth_flow``: it yields the next thing to do
and is sent back what happened. It never touches a socket, a sleep or a lock itself, so
:class:`~gateway.client.Gateway` and :class:`~gateway.client.AsyncGateway` each drive it
with a loop of a few lines (``_run``), and tests step it by hand.

Actions, what the driver does, and what it sends back:

- an :class:`~gateway.http.HttpRequest`: send it on the transport → the ``HttpResponse``,
  or the ``ProviderError`` the transport raised (as a value, not thrown in).
- :class:`Sleep`: wait ``seconds`` with the retry policy's sleep → ``None``.
- :class:`FetchToken`: hold ``cache``'s lock (threading or asyncio) while driving the
  nested ``flow`` the same way → its result, ``str | ProviderError``.

A flow ends by returning its result or raising the ProviderError it gave up on. It holds
no resource between yields (the driver owns the lock), so a flow abandoned mid-way, e.g.
by a cancelled task, needs no cleanup.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from tenacity import RetryCallState

from gateway.auth import TokenCache
from gateway.errors import ProviderError, RateLimited
from gateway.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from gateway.core import GatewayCore, Parse, Sender

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` before the next attempt; answer with None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class FetchToken:
    """Drive ``flow`` while holding ``cache``'s lock, so that one token request serves
    every thread or task that needs one at the same time; answer with its result."""

    cache: TokenCache
    flow: Flow[str | ProviderError]


# A request to send is yielded as itself: no wrapper to allocate on every send.
Action: TypeAlias = HttpRequest | Sleep | FetchToken
# What is sent back depends on the action yielded, which a type cannot say: each yield
# below annotates the outcome it receives.
Flow: TypeAlias = Generator[Action, Any, T]


def exchange(
    core: GatewayCore,
    sender: Sender,
    op: str,
    request: HttpRequest,
    parse: Parse[T],
    *,
    max_wait: float | None = None,
) -> Flow[T]:
    """Make ``request`` for ``sender`` and parse the answer, retrying as the policy says.

    The first attempt goes straight out; a failure is retried while the policy allows
    (retryable, attempts left), after the policy's pause. Each attempt logs ``{op}.ok`` or
    ``{op}.failed``. ``max_wait`` bounds the seconds this exchange may spend paused.

    Raises:
        ProviderError: the last failure, its message scrubbed of secrets.
        RateLimited: a ``Retry-After`` (or rate-limit backoff) would take the waits past
            ``max_wait``.
    """
    policy = core.retry
    retries: RetryCallState | None = None  # tenacity's state, made on the first failure
    attempt = 0
    while True:
        attempt += 1
        started = perf_counter()
        outcome: HttpResponse | ProviderError
        if sender.tokens is None:
            outcome = yield request
        else:
            outcome = yield from _authorized(core, sender, sender.tokens, request)
        try:
            if isinstance(outcome, ProviderError):
                raise outcome
            result = parse(outcome)
        except ProviderError as exc:
            status_code = outcome.status_code if isinstance(outcome, HttpResponse) else None
            if retries is None:
                retries = policy.begin(max_wait)
            verdict = policy.after_failure(retries, exc)
            core.failed(
                sender, op, attempt, started, status_code, exc, will_retry=verdict.pause is not None
            )
            if verdict.pause is None:
                if (
                    verdict.late
                    and exc.retry_after is not None
                    and not isinstance(exc, RateLimited)
                ):
                    raise _past_max_wait(exc, max_wait) from exc
                raise
            yield Sleep(verdict.pause)
            continue
        core.succeeded(sender, op, attempt, started, outcome.status_code, result)
        return result


def _past_max_wait(exc: ProviderError, max_wait: float | None) -> RateLimited:
    """A Retry-After longer than the caller will wait reads as the rate limit it is."""
    return RateLimited(
        f"{exc.message} (Retry-After {exc.retry_after:g} s, past max_wait {max_wait:g} s)",
        provider=exc.provider,
        status_code=exc.status_code,
        code=exc.code,
        retry_after=exc.retry_after,
        raw=exc.raw,
    )


def _authorized(
    core: GatewayCore, sender: Sender, cache: TokenCache, request: HttpRequest
) -> Flow[HttpResponse | ProviderError]:
    """One attempt with a bearer token; a token the provider says expired early is
    refreshed once and the request resent."""
    token = yield from _token(core, sender, cache)
    if isinstance(token, ProviderError):
        return token
    outcome: HttpResponse | ProviderError = yield sender.adapter.authorize(request, token)
    if (
        isinstance(outcome, HttpResponse)
        and outcome.status_code == 401
        and sender.adapter.token_expired(outcome)
    ):
        cache.invalidate(token)
        token = yield from _token(core, sender, cache)
        if isinstance(token, ProviderError):
            return token
        outcome = yield sender.adapter.authorize(request, token)
    return outcome


def _token(core: GatewayCore, sender: Sender, cache: TokenCache) -> Flow[str | ProviderError]:
    token = cache.valid()
    if token is not None:  # the common case: no lock taken
        return token
    fetched: str | ProviderError = yield FetchToken(cache, _fetch(core, sender, cache))
    return fetched


def _fetch(core: GatewayCore, sender: Sender, cache: TokenCache) -> Flow[str | ProviderError]:
    """Runs under the cache's lock: whoever waited for it finds the token already there."""
    token = cache.valid()
    if token is not None:
        return token
    started = perf_counter()
    outcome: HttpResponse | ProviderError = yield core.token_request(sender)
    if isinstance(outcome, ProviderError):
        return outcome
    try:
        return core.take_token(sender, started, outcome)
    except ProviderError as exc:
        return exc
