"""Template sends with every component Meta allows beside the FLOW button (issue 17).

The outbound fixtures ``template_send_rich_*`` of the Meta-shaped providers are posted
to the in-process emulator, which checks them against Meta's v23.0 spec extract (Cloud,
360dialog Cloud) or the On-Premise hand rules: every documented body is accepted. What
On-Premise never had (named parameters, copy-code buttons) is refused before any request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway import FlowMessage, TemplateRef
from gateway.emulator import Emulator
from gateway.errors import UnsupportedFeature
from gateway.http import HttpRequest
from gateway.model import TemplateButton
from providers import get_adapter
from tests.conftest import PROVIDERS

META_SHAPED = ("meta_cloud", "dialog360_cloud", "dialog360_onprem")
CONTRACT = Path(__file__).parents[1]
RICH = [
    pytest.param(p, f, id=f"{p}-{f.stem}")
    for p in META_SHAPED
    for f in sorted((CONTRACT / p / "outbound").glob("template_send_rich_*.json"))
]


def _emulator() -> Emulator:
    return Emulator({p: PROVIDERS[p] for p in META_SHAPED})


@pytest.mark.parametrize(("provider", "path"), RICH)
def test_the_emulator_accepts_the_documented_body(provider: str, path: Path) -> None:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    adapter = get_adapter(provider, **{**PROVIDERS[provider], "base_url": f"http://emu/{provider}"})
    req = adapter.build_send(FlowMessage.model_validate(case["input"]))
    assert json.loads(req.content) == case["expected_body"]
    resp = _emulator().respond(HttpRequest(req.method, req.url, req.headers, None, req.content))
    assert resp.status_code == 200, resp.content


@pytest.mark.parametrize(
    "template",
    [
        TemplateRef(name="t", language="en_US", body_parameters={"first_name": "Ana"}),
        TemplateRef(
            name="t",
            language="en_US",
            buttons=(TemplateButton(index=1, kind="copy_code", value="SAVE10"),),
        ),
    ],
    ids=["named", "copy_code"],
)
def test_on_premise_refuses_what_it_never_had(template: TemplateRef) -> None:
    adapter = get_adapter("dialog360_onprem", **PROVIDERS["dialog360_onprem"])
    with pytest.raises(UnsupportedFeature):
        adapter.build_send(FlowMessage(to="+5511987654321", template=template))
