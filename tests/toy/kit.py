"""The toy provider's test kit: what the shared suites need to know about it.

The same contract as every kit in tests/contract/<provider>/kit.py (see tests/kits.py
and CONTRIBUTING.md); the toy's API is described in adapter.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.http import HttpRequest
from tests.kits import Credentials, ProviderKit

SETTINGS: dict[str, Any] = {
    "account_id": "toy-account-1",
    "api_key": "toy-api-key-0123456789",
    "webhook_secret": "toy-webhook-secret-42",
}


class ToyKit(ProviderKit):
    name = "toy"
    settings: ClassVar[dict[str, Any]] = SETTINGS
    secret_settings = ("api_key", "webhook_secret")
    webhook_secret_setting = "webhook_secret"
    ok_body: ClassVar[dict[str, Any]] = {"accepted": True, "ref": "wamid.TEST"}
    signs_body = True
    bsuid_recipient = False

    def credentials(self, body: bytes, secret: str) -> Credentials:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Toy-Signature": digest}, {}

    def wire_token(self, body: dict[str, Any]) -> str:
        return str(body["template"]["flow_token"] if "template" in body else body["flow"]["token"])

    def wire_recipient(self, body: dict[str, Any]) -> str:
        raise AssertionError("never asked: the toy addresses phones only")

    def events(self, *events: dict[str, Any]) -> bytes:
        return json.dumps({"account": self.settings["account_id"], "events": events}).encode()

    def flow_completion(
        self, *, response: dict[str, Any], phone: str, reply_to: str, message_id: str, ts: int
    ) -> bytes:
        return self.events(
            {"kind": "flow_reply", "id": message_id, "reply_to": reply_to, "number": phone,
             "at": ts, "answers": response}
        )  # fmt: skip

    def delivered(self, *, phone: str, message_id: str, ts: int) -> bytes:
        return self.events(
            {"kind": "status", "ref": message_id, "state": "delivered", "number": phone, "at": ts}
        )

    def window_closed(self, *, phone: str, message_id: str, ts: int) -> bytes:
        problem = {"code": "WINDOW_CLOSED", "text": "More than 24 hours have passed."}
        return self.events(
            {"kind": "status", "ref": message_id, "state": "failed", "number": phone, "at": ts,
             "problem": problem}
        )  # fmt: skip

    def flow_body(self, account: Mapping[str, Any], to: str, fields: Mapping[str, Any]) -> Any:
        flow = {"id": fields["flow_id"], "cta": fields["flow_cta"], "token": fields["flow_token"]}
        flow |= {"action": "navigate", "text": fields["body"]}
        optional = {"title": "header", "note": "footer", "screen": "screen", "data": "data"}
        flow |= {k: fields[f] for k, f in optional.items() if fields.get(f)}
        return {"to": to.lstrip("+"), "flow": flow}

    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        url = f"{base_url}/v1/accounts/{account['account_id']}/flows"
        return HttpRequest.for_json("POST", url, body, {"X-Toy-Api-Key": account["api_key"]})

    def wire_message_id(self, answer: dict[str, Any]) -> str:
        return str(answer["ref"])

    def check_window_closed_callback(
        self, doc: dict[str, Any], *, message_id: str, phone: str
    ) -> None:
        [event] = doc["events"]
        assert (event["kind"], event["ref"], event["state"]) == ("status", message_id, "failed")
        assert event["number"] == phone
        assert event["problem"]["code"] == "WINDOW_CLOSED"

    def check_window_closed_answer(self, status: int, body: Any) -> None:
        assert status == 400
        assert body["problem"]["code"] == "WINDOW_CLOSED"


KIT = ToyKit()
