"""Simulated 1msg.io: ``/{instance}/{method}?token=…``, HTTP 200 with ``sent:false`` on
failure, acks and messages posted to a webhook URL carrying its own token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import BaseModel

from gateway.emulator.base import (
    Invalid,
    Reply,
    Sent,
    Sim,
    SimRequest,
    WebhookCall,
    json_response,
    parse,
)
from gateway.emulator.failures import FailureSite
from gateway.emulator.schemas import OneMsgSendFlow, OneMsgSendTemplate, TemplateCreate
from gateway.http import HttpResponse

_ACK = {"sent": "sent", "delivered": "delivered", "read": "viewed"}
_WINDOW_TEXT = (
    "Re-engagement message: Message failed to send because more than 24 hours have passed "
    "since the customer last replied to this number."
)


def _chat(sent: Sent) -> str:
    """``<digits>@c.us`` while the phone is visible, else ``<BSUID>@lid``."""
    user = sent.user
    if user is None:
        return f"{sent.to.split('@')[0].lstrip('+')}@c.us"
    if user.phone and user.phone_visible(sent.to_phone):
        return f"{user.phone}@c.us"
    return f"{user.user_id}@lid"


class OneMsgSim(Sim):
    """1msg.io: ``/{instance}/{method}?token=…``, HTTP 200 with ``sent:false`` on failure."""

    name = "onemsg"
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "response",
            '400 `{"message": "Dialog window is closed"}` (1msg checks the window itself)',
            "1msg's own client (github.com/1msg/1msg-n8n-nodes utils/errors.ts, "
            "test/waba.test.js: 400 'Dialog window is closed'); 1msg OpenAPI: sendFlow "
            "'Only if the dialogue has an Open Session'",
            "likely",
            (
                "webhook",
                '200 `sent: true` + id, then one `ack` with status "failed" and an `error` '
                'text "Re-engagement message: …" (should Meta refuse it later; realworld '
                "onemsg/wh_ack_failed_experiment_ebor94.json shows failed acks carry Meta's "
                "words)",
            ),
        ),
        "rate_limit": FailureSite(
            "response",
            '429 `{"error"}` + `Retry-After`',
            "reference/providers.md §5.5",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            '500 `{"error"}`',
            "reference/providers.md §5.2, §5.5 (500 `ErrorResponse`)",
            "confirmed",
        ),
    }

    def handle(self, req: SimRequest) -> Reply:
        method, path, query, body = req.method, req.path, req.query, req.body
        parts = path.strip("/").split("/")
        if method != "POST" or len(parts) != 2 or parts[0] != self.secret("instance_id"):
            return Reply(json_response(404, {"error": "Instance not found"}))
        if query.get("token") != self.secret("token"):
            return Reply(
                json_response(
                    401, {"error": "Wrong token. Please provide token as a GET parameter."}
                )
            )
        schema: dict[str, type[BaseModel]] = {
            "sendFlow": OneMsgSendFlow,
            "sendTemplate": OneMsgSendTemplate,
            "addTemplate": TemplateCreate,
        }
        model = schema.get(parts[1])
        if model is None:
            return Reply(json_response(404, {"error": f"Unknown method {parts[1]}"}))
        fault = self.take_fault()

        def answer() -> Reply:
            checked = parse(model, body)
            if isinstance(checked, Invalid):
                return Reply(json_response(400, {"error": f"Validation failed: {checked}"}))
            if isinstance(checked, TemplateCreate):
                tpl = {"id": "1msg-tpl-1", "status": "PENDING", "category": checked.category}
                return Reply(json_response(200, tpl))
            if self.fails_now(fault):
                # 1msg checks the window itself; its own client expects these words
                return Reply(json_response(400, {"message": "Dialog window is closed"}))
            return Reply(self._sent(json.loads(body), parts[1], self.fails_later(fault)))

        return self.apply_transport_fault(fault, answer)

    def _sent(self, body: dict[str, Any], method: str, closed: bool) -> HttpResponse:
        to = str(body.get("phone") or body.get("chatId") or body.get("bsuid"))
        kind: Literal["interactive", "template"]
        if method == "sendFlow":
            kind, token = "interactive", body.get("flowToken")
        else:
            kind = "template"
            token = next(
                (
                    p["action"].get("flow_token")
                    for c in body.get("params", [])
                    for p in c.get("parameters", [])
                    if p.get("type") == "action"
                ),
                None,
            )
        message_id = self.next_id("gBGGemu")
        self.sent[message_id] = Sent(
            self.name, message_id, to, kind, token, body,
            window_closed=closed, user=self.user_for(to),
        )  # fmt: skip
        return json_response(
            200,
            {
                "sent": True,
                "id": message_id,
                "message": f"Sent to {to}",
                "description": "Message has been sent to the provider",
            },
        )

    def rate_limited(self, retry_after: int) -> HttpResponse:
        return json_response(429, {"error": "Too many requests"}, {"retry-after": str(retry_after)})

    def server_error(self) -> HttpResponse:
        return json_response(500, {"error": "Internal server error"})

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        chat, instance = _chat(sent), self.secret("instance_id")
        who = {"chatId": chat}
        if sent.user is not None:  # as 1msg's own acks carry it
            who["bsuid"] = sent.user.user_id
        if sent.window_closed:  # the one and only outcome of that message
            failed: dict[str, Any] = {"id": sent.message_id, "status": "failed"}
            failed["error"] = _WINDOW_TEXT
            if sent.user and sent.user.phone and sent.user.phone_visible(sent.to_phone):
                failed["phone"] = sent.user.phone
            return self._calls([{"instanceId": instance, "ack": [failed | who]}])
        docs: list[dict[str, Any]] = [
            {
                "instanceId": instance,
                "ack": [{"id": sent.message_id, **who, "status": _ACK[s]}],
            }
            for s in statuses
        ]
        if answers is not None:
            response = (
                {"flow_token": sent.flow_token, **answers} if sent.flow_token else dict(answers)
            )
            message: dict[str, Any] = {
                "id": self.next_id("gBGGemuIN"),
                "body": json.dumps(response),
                "fromMe": False,
                "self": 0,
                "isForwarded": False,
                "author": chat,
                "time": int(self.clock()),
                "chatId": chat,
                "type": "interactive",
                "senderName": sent.user.name if sent.user else "Emulated User",
                "caption": None,
                "quotedMsgId": sent.message_id,
            }
            if sent.user is not None:  # as in 1msg's captured inbound messages
                message["authorBsuid"] = sent.user.user_id
            docs.append({"instanceId": instance, "messages": [message]})
        return self._calls(docs)

    def _calls(self, docs: list[dict[str, Any]]) -> list[WebhookCall]:
        url = self.webhook_url or ""
        token = self.secret("webhook_token")
        if token:  # 1msg cannot sign: the secret rides in the webhook URL
            url += ("&" if "?" in url else "?") + urlencode({"token": token})
        return [
            WebhookCall(
                self.name, url, json.dumps(doc).encode(), {"content-type": "application/json"}
            )
            for doc in docs
        ]


SIMULATOR = OneMsgSim
