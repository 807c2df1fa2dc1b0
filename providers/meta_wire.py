"""Meta's wire format, shared by every provider that speaks it.

Meta Cloud API, 360dialog Cloud (the same payloads on another host) and 360dialog
On-Premise (the same objects without ``messaging_product``) all build and read these
shapes. Pure functions only: the adapters add host, path and auth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import (
    AuthenticationError,
    FlowUnavailable,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QualityLimited,
    RateLimited,
    RecipientUnreachable,
    ServiceWindowClosed,
    TemplateError,
    class_for_status,
)
from gateway.events import SendReceipt, SendStatus, TemplateReceipt
from gateway.http import HttpResponse
from gateway.model import FlowMessage, FlowTemplate
from providers.base import opt_str

DEFAULT_FLOW_TOKEN = "unused"  # noqa: S105 - Meta's documented default, not a secret

# -- outbound --------------------------------------------------------------------------


def flow_parameters(msg: FlowMessage) -> dict[str, Any]:
    """``interactive.action.parameters`` of a Flow message."""
    params: dict[str, Any] = {"flow_message_version": "3"}
    if msg.flow_id is not None:
        params["flow_id"] = msg.flow_id
    else:
        params["flow_name"] = msg.flow_name
    params["flow_cta"] = msg.flow_cta
    params["mode"] = msg.mode
    params["flow_token"] = msg.flow_token or DEFAULT_FLOW_TOKEN
    params["flow_action"] = msg.flow_action
    payload = flow_action_payload(msg)
    if payload is not None:
        params["flow_action_payload"] = payload
    return params


def flow_action_payload(msg: FlowMessage) -> dict[str, Any] | None:
    """``{screen, data?}`` for navigate; None for data_exchange (the payload is omitted)."""
    if msg.flow_action != "navigate":
        return None
    payload: dict[str, Any] = {"screen": msg.screen}
    if msg.data is not None:
        payload["data"] = msg.data
    return payload


def interactive_flow(
    msg: FlowMessage, *, interactive_type: str = "flow", action_name: str = "flow"
) -> dict[str, Any]:
    """The ``interactive`` object of a Flow message."""
    obj: dict[str, Any] = {"type": interactive_type}
    if msg.header is not None:
        obj["header"] = {"type": "text", "text": msg.header}
    obj["body"] = {"text": msg.body}
    if msg.footer is not None:
        obj["footer"] = {"text": msg.footer}
    obj["action"] = {"name": action_name, "parameters": flow_parameters(msg)}
    return obj


def template_components(msg: FlowMessage) -> list[dict[str, Any]]:
    """``template.components``: body parameters, then the FLOW button's action."""
    assert msg.template is not None
    components: list[dict[str, Any]] = []
    if msg.template.body_parameters:
        components.append(
            {
                "type": "body",
                "parameters": [{"type": "text", "text": p} for p in msg.template.body_parameters],
            }
        )
    action: dict[str, Any] = {"flow_token": msg.flow_token or DEFAULT_FLOW_TOKEN}
    if msg.data is not None:
        action["flow_action_data"] = msg.data
    components.append(
        {
            "type": "button",
            "sub_type": "flow",
            "index": str(msg.template.button_index),
            "parameters": [{"type": "action", "action": action}],
        }
    )
    return components


def message_body(
    msg: FlowMessage,
    *,
    messaging_product: bool = True,
    interactive_type: str = "flow",
    action_name: str = "flow",
    namespace: str | None = None,
) -> dict[str, Any]:
    """A complete ``/messages`` body for an interactive Flow or a FLOW-button template.

    On-Premise omits ``messaging_product`` and needs ``namespace`` and a deterministic
    language policy on templates.
    """
    body: dict[str, Any] = {"messaging_product": "whatsapp"} if messaging_product else {}
    body["recipient_type"] = "individual"
    body["to"] = msg.to
    if msg.template is None:
        body["type"] = "interactive"
        body["interactive"] = interactive_flow(
            msg, interactive_type=interactive_type, action_name=action_name
        )
        return body
    language: dict[str, str] = {"code": msg.template.language}
    template: dict[str, Any] = {"name": msg.template.name}
    if namespace is not None:
        template["namespace"] = namespace
        language = {"policy": "deterministic", **language}
    template["language"] = language
    template["components"] = template_components(msg)
    body["type"] = "template"
    body["template"] = template
    return body


def template_create_body(tpl: FlowTemplate) -> dict[str, Any]:
    """``message_templates`` body: text components and one FLOW button."""
    components: list[dict[str, Any]] = []
    if tpl.header is not None:
        components.append({"type": "header", "format": "TEXT", "text": tpl.header})
    body: dict[str, Any] = {"type": "body", "text": tpl.body}
    if tpl.body_examples:
        body["example"] = {"body_text": [list(tpl.body_examples)]}
    components.append(body)
    if tpl.footer is not None:
        components.append({"type": "footer", "text": tpl.footer})
    button: dict[str, Any] = {"type": "FLOW", "text": tpl.button_text}
    for key in ("flow_id", "flow_name", "flow_json"):
        value = getattr(tpl, key)
        if value is not None:
            button[key] = value
    button["flow_action"] = tpl.flow_action
    if tpl.navigate_screen is not None:
        button["navigate_screen"] = tpl.navigate_screen
    components.append({"type": "BUTTONS", "buttons": [button]})
    return {
        "name": tpl.name,
        "language": tpl.language,
        "category": tpl.category,
        "components": components,
    }


# -- errors ----------------------------------------------------------------------------

Classifier = Callable[[Any], "type[ProviderError] | None"]
"""Provider code → error class (None when the code is unknown)."""

# Meta's error codes (reference/providers.md §1.6) → class. Ranges follow below.
GRAPH_CODES: Mapping[int, type[ProviderError]] = {
    0: AuthenticationError,
    1: ProviderUnavailable,
    2: ProviderUnavailable,
    3: PermissionDenied,
    4: RateLimited,
    10: PermissionDenied,
    100: InvalidRequest,
    190: AuthenticationError,
    368: PermissionDenied,
    80007: RateLimited,
    130429: RateLimited,
    130472: RecipientUnreachable,
    130497: PermissionDenied,
    131000: ProviderUnavailable,
    131005: PermissionDenied,
    131008: InvalidRequest,
    131009: InvalidRequest,
    131016: ProviderUnavailable,
    131021: InvalidRequest,
    131026: RecipientUnreachable,
    131031: PermissionDenied,
    131042: PermissionDenied,
    131045: PermissionDenied,
    131047: ServiceWindowClosed,
    131048: QualityLimited,
    131049: QualityLimited,
    131050: RecipientUnreachable,
    131051: InvalidRequest,
    131052: InvalidRequest,
    131053: InvalidRequest,
    131056: RateLimited,
    131057: ProviderUnavailable,
    132068: FlowUnavailable,
    132069: FlowUnavailable,
    133010: PermissionDenied,
    133016: RateLimited,
    135000: InvalidRequest,
}


def code_table(
    codes: Mapping[int, type[ProviderError]],
    ranges: tuple[tuple[int, int, type[ProviderError]], ...] = (),
    fallback: Classifier | None = None,
) -> Classifier:
    """A classifier: exact codes first, then inclusive ranges, then ``fallback``."""

    def classify(code: Any) -> type[ProviderError] | None:
        try:
            n = int(code)
        except (TypeError, ValueError):
            return None
        cls = codes.get(n)
        if cls is not None:
            return cls
        for low, high, ranged in ranges:
            if low <= n <= high:
                return ranged
        return fallback(n) if fallback is not None else None

    return classify


graph_class: Classifier = code_table(
    GRAPH_CODES, ((200, 299, PermissionDenied), (132000, 132999, TemplateError))
)
"""The error class for a Meta/Graph error code, or None if unknown."""


def int_or_raw(code: Any) -> int | str | None:
    if code is None or isinstance(code, bool):
        return None
    try:
        return int(code)
    except (TypeError, ValueError):
        return str(code)


_CODE_IN_TEXT = re.compile(r"\(#(\d+)\)|\b(13[0-3]\d{3})\b")


def code_in_text(text: str) -> int | None:
    """A Meta code quoted in free text: ``(#131047) …`` or a bare 13xxxx number."""
    m = _CODE_IN_TEXT.search(text)
    return int(m.group(1) or m.group(2)) if m else None


def graph_error(
    provider: str,
    resp: HttpResponse,
    err: Mapping[str, Any],
    classify: Classifier = graph_class,
) -> ProviderError:
    """A typed error from a Graph ``{"error": {...}}`` object."""
    message = opt_str(err.get("message")) or "unknown error"
    code = int_or_raw(err.get("code"))
    if code is None:
        code = code_in_text(message)
    cls = classify(code) or class_for_status(resp.status_code)
    data = err.get("error_data")
    details = opt_str(data.get("details")) if isinstance(data, dict) else None
    if details and details not in message:
        message = f"{message} ({details})"
    user_msg = opt_str(err.get("error_user_msg"))
    if user_msg and user_msg not in message:
        message = f"{message}: {user_msg}"
    retryable = True if err.get("is_transient") is True else None
    return _error(cls, provider, resp, message, code, retryable)


def http_error(provider: str, resp: HttpResponse, message: str | None = None) -> ProviderError:
    """A typed error decided by the HTTP status alone (non-JSON or unknown bodies)."""
    cls = class_for_status(resp.status_code)
    return _error(cls, provider, resp, message or (resp.text() or "empty response body"), None)


def _error(
    cls: type[ProviderError],
    provider: str,
    resp: HttpResponse,
    message: str,
    code: int | str | None,
    retryable: bool | None = None,
) -> ProviderError:
    return cls(
        message,
        provider=provider,
        status_code=resp.status_code,
        code=code,
        retryable=retryable,
        retry_after=resp.retry_after(),
        raw=_body_or_text(resp),
    )


def _body_or_text(resp: HttpResponse) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.content.decode("utf-8", "replace")


def parse_failure(
    provider: str, resp: HttpResponse, classify: Classifier = graph_class
) -> ProviderError:
    """A failed response in any error shape the Meta-speaking providers use.

    ``{"error": {...}}`` (Graph, also nested under ``response``), ``{"errors": [...]}``
    (On-Premise), ``{"meta": {"success": false, ...}}`` and ``{"error": "text"}``
    (360dialog's own gateway); anything else is classified by HTTP status.
    """
    try:
        body = resp.json()
    except ValueError:
        return http_error(provider, resp)
    if not isinstance(body, dict):
        return http_error(provider, resp)
    if isinstance(body.get("response"), dict) and "error" in body["response"]:
        body = body["response"]
    err = body.get("error")
    if isinstance(err, dict):
        return graph_error(provider, resp, err, classify)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = int_or_raw(first.get("code"))
        cls = classify(code) or class_for_status(resp.status_code)
        parts = [opt_str(first.get("title")), opt_str(first.get("details"))]
        return _error(cls, provider, resp, ": ".join(p for p in parts if p) or "error", code)
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("success") is False:
        message = opt_str(meta.get("developer_message")) or resp.text()
        return http_error(provider, resp, message)
    if isinstance(err, str) and err:
        return http_error(provider, resp, err)
    return http_error(provider, resp)


# -- send / template responses ---------------------------------------------------------

_SEND_STATUSES: frozenset[str] = frozenset({"accepted", "held_for_quality_assessment"})


def parse_send_success(provider: str, resp: HttpResponse) -> SendReceipt:
    """``{contacts[].wa_id, messages[].id, messages[].message_status}`` → receipt."""
    try:
        body = resp.json()
    except ValueError:
        raise ProviderError(
            f"success response is not JSON: {resp.text()!r}",
            provider=provider,
            status_code=resp.status_code,
            raw=resp.content.decode("utf-8", "replace"),
        ) from None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        raise graph_error(provider, resp, body["error"])
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    message_id = opt_str(first.get("id")) if isinstance(first, dict) else None
    if message_id is None:
        raise ProviderError(
            "success response has no messages[0].id",
            provider=provider,
            status_code=resp.status_code,
            raw=body,
        )
    assert isinstance(first, dict)
    contacts = body.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts else {}
    recipient = None
    if isinstance(contact, dict):
        recipient = opt_str(contact.get("wa_id")) or opt_str(
            contact.get("input") or contact.get("Input")
        )
    raw_status = first.get("message_status")
    status: SendStatus = (
        "held_for_quality_assessment" if raw_status == "held_for_quality_assessment" else "accepted"
    )
    return SendReceipt(
        provider=provider, message_id=message_id, recipient=recipient, status=status, raw=body
    )


def parse_public_key_success(provider: str, resp: HttpResponse) -> bool:
    """``{"success": true}`` when the business public key was stored."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("success") is True:
        return True
    raise ProviderError(
        f"the public key was not accepted: {resp.text()!r}",
        provider=provider,
        status_code=resp.status_code,
        raw=body,
    )


def parse_template_success(provider: str, resp: HttpResponse, tpl: FlowTemplate) -> TemplateReceipt:
    try:
        body = resp.json()
    except ValueError:
        body = resp.content.decode("utf-8", "replace")
    doc = body if isinstance(body, dict) else {}
    return TemplateReceipt(
        provider=provider,
        template_id=opt_str(doc.get("id")),
        name=opt_str(doc.get("name")) or tpl.name,
        status=opt_str(doc.get("status")),
        category=opt_str(doc.get("category")),
        raw=body,
    )
