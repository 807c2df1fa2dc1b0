"""360dialog Cloud: the test kit (see tests/kits.py).

Meta's payloads, un-wrapped (reference/providers.md §2), so the Meta kit's builders and
readers apply; 360dialog does not sign callbacks but echoes a header configured with the
webhook, and takes ``D360-API-KEY`` on requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.http import HttpRequest
from tests.contract.meta_cloud.kit import MetaKit
from tests.kits import Credentials

D360_KEY = "d360-test-key-0123456789"
D360_WEBHOOK_SECRET = "Basic d2ViaG9vazpzM2NyM3Q="
D360_PARTNER_KEY = "d360-partner-key-9876543210"


class Dialog360CloudKit(MetaKit):
    name = "dialog360_cloud"
    settings: ClassVar[dict[str, Any]] = {
        "api_key": D360_KEY,
        "webhook_auth_value": D360_WEBHOOK_SECRET,
        "phone_number_id": "106540352242922",
        # 360dialog's Partner API, where Flows are managed (providers/dialog360_manage.py)
        "partner_api_key": D360_PARTNER_KEY,
        "partner_id": "examplePA",
        "waba_account_id": "exampleWA",
    }
    secret_settings: ClassVar[tuple[str, ...]] = (
        "api_key",
        "webhook_auth_value",
        "partner_api_key",
    )
    webhook_secret_setting = "webhook_auth_value"
    signs_body = False  # a shared header, not a signature

    def credentials(self, body: bytes, secret: str) -> Credentials:
        return {self.settings.get("webhook_auth_header", "Authorization"): secret}, {}

    def emulator_settings(self, url: str) -> dict[str, Any]:
        hub = {"partner_base_url": f"{url}/{self.name}"} if "partner_id" in self.settings else {}
        return {**super().emulator_settings(url), **hub}

    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        headers = {"D360-API-KEY": account["api_key"]}
        return HttpRequest.for_json("POST", f"{base_url}/messages", body, headers)


KIT = Dialog360CloudKit()
