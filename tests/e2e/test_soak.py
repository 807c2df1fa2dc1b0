"""Soak (issue 18's acceptance): receiver processes on one store, SIGKILLed and restarted.

4 processes on PostgreSQL and 2 on one SQLite file, 50 concurrent clients, signed
callbacks of all five providers and several numbers per provider, posted to
``/webhooks/{provider}``: every callback answered 200 is stored exactly once, every event
is handled at least once, twice only after a kill, and nothing answers 5xx (see
:mod:`tests.e2e.soak`). The default is the acceptance figure, 20,000 callbacks (about 35 s
for this file on two cores); a quicker run::

    FLOWGATEWAY_SOAK_CALLBACKS=5000 pytest tests/e2e/test_soak.py -rP

The result is printed (``-rP``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.soak import SoakResult, run_soak
from tests.services import postgres_schema_url

CALLBACKS = int(os.environ.get("FLOWGATEWAY_SOAK_CALLBACKS", "20000"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_schema_url()  # skips (or in CI fails) without PostgreSQL


def _check(result: SoakResult) -> None:
    print(f"\n{result.summary()}")
    assert min(result.kills_per_process.values()) >= 1, "each process is killed at least once"
    assert result.problems() == []


def test_soak_four_processes_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    _check(run_soak(tmp_path, postgres_url, processes=4, callbacks=CALLBACKS))


def test_soak_two_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    _check(run_soak(tmp_path, url, processes=2, callbacks=CALLBACKS))
