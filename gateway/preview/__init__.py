"""``flowgateway flows preview``: a Flow, screen by screen, in a local web page.

One page (``page.html`` beside this module: its style and script inline, no external
asset, so it works with no network) draws what a :class:`FlowSession` shows and posts
each press back; the session runs the player, endpoint exchanges included, so the page
and ``flows play`` walk a Flow the same way. The app answers only to a loopback ``Host``
(no DNS rebinding), takes presses only as JSON (no cross-site form post), and its Content
Security Policy lets the page load nothing from anywhere (extra ``server``).
"""

from __future__ import annotations

import html
import json
import math
import secrets
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.flowjson.player_session import FlowSession

LOOPBACK = ["127.0.0.1", "localhost", "[::1]"]
_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "img-src data:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def preview_app(session: FlowSession, *, title: str = "Flow preview") -> Starlette:
    """The preview page and its JSON API over ``session`` (one person's walk).

    ``GET /`` the page; ``GET /api/state`` what it draws; ``POST /api/press``
    ``{"form": {…}, "action": "footer"|name|"back", "item": id?}``; ``POST /api/back``;
    ``POST /api/restart`` (re-reads the Flow). Every answer is the new state.
    """
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    lock = threading.Lock()  # the player is one walk: one press at a time

    async def state(do: Callable[[], None] | None = None) -> Response:
        def step() -> dict[str, Any]:
            with lock:
                if do is not None:
                    do()
                return session.view()

        # A press may wait on the endpoint (up to its timeout): never on the event loop.
        body = encode(await run_in_threadpool(step))
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    async def index(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        body = page.replace("{{nonce}}", nonce).replace("{{title}}", html.escape(title))
        headers = {
            "Content-Security-Policy": _CSP.format(nonce=nonce),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
        return HTMLResponse(body, headers=headers)

    async def get_state(request: Request) -> Response:
        return await state()

    async def press(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        form, action, item = body.get("form", {}), body.get("action", "footer"), body.get("item")
        if not isinstance(form, dict) or not isinstance(action, str):
            return _bad("form must be an object and action a string")
        if item is not None and not isinstance(item, str):
            return _bad("item must be a string")
        return await state(lambda: session.press(form, action, item))

    async def back(request: Request) -> Response:
        problem = await _json_body(request)
        return problem if isinstance(problem, Response) else await state(session.back)

    async def restart(request: Request) -> Response:
        problem = await _json_body(request)
        return problem if isinstance(problem, Response) else await state(session.restart)

    routes = [
        Route("/", index),
        Route("/api/state", get_state),
        Route("/api/press", press, methods=["POST"]),
        Route("/api/back", back, methods=["POST"]),
        Route("/api/restart", restart, methods=["POST"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK)]
    return Starlette(routes=routes, middleware=middleware)


def encode(view: Any) -> bytes:
    """Strict JSON the page can parse, whatever the Flow, the form or the endpoint held:
    lone surrogates escaped, NaN and infinities as strings, unknown objects as text."""
    try:
        text = json.dumps(view, ensure_ascii=True, allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(_finite(view), ensure_ascii=True, allow_nan=False, default=str)
    return text.encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def _json_body(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object; only ``application/json``, which a cross-site page
    cannot send without a preflight this app never grants."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse({"error": "send application/json"}, status_code=415)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _bad("the body is not JSON")
    return body if isinstance(body, dict) else _bad("the body must be a JSON object")


def _bad(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)
