"""Hand-written provider requests for the emulator's wire-level tests.

Written from each provider's docs by its kit (tests/kits.py), not built by ``providers/``:
these tests check what the emulator answers and posts, whatever the adapters do. The
emulator serves one account per kit (the kit's test settings).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from gateway.emulator import Emulator, WebhookCall
from gateway.http import HttpRequest, HttpResponse
from tests.contract.meta_cloud.kit import unwrap
from tests.kits import KITS

ACCOUNTS: dict[str, dict[str, Any]] = {name: dict(kit.settings) for name, kit in KITS.items()}
PROVIDERS = tuple(ACCOUNTS)
CLOUD = ("meta_cloud", "dialog360_cloud")  # Meta's Cloud API payloads and BSUIDs
PHONE = "+16505551234"
FLOW = {"flow_id": "1", "flow_cta": "Open", "flow_token": "T", "body": "Hi", "screen": "S"}


def emulator() -> Emulator:
    return Emulator(ACCOUNTS)


def meta_body(**recipient: str) -> dict[str, Any]:
    """A Cloud API Flow message; ``recipient`` is ``to=…`` and/or ``recipient=…``."""
    body = dict(KITS["meta_cloud"].flow_body(ACCOUNTS["meta_cloud"], PHONE, FLOW))
    del body["to"]
    return {**body, **recipient}


def request(provider: str, to: str | None = PHONE, body: Any = None, **options: str) -> HttpRequest:
    """A Flow send to ``to`` (a phone, or a BSUID where the provider takes one);
    ``options`` as the kit takes them (e.g. 1msg's ``method="sendTemplate"``)."""
    kit, account = KITS[provider], ACCOUNTS[provider]
    if body is None:
        body = kit.flow_body(account, str(to), FLOW)
    return kit.wire_request(f"http://emu/{provider}", account, body, **options)


def send(emu: Emulator, provider: str, to: str | None = PHONE) -> tuple[HttpResponse, str]:
    """Send and return the answer with the message id (asserting it was accepted)."""
    resp = emu.respond(request(provider, to))
    assert resp.status_code == 200, resp.content
    return resp, KITS[provider].wire_message_id(resp.json())


def docs(calls: list[WebhookCall]) -> list[dict[str, Any]]:
    """The raw webhook bodies, decoded."""
    return [json.loads(call.body) for call in calls]


value = unwrap
"""The ``value`` of a Cloud webhook (On-Premise bodies are flat already)."""


def control(emu: Emulator, method: str, path: str, body: Any = None) -> httpx.Response:
    """One request to the emulator's ASGI app (control API or provider path), in process."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=emu.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(go())
