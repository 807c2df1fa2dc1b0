"""Hypothesis settings for the fuzz suite.

``make test`` runs a bounded, derandomized number of examples per entry point (the same
inputs on every run, seconds in all); ``make fuzz`` runs FLOWGATEWAY_FUZZ_EXAMPLES
random ones per entry point and keeps Hypothesis' example database to replay failures.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_LONG = os.environ.get("FLOWGATEWAY_FUZZ_EXAMPLES")
settings.register_profile(
    "bounded",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
if _LONG:  # Hypothesis refuses max_examples=0 even in a profile nobody loads
    settings.register_profile(
        "long",
        max_examples=int(_LONG),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
settings.load_profile("long" if _LONG else "bounded")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.fuzz)
