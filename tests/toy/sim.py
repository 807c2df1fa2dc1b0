"""The toy provider's emulator stand-in (see adapter.py for its made-up API).

Like every simulator it imports nothing from ``providers``: it checks requests against
its own schema, answers and fails the way the toy's API does, and posts signed callbacks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from gateway.emulator.base import (
    Fault,
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
from gateway.emulator.schemas import Action, Body, Cta, NonEmpty, Short, Strict
from gateway.http import HttpResponse

WINDOW_TEXT = "More than 24 hours have passed since the user last wrote."


class ToyFlow(Strict):
    id: NonEmpty
    cta: Cta
    token: NonEmpty
    action: Action
    text: Body
    title: Short | None = None
    note: Short | None = None
    screen: NonEmpty | None = None
    data: dict[str, Any] | None = None


class ToyTemplate(Strict):
    name: NonEmpty
    language: NonEmpty
    params: list[str] | dict[str, str] | None = None
    button: int = 0
    flow_token: NonEmpty
    flow_data: dict[str, Any] | None = None


class ToySend(Strict):
    to: Annotated[str, Field(pattern=r"^[0-9]{6,15}$")]
    flow: ToyFlow | None = None
    template: ToyTemplate | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.flow is None) == (self.template is None):
            raise ValueError("exactly one of flow or template")
        return self


def problem(status: int, code: str, text: str, **headers: str) -> HttpResponse:
    return json_response(status, {"problem": {"code": code, "text": text}}, headers)


class ToySim(Sim):
    name = "toy"
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "webhook", "200 + ref, then one failed status event WINDOW_CLOSED", "tests/toy",
            "confirmed", ("response", "400 WINDOW_CLOSED"),
        ),
        "rate_limit": FailureSite("response", "429 THROTTLED", "tests/toy", "confirmed"),
        "server_error": FailureSite("response", "503 UNAVAILABLE", "tests/toy", "confirmed"),
    }  # fmt: skip

    def handle(self, req: SimRequest) -> Reply:
        if req.headers.get("x-toy-api-key") != self.secret("api_key"):
            return Reply(problem(401, "BAD_KEY", "unknown API key"))
        if (req.method, req.path) != ("POST", f"/v1/accounts/{self.secret('account_id')}/flows"):
            return Reply(problem(404, "BAD_REQUEST", f"no {req.path}"))
        fault = self.take_fault()
        return self.apply_transport_fault(fault, lambda: Reply(self._send(req.body, fault)))

    def _send(self, raw: bytes, fault: Fault | None) -> HttpResponse:
        checked = parse(ToySend, raw)
        if isinstance(checked, Invalid):
            return problem(400, "BAD_REQUEST", str(checked))
        if self.fails_now(fault):
            return problem(400, "WINDOW_CLOSED", WINDOW_TEXT)
        body = json.loads(raw)
        kind: Literal["interactive", "template"] = (
            "template" if "template" in body else "interactive"
        )
        token = body["template"]["flow_token"] if "template" in body else body["flow"]["token"]
        ref = self.next_id("toy-")
        self.sent[ref] = Sent(
            self.name, ref, body["to"], kind, token, body,
            window_closed=self.fails_later(fault), user=self.user_for(body["to"]),
        )  # fmt: skip
        return json_response(200, {"accepted": True, "ref": ref})

    def rate_limited(self, retry_after: int) -> HttpResponse:
        return problem(429, "THROTTLED", "slow down", **{"retry-after": str(retry_after)})

    def server_error(self) -> HttpResponse:
        return problem(503, "UNAVAILABLE", "try again later")

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        who = {"number": sent.user.phone if sent.user else sent.to, "at": int(self.clock())}
        if sent.window_closed:  # the one and only outcome of that message
            failed = {"code": "WINDOW_CLOSED", "text": WINDOW_TEXT}
            return [self._call(kind="status", ref=sent.message_id, state="failed", **who,
                               problem=failed)]  # fmt: skip
        calls = [self._call(kind="status", ref=sent.message_id, state=s, **who) for s in statuses]
        if answers is not None:
            reply = {"flow_token": sent.flow_token, **answers}
            calls.append(self._call(kind="flow_reply", id=self.next_id("toy-in-"),
                                    reply_to=sent.message_id, answers=reply, **who))  # fmt: skip
        return calls

    def _call(self, **event: Any) -> WebhookCall:
        raw = json.dumps({"account": self.secret("account_id"), "events": [event]}).encode()
        digest = hmac.new(self.secret("webhook_secret").encode(), raw, hashlib.sha256)
        headers = {"content-type": "application/json", "x-toy-signature": digest.hexdigest()}
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)
