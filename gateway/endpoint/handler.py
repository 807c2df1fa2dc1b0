"""``FlowEndpoint``: the data-exchange endpoint, framework-free.

Give it the raw body and headers, get back ``EndpointResponse(status, body, content_type)``.
It verifies ``X-Hub-Signature-256`` (432), decrypts (421 when it cannot, 400 for malformed
bodies), answers health checks and error notifications itself, and routes INIT, BACK and
data_exchange to handlers registered per screen. Handlers may be sync or async; they
return the next screen, :func:`complete`, or raise :class:`FlowTokenInvalid` (427) or
:class:`ScreenError` (an error message on the screen). Bad input never yields a 500; a
handler bug (an exception, or an answer that is not a JSON object the client can decode)
yields a 500 logged as ``endpoint.handler_failed``. ``handle`` itself never raises.
"""

from __future__ import annotations

import inspect
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway import telemetry
from gateway.endpoint.crypto import (
    DecryptionError,
    MalformedRequest,
    PrivateKeys,
    decrypt_request,
    encrypt_response,
    from_json,
    to_json,
)
from gateway.errors import SignatureError
from gateway.http import encodable
from gateway.log import get_logger
from gateway.signing import check_hub_signature

Handler = Callable[["FlowRequest"], Any]
H = TypeVar("H", bound=Handler)
ACTIONS = ("INIT", "BACK", "data_exchange", "navigate")
# The payload fields the endpoint reads and may echo itself (screen, token, version).
_READ = ("action", "screen", "flow_token", "flow_token_signature", "version")


@dataclass(frozen=True, slots=True)
class FlowRequest:
    """A decrypted request from the WhatsApp client."""

    action: str
    screen: str | None
    data: dict[str, Any]
    flow_token: str | None
    version: str | None
    flow_token_signature: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class EndpointResponse:
    """What to send back: status, body (base64 text when encrypted) and content type."""

    status: int
    body: str
    content_type: str = "text/plain"


class FlowTokenInvalid(Exception):
    """Raise from a handler: the flow token is invalid or expired (HTTP 427)."""

    def __init__(self, message: str = "This form is no longer available.") -> None:
        super().__init__(message)
        self.message = message


class ScreenError(Exception):
    """Raise from a handler: show ``message`` on a screen (default: the current one)."""

    def __init__(
        self, message: str, *, screen: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        # Copied here so that data which is not a mapping fails in the handler (a 500).
        self.message, self.screen, self.data = message, screen, dict(data or {})


def next_screen(screen: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The response that shows ``screen`` with ``data``."""
    return {"screen": screen, "data": dict(data or {})}


def complete(flow_token: str | None, **params: Any) -> dict[str, Any]:
    """The response that closes the Flow; ``params`` reach the completion webhook."""
    response_params = {"flow_token": flow_token, **params} if flow_token else dict(params)
    return {
        "screen": "SUCCESS",
        "data": {"extension_message_response": {"params": response_params}},
    }


@dataclass
class _Pending:
    request: FlowRequest
    handler: Handler
    aes_key: bytes
    iv: bytes
    plaintext: bool
    acknowledge: bool = False  # an error notification: answer with an acknowledgement


class FlowEndpoint:
    """Decrypts, routes and encrypts WhatsApp Flow data-exchange requests."""

    def __init__(
        self,
        private_key: PrivateKeys,
        *,
        app_secrets: Sequence[str] = (),
        accept_plaintext: bool = False,
        echo_version: bool = True,
        encrypt_427: bool = False,
        token_validator: Callable[[str | None], bool] | None = None,
    ) -> None:
        """``private_key``: one key, or several during a rotation (each is tried).
        ``app_secrets``: verify ``X-Hub-Signature-256`` (and ``flow_token_signature``)
        against any of them; empty skips the check (BSP-owned apps may not share it).
        ``accept_plaintext``: also take the unencrypted JSON some BSPs forward.
        ``encrypt_427``: send the 427 body encrypted (Meta's sample) instead of plain JSON.
        """
        self.private_key = private_key
        self.app_secrets = tuple(app_secrets)
        self.accept_plaintext = accept_plaintext
        self.echo_version = echo_version
        self.encrypt_427 = encrypt_427
        self.token_validator = token_validator
        self._routes: dict[tuple[str, str | None], Handler] = {}
        self._on_error: Handler | None = None
        self.log = get_logger(component="flow_endpoint")

    # -- registration ------------------------------------------------------------------

    def on(self, action: str, screen: str | None = None) -> Callable[[H], H]:
        """Register a handler for ``action`` (INIT, BACK, data_exchange) on ``screen``
        (None: any screen without its own handler)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")

        def register(func: H) -> H:
            self._routes[(action, screen)] = func
            return func

        return register

    def on_init(self, func: H) -> H:
        return self.on("INIT")(func)

    def on_back(self, screen: str | None = None) -> Callable[[H], H]:
        return self.on("BACK", screen)

    def on_data_exchange(self, screen: str | None = None) -> Callable[[H], H]:
        return self.on("data_exchange", screen)

    def on_error(self, func: H) -> H:
        """Called with error notifications (the client reports a bad previous response)."""
        self._on_error = func
        return func

    # -- handling ----------------------------------------------------------------------

    def handle(self, body: bytes, headers: Mapping[str, str]) -> EndpointResponse:
        """Handle one request with sync handlers."""
        started = time.perf_counter()
        step = self._prepare(body, headers)
        if isinstance(step, EndpointResponse):
            return _traced(started, None, step)
        try:
            result = step.handler(step.request)
            if inspect.iscoroutine(result):
                result.close()
                raise TypeError("async handler: use handle_async")
        except Exception as exc:
            return _traced(started, step.request.action, self._failed(step, exc))
        return _traced(started, step.request.action, self._finish(step, result))

    async def handle_async(self, body: bytes, headers: Mapping[str, str]) -> EndpointResponse:
        """Handle one request; handlers may be sync or async."""
        started = time.perf_counter()
        step = self._prepare(body, headers)
        if isinstance(step, EndpointResponse):
            return _traced(started, None, step)
        try:
            result = step.handler(step.request)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return _traced(started, step.request.action, self._failed(step, exc))
        return _traced(started, step.request.action, self._finish(step, result))

    def _prepare(self, body: bytes, headers: Mapping[str, str]) -> EndpointResponse | _Pending:
        if self.app_secrets and not self._signed(body, headers):
            self.log.warning("endpoint.signature_invalid")
            return EndpointResponse(432, "")
        try:
            envelope = from_json(body)
        except ValueError:
            return self._bad("the body is not JSON")
        if not isinstance(envelope, dict):
            return self._bad("the body must be a JSON object")
        plaintext = "encrypted_flow_data" not in envelope and self.accept_plaintext
        try:
            if plaintext:
                payload, aes_key, iv = envelope, b"", b""
            else:
                payload, aes_key, iv = decrypt_request(envelope, self.private_key)
        except DecryptionError as exc:
            self.log.warning("endpoint.undecryptable", reason=str(exc))
            return EndpointResponse(421, "")
        except MalformedRequest as exc:
            return self._bad(str(exc))
        request = _request(payload)
        if isinstance(request, str):
            return self._bad(request)
        pending = _Pending(request, _noop, aes_key, iv, plaintext)
        if request.action == "ping":
            return self._reply(pending, {"data": {"status": "active"}}, echo=False)
        if "error" in request.data or "error_key" in request.data:
            return self._error_notification(pending)
        denied = self._check_token(pending)
        if denied is not None:
            return denied
        handler = self._routes.get((request.action, request.screen)) or self._routes.get(
            (request.action, None)
        )
        if handler is None:
            return self._bad(f"no handler for {request.action} on screen {request.screen!r}")
        pending.handler = handler
        return pending

    def _signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        for secret in self.app_secrets:
            try:
                check_hub_signature(body, headers, secret)
                return True
            except SignatureError:
                continue  # try the next secret (rotation)
            except ValueError:  # a header no HTTP server hands over (a lone surrogate)
                return False
        return False

    def _check_token(self, pending: _Pending) -> EndpointResponse | None:
        req = pending.request
        if req.flow_token_signature and self.app_secrets and not self._token_signed(req):
            return self._token_invalid(pending, "flow_token_signature does not verify")
        if self.token_validator is None:
            return None
        try:
            valid = self.token_validator(req.flow_token)
        except Exception as exc:
            return self._handler_bug(pending, exc)
        return None if valid else self._token_invalid(pending, "This form is no longer available.")

    def _token_signed(self, req: FlowRequest) -> bool:
        """Data API 4.0: a JWT (HS256, app secret) whose claims carry the flow token."""
        import jwt

        for secret in self.app_secrets:
            try:
                with warnings.catch_warnings():  # short test secrets: verify all the same
                    warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                    claims = jwt.decode(
                    req.flow_token_signature or "", secret, algorithms=["HS256"],
                        options={"verify_aud": False, "verify_iss": False},
                    )  # fmt: skip
            except jwt.PyJWTError:
                continue
            # Meta does not name the claim: accept the token under any claim.
            return req.flow_token is not None and req.flow_token in claims.values()
        return False

    def _error_notification(self, pending: _Pending) -> _Pending:
        req = pending.request
        self.log.warning(
            "endpoint.error_notification",
            error=_brief(req.data.get("error") or req.data.get("error_key")),
            screen=req.screen,
        )
        pending.handler = self._on_error or _noop
        pending.acknowledge = True
        return pending

    def _finish(self, pending: _Pending, result: Any) -> EndpointResponse:
        if pending.acknowledge:
            return self._reply(pending, {"data": {"acknowledged": True}}, echo=False)
        if not isinstance(result, dict):
            self.log.error("endpoint.handler_result", type=type(result).__name__)
            return EndpointResponse(500, "")
        return self._reply(pending, result)

    def _failed(self, pending: _Pending, exc: Exception) -> EndpointResponse:
        req = pending.request
        if pending.acknowledge:  # the notification is acknowledged whatever the handler did
            self.log.error("endpoint.error_handler_failed", error=type(exc).__name__)
            return self._finish(pending, None)
        if isinstance(exc, FlowTokenInvalid):
            return self._token_invalid(pending, exc.message)
        if isinstance(exc, ScreenError):
            data = {**exc.data, "error_message": exc.message}
            return self._reply(pending, {"screen": exc.screen or req.screen, "data": data})
        return self._handler_bug(pending, exc)

    def _handler_bug(self, pending: _Pending, exc: Exception) -> EndpointResponse:
        req = pending.request
        self.log.error("endpoint.handler_failed", action=req.action, screen=req.screen,
                       error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        return EndpointResponse(500, "")

    def _token_invalid(self, pending: _Pending, message: str) -> EndpointResponse:
        encrypt = self.encrypt_427 and not pending.plaintext
        return self._send(pending, 427, {"error_msg": message}, encrypt=encrypt)

    def _reply(
        self, pending: _Pending, payload: dict[str, Any], *, echo: bool = True
    ) -> EndpointResponse:
        version = pending.request.version
        if echo and self.echo_version and version and "version" not in payload:
            payload = {"version": version, **payload}
        return self._send(pending, 200, payload, encrypt=not pending.plaintext)

    def _send(
        self, pending: _Pending, status: int, payload: dict[str, Any], *, encrypt: bool
    ) -> EndpointResponse:
        try:
            if encrypt:
                return EndpointResponse(
                    status, encrypt_response(payload, pending.aes_key, pending.iv)
                )
            return EndpointResponse(status, to_json(payload).decode(), "application/json")
        except (TypeError, ValueError) as exc:
            # NaN, a lone surrogate, a value JSON cannot carry: the client could not decode
            # it. The fields we echo ourselves are checked on the way in (_request), so the
            # handler put it here, even if echoed from the client's escaped JSON: its bug.
            return self._handler_bug(pending, exc)

    def _bad(self, message: str) -> EndpointResponse:
        self.log.warning("endpoint.bad_request", reason=message)
        return EndpointResponse(400, json.dumps({"error": message}), "application/json")


def _noop(request: FlowRequest) -> None:
    return None


def _request(payload: dict[str, Any]) -> FlowRequest | str:
    """The request, or why it is refused (400)."""
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        return "the payload has no action"
    for name in _READ:
        value = payload.get(name)
        if isinstance(value, str) and not encodable(value):
            return f"{name} is not valid Unicode"  # a lone surrogate we could not echo
    data = payload.get("data")
    screen = payload.get("screen")
    token, signature = payload.get("flow_token"), payload.get("flow_token_signature")
    return FlowRequest(
        action=action,
        screen=screen if isinstance(screen, str) and screen else None,
        data=data if isinstance(data, dict) else {},
        flow_token=token if isinstance(token, str) else None,
        version=_version(payload.get("version")),
        flow_token_signature=signature if isinstance(signature, str) else None,
        raw=payload,
    )


def _version(value: Any) -> str | None:
    """The version to echo: Meta sends "3.0"; a number is taken as its text, anything
    else (a list, an object) is not a version and is not echoed."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _brief(value: Any) -> str | None:
    """A client-supplied value for a log line: short text, never a structure to render."""
    if value is None:
        return None
    text = value if isinstance(value, str) else type(value).__name__
    return text[:200]


def _traced(started: float, action: str | None, response: EndpointResponse) -> EndpointResponse:
    if telemetry.ENABLED:
        telemetry.endpoint(started, action, response.status)
    return response
