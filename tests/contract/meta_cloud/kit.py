"""Meta WhatsApp Cloud API: the test kit (see tests/kits.py).

Payloads follow Meta's webhook reference and business-scoped user ids page
(reference/identity.md §2.2–2.5); 360dialog Cloud and On-Premise kits build on this one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.http import HttpRequest
from tests.kits import WINDOW_CLOSED_TEXT, Credentials, ProviderKit

META_TOKEN = "EAAG-test-access-token-0123456789"
META_APP_SECRET = "meta-app-secret-abcdef123456"
META_VERIFY_TOKEN = "verify-me-please-42"
META_SETTINGS: dict[str, Any] = {
    "phone_number_id": "1234567890",
    "waba_id": "102290129340398",
    "api_version": "v24.0",
    "access_token": META_TOKEN,
    "app_secret": META_APP_SECRET,
    "verify_token": META_VERIFY_TOKEN,
}
GRAPH = "https://graph.facebook.com/v24.0"
BUSINESS_NUMBER = "15550783881"
ERROR_CODES_PAGE = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


def hub_signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def unwrap(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``value`` of a Cloud webhook (On-Premise bodies are flat already)."""
    if "entry" not in doc:
        return doc
    [entry] = doc["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    return dict(change["value"])


class MetaKit(ProviderKit):
    name = "meta_cloud"
    settings: ClassVar[dict[str, Any]] = META_SETTINGS
    secret_settings: ClassVar[tuple[str, ...]] = ("access_token", "app_secret", "verify_token")
    webhook_secret_setting = "app_secret"
    ok_body: ClassVar[dict[str, Any]] = {"messages": [{"id": "wamid.TEST"}]}
    signs_body = True  # X-Hub-Signature-256 is an HMAC of the raw body

    def credentials(self, body: bytes, secret: str) -> Credentials:
        return {"X-Hub-Signature-256": hub_signature(body, secret)}, {}

    def wire_token(self, body: dict[str, Any]) -> str:
        if body["type"] == "interactive":
            return str(body["interactive"]["action"]["parameters"]["flow_token"])
        return str(body["template"]["components"][-1]["parameters"][0]["action"]["flow_token"])

    def wire_recipient(self, body: dict[str, Any]) -> str:
        assert "to" not in body  # a BSUID never goes in "to"
        return str(body["recipient"])

    # -- callbacks ----------------------------------------------------------------------

    def envelope(self, value: dict[str, Any]) -> bytes:
        """Meta's ``{entry[].changes[].value}``, naming the sender's own number in
        ``metadata`` as every real callback does."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": BUSINESS_NUMBER,
                "phone_number_id": self.settings.get("phone_number_id"),
            },
            **value,
        }
        change = {"field": "messages", "value": value}
        doc = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
        return json.dumps(doc).encode()

    def flow_completion(
        self, *, response: dict[str, Any], phone: str, reply_to: str, message_id: str, ts: int
    ) -> bytes:
        nfm = {"name": "flow", "body": "Sent", "response_json": json.dumps(response)}
        message = {
            "context": {"from": BUSINESS_NUMBER, "id": reply_to},
            "from": phone,
            "id": message_id,
            "timestamp": str(ts),
            "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": nfm},
        }
        return self.envelope({"messages": [message]})

    def hidden_user_completion(
        self,
        *,
        response: dict[str, Any],
        user_id: str,
        username: str,
        reply_to: str,
        message_id: str,
        ts: int,
    ) -> bytes:
        # identity.md §2.3: "messages[].from may be omitted", "from_user_id always",
        # contacts[].user_id + profile.username
        contact = {"profile": {"name": "Sheena", "username": username}, "user_id": user_id}
        nfm = {"name": "flow", "response_json": json.dumps(response)}
        message = {
            "context": {"from": BUSINESS_NUMBER, "id": reply_to},
            "from_user_id": user_id,
            "id": message_id,
            "timestamp": str(ts),
            "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": nfm},
        }
        return self.envelope({"contacts": [contact], "messages": [message]})

    def status(self, status: str, phone: str, message_id: str, ts: int) -> dict[str, Any]:
        return {"id": message_id, "status": status, "timestamp": str(ts), "recipient_id": phone}

    def delivered(self, *, phone: str, message_id: str, ts: int) -> bytes:
        return self.envelope({"statuses": [self.status("delivered", phone, message_id, ts)]})

    def window_closed(self, *, phone: str, message_id: str, ts: int) -> bytes:
        status = self.status("failed", phone, message_id, ts)
        status["errors"] = [  # zammad spec/lib/whatsapp/webhook/message/status/failed_spec.rb
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": WINDOW_CLOSED_TEXT},
            }
        ]
        return self.envelope({"statuses": [status]})

    # -- the emulator's wire ------------------------------------------------------------

    def flow_body(self, account: Mapping[str, Any], to: str, fields: Mapping[str, Any]) -> Any:
        payload = {"screen": fields["screen"]}
        if fields.get("data"):
            payload["data"] = fields["data"]
        params = {
            "flow_message_version": "3",
            "flow_id": fields["flow_id"],
            "flow_cta": fields["flow_cta"],
            "mode": "published",
            "flow_token": fields["flow_token"],
            "flow_action": "navigate",
            "flow_action_payload": payload,
        }
        interactive: dict[str, Any] = {"type": "flow"}
        if fields.get("header"):
            interactive["header"] = {"type": "text", "text": fields["header"]}
        interactive["body"] = {"text": fields["body"]}
        if fields.get("footer"):
            interactive["footer"] = {"text": fields["footer"]}
        interactive["action"] = {"name": "flow", "parameters": params}
        # Since Feb 2026 a BSUID goes in "recipient", a phone in "to".
        recipient = {"recipient": to} if to[:2].isalpha() else {"to": to}
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **recipient,
            "type": "interactive",
            "interactive": interactive,
        }

    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        version = account.get("api_version", "v24.0")
        url = f"{base_url}/{version}/{account['phone_number_id']}/messages"
        auth = {"Authorization": f"Bearer {account['access_token']}"}
        return HttpRequest.for_json("POST", url, body, auth)

    def wire_message_id(self, answer: dict[str, Any]) -> str:
        return str(answer["messages"][0]["id"])

    def check_window_closed_callback(
        self, doc: dict[str, Any], *, message_id: str, phone: str
    ) -> None:
        val = unwrap(doc)
        assert "contacts" not in val
        assert "messages" not in val
        [status] = val["statuses"]
        assert status["status"] == "failed"
        assert status["recipient_id"] == phone
        assert "recipient_user_id" not in status  # failed, and sent to a phone
        assert status["errors"] == [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": WINDOW_CLOSED_TEXT},
                "href": ERROR_CODES_PAGE,
            }
        ]
        assert val["metadata"]["phone_number_id"]

    def check_window_closed_answer(self, status: int, body: Any) -> None:
        assert status == 400
        assert body["error"]["code"] == 131047


KIT = MetaKit()
