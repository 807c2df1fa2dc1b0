"""The ``twin`` fixture: one test, run on Gateway and on AsyncGateway (test_pacing's
:class:`Twin`), for the pacing and send_many tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.unit.test_pacing import Twin


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Iterator[Callable[..., Twin]]:
    made: list[Twin] = []

    def make(*args: Any, **kwargs: Any) -> Twin:
        t = Twin(request.param, *args, **kwargs)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()
