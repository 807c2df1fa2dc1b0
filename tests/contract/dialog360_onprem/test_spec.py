"""360dialog On-Premise requests: there is no machine-readable specification (issue 16).

Meta's On-Premises API was sunset and is documented by an HTML reference only; no OpenAPI
or Postman collection of it was found (``../shared/realworld/openapi/SOURCES.md``: "Looked
for and not found"). So On-Premise bodies are checked by hand-written rules taken from
that reference and 360dialog's Flows page (``gateway/emulator/schemas.py``,
``OnPremMessage``), not by a spec extract: the spec check below skips, saying so, and
the hand rules are asserted instead, over the same full product of options as the Cloud
providers (those On-Premise can express).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway import FlowMessage
from gateway.emulator import Emulator
from gateway.emulator.specs import extract
from gateway.http import HttpRequest
from providers import get_adapter
from tests.contract.dialog360_onprem.kit import KIT
from tests.contract.meta_cloud import spec_copy as sc
from tests.contract.meta_cloud.test_spec import PEM

SETTINGS = {**KIT.settings, "namespace": KIT.settings.get("namespace") or "b1f0f7e1_ns"}
ADAPTER = get_adapter("dialog360_onprem", **SETTINGS)
SENDS = [
    *sc.interactive_messages(bsuid=False, flow_name=False, cta="Book now"),  # 20 at most
    *sc.template_messages(bsuid=False),
]
NO_SPEC = (
    "no machine-readable spec of Meta's On-Premises API exists (sunset; HTML reference only, "
    "see ../shared/realworld/openapi/SOURCES.md): On-Premise bodies are checked by hand "
    "rules from Meta's On-Premises reference (gateway/emulator/schemas.py OnPremMessage)"
)


def test_there_is_no_specification_so_hand_rules_check_it() -> None:
    """NO_SPEC: a fact recorded, not a test skipped. Were an extract ever written, this
    fails, and On-Premise bodies should then be validated against it like the others."""
    with pytest.raises(FileNotFoundError):
        extract("dialog360_onprem")


def _post(body: Any, emu: Emulator | None = None) -> int:
    emu = emu or Emulator({"dialog360_onprem": dict(SETTINGS)})
    req = KIT.wire_request("http://emu/dialog360_onprem", SETTINGS, body)
    return emu.respond(req).status_code


@pytest.mark.parametrize("msg", SENDS, ids=sc.ids(SENDS))
def test_every_send_passes_the_hand_rules(msg: FlowMessage) -> None:
    body = json.loads(ADAPTER.build_send(msg).content)
    assert "messaging_product" not in body  # On-Premise: none
    assert body["recipient_type"] == "individual"
    assert _post(body) == 200


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda b: b.update(to=sc.BSUID), "On-Premise predates business-scoped user ids"),
        (lambda b: b.update(messaging_product="whatsapp"), "a Cloud-only key"),
        (
            lambda b: b["interactive"]["action"]["parameters"].update(flow_cta="x" * 21),
            "Meta's On-Premises reference: flow_cta at most 20 characters",
        ),
        (
            lambda b: b["interactive"]["action"]["parameters"].update(flow_name="x"),
            "On-Premise sends Flows by flow_id only",
        ),
    ],
)
def test_the_hand_rules_refuse_what_on_premise_refused(change: Any, why: str) -> None:
    body = json.loads(ADAPTER.build_send(next(iter(SENDS))).content)
    change(body)
    assert _post(body) == 400, why


def test_the_key_upload_is_the_on_premise_one() -> None:
    """Meta's On-Premises reference: ``POST /v1/settings/business/whatsapp_business_encryption``
    with ``{"public_key": …}`` (a hand rule: no spec)."""
    req = ADAPTER.build_register_public_key(PEM)
    assert json.loads(req.content) == {"public_key": PEM}
    emu = Emulator({"dialog360_onprem": dict(SETTINGS)})
    url = req.url.replace("https://waba.360dialog.io", "http://emu/dialog360_onprem")
    assert emu.respond(HttpRequest("POST", url, req.headers, None, req.content)).status_code == 200
    assert emu.sims["dialog360_onprem"].public_key == PEM
    cloud = json.dumps({"business_public_key": PEM}).encode()
    assert emu.respond(HttpRequest("POST", url, req.headers, None, cloud)).status_code == 400
