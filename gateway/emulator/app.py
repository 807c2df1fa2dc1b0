"""The emulator: all five providers behind one ASGI app, plus a control API.

Each provider lives under its own prefix, with its real paths below it, so a sender's
``base_url`` is ``{emulator}/{provider}``: ``/meta_cloud/v24.0/{phone_number_id}/messages``,
``/dialog360_cloud/messages``, ``/dialog360_onprem/v1/messages``,
``/sinch/v1/projects/{project}/messages:send`` and ``/sinch/oauth2/token``,
``/onemsg/{instance}/sendFlow``. Control: ``POST /_emulator/faults``, ``POST
/_emulator/complete``, ``POST /_emulator/webhooks``, ``GET /_emulator/messages``,
``GET|POST /_emulator/users`` (simulated users: phone, BSUID, username, hidden phone),
``POST /_emulator/identity`` (a user changes number or BSUID) and ``GET|POST
/_emulator/failure_locations`` (where each provider reports each fault).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast, get_args
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
from gateway.emulator.failures import FAILURE_LOCATIONS, TRANSPORT_FAULTS, Where
from gateway.emulator.meta_family import Dialog360CloudSim, Dialog360OnPremSim, MetaSim
from gateway.emulator.others import OneMsgSim, SinchSim
from gateway.emulator.users import DEFAULT_NAME, IdentityChange, SimUser, Users
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
        self,
        accounts: Mapping[str, Mapping[str, Any]],
        clock: Callable[[], float] = time.time,
        failure_locations: Mapping[str, Mapping[str, Where]] | None = None,
    ) -> None:
        """``failure_locations`` overrides :data:`FAILURE_LOCATIONS` defaults per provider,
        e.g. ``{"onemsg": {"window_closed": "response"}}``."""
        unknown = set(accounts) - set(SIMULATORS)
        if unknown:
            raise ConfigError("provider", f"the emulator has no {', '.join(sorted(unknown))}")
        self.users = Users()  # one directory: every provider reaches the same people
        self.sims: dict[str, Sim] = {
            p: SIMULATORS[p](a, clock, self.users) for p, a in accounts.items()
        }
        self._lock = threading.Lock()
        self._asgi: Any = None
        for provider, faults in (failure_locations or {}).items():
            for fault, where in faults.items():
                self.set_failure_location(provider, fault, where)

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
        if kind not in TRANSPORT_FAULTS and kind not in FAILURE_LOCATIONS[self._sim(provider).name]:
            raise ValueError(f"{provider} has no {kind!r} fault (see FAILURE_LOCATIONS)")
        with self._lock:
            for _ in range(count):
                self._sim(provider).faults.append(Fault(kind, retry_after, delay))  # type: ignore[arg-type]

    def set_failure_location(self, provider: str, fault: str, where: str) -> None:
        """Report ``fault`` of ``provider`` in the send's ``"response"`` or a later ``"webhook"``.

        Only the places in :data:`FAILURE_LOCATIONS` (default or ``alternative``) are allowed.
        """
        sim = self._sim(provider)
        site = FAILURE_LOCATIONS[sim.name].get(fault)
        if site is None:
            raise ValueError(f"{provider} has no {fault!r} fault")
        if where not in site.settable:
            allowed = " or ".join(repr(w) for w in site.settable)
            raise ValueError(f"{provider} reports {fault!r} in {allowed}, not {where!r}")
        with self._lock:
            sim.failure_locations[fault] = where

    @property
    def failure_locations(self) -> dict[str, dict[str, Where]]:
        """Where each provider reports each fault now (defaults: ``FAILURE_LOCATIONS``)."""
        return {p: dict(sim.failure_locations) for p, sim in self.sims.items()}

    # -- simulated users ---------------------------------------------------------------

    def register_user(
        self,
        phone: str,
        *,
        username: str | None = None,
        hide_phone: bool = False,
        parent_user_id: str | None = None,
        name: str = DEFAULT_NAME,
    ) -> SimUser:
        """Add or update a simulated user; returns a copy with its BSUID (``user_id``).

        ``hide_phone``: webhooks name the user by BSUID only, unless the business messaged
        the phone itself. Unregistered phones are visible-phone users with a derived BSUID.
        """
        with self._lock:
            user = self.users.register(
                phone, username=username, hide_phone=hide_phone,
                parent_user_id=parent_user_id, name=name,
            )  # fmt: skip
            return dataclasses.replace(user)

    def user(self, ref: str) -> SimUser:
        """A copy of the user a phone, BSUID or parent BSUID names (KeyError if unknown)."""
        with self._lock:
            user = self.users.find(ref)
            if user is None:
                raise KeyError(f"no simulated user {ref!r}")
            return dataclasses.replace(user)

    def user_changed_number(
        self, provider: str, user: str, new_phone: str, *, new_user_id: str | None = None
    ) -> list[WebhookCall]:
        """``user`` (phone or BSUID) moves to ``new_phone`` and gets a new BSUID: the
        ``user_changed_number`` system message (Meta and 360dialog Cloud)."""
        kind: IdentityChange = "user_changed_number"
        return self.change_identity(provider, user, kind, new_phone, new_user_id)[1]

    def user_changed_user_id(
        self, provider: str, user: str, *, new_user_id: str | None = None
    ) -> list[WebhookCall]:
        """``user`` gets a new BSUID (by default ``bsuid_for(phone, generation + 1)``): the
        ``user_changed_user_id`` system message (Meta and 360dialog Cloud)."""
        kind: IdentityChange = "user_changed_user_id"
        return self.change_identity(provider, user, kind, None, new_user_id)[1]

    def change_identity(
        self,
        provider: str,
        user: str,
        kind: str,
        new_phone: str | None = None,
        new_user_id: str | None = None,
    ) -> tuple[SimUser, list[WebhookCall]]:
        """Either change by name (``kind``); returns the user after it and the callbacks."""
        if kind not in get_args(IdentityChange):
            raise ValueError(f"unknown identity change {kind!r}")
        sim = self._sim(provider)
        if not sim.system_messages:
            raise ValueError(f"{kind} system messages are not emulated for {provider}")
        with self._lock:
            change = cast(IdentityChange, kind)  # checked above
            before, after = self.users.change(
                user, change, new_phone=new_phone, new_user_id=new_user_id
            )
            return after, [sim.identity_change(change, before, after)]

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
    from starlette.responses import Response
    from starlette.routing import Route

    from gateway.emulator.control import routes

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

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[*routes(emulator), Route("/{path:path}", provider_endpoint, methods=methods)]
    )
