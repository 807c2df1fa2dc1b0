"""The IO-free heart of the gateway, shared by :class:`~gateway.client.Gateway` and
:class:`~gateway.client.AsyncGateway`: routing, building requests, reading responses,
tokens, logging, and webhook verification and parsing. The send protocol that strings
these together (tokens, retries, pauses) is :mod:`gateway.protocol`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from gateway import telemetry
from gateway.config import GatewayConfig, GatewaySection, RouteConfig
from gateway.errors import ConfigError, GatewayError, ProviderError
from gateway.events import InboundEvent, SendReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.identity import addressed
from gateway.log import enabled, get_logger, install_log_redaction
from gateway.model import FlowMessage, FlowTemplate
from gateway.pacing import Pacer
from gateway.redact import secrets
from gateway.retry import RetryPolicy
from gateway.senders import Sender as Sender  # re-exported: where it was defined before
from gateway.senders import SenderRegistry
from providers.base import Adapter

if TYPE_CHECKING:
    from gateway.limiter import Limiter
    from gateway.store import Store

T = TypeVar("T")
Parse = Callable[[HttpResponse], T]

DEFAULT_MAX_WAIT: float | None = GatewaySection.model_fields["max_wait"].default
"""``send``'s bound on waits when neither the call nor a config says (the config's own)."""


class Router:
    """Picks the sender of a message: explicit ``sender``, else the first matching route."""

    def __init__(self, routes: tuple[RouteConfig, ...], default: str | None) -> None:
        self._routes = [(r.to_prefix, r.sender) for r in routes]
        self._default = default

    def sender_for(self, msg: FlowMessage) -> str:
        if msg.sender is not None:
            return msg.sender
        to = msg.to.lstrip("+")
        for prefixes, sender in self._routes:
            if to.startswith(prefixes):
                return sender
        if self._default is None:
            raise ConfigError(
                "gateway.default_sender",
                f"no route matches {msg.to!r} and no default sender is set",
            )
        return self._default


class GatewayCore:
    """The IO-free part shared by :class:`Gateway` and :class:`AsyncGateway`."""

    def __init__(
        self,
        senders: Mapping[str, Adapter] | SenderRegistry,
        *,
        routes: tuple[RouteConfig, ...] = (),
        default_sender: str | None = None,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        max_wait: float | None = DEFAULT_MAX_WAIT,
    ) -> None:
        if isinstance(senders, SenderRegistry):
            registry = senders  # may be empty at first: the store's senders come later
        else:
            if not senders:
                raise ConfigError("senders", "at least one sender is required")
            registry = SenderRegistry(senders)
            if default_sender is None and len(senders) == 1:
                default_sender = next(iter(senders))
        self.senders: SenderRegistry = registry
        """Every sender by name (a ``Mapping``), with lookups by business id for routing."""
        self._lookup = registry.lookup
        self.router = Router(routes, default_sender)
        self.default_sender = default_sender
        self.retry = retry or RetryPolicy()
        self.pacer = pacer
        """Paces sends per number and per user (:mod:`gateway.pacing`); None: unpaced."""
        self.max_wait = max_wait
        """Seconds a send may wait for slots and pauses when the call does not say."""
        self.log = get_logger()
        install_log_redaction()

    @classmethod
    def from_config(
        cls,
        config: GatewayConfig,
        retry: RetryPolicy | None = None,
        store: Store | None = None,
        *,
        poll: bool = True,
        limiter: Limiter | None = None,
    ) -> GatewayCore:
        """The core for ``config``'s senders and routes, and the senders kept in ``store``
        when ``[gateway] store`` is set (without it, ``store`` may hold an inbox alone and
        is not read for senders). ``poll=False``: lookups never query the store; the
        owner calls ``core.senders.refresh()`` (e.g. on a thread, off the event loop).
        ``limiter``: sends are paced with it (the gateways open ``[gateway] limiter``);
        None: unpaced, for a core that only takes webhooks."""
        store = store if config.gateway.store is not None else None
        registry = SenderRegistry(config, store, poll=poll)
        return cls(
            registry,
            routes=config.routes,
            default_sender=config.default_sender,
            retry=retry or RetryPolicy(config.gateway.retry),
            pacer=Pacer(limiter) if limiter is not None else None,
            max_wait=config.gateway.max_wait,
        )

    def sender(self, name: str | None) -> Sender:
        name = name if name is not None else self.default_sender
        if name is None:
            raise ConfigError("gateway.default_sender", "no sender given and no default sender set")
        try:
            return self._lookup(name)
        except KeyError:
            known = ", ".join(self.senders)
            raise ConfigError(f"senders.{name}", f"no such sender (configured: {known})") from None

    # -- outbound ----------------------------------------------------------------------

    def plan_send(self, msg: FlowMessage) -> tuple[Sender, HttpRequest]:
        sender = self.sender(self.router.sender_for(msg))
        return sender, sender.adapter.build_send(msg)

    @staticmethod
    def send_parser(sender: Sender, msg: FlowMessage) -> Parse[SendReceipt]:
        """The adapter's response parser; a receipt whose provider does not echo the
        recipient names the user as ``msg`` addressed them."""

        def parse(resp: HttpResponse) -> SendReceipt:
            receipt = sender.adapter.parse_send_response(resp)
            if receipt.user:
                return receipt
            return replace(receipt, user=addressed(msg.to))

        return parse

    def token_request(self, sender: Sender) -> HttpRequest:
        request = sender.adapter.token_request()
        assert request is not None  # only senders with a token cache get here
        return request

    def take_token(self, sender: Sender, started: float, resp: HttpResponse) -> str:
        """Read a token response into the sender's cache (raises ProviderError)."""
        assert sender.tokens is not None
        try:
            token, expires_in = sender.adapter.parse_token_response(resp)
        except ProviderError as exc:
            exc.provider = exc.provider or sender.provider
            self.log.warning(
                "auth.failed", sender=sender.name, provider=sender.provider, error=exc.category
            )
            raise
        secrets.add([token])
        self.log.info(
            "auth.token",
            sender=sender.name,
            provider=sender.provider,
            expires_in=expires_in,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return sender.tokens.store(token, expires_in)

    def plan_public_key(self, pem: str, sender_name: str | None) -> tuple[Sender, HttpRequest]:
        sender = self.sender(sender_name)
        return sender, sender.adapter.build_register_public_key(pem)

    def plan_template(
        self, tpl: FlowTemplate, sender_name: str | None
    ) -> tuple[Sender, HttpRequest]:
        sender = self.sender(sender_name)
        return sender, sender.adapter.build_create_template(tpl)

    def failed(
        self,
        sender: Sender,
        op: str,
        attempt: int,
        started: float,
        status_code: int | None,
        exc: ProviderError,
        *,
        will_retry: bool,
    ) -> None:
        """Make a failure ours (provider named, secrets scrubbed from its message); log it
        and count it (telemetry)."""
        exc.provider = exc.provider or sender.provider
        exc.message = secrets.scrub(exc.message)
        exc.args = (exc.message,)
        self.log.warning(
            f"{op}.failed",
            sender=sender.name,
            provider=sender.provider,
            attempt=attempt,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            status_code=exc.status_code if exc.status_code is not None else status_code,
            error=exc.category,
            code=exc.code,
            will_retry=will_retry,
            reason=exc.message,
        )
        if telemetry.ENABLED:
            telemetry.attempt(
                op,
                sender.name,
                sender.provider,
                attempt,
                started,
                exc.category,
                will_retry=will_retry,
            )

    def succeeded(
        self,
        sender: Sender,
        op: str,
        attempt: int,
        started: float,
        status_code: int | None,
        result: object,
    ) -> None:
        """Count (telemetry) and log a parsed response."""
        if telemetry.ENABLED:
            telemetry.attempt(op, sender.name, sender.provider, attempt, started, "ok")
        if not enabled(logging.INFO):  # the hot path: no event to build
            return
        self.log.info(
            f"{op}.ok",
            sender=sender.name,
            provider=sender.provider,
            attempt=attempt,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            status_code=status_code,
            message_id=getattr(result, "message_id", None) or getattr(result, "template_id", None),
        )

    # -- inbound -----------------------------------------------------------------------

    def handle_webhook(
        self,
        sender_name: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
        *,
        log: bool = True,
    ) -> list[InboundEvent]:
        """Verify, then parse; ``log=False`` when the caller logs the request itself."""
        sender = self.sender(sender_name)
        logger = self.log.bind(sender=sender.name, provider=sender.provider)
        try:
            sender.adapter.verify_webhook(body, headers, query)
        except GatewayError as exc:
            if log:
                logger.warning("webhook.rejected", reason=str(exc))
            raise
        try:
            events = sender.adapter.parse_webhook(body, headers)
        except GatewayError as exc:
            if log:
                logger.warning("webhook.invalid", reason=str(exc), size=len(body))
            raise
        if log:
            logger.info("webhook.ok", events=len(events), size=len(body))
        return events

    def verify_challenge(self, sender_name: str, params: Mapping[str, str]) -> str:
        return self.sender(sender_name).adapter.verify_challenge(params)

    def __repr__(self) -> str:
        senders = ", ".join(f"{s.name}={s.provider}" for s in self.senders.values())
        return f"<senders: {senders}>"
