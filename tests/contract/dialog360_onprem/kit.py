"""360dialog On-Premise: the test kit (see tests/kits.py).

Meta's On-Premise API behind 360dialog (reference/providers.md §3): Cloud's message shape
without ``messaging_product``, interactive type ``galaxy_message`` (seed 002), flat
callbacks without an envelope, phones only (no business-scoped user ids), ``errors[]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.http import HttpRequest
from tests.contract.dialog360_cloud.kit import D360_KEY, D360_WEBHOOK_SECRET, Dialog360CloudKit
from tests.kits import WINDOW_CLOSED_TEXT

NAMESPACE = "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574"


class Dialog360OnPremKit(Dialog360CloudKit):
    name = "dialog360_onprem"
    settings: ClassVar[dict[str, Any]] = {
        "api_key": D360_KEY,
        "namespace": NAMESPACE,
        "webhook_auth_value": D360_WEBHOOK_SECRET,
        "channel_id": "onprem-channel-1",
    }
    secret_settings = ("api_key", "webhook_auth_value")
    bsuid_recipient = False  # the On-Premise API predates business-scoped user ids
    ok_body: ClassVar[dict[str, Any]] = {
        "messages": [{"id": "wamid.TEST"}],
        "meta": {"api_status": "stable"},
    }

    def wire_recipient(self, body: dict[str, Any]) -> str:
        raise AssertionError("never asked: On-Premise cannot address a BSUID")

    def flow_completion(
        self, *, response: dict[str, Any], phone: str, reply_to: str, message_id: str, ts: int
    ) -> bytes:
        # 360dialog's On-Premise replies: galaxy_message, response_json as an object
        message = {
            "context": {"from": "15550001111", "id": reply_to},
            "from": phone,
            "id": message_id,
            "timestamp": str(ts),
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {"name": "galaxy_message", "response_json": response},
            },
        }
        return json.dumps({"contacts": [{"wa_id": phone}], "messages": [message]}).encode()

    def delivered(self, *, phone: str, message_id: str, ts: int) -> bytes:
        # the flat body, no metadata
        return json.dumps({"statuses": [self.status("delivered", phone, message_id, ts)]}).encode()

    def window_closed(self, *, phone: str, message_id: str, ts: int) -> bytes:
        status = self.status("failed", phone, message_id, ts)
        status["errors"] = [{"code": 470, "title": WINDOW_CLOSED_TEXT}]  # Meta's docs: title only
        return json.dumps({"statuses": [status]}).encode()

    def flow_body(self, account: Mapping[str, Any], to: str, fields: Mapping[str, Any]) -> Any:
        body = dict(super().flow_body(account, to, fields))
        del body["messaging_product"]
        interactive = body["interactive"]
        interactive["type"] = "galaxy_message"
        interactive["action"]["name"] = ""
        return body

    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        headers = {"D360-API-KEY": account["api_key"]}
        return HttpRequest.for_json("POST", f"{base_url}/v1/messages", body, headers)

    def check_window_closed_callback(
        self, doc: dict[str, Any], *, message_id: str, phone: str
    ) -> None:
        [status] = doc["statuses"]
        assert set(doc) == {"statuses"}
        assert (status["status"], status["id"]) == ("failed", message_id)
        assert [e["code"] for e in status["errors"]] == [470]
        assert "support window" in status["errors"][0]["title"]

    def check_window_closed_answer(self, status: int, body: Any) -> None:
        assert status == 400
        assert body["errors"][0]["code"] == 470


KIT = Dialog360OnPremKit()
