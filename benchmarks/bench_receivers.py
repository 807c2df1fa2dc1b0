"""Receiver processes: callbacks/s for 1, 2 and 4 ``flowgateway serve`` processes on
PostgreSQL and on one SQLite file, against a bare Starlette endpoint that only answers 200.

    python benchmarks/bench_receivers.py [--callbacks 10000] [--concurrency 50] [--sqlite-max 4]

Every configuration gets the same requests from the same client (the soak harness's,
tests/e2e/soak.py: 50 keep-alive connections spread across the processes' ports, signed
callbacks of all five providers and ten senders, 3% redeliveries, posted to
``/webhooks/{provider}``), with no process killed. Each receiver run is also checked as the
soak checks it (stored once, handled once). The client runs in this process, on the same
machine as the servers: on a small machine it competes with them for the cores, so the
ratios say more than the absolute rates. A table is printed; ``--json`` writes the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from tests.e2e.soak import Processes, run_soak  # noqa: E402
from tests.e2e.soak_client import post_all  # noqa: E402
from tests.e2e.soak_traffic import make_callbacks, soak_senders  # noqa: E402

Row = dict[str, Any]


async def _ok(request: Request) -> Response:
    await request.body()  # read, as the receiver does, so keep-alive goes on alike
    return JSONResponse({"received": 1})


async def _ready(request: Request) -> Response:
    return JSONResponse({"status": "ready"})


bare = Starlette(
    routes=[
        Route("/webhooks/{name}", _ok, methods=["POST"]),
        Route("/readyz", _ready, methods=["GET"]),
    ]
)
"""The floor: an endpoint that reads the body and answers 200, nothing else."""


def _bare_command(port: int) -> list[str]:
    # uvicorn's defaults as `flowgateway serve` uses them (same HTTP implementation)
    return [sys.executable, "-m", "uvicorn", "benchmarks.bench_receivers:bare",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--lifespan", "off", "--timeout-keep-alive", "5"]  # fmt: skip


def bench_bare(workdir: Path, callbacks: int, concurrency: int, seed: int) -> Row:
    batch = make_callbacks(soak_senders(), callbacks, seed=seed)
    procs = Processes(workdir, _bare_command, 1)
    try:
        procs.start_all()
        stats = asyncio.run(post_all(procs.ports, batch, concurrency=concurrency))
    finally:
        procs.stop_all()
    latencies = sorted(stats.latencies)
    return {
        "target": "bare Starlette endpoint",
        "processes": 1,
        "rate": stats.rate,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "problems": [] if stats.ok == callbacks else [f"{callbacks - stats.ok} not answered 200"],
    }


def bench_receiver(
    workdir: Path, store_url: str, processes: int, callbacks: int, concurrency: int, seed: int
) -> Row:
    result = run_soak(
        workdir, store_url, processes=processes, callbacks=callbacks,
        concurrency=concurrency, kill_every=None, seed=seed,
    )  # fmt: skip
    return {
        "target": f"receiver on {result.store}",
        "processes": processes,
        "rate": result.rate,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "problems": result.problems(),
    }


def _postgres_url() -> tuple[str, Iterator[str]] | None:
    """A URL with a fresh schema and the generator that drops it when resumed; None when
    PostgreSQL is unreachable."""
    import pytest

    from tests.services import postgres_schema_url

    gen = postgres_schema_url()
    try:
        return next(gen), gen
    except pytest.skip.Exception as exc:
        print(f"PostgreSQL left out: {exc}", file=sys.stderr)
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--callbacks", type=int, default=10000, help="per configuration")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--sqlite-max", type=int, default=4, choices=[1, 2, 4])
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    rows: list[Row] = []
    n, c, seed = args.callbacks, args.concurrency, args.seed
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        rows.append(bench_bare(base / "bare", n, c, seed))
        for processes in (1, 2, 4):
            pg = _postgres_url()
            if pg is None:
                break
            url, gen = pg
            try:
                rows.append(bench_receiver(base / f"pg{processes}", url, processes, n, c, seed))
            finally:
                next(gen, None)  # drops the schema
        for processes in (p for p in (1, 2, 4) if p <= args.sqlite_max):
            work = base / f"sqlite{processes}"
            url = f"sqlite:///{work / 'store.sqlite3'}"
            rows.append(bench_receiver(work, url, processes, n, c, seed))
    floor = rows[0]["rate"]
    print(f"\n{n} callbacks per row, {c} concurrent keep-alive clients, loopback\n")
    print("| target | processes | callbacks/s | vs bare | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['target']} | {r['processes']} | {r['rate']:,.0f} | {r['rate'] / floor:.2f}x "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    bad = [(r["target"], r["processes"], r["problems"]) for r in rows if r["problems"]]
    for target, processes, problems in bad:
        print(f"PROBLEMS {target} x{processes}: {problems}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"callbacks": n, "concurrency": c, "rows": rows}, indent=2))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
