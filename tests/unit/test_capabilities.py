"""Capabilities tell the truth: what an adapter declares works, and what works is declared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.errors import UnsupportedFeature
from gateway.manage import FlowList, ManageOp, TemplateList
from gateway.model import FlowMessage, FlowTemplate, TemplateButton, TemplateMedia, TemplateRef
from providers import adapter_names, capability_matrix_markdown, get_adapter
from providers.base import CAPABILITIES, Adapter
from tests.conftest import PROVIDERS

README = Path(__file__).resolve().parents[2] / "README.md"
PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n"


def _send(**fields: object) -> Callable[[Adapter], object]:
    base: dict[str, object] = {"to": "+16505551234", "flow_cta": "Go", "body": "b"}
    base.update(screen="S")
    msg = FlowMessage(**{**base, "flow_id": "1", **fields})  # type: ignore[arg-type]
    return lambda adapter: adapter.build_send(msg)


def _flow_name(adapter: Adapter) -> object:
    msg = FlowMessage(to="+16505551234", flow_name="f", flow_cta="Go", body="b", screen="S")
    return adapter.build_send(msg)


def _template_send(adapter: Adapter, **ref: object) -> object:
    template = TemplateRef(name="t", language="en_US", **ref)  # type: ignore[arg-type]
    return adapter.build_send(FlowMessage(to="+16505551234", template=template))


def _manage(op: ManageOp[object]) -> Callable[[Adapter], object]:
    return lambda adapter: adapter.build_manage(op)


def _template_create(adapter: Adapter) -> object:
    tpl = FlowTemplate(
        name="t", language="en_US", category="MARKETING", body="b", button_text="Go",
        flow_id="1", navigate_screen="S",
    )  # fmt: skip
    return adapter.build_create_template(tpl)


PROBES: dict[str, Callable[[Adapter], object]] = {
    "flow_id": _send(),
    "flow_name": _flow_name,
    "draft_mode": _send(mode="draft"),
    "template_send": _template_send,
    "template_create": _template_create,
    "public_key": lambda adapter: adapter.build_register_public_key(PEM),
    "bsuid_recipient": _send(to="US.13491208655302741918"),
    "media_header": lambda a: _template_send(
        a, header_media=TemplateMedia(kind="image", link="https://example.com/a.png")
    ),
    "template_named_parameters": lambda a: _template_send(a, body_parameters={"name": "Ana"}),
    "template_header_text": lambda a: _template_send(a, header_parameters=("Ana",)),
    "template_buttons": lambda a: _template_send(
        a, buttons=(TemplateButton(index=1, kind="quick_reply", value="stop"),)
    ),
    "flow_management": _manage(FlowList()),
    "template_management": _manage(TemplateList()),
}
NOT_BUILT: set[str] = set()  # declared by nobody until they exist


def test_every_capability_has_a_probe() -> None:
    assert set(PROBES) | NOT_BUILT == set(CAPABILITIES)


@pytest.mark.parametrize("provider", adapter_names())
@pytest.mark.parametrize("capability", sorted(PROBES))
def test_declared_if_and_only_if_it_works(provider: str, capability: str) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    if capability in adapter.capabilities:
        assert PROBES[capability](adapter) is not None
    else:
        with pytest.raises(UnsupportedFeature):
            PROBES[capability](adapter)


@pytest.mark.parametrize("provider", adapter_names())
def test_nothing_unbuilt_is_declared(provider: str) -> None:
    assert not (get_adapter(provider, **PROVIDERS[provider]).capabilities & NOT_BUILT)


def test_the_readme_matrix_is_generated_from_the_adapters() -> None:
    table = capability_matrix_markdown()
    assert table in README.read_text(encoding="utf-8"), f"README is stale; put:\n{table}"
