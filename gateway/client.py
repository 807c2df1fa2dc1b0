"""``Gateway`` and ``AsyncGateway`` (contract): thin IO shells around one shared core.

Everything that does not wait on the network — routing, building requests, interpreting
responses, logging, webhook verification and parsing — lives in :class:`GatewayCore`.
The two shells only add the transport call inside tenacity's retry loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from gateway.config import GatewayConfig, RouteConfig, load_config
from gateway.errors import ConfigError, GatewayError, ProviderError
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.log import get_logger
from gateway.model import FlowMessage, FlowTemplate
from gateway.redact import secrets
from gateway.retry import RetryPolicy
from gateway.transport import AsyncHttpxTransport, AsyncTransport, HttpxTransport, Transport
from providers import adapter_class
from providers.base import Adapter

T = TypeVar("T")
Parse = Callable[[HttpResponse], T]


@dataclass(frozen=True, slots=True)
class Sender:
    """A named, configured adapter."""

    name: str
    adapter: Adapter

    @property
    def provider(self) -> str:
        return self.adapter.name


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
        senders: Mapping[str, Adapter],
        *,
        routes: tuple[RouteConfig, ...] = (),
        default_sender: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not senders:
            raise ConfigError("senders", "at least one sender is required")
        self.senders = {name: Sender(name, adapter) for name, adapter in senders.items()}
        if default_sender is None and len(senders) == 1:
            default_sender = next(iter(senders))
        self.router = Router(routes, default_sender)
        self.default_sender = default_sender
        self.retry = retry or RetryPolicy()
        self.log = get_logger()
        for adapter in senders.values():
            secrets.add(adapter.settings.secret_values())

    @classmethod
    def from_config(cls, config: GatewayConfig, retry: RetryPolicy | None = None) -> GatewayCore:
        adapters = {
            name: adapter_class(table["provider"]).from_settings(
                key_prefix=f"senders.{name}.", **{k: v for k, v in table.items() if k != "provider"}
            )
            for name, table in config.senders.items()
        }
        return cls(
            adapters,
            routes=config.routes,
            default_sender=config.default_sender,
            retry=retry or RetryPolicy(config.gateway.retry),
        )

    def sender(self, name: str | None) -> Sender:
        name = name if name is not None else self.default_sender
        if name is None:
            raise ConfigError("gateway.default_sender", "no sender given and no default sender set")
        try:
            return self.senders[name]
        except KeyError:
            known = ", ".join(self.senders)
            raise ConfigError(f"senders.{name}", f"no such sender (configured: {known})") from None

    # -- outbound ----------------------------------------------------------------------

    def plan_send(self, msg: FlowMessage) -> tuple[Sender, HttpRequest]:
        sender = self.sender(self.router.sender_for(msg))
        return sender, sender.adapter.build_send(msg)

    @staticmethod
    def send_parser(sender: Sender) -> Parse[SendReceipt]:
        """The adapter's response parser, stamping the sender's name on the receipt."""

        def parse(resp: HttpResponse) -> SendReceipt:
            return replace(sender.adapter.parse_send_response(resp), sender=sender.name)

        return parse

    def plan_template(
        self, tpl: FlowTemplate, sender_name: str | None
    ) -> tuple[Sender, HttpRequest]:
        sender = self.sender(sender_name)
        return sender, sender.adapter.build_create_template(tpl)

    def conclude(
        self,
        sender: Sender,
        op: str,
        attempt: int,
        started: float,
        outcome: HttpResponse | ProviderError,
        parse: Parse[T],
    ) -> T:
        """Parse a response (or take a transport failure); log it; return or raise."""
        status_code = outcome.status_code if isinstance(outcome, HttpResponse) else None
        try:
            if isinstance(outcome, ProviderError):
                raise outcome
            result = parse(outcome)
        except ProviderError as exc:
            exc.provider = exc.provider or sender.provider
            exc.message = secrets.scrub(exc.message)
            exc.args = (exc.message,)
            will_retry = self.retry.should_retry(exc) and attempt < self.retry.settings.max_attempts
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
            raise
        self.log.info(
            f"{op}.ok",
            sender=sender.name,
            provider=sender.provider,
            attempt=attempt,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            status_code=status_code,
            message_id=getattr(result, "message_id", None) or getattr(result, "template_id", None),
        )
        return result

    # -- inbound -----------------------------------------------------------------------

    def handle_webhook(
        self,
        sender_name: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
    ) -> list[InboundEvent]:
        sender = self.sender(sender_name)
        log = self.log.bind(sender=sender.name, provider=sender.provider)
        try:
            sender.adapter.verify_webhook(body, headers, query)
        except GatewayError as exc:
            log.warning("webhook.rejected", reason=str(exc))
            raise
        try:
            events = sender.adapter.parse_webhook(body, headers)
        except GatewayError as exc:
            log.warning("webhook.invalid", reason=str(exc), size=len(body))
            raise
        log.info("webhook.ok", events=len(events), size=len(body))
        return events

    def verify_challenge(self, sender_name: str, params: Mapping[str, str]) -> str:
        return self.sender(sender_name).adapter.verify_challenge(params)

    def __repr__(self) -> str:
        senders = ", ".join(f"{s.name}={s.provider}" for s in self.senders.values())
        return f"<senders: {senders}>"


class _Base:
    _core: GatewayCore

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        """The exact request ``send`` would make (for dry runs), without sending it."""
        return self._core.plan_send(msg)[1]

    @property
    def senders(self) -> Mapping[str, Sender]:
        return self._core.senders

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class Gateway(_Base):
    """Synchronous gateway: send Flows, create templates, take webhooks."""

    def __init__(
        self,
        core: GatewayCore | GatewayConfig | Mapping[str, Adapter],
        *,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._core = _make_core(core, retry)
        self._transport: Transport = transport or HttpxTransport()

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        *,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """A gateway for the senders and routes of a TOML config file."""
        return cls(load_config(path, env), transport=transport, retry=retry)

    def send(self, msg: FlowMessage) -> SendReceipt:
        """Send ``msg`` through its sender (explicit, routed, or the default)."""
        sender, request = self._core.plan_send(msg)
        return self._execute(sender, "send", request, self._core.send_parser(sender))

    def create_template(self, tpl: FlowTemplate, sender: str | None = None) -> TemplateReceipt:
        """Submit a FLOW-button template for review."""
        s, request = self._core.plan_template(tpl, sender)
        return self._execute(
            s,
            "create_template",
            request,
            lambda r: s.adapter.parse_create_template_response(r, tpl),
        )

    def handle_webhook(
        self,
        sender: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
    ) -> list[InboundEvent]:
        """Verify a callback the way the sender's provider signs it, then normalize it.

        ``query`` is the callback URL's query (for providers authenticated by URL token).
        """
        return self._core.handle_webhook(sender, body, headers, query)

    def verify_challenge(self, sender: str, params: Mapping[str, str]) -> str:
        """Answer a webhook subscription handshake (Meta's ``hub.challenge``)."""
        return self._core.verify_challenge(sender, params)

    def _execute(self, sender: Sender, op: str, request: HttpRequest, parse: Parse[T]) -> T:
        for attempt in self._core.retry.retrying():
            with attempt:
                n, started = attempt.retry_state.attempt_number, time.perf_counter()
                outcome: HttpResponse | ProviderError
                try:
                    outcome = self._transport.send(request)
                except ProviderError as exc:
                    outcome = exc
                return self._core.conclude(sender, op, n, started, outcome, parse)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncGateway(_Base):
    """Asynchronous twin of :class:`Gateway` with the same methods, awaitable."""

    def __init__(
        self,
        core: GatewayCore | GatewayConfig | Mapping[str, Adapter],
        *,
        transport: AsyncTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._core = _make_core(core, retry)
        self._transport: AsyncTransport = transport or AsyncHttpxTransport()

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        *,
        transport: AsyncTransport | None = None,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """A gateway for the senders and routes of a TOML config file."""
        return cls(load_config(path, env), transport=transport, retry=retry)

    async def send(self, msg: FlowMessage) -> SendReceipt:
        """Send ``msg`` through its sender (explicit, routed, or the default)."""
        sender, request = self._core.plan_send(msg)
        return await self._execute(sender, "send", request, self._core.send_parser(sender))

    async def create_template(
        self, tpl: FlowTemplate, sender: str | None = None
    ) -> TemplateReceipt:
        """Submit a FLOW-button template for review."""
        s, request = self._core.plan_template(tpl, sender)
        return await self._execute(
            s,
            "create_template",
            request,
            lambda r: s.adapter.parse_create_template_response(r, tpl),
        )

    async def handle_webhook(
        self,
        sender: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
    ) -> list[InboundEvent]:
        """Verify a callback the way the sender's provider signs it, then normalize it.

        Pure CPU work (no IO); async so that every AsyncGateway method is awaited alike.
        """
        return self._core.handle_webhook(sender, body, headers, query)

    async def verify_challenge(self, sender: str, params: Mapping[str, str]) -> str:
        """Answer a webhook subscription handshake (Meta's ``hub.challenge``)."""
        return self._core.verify_challenge(sender, params)

    async def _execute(self, sender: Sender, op: str, request: HttpRequest, parse: Parse[T]) -> T:
        async for attempt in self._core.retry.async_retrying():
            with attempt:
                n, started = attempt.retry_state.attempt_number, time.perf_counter()
                outcome: HttpResponse | ProviderError
                try:
                    outcome = await self._transport.send(request)
                except ProviderError as exc:
                    outcome = exc
                return self._core.conclude(sender, op, n, started, outcome, parse)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def close(self) -> None:
        await self._transport.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _make_core(
    source: GatewayCore | GatewayConfig | Mapping[str, Adapter], retry: RetryPolicy | None
) -> GatewayCore:
    if isinstance(source, GatewayCore):
        return source
    if isinstance(source, GatewayConfig):
        return GatewayCore.from_config(source, retry)
    return GatewayCore(source, retry=retry)
