"""1msg.io: the test kit (see tests/kits.py).

1msg neither signs callbacks nor sends custom headers: the secret rides in the webhook
URL's query. Callbacks are its normalized ``{instanceId, messages[], ack[]}`` form
(1msg's OpenAPI; production captures in ebor94/1msg, cited beside each builder).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.http import HttpRequest
from gateway.redact import MASK
from tests.kits import Credentials, ProviderKit

ONEMSG_TOKEN = "1msg-token-abcdef0123456789"
ONEMSG_WEBHOOK_TOKEN = "1msg-webhook-url-token-42"
NAMESPACE = "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574"
ONEMSG_SETTINGS: dict[str, Any] = {
    "instance_id": "inst12345",
    "token": ONEMSG_TOKEN,
    "namespace": NAMESPACE,
    "webhook_token": ONEMSG_WEBHOOK_TOKEN,
}


class OneMsgKit(ProviderKit):
    name = "onemsg"
    settings: ClassVar[dict[str, Any]] = ONEMSG_SETTINGS
    secret_settings = ("token", "webhook_token")
    webhook_secret_setting = "webhook_token"
    ok_body: ClassVar[dict[str, Any]] = {"sent": True, "id": "wamid.TEST", "message": "Sent"}
    passes_unknown_objects = True
    # the token is in the URL of every send: logged, masked
    log_markers = (f"/onemsg/{ONEMSG_SETTINGS['instance_id']}/sendFlow?token={MASK}",)

    def credentials(self, body: bytes, secret: str) -> Credentials:
        return {}, {"token": secret}

    def wire_token(self, body: dict[str, Any]) -> str:
        if "flowToken" in body:
            return str(body["flowToken"])
        return str(body["params"][-1]["parameters"][0]["action"]["flow_token"])

    def wire_recipient(self, body: dict[str, Any]) -> str:
        assert "phone" not in body
        return str(body["chatId"])

    def bsuid_on_wire(self, to: str) -> str:
        return f"{to}@lid"  # chatId "<BSUID>@lid", 1msg's OpenAPI v2

    # -- callbacks ----------------------------------------------------------------------

    def document(self, key: str, item: dict[str, Any]) -> bytes:
        return json.dumps({"instanceId": self.settings["instance_id"], key: [item]}).encode()

    def flow_completion(
        self, *, response: dict[str, Any], phone: str, reply_to: str, message_id: str, ts: int
    ) -> bytes:
        message = {
            "id": message_id,
            "body": json.dumps(response),
            "fromMe": False,
            "chatId": f"{phone}@c.us",
            "time": ts,
            "type": "interactive",
            "quotedMsgId": reply_to,
        }
        return self.document("messages", message)

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
        # chatId "<BSUID>@lid" and authorBsuid (ebor94/1msg@d9139102
        # docs/payloads-reales-1msg.md, a production capture)
        message = {
            "id": message_id,
            "type": "interactive",
            "fromMe": False,
            "chatId": f"{user_id}@lid",
            "authorBsuid": user_id,
            "time": ts,
            "quotedMsgId": reply_to,
            "body": json.dumps(response),
        }
        return self.document("messages", message)

    def delivered(self, *, phone: str, message_id: str, ts: int) -> bytes:
        # an ack (ebor94/1msg test/normalizador.test.js)
        ack = {"id": message_id, "chatId": f"{phone}@c.us", "status": "delivered"}
        return self.document("ack", ack)

    def window_closed(self, *, phone: str, message_id: str, ts: int) -> bytes:
        # a failed ack relays Meta's title (ebor94/1msg capture)
        ack = {
            "id": message_id,
            "chatId": f"{phone}@c.us",
            "status": "failed",
            "error": "Re-engagement message",
        }
        return self.document("ack", ack)

    def realworld_settings(self, doc: Any) -> dict[str, Any]:
        # 1msg refuses another instance's hooks
        instance = doc.get("instanceId", "x") if isinstance(doc, dict) else "x"
        return {"instance_id": instance}

    # -- the emulator's wire ------------------------------------------------------------

    def flow_body(self, account: Mapping[str, Any], to: str, fields: Mapping[str, Any]) -> Any:
        number = to.lstrip("+")
        who: dict[str, Any] = (
            {"chatId": to} if "@" in to else {"phone": int(number) if number.isdigit() else to}
        )
        body = {**who, "body": fields["body"]}
        for key in ("header", "footer"):
            if fields.get(key):
                body[key] = fields[key]
        payload = {"screen": fields["screen"]}
        if fields.get("data"):
            payload["data"] = fields["data"]
        return body | {
            "flowId": fields["flow_id"],
            "flowToken": fields["flow_token"],
            "flowCta": fields["flow_cta"],
            "flowAction": "navigate",
            "flowActionPayload": payload,
            "mode": "published",
            "flowMessageVersion": "3",
        }

    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        method = options.get("method", "sendFlow")
        url = f"{base_url}/{account['instance_id']}/{method}?token={account['token']}"
        return HttpRequest.for_json("POST", url, body, {})

    def wire_message_id(self, answer: dict[str, Any]) -> str:
        assert answer["sent"] is True, answer
        return str(answer["id"])

    def check_window_closed_callback(
        self, doc: dict[str, Any], *, message_id: str, phone: str
    ) -> None:
        [ack] = doc["ack"]
        assert (ack["id"], ack["status"]) == (message_id, "failed")
        assert "re-engagement" in ack["error"].lower()
        assert ack["chatId"] == f"{phone}@c.us"
        assert ack["bsuid"].startswith("US.")

    def check_window_closed_answer(self, status: int, body: Any) -> None:
        assert status == 400
        assert body == {"message": "Dialog window is closed"}


KIT = OneMsgKit()
