"""The emulator's control API (``/_emulator/*``): the HTTP face of :class:`Emulator`'s
Python controls, for tests and demos that drive a running emulator from outside.

Bad input is always a 4xx answer ``{"error": reason}``, never a crash: 400 for a body
that is not one JSON object, a missing field, a field of the wrong JSON type, an unknown
provider or a value the emulator refuses (fault limits such as ``MAX_FAULT_COUNT``, a
webhook URL that is not on a loopback host unless allowed); 404 for an unknown message or
user; 409 when the provider has no webhook URL (or still holds the message's callbacks past
:data:`MAX_HOLD`); 413 for a body over :data:`MAX_BODY`. A callback the webhook does not
take (nothing listening) is a 502.

Limits (:mod:`gateway.emulator.limits`): ``GET /_emulator/limits`` shows each provider's
settings; ``POST /_emulator/limits {"provider"?, "number"?, <field>: value…}`` changes them
(no provider: every provider that has the field) and answers the settings;
``GET /_emulator/refused[?provider=]`` shows the refusals per business number and error
code, ``DELETE`` the same resets them and answers them as they were.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.emulator.limits import FIELD_TYPES, FIELDS
from gateway.emulator.users import DEFAULT_NAME
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.emulator.app import Emulator
    from gateway.emulator.base import WebhookCall

MAX_BODY = 1 << 20  # control bodies are small specs; a bigger one is not read to the end
MAX_HOLD = 60.0
"""Seconds ``/_emulator/complete`` waits for callbacks a provider still holds (a message
in Sinch's app queue); longer is a 409, not a request held open."""

Endpoint = Callable[[Request], Awaitable[Response]]
_MISSING: Any = object()
_JSON_TYPES = {
    dict: "an object", list: "a list", str: "a string", bool: "a boolean",
    int: "a number", float: "a number", type(None): "null",
}  # fmt: skip
_EXPECTED = {
    dict: "an object", list: "a list", str: "a string", bool: "true or false",
    int: "an integer", float: "a number",
}  # fmt: skip


class _ControlError(Exception):
    """A control request that is answered ``{"error": reason}`` with ``status``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _answering_errors(endpoint: Endpoint) -> Endpoint:
    """Refusals, and the ``ValueError`` the emulator raises for a bad value, as JSON."""

    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except _ControlError as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return answer


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


async def _spec(request: Request, *keys: str) -> dict[str, Any]:
    """The body: one JSON object of at most :data:`MAX_BODY` bytes, with only ``keys``
    (a misspelled optional key would otherwise be silently ignored)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _ControlError(f"the body is over {MAX_BODY} bytes", 413)
    try:
        spec = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise _ControlError(f"the body is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise _ControlError(f"the body must be a JSON object, not {_json_type(spec)}")
    try:  # a "\ud800" escape decodes to a lone surrogate, which no answer can encode
        json.dumps(spec, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise _ControlError("the body holds a lone surrogate (\\ud800-\\udfff)") from None
    unknown = [k for k in spec if k not in keys]
    if unknown:
        raise _ControlError(f"unknown key {unknown[0]!r} (known: {', '.join(keys)})")
    return spec


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _field(spec: Mapping[str, Any], key: str, kind: type[Any], default: Any = _MISSING) -> Any:
    """``spec[key]`` if it is a ``kind`` (``float`` takes integers, nothing takes booleans
    but ``bool``), else 400; ``default`` when absent (or null, for optional fields)."""
    value = spec.get(key)
    if value is None and default is not _MISSING:
        return default
    if key not in spec:
        raise _ControlError(f"missing {key!r}")
    kinds = (int, float) if kind is float else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and kind is not bool):
        raise _ControlError(f"{key!r} must be {_EXPECTED[kind]}, not {_json_type(value)}")
    return value


def _text(spec: Mapping[str, Any], key: str) -> str:
    return cast(str, _field(spec, key, str))


def _optional_text(spec: Mapping[str, Any], key: str) -> str | None:
    return cast("str | None", _field(spec, key, str, None))


def _provider(emulator: Emulator, name: str | None) -> str:
    """A provider, named as itself or by one of its configured senders."""
    try:
        return emulator.provider_named(name)
    except KeyError as exc:
        raise _ControlError(str(exc.args[0])) from None


def _not_found(exc: KeyError) -> _ControlError:
    return _ControlError(str(exc.args[0]) if exc.args else "not found", 404)


async def _deliver(emulator: Emulator, calls: list[WebhookCall]) -> list[int]:
    if not all(call.url for call in calls):
        raise _ControlError("no webhook URL set for this provider", 409)
    try:
        return await emulator.deliver(calls)
    except GatewayError as exc:  # names the host, never the URL (it may carry a token)
        raise _ControlError(f"a callback could not be delivered: {exc}", 502) from None


def routes(emulator: Emulator) -> list[Route]:
    """The control routes, bound to ``emulator``."""

    async def faults(request: Request) -> Response:
        spec = await _spec(request, "provider", "kind", "count", "retry_after", "delay")
        emulator.inject(
            _provider(emulator, _text(spec, "provider")),
            _text(spec, "kind"),
            count=_field(spec, "count", int, 1),
            retry_after=_field(spec, "retry_after", int, 1),
            delay=float(_field(spec, "delay", float, 2.0)),
        )
        return JSONResponse({"ok": True})

    async def failure_locations(request: Request) -> Response:
        if request.method == "POST":
            spec = await _spec(request, "provider", "fault", "where")
            provider = _provider(emulator, _text(spec, "provider"))
            emulator.set_failure_location(provider, _text(spec, "fault"), _text(spec, "where"))
        return JSONResponse(emulator.failure_locations)

    async def webhooks(request: Request) -> Response:
        spec = await _spec(request, "provider", "url")
        emulator.set_webhook(_provider(emulator, _text(spec, "provider")), _text(spec, "url"))
        return JSONResponse({"ok": True})

    async def complete(request: Request) -> Response:
        spec = await _spec(request, "message_id", "answers", "statuses")
        message_id = _text(spec, "message_id")
        given: dict[str, Any] = {}
        if "answers" in spec:  # null: statuses only, no completion
            given["answers"] = _field(spec, "answers", dict, None)
        if "statuses" in spec:
            statuses = _field(spec, "statuses", list)
            if not all(isinstance(s, str) for s in statuses):
                raise _ControlError("'statuses' must be a list of strings")
            given["statuses"] = statuses
        try:
            calls = emulator.callbacks(message_id, **given)
        except KeyError as exc:
            raise _not_found(exc) from None
        held = emulator.held_for(calls)
        if held > MAX_HOLD:
            raise _ControlError(
                f"the message is still queued at the provider for {held:.0f} s more "
                f"(over {MAX_HOLD:g} s: not held open; ask again later)",
                409,
            )
        return JSONResponse({"delivered": await _deliver(emulator, calls)})

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            spec = await _spec(request, "provider", "number", *FIELDS)
            provider = _optional_text(spec, "provider")
            if provider is not None:
                provider = _provider(emulator, provider)
            number = _optional_text(spec, "number")
            fields: dict[str, Any] = {}
            for key in FIELDS:
                if key in spec:
                    per_number = number is not None and spec[key] is None  # null: drop it
                    fields[key] = None if per_number else _field(spec, key, FIELD_TYPES[key])
            emulator.set_limits(provider, number=number, **fields)
        return JSONResponse(emulator.limits)

    async def refused(request: Request) -> Response:
        provider = request.query_params.get("provider") or None
        if provider is not None:
            provider = _provider(emulator, provider)
        if request.method == "DELETE":
            return JSONResponse(emulator.reset_refused(provider))
        counts = emulator.refused
        return JSONResponse(counts if provider is None else {provider: counts[provider]})

    async def messages(request: Request) -> Response:
        provider = request.query_params.get("provider") or None
        if provider is not None:
            provider = _provider(emulator, provider)
        return JSONResponse([dataclasses.asdict(m) for m in emulator.sent(provider)])

    async def users(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([dataclasses.asdict(u) for u in emulator.users.all()])
        spec = await _spec(request, "phone", "username", "hide_phone", "parent_user_id", "name")
        user = emulator.register_user(
            _text(spec, "phone"),
            username=_optional_text(spec, "username"),
            hide_phone=_field(spec, "hide_phone", bool, False),
            parent_user_id=_optional_text(spec, "parent_user_id"),
            name=_field(spec, "name", str, DEFAULT_NAME),
        )
        return JSONResponse(dataclasses.asdict(user))

    async def identity(request: Request) -> Response:
        """A user changes number or BSUID: the system message is posted to the webhook."""
        spec = await _spec(request, "provider", "user", "type", "new_phone", "new_user_id")
        provider = _provider(emulator, _text(spec, "provider"))
        user_ref, kind = _text(spec, "user"), _text(spec, "type")
        new_phone = _optional_text(spec, "new_phone")
        new_user_id = _optional_text(spec, "new_user_id")
        if not emulator.sims[provider].webhook_url:  # before anything changes
            raise _ControlError("no webhook URL set for this provider", 409)
        try:
            user, calls = emulator.change_identity(provider, user_ref, kind, new_phone, new_user_id)
        except KeyError as exc:
            raise _not_found(exc) from None
        delivered = await _deliver(emulator, calls)
        return JSONResponse({"delivered": delivered, "user": dataclasses.asdict(user)})

    table: list[tuple[str, Endpoint, list[str]]] = [
        ("/_emulator/faults", faults, ["POST"]),
        ("/_emulator/failure_locations", failure_locations, ["GET", "POST"]),
        ("/_emulator/webhooks", webhooks, ["POST"]),
        ("/_emulator/complete", complete, ["POST"]),
        ("/_emulator/messages", messages, ["GET"]),
        ("/_emulator/users", users, ["GET", "POST"]),
        ("/_emulator/identity", identity, ["POST"]),
        ("/_emulator/limits", limits, ["GET", "POST"]),
        ("/_emulator/refused", refused, ["GET", "DELETE"]),
    ]
    return [Route(path, _answering_errors(f), methods=methods) for path, f, methods in table]
