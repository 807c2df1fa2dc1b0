"""Provider options live with their adapter; the neutral model only holds them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import gateway.model
from gateway.errors import ConfigError
from gateway.model import FlowMessage, ProviderOptions
from providers import adapter_names, get_adapter, options_from_mapping
from providers.sinch import SinchOptions
from tests.conftest import PROVIDERS

BASE: dict[str, Any] = {"to": "+16505551234", "flow_id": "1", "flow_cta": "Go", "body": "b"}
BASE["screen"] = "S"


def test_the_neutral_model_names_no_provider() -> None:
    source = Path(gateway.model.__file__).read_text(encoding="utf-8").lower()
    for name in [*adapter_names(), "360dialog", "1msg"]:
        assert not re.search(rf"\b{re.escape(name)}\b", source), name


def test_options_reach_their_provider_only() -> None:
    msg = FlowMessage(**BASE, options=[SinchOptions(correlation_id="c-1")])
    assert msg.options_for("sinch") == SinchOptions(correlation_id="c-1")
    assert msg.options_for("meta_cloud") is None
    sinch = get_adapter("sinch", **PROVIDERS["sinch"]).build_send(msg).json
    meta = get_adapter("meta_cloud", **PROVIDERS["meta_cloud"]).build_send(msg).json
    assert sinch is not None
    assert sinch["correlation_id"] == "c-1"
    assert "correlation_id" not in str(meta)


@pytest.mark.parametrize(
    ("options", "rule"),
    [
        ([{"correlation_id": "c"}], "options_type"),  # plain data: use options_from_mapping
        ([ProviderOptions()], "options_type"),
        ([SinchOptions(), SinchOptions(correlation_id="x")], "options_repeated"),
    ],
)
def test_bad_options_name_the_rule(options: Any, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        FlowMessage(**BASE, options=options)
    assert info.value.errors()[0]["type"] == rule


def test_options_validate_when_built_and_refuse_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="ttl_seconds"):
        SinchOptions(ttl_seconds=0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        SinchOptions(colour="red")  # type: ignore[call-arg]


def test_options_from_plain_data() -> None:
    assert options_from_mapping({"sinch": {"correlation_id": "c"}}) == (
        SinchOptions(correlation_id="c"),
    )
    with pytest.raises(ConfigError, match="takes no message options"):
        options_from_mapping({"meta_cloud": {}})
    with pytest.raises(ConfigError, match="unknown provider"):
        options_from_mapping({"nope": {}})
