"""The httpx transports: injected clients, response conversion, failure classes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from gateway import OutcomeUnknown, ProviderUnavailable
from gateway.http import HttpRequest
from gateway.transport import AsyncHttpxTransport, AsyncTransport, HttpxTransport, Transport

REQ = HttpRequest.for_json("POST", "https://api.example/v1/x?token=s3cr3t", {"a": 1}, {"X-K": "v"})


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201,
        headers={"X-Trace": "t1"},
        json={
            "method": request.method,
            "body": json.loads(request.content),
            "k": request.headers["x-k"],
        },
    )


def test_sync_transport_with_injected_mock_client() -> None:
    client = httpx.Client(transport=httpx.MockTransport(_echo))
    transport = HttpxTransport(client)
    assert isinstance(transport, Transport)
    resp = transport.send(REQ)
    assert resp.status_code == 201
    assert resp.header("X-TRACE") == "t1"
    assert resp.json() == {"method": "POST", "body": {"a": 1}, "k": "v"}
    transport.close()
    assert not client.is_closed  # an injected client belongs to the caller
    client.close()


def test_async_transport_with_injected_mock_client() -> None:
    async def go() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(_echo))
        transport = AsyncHttpxTransport(client)
        assert isinstance(transport, AsyncTransport)
        resp = await transport.send(REQ)
        assert resp.json()["body"] == {"a": 1}
        await transport.aclose()
        assert not client.is_closed
        await client.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("no"), ProviderUnavailable),
        (httpx.PoolTimeout("busy"), ProviderUnavailable),
        (httpx.ReadTimeout("late"), OutcomeUnknown),
        (httpx.WriteError("half"), OutcomeUnknown),
        (httpx.RemoteProtocolError("closed"), OutcomeUnknown),
    ],
)
def test_failures_are_classified_without_leaking_the_url(exc: Exception, cls: type) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    transport = HttpxTransport(httpx.Client(transport=httpx.MockTransport(boom)))
    with pytest.raises(cls) as info:
        transport.send(REQ)
    assert type(info.value) is cls
    assert "api.example" in str(info.value)
    assert "s3cr3t" not in str(info.value)
