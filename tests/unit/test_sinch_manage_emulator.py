"""The Sinch simulator's Provisioning API templates, request by request."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gateway.emulator.base import SimRequest
from gateway.emulator.sims.sinch import SinchSim
from gateway.http import HttpResponse
from providers import get_adapter
from providers.sinch import SinchAdapter

ACCOUNT = {
    "project_id": "proj-1",
    "app_id": "APP1",
    "key_id": "kid",
    "key_secret": "ksecret",
    "webhook_secret": "hook-secret",
}
BASE = "/v1/projects/proj-1/whatsapp/templates"
BASIC = "Basic " + base64.b64encode(b"kid:ksecret").decode()


@pytest.fixture
def sim() -> SinchSim:
    s = SinchSim(ACCOUNT, clock=lambda: 1_700_000_000.0)
    s.templates.add("book_visit", "en_US", "MARKETING", [{"type": "BODY", "text": "Hi"}])
    s.templates.add("book_visit", "pt_BR", "MARKETING", [{"type": "BODY", "text": "Oi"}])
    s.templates.add("otp_code", "en_US", "OTP", [], status="DRAFT")
    return s


def _call(
    sim: SinchSim, method: str, path: str, auth: str | None = BASIC, **query: str
) -> tuple[int, Any]:
    headers = {"authorization": auth} if auth else {}
    resp = sim.handle(SimRequest(method, path, query, headers, b"")).response
    return resp.status_code, json.loads(resp.content)


def test_list_pages_in_sinchs_shape(sim: SinchSim) -> None:
    status, first = _call(sim, "GET", BASE, pageSize="2")
    assert status == 200
    assert (first["totalSize"], first["pageSize"]) == (3, 2)
    assert first["templates"][0] == {
        "name": "book_visit",
        "language": "EN_US",
        "category": "MARKETING",
        "state": "APPROVED",
        "whatsappId": first["templates"][0]["whatsappId"],
        "details": {"components": [{"type": "BODY", "text": "Hi"}]},
    }
    _, second = _call(sim, "GET", BASE, pageSize="2", pageToken=first["nextPageToken"])
    assert [t["name"] for t in second["templates"]] == ["otp_code"]
    assert "nextPageToken" not in second


def test_list_filters_by_name_and_state(sim: SinchSim) -> None:
    _, named = _call(sim, "GET", BASE, templateName="otp_code")
    assert [t["name"] for t in named["templates"]] == ["otp_code"]
    _, drafts = _call(sim, "GET", BASE, filterStatuses="DRAFT")
    assert [t["state"] for t in drafts["templates"]] == ["DRAFT"]


def test_list_refuses_a_page_size_out_of_range(sim: SinchSim) -> None:
    status, body = _call(sim, "GET", BASE, pageSize="1001")
    assert status == 400
    assert body["errorCode"] == "INVALID_ARGUMENT"


def test_unauthenticated_requests_are_refused(sim: SinchSim) -> None:
    status, body = _call(sim, "GET", BASE, auth=None)
    assert status == 401
    assert set(body) == {"errorCode", "message", "resolution"}
    status, _ = _call(sim, "GET", BASE, auth="Bearer not-issued")
    assert status == 401


def test_get_by_name_answers_every_language(sim: SinchSim) -> None:
    status, body = _call(sim, "GET", f"{BASE}/book_visit")
    assert status == 200
    assert [t["language"] for t in body["templates"]] == ["EN_US", "PT_BR"]
    status, body = _call(sim, "GET", f"{BASE}/nope")
    assert status == 404
    assert body["errorCode"] == "NOT_FOUND"


def test_delete_one_language_needs_delete_submitted(sim: SinchSim) -> None:
    status, _ = _call(sim, "DELETE", f"{BASE}/book_visit/languages/PT_BR")
    assert status == 404  # only a draft goes without deleteSubmitted=true
    status, _ = _call(sim, "DELETE", f"{BASE}/book_visit/languages/PT_BR", deleteSubmitted="true")
    assert status == 200
    _, left = _call(sim, "GET", f"{BASE}/book_visit")
    assert [t["language"] for t in left["templates"]] == ["EN_US"]
    status, _ = _call(sim, "DELETE", f"{BASE}/otp_code/languages/EN_US")
    assert status == 200  # a draft goes without it


def test_delete_by_name_takes_every_language(sim: SinchSim) -> None:
    assert _call(sim, "DELETE", f"{BASE}/book_visit")[0] == 200
    assert _call(sim, "GET", f"{BASE}/book_visit")[0] == 404
    assert _call(sim, "DELETE", f"{BASE}/book_visit")[0] == 404


def test_another_project_is_not_found(sim: SinchSim) -> None:
    status, _ = _call(sim, "GET", "/v1/projects/other/whatsapp/templates")
    assert status == 404


def test_template_callbacks_reach_the_adapter_as_status_changes(sim: SinchSim) -> None:
    sim.templates.changes.clear()
    rejected = sim.templates.add("promo", "en_US", "MARKETING", [], status="PENDING")
    sim.templates.set_status(rejected["id"], "REJECTED")
    calls = sim.template_callbacks()
    assert sim.templates.changes == []
    adapter = get_adapter("sinch", base_url="http://x", **ACCOUNT)
    assert isinstance(adapter, SinchAdapter)
    adapter.clock = sim.clock
    [call] = calls
    adapter.verify_webhook(call.body, call.headers)  # signed as the Conversation API signs
    [event] = adapter.parse_webhook(call.body, call.headers)
    assert (type(event).__name__, event.new_status, event.name) == (  # type: ignore[union-attr]
        "TemplateStatusChanged",
        "REJECTED",
        "promo",
    )


def test_the_adapter_reads_the_simulators_answers(sim: SinchSim) -> None:
    from gateway.manage import TemplateList

    adapter = get_adapter("sinch", base_url="http://x", **ACCOUNT)
    status, body = _call(sim, "GET", BASE)
    page = adapter.parse_manage(TemplateList(), HttpResponse(status, {}, json.dumps(body).encode()))
    assert [(t.name, t.language, t.status) for t in page.items] == [
        ("book_visit", "EN_US", "APPROVED"),
        ("book_visit", "PT_BR", "APPROVED"),
        ("otp_code", "EN_US", "DRAFT"),
    ]
