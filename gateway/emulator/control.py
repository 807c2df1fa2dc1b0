"""The emulator's control API (``/_emulator/*``): the HTTP face of :class:`Emulator`'s
Python controls, for tests and demos that drive a running emulator from outside.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from gateway.emulator.app import Emulator


def _error(exc: Exception, status: int = 400) -> Response:
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return JSONResponse({"error": str(message)}, status_code=status)


async def _spec(request: Request) -> dict[str, Any]:
    spec = await request.json()
    if not isinstance(spec, dict):
        raise TypeError("the body must be a JSON object")
    return spec


def routes(emulator: Emulator) -> list[Route]:
    """The control routes, bound to ``emulator``."""

    async def faults(request: Request) -> Response:
        try:
            spec = await _spec(request)
            emulator.inject(
                spec["provider"],
                spec["kind"],
                count=int(spec.get("count", 1)),
                retry_after=int(spec.get("retry_after", 1)),
                delay=float(spec.get("delay", 2.0)),
            )
        except (KeyError, ValueError, TypeError) as exc:
            return _error(exc)
        return JSONResponse({"ok": True})

    async def failure_locations(request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = await _spec(request)
                emulator.set_failure_location(spec["provider"], spec["fault"], spec["where"])
            except (KeyError, ValueError, TypeError) as exc:
                return _error(exc)
        return JSONResponse(emulator.failure_locations)

    async def webhooks(request: Request) -> Response:
        try:
            spec = await _spec(request)
            emulator.set_webhook(spec["provider"], spec["url"])
        except (KeyError, TypeError) as exc:
            return _error(exc)
        return JSONResponse({"ok": True})

    async def complete(request: Request) -> Response:
        try:
            spec = await _spec(request)
            given = {k: spec[k] for k in ("answers", "statuses") if k in spec}
            calls = emulator.callbacks(spec["message_id"], **given)
        except KeyError as exc:
            return _error(exc, 404)
        except (ValueError, TypeError) as exc:
            return _error(exc)
        if not all(call.url for call in calls):
            return JSONResponse({"error": "no webhook URL set for this provider"}, status_code=409)
        return JSONResponse({"delivered": await emulator.deliver(calls)})

    async def messages(request: Request) -> Response:
        items = [dataclasses.asdict(m) for m in emulator.sent(request.query_params.get("provider"))]
        return JSONResponse(items)

    async def users(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([dataclasses.asdict(u) for u in emulator.users.all()])
        try:
            spec = await _spec(request)
            user = emulator.register_user(
                str(spec["phone"]),
                username=spec.get("username"),
                hide_phone=bool(spec.get("hide_phone", False)),
                parent_user_id=spec.get("parent_user_id"),
                **({"name": str(spec["name"])} if "name" in spec else {}),
            )
        except (KeyError, ValueError, TypeError) as exc:
            return _error(exc)
        return JSONResponse(dataclasses.asdict(user))

    async def identity(request: Request) -> Response:
        """A user changes number or BSUID: the system message is posted to the webhook."""
        try:
            spec = await _spec(request)
            provider = spec["provider"]
            if not emulator.sims[provider].webhook_url:
                return JSONResponse(
                    {"error": "no webhook URL set for this provider"}, status_code=409
                )
            user, calls = emulator.change_identity(
                provider, str(spec["user"]), spec["type"],
                spec.get("new_phone"), spec.get("new_user_id"),
            )  # fmt: skip
        except KeyError as exc:
            return _error(exc, 404 if "no simulated user" in str(exc) else 400)
        except (ValueError, TypeError) as exc:
            return _error(exc)
        delivered = await emulator.deliver(calls)
        return JSONResponse({"delivered": delivered, "user": dataclasses.asdict(user)})

    return [
        Route("/_emulator/faults", faults, methods=["POST"]),
        Route("/_emulator/failure_locations", failure_locations, methods=["GET", "POST"]),
        Route("/_emulator/webhooks", webhooks, methods=["POST"]),
        Route("/_emulator/complete", complete, methods=["POST"]),
        Route("/_emulator/messages", messages, methods=["GET"]),
        Route("/_emulator/users", users, methods=["GET", "POST"]),
        Route("/_emulator/identity", identity, methods=["POST"]),
    ]
