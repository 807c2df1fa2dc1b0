"""Sinch Conversation API: the test kit (see tests/kits.py).

Callbacks follow Sinch's callbacks documentation (MESSAGE_DELIVERY, MESSAGE_INBOUND) and
its WhatsApp user-id page for BSUIDs (developers.sinch.com/docs/conversation/
channel-support/whatsapp/user-id); signatures are computed here, independently of the
adapter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.http import HttpRequest
from tests.kits import WINDOW_CLOSED_TEXT, Credentials, ProviderKit

if TYPE_CHECKING:
    import respx

SINCH_KEY_SECRET = "key-secret-456"
SINCH_WEBHOOK_SECRET = "sinch-webhook-secret-789"
SINCH_ACCESS_TOKEN = "sinch-oauth-access-token-xyz"
SINCH_AUTH_URL = "https://auth.sinch.com/oauth2/token"
SINCH_SETTINGS: dict[str, Any] = {
    "project_id": "proj-1234",
    "app_id": "01HAPPID0000000000000000AB",
    "region": "eu",
    "key_id": "key-id-123",
    "key_secret": SINCH_KEY_SECRET,
    "webhook_secret": SINCH_WEBHOOK_SECRET,
}


def sinch_headers(
    body: bytes, *, age: float = 0, secret: str = SINCH_WEBHOOK_SECRET
) -> dict[str, str]:
    """Sinch's signature headers, computed here independently of the adapter."""
    nonce, timestamp = "01FJA8B4A7BM43YGWSG9GBV067", str(int(time.time() - age))
    signed = body + b"." + nonce.encode() + b"." + timestamp.encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return {
        "x-sinch-webhook-signature": base64.b64encode(digest).decode(),
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": timestamp,
        "x-sinch-webhook-signature-algorithm": "HmacSHA256",
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SinchKit(ProviderKit):
    name = "sinch"
    settings: ClassVar[dict[str, Any]] = SINCH_SETTINGS
    secret_settings = ("key_secret", "webhook_secret")
    webhook_secret_setting = "webhook_secret"
    ok_body: ClassVar[dict[str, Any]] = {
        "message_id": "wamid.TEST",
        "accepted_time": "2026-11-21T10:00:00Z",
    }
    signs_body = True  # HMAC of body + nonce + timestamp
    # The algorithm header is informational: the secret decides.
    unchecked_credentials = frozenset({"x-sinch-webhook-signature-algorithm"})
    passes_unknown_objects = True
    log_markers = ("/sinch/oauth2/token",)
    token_auth = True

    def credentials(self, body: bytes, secret: str) -> Credentials:
        return sinch_headers(body, secret=secret), {}

    def forged(self, body: bytes) -> list[Credentials]:
        return [*super().forged(body), (sinch_headers(body, age=3600), {})]  # and replayed

    def mock_auth(self, mock: respx.MockRouter) -> respx.Route | None:
        token = {
            "access_token": SINCH_ACCESS_TOKEN,
            "expires_in": 3599,
            "scope": "",
            "token_type": "bearer",
        }
        return mock.post(SINCH_AUTH_URL).respond(200, json=token)

    def emulator_settings(self, url: str) -> dict[str, Any]:
        return {
            **super().emulator_settings(url),
            "auth_url": f"{url}/sinch/oauth2/token",
            "provisioning_base_url": f"{url}/sinch",  # the Provisioning API's templates
        }

    def wire_token(self, body: dict[str, Any]) -> str:
        message = body["message"]
        if "channel_specific_message" in message:
            return str(message["channel_specific_message"]["WHATSAPP"]["message"]["flow_token"])
        params = message["template_message"]["channel_template"]["WHATSAPP"]["parameters"]
        return str(params["button[0]flow[1]flow_token"])

    def wire_recipient(self, body: dict[str, Any]) -> str:
        return str(body["recipient"]["identified_by"]["channel_identities"][0]["identity"])

    # -- callbacks ----------------------------------------------------------------------

    def callback(self, key: str, obj: dict[str, Any], ts: int) -> bytes:
        doc = {"app_id": self.settings["app_id"], "accepted_time": _iso(ts + 0.5), key: obj}
        return json.dumps(doc).encode()

    def flow_completion(
        self, *, response: dict[str, Any], phone: str, reply_to: str, message_id: str, ts: int
    ) -> bytes:
        nfm = {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(response)},
        }
        doc = {
            "app_id": self.settings["app_id"],
            "project_id": self.settings["project_id"],
            "accepted_time": _iso(ts + 0.5),
            "event_time": _iso(ts + 0.4),
            "message": {
                "id": message_id,
                "direction": "TO_APP",
                "contact_id": "01HCONTACT",
                "channel_identity": {"channel": "WHATSAPP", "identity": phone, "app_id": ""},
                "accept_time": _iso(ts),
                "contact_message": {
                    "channel_specific_message": {"message_type": "nfm_reply", "message": nfm},
                    "reply_to": {"message_id": reply_to},
                },
            },
        }
        return json.dumps(doc).encode()

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
        # the BSUID as the channel identity ([likely] for callbacks, per the user-id page)
        nfm = {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "response_json": json.dumps(response)},
        }
        message = {
            "id": message_id,
            "direction": "TO_APP",
            "channel_identity": {"channel": "WHATSAPP", "identity": user_id, "app_id": ""},
            "contact_message": {
                "channel_specific_message": {"message_type": "nfm_reply", "message": nfm},
                "reply_to": {"message_id": reply_to},
            },
        }
        return self.callback("message", message, ts)

    def delivered(self, *, phone: str, message_id: str, ts: int) -> bytes:
        report = {  # MESSAGE_DELIVERY; '+' as in its READ example
            "message_id": message_id,
            "status": "DELIVERED",
            "channel_identity": {"channel": "WHATSAPP", "identity": f"+{phone}"},
        }
        return self.callback("message_delivery_report", report, ts)

    def window_closed(self, *, phone: str, message_id: str, ts: int) -> bytes:
        report = {  # the callbacks doc's FAILED example
            "message_id": message_id,
            "status": "FAILED",
            "channel_identity": {"channel": "WHATSAPP", "identity": phone},
            "reason": {
                "code": "OUTSIDE_ALLOWED_SENDING_WINDOW",
                "description": f"The underlying channel reported: {WINDOW_CLOSED_TEXT}",
                "sub_code": "UNSPECIFIED_SUB_CODE",
            },
        }
        return self.callback("message_delivery_report", report, ts)

    # -- the emulator's wire ------------------------------------------------------------

    def flow_body(self, account: Mapping[str, Any], to: str, fields: Mapping[str, Any]) -> Any:
        flow: dict[str, Any] = {}
        if fields.get("header"):
            flow["header"] = {"type": "text", "text": fields["header"]}
        flow["body"] = {"text": fields["body"]}
        if fields.get("footer"):
            flow["footer"] = {"text": fields["footer"]}
        payload = {"screen": fields["screen"]}
        if fields.get("data"):
            payload["data"] = fields["data"]
        flow |= {
            "flow_id": fields["flow_id"],
            "flow_token": fields["flow_token"],
            "flow_mode": "published",
            "flow_cta": fields["flow_cta"],
            "flow_action": "navigate",
            "flow_action_payload": payload,
        }
        identity = {"channel": "WHATSAPP", "identity": to}
        return {
            "app_id": account["app_id"],
            "recipient": {"identified_by": {"channel_identities": [identity]}},
            "message": {
                "channel_specific_message": {"WHATSAPP": {"message_type": "FLOWS", "message": flow}}
            },
        }

    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        url = f"{base_url}/v1/projects/{account['project_id']}/messages:send"
        basic = base64.b64encode(f"{account['key_id']}:{account['key_secret']}".encode()).decode()
        return HttpRequest.for_json("POST", url, body, {"Authorization": f"Basic {basic}"})

    def wire_message_id(self, answer: dict[str, Any]) -> str:
        return str(answer["message_id"])

    def check_window_closed_callback(
        self, doc: dict[str, Any], *, message_id: str, phone: str
    ) -> None:
        report = doc["message_delivery_report"]
        assert report["status"] == "FAILED"
        assert report["reason"]["code"] == "OUTSIDE_ALLOWED_SENDING_WINDOW"
        assert report["reason"]["channel_code"] == "131047"


KIT = SinchKit()
