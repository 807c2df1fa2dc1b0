"""Meta's wire format, shared by every provider that speaks it.

Meta Cloud API, 360dialog Cloud (the same payloads on another host) and 360dialog
On-Premise (the same objects without ``messaging_product``) all build and read these
shapes. Pure functions only: the adapters add host, path and auth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from gateway.errors import ProviderError, UnsupportedFeature, class_for_status
from gateway.events import SendReceipt, SendStatus, TemplateReceipt
from gateway.http import HttpResponse
from gateway.identity import UserRef, addressed, recipient_kind, user_ref
from gateway.model import FlowMessage, FlowTemplate
from providers.base import Adapter, loads, opt_str
from providers.meta_codes import Classifier, code_in_text, graph_class, int_or_raw

DEFAULT_FLOW_TOKEN = "unused"  # noqa: S105 - Meta's documented default, not a secret
PUBLIC_KEY_CONTENT_TYPE = "application/x-www-form-urlencoded"

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


# TemplateButton.kind → Meta's button ``sub_type`` and the parameter it takes (Meta's
# template-messages reference: quick_reply {payload}, url {text: the URL's dynamic suffix};
# coupon code templates page: copy_code {coupon_code}).
BUTTON_PARAMETERS: Mapping[str, tuple[str, str]] = {
    "quick_reply": ("quick_reply", "payload"),
    "url": ("url", "text"),
    "copy_code": ("copy_code", "coupon_code"),
}


def template_components(msg: FlowMessage) -> list[dict[str, Any]]:
    """``template.components``: header, body, the other buttons, then the FLOW button.

    Meta's template-messages reference: a header takes text parameters or one media
    parameter (image/video/document by ``link`` or ``id``, a document's ``filename``);
    named body parameters carry ``parameter_name`` ("Named parameters" in Meta's template
    fundamentals); buttons are addressed by ``index``, in any order.
    """
    assert msg.template is not None
    t = msg.template
    components: list[dict[str, Any]] = []
    if t.header_parameters:
        params = [{"type": "text", "text": p} for p in t.header_parameters]
        components.append({"type": "header", "parameters": params})
    elif t.header_media is not None:
        m = t.header_media
        media: dict[str, Any] = {"link": m.link} if m.link is not None else {"id": m.id}
        if m.filename is not None:
            media["filename"] = m.filename
        components.append({"type": "header", "parameters": [{"type": m.kind, m.kind: media}]})
    if isinstance(t.body_parameters, dict):
        named = [
            {"type": "text", "parameter_name": k, "text": v} for k, v in t.body_parameters.items()
        ]
        components.append({"type": "body", "parameters": named})
    elif t.body_parameters:
        positional = [{"type": "text", "text": p} for p in t.body_parameters]
        components.append({"type": "body", "parameters": positional})
    for b in sorted(t.buttons, key=lambda b: b.index):
        sub_type, key = BUTTON_PARAMETERS[b.kind]
        components.append(
            {
                "type": "button",
                "sub_type": sub_type,
                "index": str(b.index),
                "parameters": [{"type": key, key: b.value}],
            }
        )
    action: dict[str, Any] = {"flow_token": msg.flow_token or DEFAULT_FLOW_TOKEN}
    if msg.data is not None:
        action["flow_action_data"] = msg.data
    components.append(
        {
            "type": "button",
            "sub_type": "flow",
            "index": str(t.button_index),
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
    provider: str = "",
) -> dict[str, Any]:
    """A complete ``/messages`` body for an interactive Flow or a FLOW-button template.

    On-Premise omits ``messaging_product`` and needs ``namespace`` and a deterministic
    language policy on templates; it has no copy-code buttons (Meta documents coupon code
    templates for the Cloud API only), refused in ``provider``'s name.
    """
    body: dict[str, Any] = {"messaging_product": "whatsapp"} if messaging_product else {}
    body["recipient_type"] = "individual"
    # A BSUID goes in ``recipient``, never in ``to`` (Meta: "to" wins when both are set).
    body["to" if msg.recipient_kind == "phone" else "recipient"] = msg.to
    if msg.template is None:
        body["type"] = "interactive"
        body["interactive"] = interactive_flow(
            msg, interactive_type=interactive_type, action_name=action_name
        )
        return body
    language: dict[str, str] = {"code": msg.template.language}
    template: dict[str, Any] = {"name": msg.template.name}
    if not messaging_product and any(b.kind == "copy_code" for b in msg.template.buttons):
        raise UnsupportedFeature(
            provider or "on_premise", "template_buttons",
            "copy_code buttons are Cloud API only (Meta's coupon code templates page)",
        )  # fmt: skip
    if namespace is not None:
        template["namespace"] = namespace
        language = {"policy": "deterministic", **language}
    template["language"] = language
    template["components"] = template_components(msg)
    body["type"] = "template"
    body["template"] = template
    return body


def public_key_form(public_key_pem: str) -> bytes:
    """The Cloud API's key upload: ``business_public_key``, form-encoded.

    Meta's OpenAPI v23.0 (WhatsAppBusinessEncryptionUploadRequest) names the field and
    declares multipart/form-data; Meta's reference sends x-www-form-urlencoded in its
    sample request ("In Postman … select x-www-form-urlencoded"), which we keep: both are
    documented, and this one is the smaller. Send with :data:`PUBLIC_KEY_CONTENT_TYPE`.
    """
    return urlencode({"business_public_key": public_key_pem}).encode()


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
    (360dialog's own gateway, which may carry Meta's error as JSON text); anything else
    is classified by HTTP status.
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
        return _wrapped_failure(provider, resp, meta, classify)
    if isinstance(err, str) and err:
        return _text_failure(provider, resp, err, classify)
    return http_error(provider, resp)


def _wrapped_failure(
    provider: str, resp: HttpResponse, meta: Mapping[str, Any], classify: Classifier
) -> ProviderError:
    """360dialog's ``meta`` wrapper: Meta's own error in ``error`` (JSON text) or quoted
    in ``developer_message`` ("Invalid payload ({"error": {...}})")."""
    # older 360dialog answers spell it developerMessage
    message = opt_str(meta.get("developer_message") or meta.get("developerMessage"))
    message = message or resp.text()
    for text in (meta.get("error"), message):
        inner = embedded_graph_error(text)
        if inner is not None:
            return graph_error(provider, resp, inner, classify)
    return _text_failure(provider, resp, message, classify)


def _text_failure(
    provider: str, resp: HttpResponse, text: str, classify: Classifier
) -> ProviderError:
    code = code_in_text(text)
    cls = (classify(code) if code is not None else None) or class_for_status(resp.status_code)
    return _error(cls, provider, resp, text, code)


def embedded_graph_error(value: Any) -> dict[str, Any] | None:
    """Meta's ``{"error": {...}}`` object carried as a dict or inside a text, or None."""
    if isinstance(value, dict):
        inner = value.get("error", value)
        return inner if isinstance(inner, dict) and "code" in inner else None
    if not isinstance(value, str) or "{" not in value:
        return None
    try:
        decoded = loads(value[value.index("{") : value.rindex("}") + 1])
    except ValueError:
        return None
    return embedded_graph_error(decoded) if isinstance(decoded, dict) else None


# -- send / template responses ---------------------------------------------------------


def parse_send_success(adapter: Adapter, resp: HttpResponse) -> SendReceipt:
    """``{contacts[].wa_id|user_id, messages[].id, messages[].message_status}`` → receipt."""
    provider = adapter.name
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
    contact = contacts[0] if isinstance(contacts, list) and contacts else None
    raw_status = first.get("message_status")
    status: SendStatus = (
        "held_for_quality_assessment" if raw_status == "held_for_quality_assessment" else "accepted"
    )
    return adapter.receipt(message_id, status, body, user=send_contact(contact))


def send_contact(contact: Any) -> UserRef:
    """The recipient a send response resolved: ``wa_id`` (phone sends) or ``user_id``
    (BSUID sends); ``input`` echoes what was sent (the On-Premise docs spell it ``Input``)."""
    if not isinstance(contact, dict):
        return UserRef()
    given = opt_str(contact.get("input") or contact.get("Input"))
    user_id, parent = contact.get("user_id"), contact.get("parent_user_id")
    if isinstance(user_id, str) and recipient_kind(user_id) == "parent_user_id":
        user_id, parent = None, parent or user_id  # a parent send echoes the parent id
    user = user_ref(contact.get("wa_id"), user_id, parent)
    if given is None or user:
        return user
    return addressed(given)


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
