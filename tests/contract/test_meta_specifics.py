"""Meta-only behaviour: the hub.challenge handshake through both gateways."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import SignatureError
from tests.contract.meta_cloud.kit import META_VERIFY_TOKEN


def test_hub_challenge_through_gateway(make_driver: Any) -> None:
    driver = make_driver()
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": META_VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    assert driver.verify_challenge("main", params) == "1158201444"
    with pytest.raises(SignatureError):
        driver.verify_challenge("main", {**params, "hub.verify_token": "guess"})
