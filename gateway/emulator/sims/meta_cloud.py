"""Simulated Meta WhatsApp Cloud API: Graph paths, Bearer token, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.emulator.base import WebhookCall
from gateway.emulator.failures import FailureSite
from gateway.emulator.meta_shaped import MetaShapedSim, graph_error
from gateway.http import HttpResponse

_META_PATH = re.compile(
    r"^/(v\d+\.\d+)/([^/]+)/(messages|message_templates|whatsapp_business_encryption)$"
)
_META_131047 = (
    "realworld meta_cloud/wh_status_failed_131047_zammad.json (a failed status); Meta's "
    "error-codes page: errors come 'synchronously …, asynchronously via Webhook, or "
    "sometimes through both'; Turn.io KB: 200 for messages outside the window"
)


class MetaSim(MetaShapedSim):
    """Meta's Graph API for one business number and WABA."""

    name = "meta_cloud"
    id_prefix = "wamid.HBgMETA"
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "webhook",
            "200 + wamid, then one `failed` status: `errors[0].code` 131047 "
            '"Re-engagement message", no `contacts`',
            _META_131047,
            "likely",
            ("response", "400 Graph error 131047"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 Graph error 130429 + `Retry-After`",
            "reference/providers.md §1.6, §1.8; realworld meta_cloud/err_130429_metadocs.json",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            "503 Graph error 2 (service temporarily unavailable)",
            "reference/providers.md §1.6 (1, 2, 131000: retry); "
            "realworld meta_cloud/err_131000_tawn33y_issue.json",
            "likely",
        ),
    }

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        if headers.get("authorization") != f"Bearer {self.secret('access_token')}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        return None

    def operation(self, method: str, path: str) -> str | None:
        m = _META_PATH.match(path)
        if method != "POST" or m is None:
            return None
        node, edge = m.group(2), m.group(3)
        if edge == "messages" and node == self.secret("phone_number_id"):
            return "message"
        if edge == "message_templates" and node == self.secret("waba_id"):
            return "template"
        if edge == "whatsapp_business_encryption" and node == self.secret("phone_number_id"):
            return "public_key"
        return None

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        raw = json.dumps(doc).encode()
        signature = hmac.new(self.secret("app_secret").encode(), raw, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-hub-signature-256": f"sha256={signature}"}
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)


SIMULATOR = MetaSim
