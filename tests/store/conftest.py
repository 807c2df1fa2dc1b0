"""Every store test runs on each engine (``store_url``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.store import Store, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url, migrate=True)
    yield s
    s.close()
