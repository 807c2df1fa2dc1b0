"""The endpoint as an ASGI app (extra ``server``): ``POST {path}`` → :class:`FlowEndpoint`."""

from __future__ import annotations

from typing import Any

from gateway.endpoint.handler import FlowEndpoint
from gateway.extras import require


def endpoint_app(endpoint: FlowEndpoint, path: str = "/") -> Any:
    """A Starlette app serving ``endpoint`` at ``path``; mount it anywhere."""
    require("server", "the endpoint's ASGI app")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def flow(request: Request) -> Response:
        result = await endpoint.handle_async(await request.body(), dict(request.headers))
        return Response(result.body, status_code=result.status, media_type=result.content_type)

    return Starlette(routes=[Route(path, flow, methods=["POST"])])
