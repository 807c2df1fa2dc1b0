"""The emulator: every registered provider behind one ASGI app, plus a control API.

Each provider lives under its own prefix, with its real paths below it, so a sender's
``base_url`` is ``{emulator}/{provider}``, e.g. ``/meta_cloud/v24.0/{phone_number_id}/messages``,
``/dialog360_cloud/messages``, ``/dialog360_onprem/v1/messages``,
``/sinch/v1/projects/{project}/messages:send`` and ``/sinch/oauth2/token``,
``/onemsg/{instance}/sendFlow``. Control: ``POST /_emulator/faults``, ``POST
/_emulator/complete``, ``POST /_emulator/webhooks``, ``GET /_emulator/messages``,
``GET|POST /_emulator/users`` (simulated users: phone, BSUID, username, hidden phone),
``POST /_emulator/identity`` (a user changes number or BSUID), ``GET|POST
/_emulator/failure_locations`` (where each provider reports each fault), ``GET|POST
/_emulator/limits`` and ``GET|DELETE /_emulator/refused`` (the providers' sending limits,
enforced by default: :mod:`gateway.emulator.limits`).

Callbacks go to loopback hosts only (``localhost``, 127.0.0.0/8, ``::1``) unless the
emulator is built with ``webhook_hosts`` or ``allow_remote_webhooks=True``: its control
API takes URLs from anyone who can reach it, and must not post wherever they say.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast, get_args
from urllib.parse import parse_qsl, urlsplit

import httpx

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
from gateway.emulator.failures import TRANSPORT_FAULTS, Where
from gateway.emulator.limits import FIELDS, Limits, check_rate
from gateway.emulator.registry import SIMULATORS
from gateway.emulator.users import DEFAULT_NAME, IdentityChange, SimUser, Users
from gateway.errors import ConfigError, GatewayError, OutcomeUnknown
from gateway.extras import require
from gateway.http import HttpRequest, HttpResponse
from gateway.transport import encode_form

if TYPE_CHECKING:
    from gateway.endpoint import FlowEndpoint
    from gateway.flowjson.player import Exchange, PlayResult

DEFAULT_ANSWERS: dict[str, Any] = {"date": "2026-12-01", "slot": "10:30", "notes": "window seat"}
DEFAULT_STATUSES = ("sent", "delivered", "read")
# Bounds on injected faults: each is queued one by one and delays hold a request open.
MAX_FAULT_COUNT = 10_000  # per call, and queued per provider
MAX_FAULT_DELAY = 60.0  # seconds
MAX_RETRY_AFTER = 3600  # seconds


class Emulator:
    """Stand-ins for the providers, configured with the credentials senders use."""

    def __init__(
        self,
        accounts: Mapping[str, Mapping[str, Any]],
        clock: Callable[[], float] = time.time,
        failure_locations: Mapping[str, Mapping[str, Where]] | None = None,
        *,
        webhook_hosts: Iterable[str] = (),
        allow_remote_webhooks: bool = False,
        limits: Mapping[str, Mapping[str, Any]] | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``failure_locations`` overrides :data:`FAILURE_LOCATIONS` defaults per provider,
        e.g. ``{"onemsg": {"window_closed": "response"}}``.

        Callbacks are posted to loopback hosts, to the hosts (names or addresses) in
        ``webhook_hosts``, or anywhere with ``allow_remote_webhooks=True``.

        The providers' limits (:mod:`gateway.emulator.limits`) are enforced from the start:
        an account's ``throughput`` is its number's tier (Sinch: its app queue's rate);
        ``limits`` changes the settings per provider, or for all under ``"*"``, e.g.
        ``{"*": {"enabled": False}}`` or ``{"meta_cloud": {"pair_burst": 45}}`` (see
        :meth:`set_limits`). ``timer`` is the monotonic clock the limits read.
        """
        unknown = set(accounts) - set(SIMULATORS)
        if unknown:
            raise ConfigError("provider", f"the emulator has no {', '.join(sorted(unknown))}")
        self.users = Users()  # one directory: every provider reaches the same people
        self.sims: dict[str, Sim] = {
            p: SIMULATORS[p](a, clock, self.users) for p, a in accounts.items()
        }
        self._lock = threading.Lock()
        self.senders: dict[str, tuple[str, str | None]] = {}
        """Sender name → (provider, the number it serves): from :meth:`from_config`; a
        sender's name addresses its provider wherever a provider's does (faults, …)."""
        self._asgi: Any = None
        self._webhook_hosts = frozenset(_host_key(h) for h in webhook_hosts)
        self._allow_remote_webhooks = allow_remote_webhooks
        self._timer = timer
        for provider, faults in (failure_locations or {}).items():
            for fault, where in faults.items():
                self.set_failure_location(provider, fault, where)
        for provider, sim in self.sims.items():
            sim.limits.timer = timer
            self.serve(provider, sim.account)
        for key, fields in (limits or {}).items():
            self.set_limits(None if key == "*" else key, **fields)

    @classmethod
    def from_config(cls, config: GatewayConfig, **kwargs: Any) -> Emulator:
        """One account per provider: the first sender configured for it; the provider
        also serves the later senders it can (:meth:`serve`: other numbers of the same
        Meta app), each at its ``throughput``."""
        accounts: dict[str, dict[str, Any]] = {}
        for table in config.senders.values():
            accounts.setdefault(table["provider"], dict(table))
        emulator = cls(accounts, **kwargs)
        for name, table in config.senders.items():
            number = emulator.serve(table["provider"], table)
            emulator.senders[name] = (table["provider"], number)
        return emulator

    def serve(self, provider: str, account: Mapping[str, Any]) -> str | None:
        """Let ``provider`` serve ``account`` too where it can (another number of the
        first Meta account's app, same access token) and take the account's
        ``throughput`` as its number's tier (Sinch: its app queue's rate). Returns the
        number (Sinch: the app id), or None for an account the provider does not serve.
        """
        sim = self._sim(provider)
        with self._lock:
            number = sim.serve(account)
            tier, field = account.get("throughput"), sim.limits.tier_field()
            if number is not None and tier is not None and field is not None:
                sim.limits.tiers[number] = check_rate(f"{provider}.throughput", tier)
            return number

    # -- requests --------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> Reply:
        """Answer a request (path ``/{provider}/…``) as that provider would."""
        parts = urlsplit(request.url)
        provider, _, rest = parts.path.lstrip("/").partition("/")
        sim = self.sims.get(provider)
        if sim is None:
            return Reply(json_response(404, {"error": f"no emulated provider {provider!r}"}))
        headers = {k.lower(): v for k, v in request.headers.items()}
        content = request.content
        if request.form:  # what the transport would have put on the wire
            encoded = encode_form(request)
            content, headers["content-type"] = encoded.read(), encoded.headers["content-type"]
        query = dict(parse_qsl(parts.query))
        with self._lock:
            return sim.handle(SimRequest(request.method, "/" + rest, query, headers, content))

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
        """Make the next ``count`` sends of ``provider`` misbehave (see ``FAULTS``).

        Raises ``ValueError`` beyond :data:`MAX_FAULT_COUNT`, :data:`MAX_RETRY_AFTER` or
        :data:`MAX_FAULT_DELAY`, or for a fault the provider does not have.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULTS)})")
        sim = self._sim(provider)
        if kind not in TRANSPORT_FAULTS and kind not in sim.failure_sites:
            raise ValueError(f"{provider} has no {kind!r} fault (see FAILURE_LOCATIONS)")
        if not 1 <= count <= MAX_FAULT_COUNT:
            raise ValueError(f"count must be 1 to {MAX_FAULT_COUNT}, not {count!r}")
        if not 0 <= retry_after <= MAX_RETRY_AFTER:
            raise ValueError(f"retry_after must be 0 to {MAX_RETRY_AFTER} s, not {retry_after!r}")
        if not 0 <= delay <= MAX_FAULT_DELAY:  # also refuses NaN
            raise ValueError(f"delay must be 0 to {MAX_FAULT_DELAY:g} s, not {delay!r}")
        with self._lock:
            if len(sim.faults) + count > MAX_FAULT_COUNT:
                raise ValueError(f"{provider} would have over {MAX_FAULT_COUNT} faults queued")
            for _ in range(count):
                sim.faults.append(Fault(kind, retry_after, delay))  # type: ignore[arg-type]

    def set_failure_location(self, provider: str, fault: str, where: str) -> None:
        """Report ``fault`` of ``provider`` in the send's ``"response"`` or a later ``"webhook"``.

        Only the places in :data:`FAILURE_LOCATIONS` (default or ``alternative``) are allowed.
        """
        sim = self._sim(provider)
        site = sim.failure_sites.get(fault)
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
        """Where the simulated users' callbacks for ``provider`` are posted.

        Raises ``ValueError`` for a URL that is not http(s) or names a host the emulator
        may not post to (see the class).
        """
        sim = self._sim(provider)
        self._check_webhook_url(url)
        sim.webhook_url = url

    def _check_webhook_url(self, url: str) -> None:
        """Raise ``ValueError`` unless callbacks may be posted to ``url``."""
        try:
            # httpx's own parser: the host checked is the host deliver() connects to.
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {url!r} ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        host = _host_key(parsed.host)
        if self._allow_remote_webhooks or _is_loopback(host) or host in self._webhook_hosts:
            return
        raise ValueError(
            f"{parsed.host!r} is not a loopback host: the emulator posts callbacks to "
            "localhost, 127.0.0.0/8 and ::1 only, unless built with webhook_hosts=[…] "
            "or allow_remote_webhooks=True"
        )

    # -- limits ------------------------------------------------------------------------

    def set_limits(
        self, provider: str | None = None, *, number: str | None = None, **fields: Any
    ) -> None:
        """Change the limits of ``provider`` (None: every provider that has each field).

        ``fields`` are :class:`~gateway.emulator.limits.Limits` fields (``enabled``,
        ``throughput``, ``tolerance``, ``pair_interval``, ``pair_burst``, ``project_rate``,
        ``queue_rate``, ``queue_size``; a rate of 0 is not enforced). With ``number``,
        one business number's tier: ``throughput`` (Sinch: the app's ``queue_rate``),
        None to drop it. ``ValueError`` for a field the provider does not have or a value
        out of bounds; nothing changes then.
        """
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown limit {unknown[0]!r} (known: {', '.join(FIELDS)})")
        if number is not None:
            self._set_tier(provider, number, fields)
            return
        sims = [self._sim(provider)] if provider is not None else list(self.sims.values())
        changed: dict[str, Limits] = {}
        for sim in sims:
            mine = {k: v for k, v in fields.items() if k in sim.limits.fields()}
            if provider is not None and len(mine) < len(fields):
                extra = sorted(set(fields) - set(mine))[0]
                have = ", ".join(sim.limits.fields())
                raise ValueError(f"{sim.name} has no {extra!r} limit (it has: {have})")
            changed[sim.name] = dataclasses.replace(sim.limits.settings, **mine)
        taken = {k for sim in sims for k in fields if k in sim.limits.fields()}
        if set(fields) - taken:
            raise ValueError(f"no emulated provider has a {sorted(set(fields) - taken)[0]!r} limit")
        with self._lock:
            for name, settings in changed.items():
                self.sims[name].limits.settings = settings

    def _set_tier(self, provider: str | None, number: str, fields: Mapping[str, Any]) -> None:
        if provider is None:
            raise ValueError("a number's limit needs its provider")
        sim = self._sim(provider)
        field = sim.limits.tier_field()
        if field is None or set(fields) != {field}:
            raise ValueError(
                f"per number, {provider} takes {field!r} only"
                if field
                else f"{provider} has no per-number limit"
            )
        if not number or len(number) > 200:
            raise ValueError("number must be 1 to 200 characters")
        value = fields[field]
        tier = None if value is None else check_rate(field, value)
        with self._lock:
            if tier is None:
                sim.limits.tiers.pop(number, None)
            else:
                sim.limits.tiers[number] = tier

    @property
    def limits(self) -> dict[str, dict[str, Any]]:
        """Each provider's limit settings, its per-number tiers (``numbers``) and, for
        Sinch, the messages waiting in each app queue (``queued``)."""
        with self._lock:
            return {p: sim.limits.describe() for p, sim in self.sims.items()}

    @property
    def refused(self) -> dict[str, dict[str, dict[str, int]]]:
        """Sends refused by the limits: provider → business number (Sinch: project or
        app) → error code → count."""
        with self._lock:
            return {p: _copy_counts(sim.limits.refused) for p, sim in self.sims.items()}

    def reset_refused(self, provider: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        """Zero the refusal counts (of ``provider``, or all); returns them as they were."""
        sims = [self._sim(provider)] if provider is not None else list(self.sims.values())
        with self._lock:
            before = {sim.name: _copy_counts(sim.limits.refused) for sim in sims}
            for sim in sims:
                sim.limits.refused.clear()
            return before

    def sent(self, provider: str | None = None) -> list[Sent]:
        with self._lock:
            sims = [self._sim(provider)] if provider else list(self.sims.values())
            return [m for sim in sims for m in sim.sent.values()]

    def message(self, message_id: str) -> Sent:
        for sent in self.sent():
            if sent.message_id == message_id:
                return sent
        raise KeyError(f"no message {message_id!r} was sent to the emulator")

    def play(
        self,
        message_id: str,
        flow_json: str | bytes | Mapping[str, Any],
        answers: Mapping[str, Any],
        *,
        endpoint: FlowEndpoint | None = None,
        exchange: Exchange | None = None,
        statuses: Iterable[str] = DEFAULT_STATUSES,
    ) -> tuple[PlayResult, list[WebhookCall]]:
        """The user of ``message_id`` plays its Flow (``flow_json``) with the scripted
        ``answers``, as :func:`gateway.flowjson.player.play` does, through ``endpoint`` (a
        :class:`~gateway.endpoint.FlowEndpoint`, in process, sealed as the client seals
        it) or through ``exchange`` (any :data:`~gateway.flowjson.player.Exchange`, e.g.
        :func:`~gateway.flowjson.player_exchange.http_exchange` for an endpoint served
        over HTTP; not both: ``ValueError``). When the walk completes, the provider's own
        webhooks for that completion (statuses first). Post them to the receiver as the
        control API's ``complete`` does. Findings leave the webhooks empty: the Flow never
        completed.

        ``exchange`` blocks while the endpoint answers: an endpoint served by the calling
        thread's event loop needs this called from another thread (``asyncio.to_thread``).
        """
        from gateway.flowjson.player import play

        if endpoint is not None and exchange is not None:
            raise ValueError("give the endpoint or an exchange, not both")
        sent = self.message(message_id)
        if endpoint is not None:
            from gateway.flowjson.player_exchange import endpoint_exchange

            exchange = endpoint_exchange(endpoint)
        token = sent.flow_token or "unused"  # a Flow sent without one is answered with it
        result = play(flow_json, answers, exchange=exchange, flow_token=token)
        if result.completion is None or result.findings:
            return result, []
        response = dict(result.completion.get("response_json", {}))
        response.pop("flow_token", None)  # the provider's webhook adds the message's own
        return result, self.callbacks(message_id, response, statuses)

    def callbacks(
        self,
        message_id: str,
        answers: Mapping[str, Any] | None = DEFAULT_ANSWERS,
        statuses: Iterable[str] = DEFAULT_STATUSES,
    ) -> list[WebhookCall]:
        """The provider's webhooks as the user reads and completes the Flow.

        ``statuses`` come from :data:`DEFAULT_STATUSES`; ``KeyError`` for an unknown message.
        """
        wanted = tuple(statuses)
        unknown = [s for s in wanted if s not in DEFAULT_STATUSES]
        if unknown:
            raise ValueError(
                f"unknown status {unknown[0]!r} (known: {', '.join(DEFAULT_STATUSES)})"
            )
        sent = self.message(message_id)
        with self._lock:
            sim = self.sims[sent.provider]
            calls = sim.callbacks(sent, answers, wanted)
            held = sim.not_before(sent)
        if held > self._timer():  # still queued at the provider (Sinch's app queue)
            calls = [dataclasses.replace(call, not_before=held) for call in calls]
        return calls

    def held_for(self, calls: Iterable[WebhookCall]) -> float:
        """Seconds until the last of ``calls`` may be posted (0: all at once)."""
        return max((call.not_before - self._timer() for call in calls), default=0.0)

    async def deliver(self, calls: Iterable[WebhookCall]) -> list[int]:
        """POST each callback to its URL, in order; the status codes received. A call
        held by the provider (``not_before``: a message still in Sinch's app queue) is
        posted when it is due.

        Every URL is checked first (``ValueError``, nothing posted): see the class.
        """
        from gateway.transport import AsyncHttpxTransport

        calls = list(calls)
        for call in calls:
            self._check_webhook_url(call.url)
        transport = AsyncHttpxTransport()
        try:
            codes = []
            for call in calls:
                wait = call.not_before - self._timer()
                if wait > 0:
                    await asyncio.sleep(wait)
                resp = await transport.send(
                    HttpRequest("POST", call.url, call.headers, None, call.body)
                )
                codes.append(resp.status_code)
            return codes
        finally:
            await transport.aclose()

    def take_webhooks(self) -> list[WebhookCall]:
        """The callbacks providers queued on their own (a Flow's status change after a
        management call…), emptied; those of a provider without a webhook URL are dropped."""
        with self._lock:
            calls = [call for sim in self.sims.values() for call in sim.take_outbox()]
        return [call for call in calls if call.url]

    async def post_queued(self) -> list[int]:
        """POST :meth:`take_webhooks` now (the HTTP app does after every request); a
        callback that cannot be delivered is dropped, as a provider gives up at last."""
        calls = self.take_webhooks()
        if not calls:
            return []
        try:
            return await self.deliver(calls)
        except (GatewayError, ValueError):
            return []

    def provider_named(self, name: str | None) -> str:
        """The provider ``name`` is, or the one of the configured sender ``name``."""
        if name in self.sims:
            return name
        if name in self.senders:
            return self.senders[name][0]
        have = ", ".join([*self.sims, *(s for s in self.senders if s not in self.sims)])
        raise KeyError(f"no emulated provider or sender {name!r} (have: {have})")

    def _sim(self, provider: str | None) -> Sim:
        return self.sims[self.provider_named(provider)]

    # -- ASGI ------------------------------------------------------------------------

    @property
    def asgi(self) -> Any:
        """The Starlette app (built on first use: the ``server`` extra is optional)."""
        if self._asgi is None:
            self._asgi = _build_app(self)
        return self._asgi


def _copy_counts(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {number: dict(codes) for number, codes in counts.items()}


def _host_key(host: str) -> str:
    """A host as compared: lower case, no trailing dot or brackets, addresses normalised."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # other names could resolve anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1: older Pythons say not loopback
    return address.is_loopback


def _build_app(emulator: Emulator) -> Any:
    require("server", "the emulator's HTTP server")
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
        await emulator.post_queued()  # before answering: the caller sees them delivered
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
