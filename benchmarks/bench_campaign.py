"""A campaign against the emulator over HTTP, three ways, in one run (issue 19).

20,000 Flow messages over 20 Meta senders at 80 msg/s each (a total tier of 1,600/s),
to an emulator that enforces each number's 80/s (answering 130429 past it):

1. **outbox**: ``enqueue_many`` into PostgreSQL, then 2 ``flowgateway worker`` processes
   pacing through Redis — achieved rate as a fraction of the total tier (target ≥ 0.95),
   rate-limit refusals (target 0), lost and duplicated sends (target 0);
2. **send_many, unpaced**: one process, no limiter — its 130429 count;
3. **send_many, in-process limiter**: one process, ``memory://``.

    python benchmarks/bench_campaign.py [--messages 20000] [--senders 20] [--rate 80]

PostgreSQL and Redis must run (the URLs of tests/services.py); the emulator is started
here on a free port. The rate is measured over the sends themselves (first to last
accepted by the emulator as the outbox records them), and also over the wall clock from
the workers' start (process start-up included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.client import AsyncGateway  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.core import GatewayCore  # noqa: E402
from gateway.errors import GatewayError  # noqa: E402
from gateway.model import FlowMessage  # noqa: E402
from gateway.store import open_store  # noqa: E402
from tests.e2e.soak import free_ports  # noqa: E402
from tests.services import POSTGRES_URL, REDIS_URL  # noqa: E402


def write_config(
    path: Path, port: int, senders: int, rate: float, store: str | None, limiter: str
) -> Path:
    lines = ["[gateway]", f'limiter = "{limiter}"', "max_wait = 120"]
    if store:
        lines += [f'store = "{store}"', "store_migrate = true"]
    lines += ["[gateway.retry]", "max_attempts = 1"]
    for i in range(senders):
        lines += [
            f"[senders.n{i:02d}]",
            'provider = "meta_cloud"',
            f'base_url = "http://127.0.0.1:{port}/meta_cloud"',
            f'phone_number_id = "1000000000{i:05d}"',
            'access_token = "emulator-token"',
            'app_secret = "emulator-secret"',
            f"throughput = {rate}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def messages(n: int, senders: int) -> list[FlowMessage]:
    return [
        FlowMessage(
            to=f"+1{2000000000 + i}",
            sender=f"n{i % senders:02d}",
            flow_id="1",
            flow_cta="Book",
            body="Your appointment",
            screen="START",
        )
        for i in range(n)
    ]


def cli(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "gateway.cli", *args], env=env, stdout=out, stderr=out
        )


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return json.load(resp)


class Emulator:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.port = port
        self.proc = cli("emulator", "--config", str(config), "--port", str(port), log=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "/_emulator/limits")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def report(self) -> tuple[Counter[str], int]:
        reached = Counter(m["to"] for m in get(self.port, "/_emulator/messages"))
        refused = sum(
            n
            for numbers in get(self.port, "/_emulator/refused").values()
            for codes in numbers.values()
            for n in codes.values()
        )
        return reached, refused

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(20)


def outbox_run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    schema = f"bench_{os.getpid()}"
    store = f"{POSTGRES_URL}?schema={schema}"
    [port] = free_ports(1)
    config = write_config(work / "outbox.toml", port, args.senders, args.rate, store, REDIS_URL)
    log = work / "outbox.log"
    emulator = Emulator(config, port, log)
    try:
        batch = messages(args.messages, args.senders)
        loaded = load_config(config)
        started = time.perf_counter()

        async def load() -> None:
            async with AsyncGateway(loaded) as gw:
                await gw.enqueue_many(batch, keys=[f"c:{i}" for i in range(len(batch))])

        asyncio.run(load())
        enqueue_s = time.perf_counter() - started
        started = time.perf_counter()
        workers = [
            cli(
                "worker",
                "--config",
                str(config),
                "--until-empty",
                "--concurrency",
                str(args.concurrency),
                log=log,
            )
            for _ in range(args.workers)
        ]
        for w in workers:
            w.wait(600)
        wall = time.perf_counter() - started
        reached, refused = emulator.report()
        s = open_store(store)
        rows = s.outbox(limit=args.messages + 10)
        s.close()
    finally:
        emulator.stop()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    sent = [r for r in rows if r.status == "sent"]
    span = max(r.updated_at for r in sent) - min(r.updated_at for r in sent) if sent else 0.0
    return {
        "how": f"outbox, {args.workers} workers, PostgreSQL + Redis",
        "enqueue_s": enqueue_s,
        "wall_s": wall,
        "rate": len(sent) / span if span else 0.0,
        "wall_rate": len(sent) / wall,
        "refused": refused,
        "lost": args.messages - len(reached),
        "duplicated": sum(1 for n in reached.values() if n > 1),
        "statuses": dict(Counter(r.status for r in rows)),
    }


def send_many_run(work: Path, args: argparse.Namespace, *, paced: bool) -> dict[str, Any]:
    [port] = free_ports(1)
    config = write_config(work / "direct.toml", port, args.senders, args.rate, None, "memory://")
    emulator = Emulator(config, port, work / "direct.log")
    try:
        loaded = load_config(config)
        batch = messages(args.messages, args.senders)

        async def run() -> tuple[list[Any], float]:
            core = GatewayCore.from_config(loaded) if not paced else None
            async with AsyncGateway(core if core is not None else loaded) as gw:
                started = time.perf_counter()
                results = await gw.send_many(batch, concurrency=128)
                return results, time.perf_counter() - started

        results, seconds = asyncio.run(run())
        reached, refused = emulator.report()
    finally:
        emulator.stop()
    errors = Counter(
        getattr(r, "code", None) or type(r).__name__ for r in results if isinstance(r, GatewayError)
    )
    ok = sum(1 for r in results if not isinstance(r, GatewayError))
    return {
        "how": "send_many, in-process limiter" if paced else "send_many, unpaced",
        "wall_s": seconds,
        "rate": ok / seconds,
        "wall_rate": ok / seconds,
        "refused": refused,
        "lost": args.messages - ok,
        "duplicated": sum(1 for n in reached.values() if n > 1),
        "errors": dict(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=128, help="per worker")
    parser.add_argument("--work", type=Path, help="where logs go (default: a new temp dir)")
    args = parser.parse_args()
    args.work = args.work or Path(tempfile.mkdtemp(prefix="flowgateway-campaign-"))
    args.work.mkdir(parents=True, exist_ok=True)
    tier = args.senders * args.rate
    rows = [
        outbox_run(args.work, args),
        send_many_run(args.work, args, paced=False),
        send_many_run(args.work, args, paced=True),
    ]
    print(f"\n{args.messages:,} messages, {args.senders} senders × {args.rate:g}/s = {tier:,.0f}/s")
    print("| how | rate /s | of tier | wall /s | refused (130429) | lost | duplicated |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['how']} | {r['rate']:,.0f} | {r['rate'] / tier:.3f} | {r['wall_rate']:,.0f} |"
            f" {r['refused']:,} | {r['lost']:,} | {r['duplicated']:,} |"
        )
    print(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
