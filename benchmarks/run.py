"""All five comparisons, each against its baseline measured in the same run.

    python benchmarks/run.py [--rounds 5] [--quick]      (or: make bench)

1. build: FlowMessage + build_send + JSON, per provider, vs a hand-written dict + json
2. in-process send through httpx.MockTransport: ours vs pywa vs a raw httpx client
3. loopback send, 64 concurrent, to the emulator under uvicorn: AsyncGateway on each
   backend vs bare aiohttp and a raw httpx.AsyncClient posting prebuilt bytes
4. webhook normalization (Meta envelopes, 1 and 100 statuses) vs json.loads alone
5. Flow endpoint round trip vs the bare cryptography calls

Prints medians of repeated runs and writes benchmarks/results/latest.json. Run apart
(minutes; PostgreSQL): benchmarks/bench_receivers.py, receiver processes vs a bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from bench_core import ADAPTER, FIELDS, envelope, floor_payload  # noqa: E402
from bench_endpoint import measure as measure_endpoint  # noqa: E402

from gateway import AsyncGateway, FlowMessage, Gateway  # noqa: E402
from gateway.transport import AsyncHttpxTransport, HttpxTransport  # noqa: E402
from providers import adapter_names, get_adapter  # noqa: E402
from tests.kits import KITS  # noqa: E402

Row = dict[str, Any]


def per_call_us(fn: Callable[[], object], number: int, rounds: int) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=rounds)) / number * 1e6


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def bench_build(rounds: int, number: int) -> list[Row]:
    rows = []
    for provider in adapter_names():  # every registered provider, with its test kit's settings
        adapter = get_adapter(provider, **KITS[provider].settings)
        expected = floor_payload(provider)
        assert json.loads(adapter.build_send(FlowMessage(**FIELDS)).content) == expected, provider
        ours = per_call_us(
            lambda a=adapter: a.build_send(FlowMessage(**FIELDS)).content, number, rounds
        )
        floor = per_call_us(lambda p=provider: _encode(floor_payload(p)), number, rounds)
        rows.append(
            {
                "benchmark": f"build {provider}",
                "ours": ours,
                "baseline": floor,
                "unit": "µs/message",
                "ratio": ours / floor,
                "target": "≤ 3x",
            }
        )
    return rows


OK_BODY = _encode(
    {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.HBgBENCH"}],
    }
)


def _mock_client() -> httpx.Client:
    ok = httpx.Response(200, content=OK_BODY, headers={"content-type": "application/json"})
    return httpx.Client(transport=httpx.MockTransport(lambda request: ok))


def bench_in_process(rounds: int, number: int) -> list[Row]:
    from pywa import WhatsApp
    from pywa.types import FlowButton
    from pywa.types.flows import FlowActionType, FlowStatus

    gw = Gateway({"main": ADAPTER}, transport=HttpxTransport(_mock_client()))
    wa = WhatsApp(phone_id="1234567890", token="bench-token", session=_mock_client())
    raw_client, prebuilt = _mock_client(), floor_payload("meta_cloud")
    f = FIELDS

    def pywa_send() -> object:
        button = FlowButton(
            title=f["flow_cta"],
            flow_id=f["flow_id"],
            flow_token=f["flow_token"],
            flow_action_type=FlowActionType.NAVIGATE,
            flow_action_screen=f["screen"],
            flow_action_payload=f["data"],
            mode=FlowStatus.PUBLISHED,
        )
        return wa.send_message(
            to=f["to"], text=f["body"], header=f["header"], footer=f["footer"], buttons=button
        )

    results = {
        "ours": per_call_us(lambda: gw.send(FlowMessage(**FIELDS)), number, rounds),
        "pywa": per_call_us(pywa_send, number, rounds),
        "raw httpx": per_call_us(
            lambda: raw_client.post(
                "https://graph.facebook.com/v24.0/1234567890/messages", json=prebuilt
            ),
            number,
            rounds,
        ),
    }
    rate = {k: 1e6 / v for k, v in results.items()}
    return [
        {
            "benchmark": "in-process send vs pywa",
            "ours": rate["ours"],
            "baseline": rate["pywa"],
            "unit": "messages/s",
            "ratio": rate["ours"] / rate["pywa"],
            "target": "> 1x",
        },
        {
            "benchmark": "in-process send vs raw httpx",
            "ours": rate["ours"],
            "baseline": rate["raw httpx"],
            "unit": "messages/s",
            "ratio": rate["ours"] / rate["raw httpx"],
            "target": "(info)",
        },
        {
            "benchmark": "pywa vs raw httpx",
            "ours": rate["pywa"],
            "baseline": rate["raw httpx"],
            "unit": "messages/s",
            "ratio": rate["pywa"] / rate["raw httpx"],
            "target": "(info)",
        },
    ]


def _start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    from gateway.emulator.server import LoopbackServer

    probe = LoopbackServer()  # borrow a free port number
    port = probe.port
    probe._sock.close()
    cmd = [sys.executable, "-m", "gateway.cli", "emulator", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_emulator/messages?provider=meta_cloud", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the emulator did not start")


async def _drive(send: Callable[[], Any], total: int, concurrency: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def bench_loopback(rounds: int, total: int, concurrency: int = 64) -> list[Row]:
    import aiohttp

    from gateway.config import load_config
    from gateway.core import GatewayCore
    from gateway.transport_aiohttp import AiohttpTransport

    proc, url = _start_emulator()
    try:
        config = load_config(
            ROOT / "config/gateway.toml", {**os.environ, "FLOWGATEWAY_EMULATOR_URL": url}
        )
        meta = config.senders["meta"]
        target = f"{url}/meta_cloud/v24.0/{meta['phone_number_id']}/messages"
        headers = {
            "Authorization": f"Bearer {meta['access_token']}",
            "Content-Type": "application/json",
        }
        body = _encode(floor_payload("meta_cloud"))
        msg = FlowMessage(**FIELDS, sender="meta")

        async def bare_aiohttp(total: int) -> float:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

                async def send() -> None:
                    async with session.post(target, data=body, headers=headers) as resp:
                        await resp.read()
                        assert resp.status == 200

                return await _drive(send, total, concurrency)

        async def raw_httpx(total: int) -> float:
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:

                async def send() -> None:
                    resp = await client.post(target, content=body, headers=headers)
                    assert resp.status_code == 200

                return await _drive(send, total, concurrency)

        # What is measured is the cost of a send, not pacing: the emulator's limits are
        # off and the core is built without a limiter.
        httpx.post(f"{url}/_emulator/limits", json={"enabled": False}, timeout=5)
        core = GatewayCore.from_config(config)

        def ours(make_transport: Callable[[], Any]) -> Callable[[int], Any]:
            async def run(total: int) -> float:
                async with AsyncGateway(core, transport=make_transport()) as gw:
                    return await _drive(lambda: gw.send(msg), total, concurrency)

            return run

        async def via_httpx_aiohttp(total: int) -> float:
            from httpx_aiohttp import AiohttpTransport as HttpxAiohttp

            async with httpx.AsyncClient(transport=HttpxAiohttp()) as client:
                return float(await ours(lambda: AsyncHttpxTransport(client))(total))

        # (contender, share of the messages): httpx's pool is ~30x slower, so it gets fewer.
        contenders: dict[str, tuple[Callable[[int], Any], int]] = {
            "bare aiohttp": (bare_aiohttp, 1),
            "raw httpx.AsyncClient": (raw_httpx, 10),
            "AsyncGateway + aiohttp (default)": (ours(AiohttpTransport), 1),
            "AsyncGateway + httpx-aiohttp": (via_httpx_aiohttp, 2),
            "AsyncGateway + httpx": (ours(AsyncHttpxTransport), 10),
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):  # interleaved, so drift hits every contender alike
            for name, (fn, share) in contenders.items():
                samples[name].append(asyncio.run(fn(total // share)))
        rates = {name: statistics.median(values) for name, values in samples.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    floor = rates["bare aiohttp"]
    return [
        {
            "benchmark": f"loopback: {name}",
            "ours": rate,
            "baseline": floor,
            "unit": "messages/s",
            "ratio": rate / floor,
            "target": "≥ 0.8x and ≥ 1000/s" if "default" in name else "(info)",
        }
        for name, rate in rates.items()
        if name != "bare aiohttp"
    ] + [
        {
            "benchmark": "loopback: bare aiohttp",
            "ours": floor,
            "baseline": floor,
            "unit": "messages/s",
            "ratio": 1.0,
            "target": "(baseline)",
        }
    ]


def bench_webhooks(rounds: int, number: int) -> list[Row]:
    rows = []
    cases = [(1, False, "≤ 3x (time ratio)"), (100, False, "≤ 3x (time ratio)"),
             (100, True, "(info)")]  # fmt: skip
    for n, users_2026, target in cases:
        body = envelope(n, users_2026=users_2026)
        k = max(20, number // n)
        ours = per_call_us(lambda b=body: ADAPTER.parse_webhook(b, {}), k, rounds)
        floor = per_call_us(lambda b=body: json.loads(b), k, rounds)
        label = ", 100 users named as in 2026" if users_2026 else ""
        rows.append(
            {
                "benchmark": f"webhook, {n} status(es){label}",
                "ours": n * 1e6 / ours,
                "baseline": n * 1e6 / floor,
                "unit": "events/s",
                "ratio": ours / floor,
                "target": target,
            }
        )
    return rows


def bench_endpoint(rounds: int, number: int) -> list[Row]:
    bare, ours = measure_endpoint(rounds, number)
    return [
        {
            "benchmark": "endpoint round trip",
            "ours": ours,
            "baseline": bare,
            "unit": "µs/request",
            "ratio": ours / bare,
            "target": "≤ 1.2x",
        }
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    rows: list[Row] = []
    rows += bench_build(args.rounds, 20000 // scale)
    rows += bench_in_process(args.rounds, 2000 // scale)
    rows += bench_loopback(args.rounds, 4000 // scale)
    rows += bench_webhooks(args.rounds, 20000 // scale)
    rows += bench_endpoint(args.rounds, 300 // scale)
    print(f"{'benchmark':40} {'ours':>12} {'baseline':>12} {'unit':>12} {'ratio':>7}  target")
    for r in rows:
        print(
            f"{r['benchmark']:40} {r['ours']:12.1f} {r['baseline']:12.1f} {r['unit']:>12} "
            f"{r['ratio']:6.2f}x  {r['target']}"
        )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=2))
    print(f"\nwritten: {out / 'latest.json'}")


if __name__ == "__main__":
    main()
