"""The receiver inside someone else's app: FastAPI and Django (ASGI), as README shows.

Mounted apps get no lifespan of their own from Starlette: the app that mounts the
receiver passes ``receiver.lifespan``; without it the first callback starts the handlers
(logged), so nothing is stored and forgotten."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.events import MessageStatus
from gateway.receiver import WebhookReceiver
from tests.conftest import CONTRACT, authentic
from tests.e2e.test_receiver import make_config

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def status_body() -> bytes:
    case = json.loads((CONTRACT / "meta_cloud/webhooks/status_read.json").read_text())
    return json.dumps(case["body"]).encode()


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "handler never ran"
        await asyncio.sleep(0.01)


async def post_status(app: Any, path: str) -> httpx.Response:
    body = status_body()
    headers, _ = authentic("meta_cloud", body)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.post(path, content=body, headers=headers)


def fastapi_app(receiver: WebhookReceiver, *, lifespan: bool) -> Any:
    # README: "Inside a FastAPI app"
    from fastapi import FastAPI

    app = FastAPI(lifespan=receiver.lifespan) if lifespan else FastAPI()
    app.mount("/whatsapp", receiver.asgi)

    @app.get("/")
    def home() -> dict[str, str]:
        return {"app": "mine"}

    return app


@pytest.mark.parametrize("lifespan", [True, False], ids=["with-lifespan", "without"])
async def test_mounted_in_fastapi_a_callback_reaches_its_handler(
    tmp_path: Path, store_url: str, lifespan: bool
) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, store_url, poll_interval=0.05))
    seen: list[str] = []
    receiver.on(MessageStatus)(lambda e: seen.append(e.status))
    app = fastapi_app(receiver, lifespan=lifespan)
    async with app.router.lifespan_context(app):  # what uvicorn runs for the outer app
        resp = await post_status(app, "/whatsapp/webhooks/meta_cloud")
        assert resp.status_code == 200, resp.text
        await until(lambda: seen == ["read"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert (await client.get("/whatsapp/healthz")).json() == {"status": "ok"}
            assert (await client.get("/whatsapp/readyz")).json() == {"status": "ready"}
            assert (await client.get("/")).json() == {"app": "mine"}
    if not lifespan:
        await receiver.stop()


def django_asgi(receiver: WebhookReceiver) -> Any:
    # README: "Beside a Django project"
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="test-only", DEBUG=False
        )
        django.setup()
    from django.core.asgi import get_asgi_application
    from starlette.applications import Starlette
    from starlette.routing import Mount

    return Starlette(
        routes=[Mount("/whatsapp", app=receiver.asgi), Mount("/", app=get_asgi_application())],
        lifespan=receiver.lifespan,
    )


def _hello(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse("django here")


def __getattr__(name: str) -> Any:  # Django reads urlpatterns from ROOT_URLCONF lazily
    if name == "urlpatterns":
        from django.urls import path

        return [path("hello", _hello)]
    raise AttributeError(name)


async def test_beside_django_a_callback_reaches_its_handler(tmp_path: Path, store_url: str) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, store_url, poll_interval=0.05))
    seen: list[str] = []
    receiver.on(MessageStatus)(lambda e: seen.append(e.status))
    app = django_asgi(receiver)
    async with app.router.lifespan_context(app):
        resp = await post_status(app, "/whatsapp/webhooks/meta_cloud")
        assert resp.status_code == 200, resp.text
        await until(lambda: seen == ["read"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            hello = await client.get("/hello")
            assert (hello.status_code, hello.text) == (200, "django here")
