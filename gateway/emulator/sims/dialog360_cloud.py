"""Simulated 360dialog Cloud: Meta's payloads at ``/messages``, ``D360-API-KEY``, no
signature (the webhook echoes a configured header).

Bodies are checked against 360dialog's own OpenAPI fragments (``specs/dialog360_cloud.json``:
the envelope of ``POST /messages``, the public-key field) and then, as 360dialog says its
Cloud bodies follow Meta's Cloud API, against Meta's (``specs/meta_cloud.json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from gateway.emulator.base import Invalid, Reply, SimRequest, WebhookCall, check_spec, json_response
from gateway.emulator.d360_manage import D360Manage
from gateway.emulator.failures import FailureSite
from gateway.emulator.limits import LimitKind, LimitSite
from gateway.emulator.meta_shaped import FORM, JSON, MULTIPART, MetaShapedSim
from gateway.emulator.users import Users
from gateway.http import HttpResponse


class Dialog360CloudSim(MetaShapedSim, D360Manage):
    """360dialog Cloud: Meta's payloads at ``/messages``, ``D360-API-KEY``, no signature;
    Flows on the Partner API's paths and templates (:mod:`gateway.emulator.d360_manage`)."""

    name = "dialog360_cloud"
    id_prefix = "wamid.HBgD360"
    credentials = ("api_key",)
    limit_sites: ClassVar[Mapping[LimitKind, LimitSite]] = {
        "throughput": LimitSite(
            "130429",
            "as Meta: 429 Graph error 130429 + `Retry-After`",
            "reference/providers.md §2 (Meta's limits apply; Graph errors passed through); "
            "realworld dialog360_cloud/err_130429_courier_d3c.json",
            "likely",
        ),
        "pair": LimitSite(
            "131056",
            "as Meta: 429 Graph error 131056 + `Retry-After`",
            "reference/providers.md §2; realworld dialog360_cloud/err_131056_courier_d3c.json",
            "likely",
        ),
    }
    public_key_spec = "dialog360_cloud"
    # Meta's two documented encodings (360dialog relays Meta's upload), and JSON, the
    # encoding 360dialog's Flows guide tells Postman users to pick; the On-Premise field
    # name `public_key` is refused whatever the encoding (see the extract's x-overrides).
    public_key_media = (FORM, MULTIPART, JSON)
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "webhook",
            "as Meta: 200 + wamid, then one `failed` status with 131047",
            "reference/providers.md §2 (Meta's payloads, un-wrapped); "
            "realworld dialog360_cloud/wh_status_failed_131014_courier_d3c.json",
            "likely",
            ("response", "400 Graph error 131047"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 Graph error 130429 + `Retry-After`",
            "reference/providers.md §2; realworld dialog360_cloud/err_130429_courier_d3c.json",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            "503 `{meta: {success: false, http_code: 503}}`",
            "reference/providers.md §2 (360dialog error shapes)",
            "likely",
        ),
    }

    def __init__(
        self,
        account: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
        users: Users | None = None,
    ) -> None:
        super().__init__(account, clock, users)
        self.init_stores()

    def handle(self, req: SimRequest) -> Reply:
        if self.manages(req.method, req.path):  # management: no injected faults
            return Reply(self.manage(req))
        return super().handle(req)

    def create_template(self, raw: bytes) -> HttpResponse:
        """Meta's create body; the template is kept (PENDING) for the list and delete."""
        body = check_spec("meta_cloud", "template_create", raw)
        if isinstance(body, Invalid):
            return self.invalid(body)
        components = body.get("components") or []
        item = self.template_store.add(
            body["name"], body["language"], body["category"], components, status="PENDING"
        )
        return json_response(
            200, {"id": item["id"], "status": "PENDING", "category": body["category"]}
        )

    def check_message(self, raw: bytes) -> dict[str, Any] | Invalid:
        """360dialog's envelope (its fragments), then Meta's payload rules."""
        envelope = check_spec("dialog360_cloud", "message", raw)
        return envelope if isinstance(envelope, Invalid) else super().check_message(raw)

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        if headers.get("d360-api-key") != self.secret("api_key"):
            return json_response(401, {"error": "Invalid api key"})
        return None

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/messages":
            return "message"
        if method == "POST" and path == "/v1/configs/templates":
            return "template"
        if method == "POST" and path == "/whatsapp_business_encryption":
            return "public_key"
        return None

    def not_found(self, path: str) -> HttpResponse:
        return json_response(
            404,
            {
                "meta": {
                    "success": False,
                    "http_code": 404,
                    "developer_message": f"{path} not found",
                }
            },
        )

    def server_error(self) -> HttpResponse:
        body = {
            "meta": {"success": False, "http_code": 503, "developer_message": "Service unavailable"}
        }
        return json_response(503, body)

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        raw = json.dumps(doc).encode()
        headers = {"content-type": "application/json"}
        header = self.account.get("webhook_auth_header", "Authorization")
        if self.account.get("webhook_auth_value"):
            headers[str(header).lower()] = self.secret("webhook_auth_value")
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)


SIMULATOR = Dialog360CloudSim
