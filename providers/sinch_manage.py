"""Sinch: WhatsApp templates through the Provisioning API, template-send parameters, and
the Provisioning API's template webhooks (used by :mod:`providers.sinch`).

Templates are project-level and live in Sinch's Provisioning API
(https://developers.sinch.com/docs/provisioning-api/api-reference/provisioning-api/whatsapp-templates),
``{provisioning_base_url}/v1/projects/{projectId}/whatsapp/templates…``, reached with the
same OAuth token as the Conversation API (or Basic key:secret). Sinch names a template by
its name (and a language), not by an id of its own: ``TemplateInfo.id`` is Meta's
``whatsappId`` and ``gw.templates.get`` takes the template's name.

Flows are not managed here: Sinch's Provisioning API only lists them, read-only
(``GET …/whatsapp/flows``, id/name/status), with no call to create, upload, publish or get
one; a list alone would declare ``flow_management`` and then fail every deploy midway, so
every Flow operation refuses before any request and names the alternative.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from gateway.errors import ProviderError, UnsupportedFeature, class_for_status
from gateway.events import InboundEvent, TemplateStatusChanged, UnhandledEvent
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import ManageOp, Page, TemplateDelete, TemplateGet, TemplateInfo, TemplateList
from gateway.model import FlowMessage
from providers import meta_wire
from providers.base import opt_str

if TYPE_CHECKING:
    from providers.sinch import SinchSettings

PROVISIONING_BASE_URL = "https://provisioning.api.sinch.com"
FLOWS_ALTERNATIVE = (
    "Sinch has no self-service Flows management: build and publish Flows in WhatsApp "
    "Manager or through Sinch Professional Services"
)
PAGE_SIZE_MAX = 1000  # pageSize: 1..1000 (Provisioning API, list templates)
STATES = frozenset({"APPROVED", "DISABLED", "PAUSED", "REJECTED"})  # filterStates
STATUSES = frozenset({"DRAFT", "IN_PROGRESS"})  # filterStatuses (REJECTED is a state too)

# Template-send parameter keys (Sinch's WhatsApp template-support page:
# https://developers.sinch.com/docs/conversation/channel-support/whatsapp/template-support);
# copy_code's key is from Sinch's own MCP server (sinch/sinch-mcp-server,
# send-whatsapp-template-message tool): "button[0]copy_code[1]coupon_code".
HEADER_TEXT_KEY = "header[{n}]text"
MEDIA_KEY = "header[1]{kind}.link"
FILENAME_KEY = "header[1]document.filename"
BUTTON_KEYS = {
    "quick_reply": "button[{index}]quick_reply[1]payload",
    "url": "button[{index}]url[1]text",
    "copy_code": "button[{index}]copy_code[1]coupon_code",
}

# Provisioning webhook triggers (Node SDK 1.6 Provisioning.WebhookTrigger) → what changed.
TEMPLATE_TRIGGERS: Mapping[str, tuple[str, str | None]] = {
    "WHATSAPP_TEMPLATE_APPROVED": ("status", "APPROVED"),
    "WHATSAPP_TEMPLATE_REJECTED": ("status", "REJECTED"),
    "WHATSAPP_TEMPLATE_DELETED": ("status", "DELETED"),
    "WHATSAPP_TEMPLATE_STATUS_UPDATED": ("status", None),
    "WHATSAPP_TEMPLATE_CATEGORY_UPDATED": ("category", None),
    "WHATSAPP_TEMPLATE_CATEGORY_FUTURE_UPDATE": ("category", None),
    "WHATSAPP_TEMPLATE_QUALITY_SCORE_UPDATED": ("quality", None),
}
"""``WHATSAPP_TEMPLATE_COMMENT_ADDED`` and the sender/account triggers are passed on as
``UnhandledEvent`` (a comment is not a status)."""


# -- requests ----------------------------------------------------------------------------


def _templates_url(s: SinchSettings, *path: str, **query: str) -> str:
    base = f"{s.provisioning_base_url.rstrip('/')}/v1/projects/{quote(s.project_id, safe='')}"
    url = "/".join([base, "whatsapp", "templates", *(quote(p, safe="") for p in path)])
    return f"{url}?{urlencode(query)}" if query else url


def build_template_op(provider: str, s: SinchSettings, op: ManageOp[Any]) -> HttpRequest | None:
    """The Provisioning API request for a template operation (None: not one of ours)."""
    if isinstance(op, TemplateList):
        query = {"pageSize": str(max(1, min(op.limit, PAGE_SIZE_MAX)))}
        if op.after:
            query["pageToken"] = op.after
        if op.template_name:
            query["templateName"] = op.template_name
        status = (op.status or "").upper()
        if status in STATES:
            query["filterStates"] = status
        elif status in STATUSES:
            query["filterStatuses"] = status
        return HttpRequest("GET", _templates_url(s, **query), _accept(s))
    if isinstance(op, TemplateGet):
        # "List all templates for a specific name": Sinch gets by name, every language.
        return HttpRequest("GET", _templates_url(s, op.template_id), _accept(s))
    if isinstance(op, TemplateDelete):
        if op.language is None and op.template_id is not None:
            raise UnsupportedFeature(
                provider,
                op.name,
                "Sinch deletes a template by name (every language) or one language by its "
                "code: pass language= instead of template_id=",
            )
        if op.language is None:
            return HttpRequest("DELETE", _templates_url(s, op.template_name), _accept(s))
        # Sinch's language codes are upper case (WhatsappTemplateLanguagesEnum: "EN_US");
        # deleteSubmitted=true: without it only the draft goes, not the template at Meta.
        url = _templates_url(
            s, op.template_name, "languages", op.language.upper(), deleteSubmitted="true"
        )
        return HttpRequest("DELETE", url, _accept(s))
    return None


def _accept(s: SinchSettings) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if s.auth == "basic":  # OAuth requests get their bearer token from the gateway
        pair = f"{s.key_id}:{s.key_secret.get_secret_value()}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


# -- answers -----------------------------------------------------------------------------


def provisioning_error(provider: str, resp: HttpResponse) -> ProviderError:
    """``{"errorCode", "message", "resolution", "additionalInformation"?}`` as a typed error
    (the HTTP status decides the class: 400, 401, 404, 429…)."""
    try:
        body = resp.json()
    except ValueError:
        return meta_wire.http_error(provider, resp)
    if not isinstance(body, dict):
        return meta_wire.parse_failure(provider, resp)
    message = opt_str(body.get("message")) or resp.text()
    resolution = opt_str(body.get("resolution"))
    if resolution:
        message = f"{message} ({resolution})"
    return class_for_status(resp.status_code)(
        message,
        provider=provider,
        status_code=resp.status_code,
        code=opt_str(body.get("errorCode")),
        retry_after=resp.retry_after(),
        raw=body,
    )


def parse_template_op(
    provider: str, sender: str | None, op: ManageOp[Any], resp: HttpResponse
) -> Any:
    """The result of a template operation built by :func:`build_template_op`."""
    if not resp.ok:
        raise provisioning_error(provider, resp)
    if isinstance(op, TemplateDelete):
        return True
    body = _json_object(provider, resp)
    if isinstance(op, TemplateList):
        items = [template_info(provider, sender, t) for t in _templates(body)]
        items = [t for t in items if _wanted(t, op)]
        return Page(tuple(items), opt_str(body.get("nextPageToken")))
    templates = _templates(body) if "templates" in body else [body]
    if not templates:
        raise ProviderError(
            f"no template named {op.template_id!r}",  # type: ignore[attr-defined]
            provider=provider,
            status_code=resp.status_code,
            raw=body,
        )
    info = template_info(provider, sender, templates[0])
    return info if len(templates) == 1 else _with_raw(info, body)


def _json_object(provider: str, resp: HttpResponse) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise meta_wire.parse_failure(provider, resp)
    return body


def _templates(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = body.get("templates")
    return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else []


def _wanted(t: TemplateInfo, op: TemplateList) -> bool:
    """The filters Sinch's list has no parameter for, applied to each page."""
    if op.category and (t.category or "").upper() != op.category.upper():
        return False
    if op.language and (t.language or "").upper() != op.language.upper():
        return False
    status = (op.status or "").upper()
    known = status in STATES or status in STATUSES
    return known or not status or (t.status or "").upper() == status


def _with_raw(info: TemplateInfo, body: Any) -> TemplateInfo:
    return replace(info, raw=body)


def template_info(provider: str, sender: str | None, t: Mapping[str, Any]) -> TemplateInfo:
    """A Provisioning API template (``name``, ``language``, ``category`` as Sinch gives it:
    MARKETING, OTP, TRANSACTIONAL or older values; ``state``; ``details.components``)."""
    details = t.get("details")
    components = details.get("components") if isinstance(details, dict) else None
    quality = t.get("qualityScore")
    if isinstance(quality, dict):  # a score object in some versions: keep its score
        quality = quality.get("score")
    return TemplateInfo(
        provider=provider,
        sender=sender,
        id=opt_str(t.get("whatsappId")),
        name=opt_str(t.get("name")) or "",
        language=opt_str(t.get("language")),
        status=opt_str(t.get("state")) or opt_str(t.get("status")),
        category=opt_str(t.get("category")),
        components=tuple(c for c in components if isinstance(c, dict))
        if isinstance(components, list)
        else (),
        quality=opt_str(quality),
        rejected_reason=opt_str(t.get("rejectionCode")),
        raw=dict(t),
    )


# -- template sends ----------------------------------------------------------------------


def template_message(provider: str, s: SinchSettings, msg: FlowMessage) -> dict[str, Any]:
    """The ``template_message`` of a template send (WhatsApp ``channel_template``)."""
    assert msg.template is not None
    ref, params = msg.template, template_parameters(provider, s, msg)
    whatsapp = {"template_id": ref.name, "language_code": ref.language, "parameters": params}
    return {"template_message": {"channel_template": {"WHATSAPP": whatsapp}}}


def template_parameters(provider: str, s: SinchSettings, msg: FlowMessage) -> dict[str, str]:
    """The WhatsApp ``channel_template`` parameters of a template send."""
    assert msg.template is not None
    ref = msg.template
    params: dict[str, str] = {}
    for n, text in enumerate(ref.header_parameters, start=1):
        params[HEADER_TEXT_KEY.format(n=n)] = text
    media = ref.header_media
    if media is not None:
        if media.link is None:
            raise UnsupportedFeature(
                provider, "media_header", "Sinch takes a header media by link only: pass link="
            )
        params[MEDIA_KEY.format(kind=media.kind)] = media.link
        if media.filename is not None:
            params[FILENAME_KEY] = media.filename
    # Positional only: the adapter does not declare named parameters (Sinch documents none).
    body = ref.body_parameters if isinstance(ref.body_parameters, tuple) else ()
    for i, text in enumerate(body, start=1):
        params[s.template_body_key.format(n=i)] = text
    for button in ref.buttons:
        params[BUTTON_KEYS[button.kind].format(index=button.index)] = button.value
    token = msg.flow_token or meta_wire.DEFAULT_FLOW_TOKEN
    params[s.template_flow_token_key.format(index=ref.button_index)] = token
    if msg.data is not None:  # Sinch parameter values are strings
        data = json.dumps(msg.data, ensure_ascii=False, separators=(",", ":"))
        params[s.template_flow_data_key.format(index=ref.button_index)] = data
    return params


# -- Provisioning API webhooks -----------------------------------------------------------


def is_provisioning_event(doc: Mapping[str, Any]) -> bool:
    """A Provisioning API callback: ``{type, payload, comment?}`` (no Conversation keys)."""
    kind = doc.get("type")
    return (
        isinstance(kind, str)
        and isinstance(doc.get("payload"), dict)
        and "app_id" not in doc
        and "message" not in doc
    )


def provisioning_event(
    provider: str, sender: str | None, business_id: str | None, doc: dict[str, Any]
) -> InboundEvent:
    """A template trigger as :class:`TemplateStatusChanged`; anything else unhandled."""
    trigger = str(doc["type"])
    payload: dict[str, Any] = doc["payload"]
    known = TEMPLATE_TRIGGERS.get(trigger)
    if known is None:
        return UnhandledEvent(
            provider=provider,
            sender=sender,
            business_id=business_id,
            kind=f"provisioning:{trigger}",
            raw=doc,
        )
    change, fixed = known
    status = opt_str(payload.get("state")) or opt_str(payload.get("status"))
    category = opt_str(payload.get("category"))
    quality = payload.get("qualityScore")
    if isinstance(quality, dict):
        quality = quality.get("score")
    new = {"status": fixed or status, "category": category, "quality": opt_str(quality)}[change]
    details = {"trigger": trigger, **{k: v for k, v in doc.items() if k not in ("type", "payload")}}
    return TemplateStatusChanged(
        provider=provider,
        sender=sender,
        business_id=business_id,
        template_id=opt_str(payload.get("whatsappId")),
        name=opt_str(payload.get("name")),
        language=opt_str(payload.get("language")),
        change=change,
        new_status=new,
        reason=opt_str(payload.get("rejectionCode")) or opt_str(doc.get("comment")),
        category=category,
        details=details,
        timestamp=None,  # Sinch's payload documents no event time
        raw=doc,
    )
