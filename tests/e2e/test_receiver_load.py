"""Load: ≥ 5,000 signed Meta status callbacks, 50 concurrent clients, loopback only.

Zero lost, zero handled twice, every redelivery acknowledged. The rate and p99 are
printed (``pytest -rP``); ``python benchmarks/receiver_load.py`` reports them too.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.loadgen import run_load


def test_5000_callbacks_50_clients_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    result = run_load(tmp_path, events=5000, duplicates=500, concurrency=50)
    print(
        f"\nreceiver load: {result.requests} requests in {result.seconds:.2f}s = "
        f"{result.rate:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
    )
    assert result.statuses == {200: 5500}
    assert result.events == 5000
    assert result.lost == 0
    assert result.handled == 5000
    assert result.handled_twice == 0
