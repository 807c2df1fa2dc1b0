"""The emulator: all five providers behind one ASGI app, plus a control API.

Each provider lives under its own prefix, with its real paths below it, so a sender's
``base_url`` is ``{emulator}/{provider}``: ``/meta_cloud/v24.0/{phone_number_id}/messages``,
``/dialog360_cloud/messages``, ``/dialog360_onprem/v1/messages``,
``/sinch/v1/projects/{project}/messages:send`` and ``/sinch/oauth2/token``,
``/onemsg/{instance}/sendFlow``. Control: ``POST /_emulator/faults``, ``POST
/_emulator/complete``, ``POST /_emulator/webhooks``, ``GET /_emulator/messages``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gateway.config import GatewayConfig
from gateway.emulator.base import (
    FAULTS,
    Fault,
    Reply,
    Sent,
    Sim,
    SimRequest,
    WebhookCall,
    json_response,
)
from gateway.emulator.meta_family import Dialog360CloudSim, Dialog360OnPremSim, MetaSim
from gateway.emulator.others import OneMsgSim, SinchSim
from gateway.errors import ConfigError, OutcomeUnknown
from gateway.http import HttpRequest, HttpResponse

SIMULATORS: dict[str, type[Sim]] = {
    sim.name: sim for sim in (MetaSim, Dialog360CloudSim, Dialog360OnPremSim, SinchSim, OneMsgSim)
}
DEFAULT_ANSWERS: dict[str, Any] = {"date": "2026-12-01", "slot": "10:30", "notes": "window seat"}
DEFAULT_STATUSES = ("sent", "delivered", "read")


class Emulator:
    """Stand-ins for the providers, configured with the credentials senders use."""

    def __init__(
        self, accounts: Mapping[str, Mapping[str, Any]], clock: Callable[[], float] = time.time
    ) -> None:
        unknown = set(accounts) - set(SIMULATORS)
        if unknown:
            raise ConfigError("provider", f"the emulator has no {', '.join(sorted(unknown))}")
        self.sims: dict[str, Sim] = {p: SIMULATORS[p](a, clock) for p, a in accounts.items()}
        self._lock = threading.Lock()
        self._asgi: Any = None

    @classmethod
    def from_config(cls, config: GatewayConfig, **kwargs: Any) -> Emulator:
        """One account per provider: the first sender configured for it."""
        accounts: dict[str, dict[str, Any]] = {}
        for table in config.senders.values():
            accounts.setdefault(table["provider"], dict(table))
        return cls(accounts, **kwargs)

    # -- requests --------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> Reply:
        """Answer a request (path ``/{provider}/…``) as that provider would."""
        parts = urlsplit(request.url)
        provider, _, rest = parts.path.lstrip("/").partition("/")
        sim = self.sims.get(provider)
        if sim is None:
            return Reply(json_response(404, {"error": f"no emulated provider {provider!r}"}))
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(parse_qsl(parts.query))
        with self._lock:
            return sim.handle(
                SimRequest(request.method, "/" + rest, query, headers, request.content)
            )

    def respond(self, request: HttpRequest) -> HttpResponse:
        """:meth:`handle` for in-process transports: delays sleep, drops raise."""
        reply = self.handle(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            raise OutcomeUnknown("emulated connection drop")
        return reply.response

    # -- control ---------------------------------------------------------------------

    def inject(
        self, provider: str, kind: str, *, count: int = 1, retry_after: int = 1, delay: float = 2.0
    ) -> None:
        """Make the next ``count`` sends of ``provider`` misbehave (see ``FAULTS``)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULTS)})")
        with self._lock:
            for _ in range(count):
                self._sim(provider).faults.append(Fault(kind, retry_after, delay))  # type: ignore[arg-type]

    def set_webhook(self, provider: str, url: str) -> None:
        """Where the simulated users' callbacks for ``provider`` are posted."""
        self._sim(provider).webhook_url = url

    def sent(self, provider: str | None = None) -> list[Sent]:
        with self._lock:
            sims = [self._sim(provider)] if provider else list(self.sims.values())
            return [m for sim in sims for m in sim.sent.values()]

    def message(self, message_id: str) -> Sent:
        for sent in self.sent():
            if sent.message_id == message_id:
                return sent
        raise KeyError(f"no message {message_id!r} was sent to the emulator")

    def callbacks(
        self,
        message_id: str,
        answers: Mapping[str, Any] | None = DEFAULT_ANSWERS,
        statuses: Iterable[str] = DEFAULT_STATUSES,
    ) -> list[WebhookCall]:
        """The provider's webhooks as the user reads and completes the Flow."""
        sent = self.message(message_id)
        with self._lock:
            return self.sims[sent.provider].callbacks(sent, answers, tuple(statuses))

    async def deliver(self, calls: Iterable[WebhookCall]) -> list[int]:
        """POST each callback to its URL, in order; the status codes received."""
        from gateway.transport import AsyncHttpxTransport

        transport = AsyncHttpxTransport()
        try:
            codes = []
            for call in calls:
                resp = await transport.send(
                    HttpRequest("POST", call.url, call.headers, None, call.body)
                )
                codes.append(resp.status_code)
            return codes
        finally:
            await transport.aclose()

    def _sim(self, provider: str | None) -> Sim:
        if provider not in self.sims:
            raise KeyError(f"no emulated provider {provider!r} (have: {', '.join(self.sims)})")
        return self.sims[provider]

    # -- ASGI ------------------------------------------------------------------------

    @property
    def asgi(self) -> Any:
        """The Starlette app (built on first use: the ``server`` extra is optional)."""
        if self._asgi is None:
            self._asgi = _build_app(self)
        return self._asgi


def _build_app(emulator: Emulator) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    class Dropped(Response):
        """Promise a body, send part of it, hang up: the client sees a dropped connection."""

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send(
                {"type": "http.response.body", "body": b'{"messages": [', "more_body": False}
            )

    async def provider_endpoint(request: Request) -> Response:
        body = await request.body()
        req = HttpRequest(request.method, str(request.url), dict(request.headers), None, body)
        reply = emulator.handle(req)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            return Dropped()
        resp = reply.response
        return Response(resp.content, status_code=resp.status_code, headers=dict(resp.headers))

    async def faults(request: Request) -> Response:
        spec = await request.json()
        try:
            emulator.inject(
                spec["provider"],
                spec["kind"],
                count=int(spec.get("count", 1)),
                retry_after=int(spec.get("retry_after", 1)),
                delay=float(spec.get("delay", 2.0)),
            )
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def webhooks(request: Request) -> Response:
        spec = await request.json()
        try:
            emulator.set_webhook(spec["provider"], spec["url"])
        except KeyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def complete(request: Request) -> Response:
        spec = await request.json()
        try:
            calls = emulator.callbacks(
                spec["message_id"],
                spec.get("answers", DEFAULT_ANSWERS),
                spec.get("statuses", DEFAULT_STATUSES),
            )
        except KeyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        if not all(call.url for call in calls):
            return JSONResponse({"error": "no webhook URL set for this provider"}, status_code=409)
        return JSONResponse({"delivered": await emulator.deliver(calls)})

    async def messages(request: Request) -> Response:
        items = [dataclasses.asdict(m) for m in emulator.sent(request.query_params.get("provider"))]
        return JSONResponse(items)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/_emulator/faults", faults, methods=["POST"]),
            Route("/_emulator/webhooks", webhooks, methods=["POST"]),
            Route("/_emulator/complete", complete, methods=["POST"]),
            Route("/_emulator/messages", messages, methods=["GET"]),
            Route("/{path:path}", provider_endpoint, methods=methods),
        ]
    )
