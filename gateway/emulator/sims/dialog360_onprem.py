"""Simulated 360dialog On-Premise: ``/v1/messages``, ``errors[]``, flat webhooks,
``galaxy_message``; 360dialog Cloud's key and webhook header otherwise.

There is no machine-readable specification of Meta's On-Premises API (sunset; an HTML
reference only, see ../shared/realworld/openapi/SOURCES.md), so its bodies are checked by
hand-written rules (``schemas.OnPremMessage``) taken from that reference and 360dialog's
Flows page, not by a spec extract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.emulator import meta_hooks as hooks
from gateway.emulator.base import Invalid, WebhookCall, json_response, parse
from gateway.emulator.failures import FailureSite
from gateway.emulator.limits import LimitKind, LimitSite
from gateway.emulator.meta_shaped import PAIR_DETAILS
from gateway.emulator.schemas import OnPremMessage
from gateway.emulator.sims.dialog360_cloud import Dialog360CloudSim
from gateway.emulator.users import IdentityChange, SimUser, digits
from gateway.http import HttpResponse


def onprem_error(status: int, code: int, title: str, details: str = "") -> HttpResponse:
    error: dict[str, Any] = {"code": code, "title": title}
    if details:
        error["details"] = details
    return json_response(
        status, {"errors": [error], "meta": {"api_status": "stable", "version": "2.51.1"}}
    )


class Dialog360OnPremSim(Dialog360CloudSim):
    """360dialog On-Premise: ``/v1/messages``, ``errors[]``, flat webhooks, galaxy_message."""

    name = "dialog360_onprem"
    id_prefix = "gBEGemu"
    scoped = False  # On-Premise knows phones only
    partner_api = False  # no Flows API: templates only (gateway.emulator.d360_manage)
    system_messages = False
    window_error = hooks.WINDOW_470
    limit_sites: ClassVar[Mapping[LimitKind, LimitSite]] = {
        "throughput": LimitSite(
            "1015",
            "429 `errors[0].code` 1015 + `Retry-After`",
            "reference/providers.md §2 (Meta's limits apply), §3 (429, 1015)",
            "likely",
        ),
        "pair": LimitSite(
            "1015",
            '429 `errors[0].code` 1015, `details` "pair rate limit hit: …" + `Retry-After`',
            "none: no pair-rate code is documented for On-Premise",
            "unconfirmed",
        ),
    }
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "webhook",
            "200 + id, then one flat `failed` status: `errors[0].code` 470",
            "reference/providers.md §3 (470 = Cloud 131047); "
            "realworld dialog360_onprem/wh_status_failed_470_onprem_docs.json",
            "confirmed",
            ("response", "400 `errors[0].code` 470"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 `errors[0].code` 1015 + `Retry-After`",
            "reference/providers.md §3 (429, 1015); "
            "realworld dialog360_onprem/err_too_many_requests_courier_legacy.json",
            "likely",
        ),
        "server_error": FailureSite(
            "response",
            "500 `errors[0].code` 1014",
            "reference/providers.md §3 (1014 internal error)",
            "likely",
        ),
    }

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/messages":
            return "message"
        if method == "POST" and path == "/v1/configs/templates":
            return "template"
        if method == "POST" and path == "/v1/settings/business/whatsapp_business_encryption":
            return "public_key"
        return None

    def check_message(self, raw: bytes) -> dict[str, Any] | Invalid:
        """Hand rules (no spec exists): Meta's On-Premises messages reference."""
        checked = parse(OnPremMessage, raw)
        if isinstance(checked, Invalid):
            return checked
        body: dict[str, Any] = json.loads(raw)
        return body

    def store_public_key(self, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """``{"public_key": …}`` as JSON: Meta's On-Premises reference (settings/business/
        whatsapp-business-encryption); a hand rule, there is no spec."""
        try:
            doc = json.loads(body)
        except ValueError:
            return self.invalid(Invalid("body", "is not JSON", False))
        if not isinstance(doc, dict) or not isinstance(doc.get("public_key"), str):
            return self.invalid(Invalid("public_key", "is required", True))
        extra = sorted(set(doc) - {"public_key"})
        if extra:
            return self.invalid(Invalid(extra[0], "unexpected key", False))
        return self.keep_public_key(doc["public_key"], "public_key")

    def invalid(self, problem: Invalid) -> HttpResponse:
        if problem.missing:
            return onprem_error(400, 1008, "Required parameter is missing", str(problem))
        return onprem_error(400, 1009, "Parameter value is not valid", str(problem))

    def rate_limited(self, retry_after: int, details: str = "") -> HttpResponse:
        response = onprem_error(429, 1015, "Too many requests", details)
        return HttpResponse.of(
            429, {**response.headers, "retry-after": str(retry_after)}, response.content
        )

    def pair_limited(self, retry_after: int) -> HttpResponse:
        # No pair-rate code is documented for On-Premise: its throttling error, saying why.
        return self.rate_limited(retry_after, "pair rate limit hit: " + PAIR_DETAILS)

    def server_error(self) -> HttpResponse:
        return onprem_error(500, 1014, "Internal error")

    def window_closed(self) -> HttpResponse:
        return onprem_error(400, 470, str(hooks.WINDOW_470["title"]))

    def identity_change(self, kind: IdentityChange, before: SimUser, after: SimUser) -> WebhookCall:
        raise ValueError(f"{kind} system messages are not emulated for On-Premise")

    def accepted(self, message_id: str, to: str, kind: str) -> HttpResponse:
        body = {
            "contacts": [{"input": to, "wa_id": digits(to)}],
            "messages": [{"id": message_id}],
            "meta": {"api_status": "stable", "version": "2.51.1"},
        }
        return json_response(200, body)

    def nfm_reply(self, response: dict[str, Any]) -> dict[str, Any]:
        # As 360dialog documents On-Premise replies: galaxy_message, response_json as an object.
        return {"name": "galaxy_message", "response_json": response}

    def document(self, value: dict[str, Any], number: str | None = None) -> dict[str, Any]:
        return value  # flat: no envelope


SIMULATOR = Dialog360OnPremSim
