"""Hand-written provider requests for the emulator's wire-level tests.

Written from reference/providers.md, not built by ``providers/``: these tests check what
the emulator answers and posts, whatever the adapters do.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx

from gateway.config import load_config
from gateway.emulator import Emulator, WebhookCall
from gateway.http import HttpRequest, HttpResponse

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config/gateway.toml", env={"FLOWGATEWAY_EMULATOR_URL": "http://emu"})
ACCOUNTS = {t["provider"]: t for t in CONFIG.senders.values()}
PROVIDERS = tuple(ACCOUNTS)
META_FAMILY = ("meta_cloud", "dialog360_cloud", "dialog360_onprem")
CLOUD = ("meta_cloud", "dialog360_cloud")
PHONE = "+16505551234"
FLOW = {"flow_id": "1", "flow_cta": "Open", "flow_token": "T"}


def emulator() -> Emulator:
    return Emulator.from_config(CONFIG)


def _interactive() -> dict[str, Any]:
    params = {"flow_message_version": "3", **FLOW, "flow_action_payload": {"screen": "S"}}
    return {
        "type": "flow",
        "body": {"text": "Hi"},
        "action": {"name": "flow", "parameters": params},
    }


def meta_body(**recipient: str) -> dict[str, Any]:
    """A Cloud API Flow message; ``recipient`` is ``to=…`` and/or ``recipient=…``."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient,
        "type": "interactive",
        "interactive": _interactive(),
    }


def request(
    provider: str,
    to: str | None = PHONE,
    body: dict[str, Any] | None = None,
    *,
    onemsg_method: str = "sendFlow",
) -> HttpRequest:
    """A Flow send to ``to`` (a phone, or a BSUID where the provider takes one)."""
    acct = ACCOUNTS[provider]
    if provider == "meta_cloud":
        url = f"http://emu/meta_cloud/v24.0/{acct['phone_number_id']}/messages"
        headers = {"Authorization": f"Bearer {acct['access_token']}"}
        body = body or meta_body(**_meta_to(to))
    elif provider == "dialog360_cloud":
        url, headers = "http://emu/dialog360_cloud/messages", {"D360-API-KEY": acct["api_key"]}
        body = body or meta_body(**_meta_to(to))
    elif provider == "dialog360_onprem":
        url, headers = "http://emu/dialog360_onprem/v1/messages", {"D360-API-KEY": acct["api_key"]}
        if body is None:
            body = {k: v for k, v in meta_body(to=str(to)).items() if k != "messaging_product"}
    elif provider == "sinch":
        url = f"http://emu/sinch/v1/projects/{acct['project_id']}/messages:send"
        basic = base64.b64encode(f"{acct['key_id']}:{acct['key_secret']}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        flow = {"body": {"text": "Hi"}, **FLOW, "flow_action_payload": {"screen": "S"}}
        body = body or {
            "app_id": acct["app_id"],
            "recipient": {
                "identified_by": {"channel_identities": [{"channel": "WHATSAPP", "identity": to}]}
            },
            "message": {
                "channel_specific_message": {"WHATSAPP": {"message_type": "FLOWS", "message": flow}}
            },
        }
    else:
        url = f"http://emu/onemsg/{acct['instance_id']}/{onemsg_method}?token={acct['token']}"
        headers = {}
        who = {"chatId": to} if to and "@" in to else {"phone": str(to).lstrip("+")}
        body = body or {
            **who,
            "body": "Hi",
            "flowId": "1",
            "flowToken": "T",
            "flowCta": "Open",
            "flowActionPayload": {"screen": "S"},
        }
    return HttpRequest.for_json("POST", url, body, headers)


def _meta_to(to: str | None) -> dict[str, str]:
    if to is None:
        return {}
    return {"recipient": to} if to[:2].isalpha() else {"to": to}


def send(emu: Emulator, provider: str, to: str | None = PHONE) -> tuple[HttpResponse, str]:
    """Send and return the answer with the message id (asserting it was accepted)."""
    resp = emu.respond(request(provider, to))
    assert resp.status_code == 200, resp.content
    body = resp.json()
    if provider in META_FAMILY:
        return resp, str(body["messages"][0]["id"])
    if provider == "sinch":
        return resp, str(body["message_id"])
    assert body["sent"] is True, body
    return resp, str(body["id"])


def docs(calls: list[WebhookCall]) -> list[dict[str, Any]]:
    """The raw webhook bodies, decoded."""
    return [json.loads(call.body) for call in calls]


def value(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``value`` of a Cloud webhook (On-Premise bodies are flat already)."""
    if "entry" not in doc:
        return doc
    [entry] = doc["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    return dict(change["value"])


def control(emu: Emulator, method: str, path: str, body: Any = None) -> httpx.Response:
    """One request to the emulator's ASGI app (control API or provider path), in process."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=emu.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(go())
