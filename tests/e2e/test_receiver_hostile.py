"""The receiver over real HTTP on 127.0.0.1 (uvicorn, as ``flowgateway serve`` runs it):
hostile bodies and framing interleaved with legitimate signed callbacks, slow clients,
and plain ``uvicorn module:app`` keeping 1msg's ``?token=`` out of its logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.events import MessageStatus
from gateway.receiver import WebhookReceiver
from gateway.receiver.server import server_config
from tests.conftest import CONTRACT, PROVIDERS
from tests.contract.meta_cloud.kit import hub_signature
from tests.contract.onemsg.kit import ONEMSG_WEBHOOK_TOKEN
from tests.contract.sinch.kit import sinch_headers
from tests.e2e.test_receiver import make_config

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"header_timeout": 0.5, "body_timeout": 0.5, "poll_interval": 0.05}


@contextmanager
def served(receiver: WebhookReceiver, **options: Any) -> Iterator[int]:
    """``receiver`` under uvicorn with its ``[receiver]`` limits, in a thread; the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(receiver, **options))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "server did not start"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def exchange(port: int, raw: bytes, *, hold: float = 0.0) -> list[int]:
    """Send ``raw`` on a fresh connection; the statuses of every response until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        if hold:
            await asyncio.sleep(hold)
        data = await asyncio.wait_for(reader.read(), 5)  # the server closes: Connection: close
    finally:
        writer.close()
    return [int(s) for s in re.findall(rb"^HTTP/1\.1 (\d{3}) ", data, re.M)]


def request(path: str, body: bytes, headers: dict[str, str], *, length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def meta_status(message_id: str, timestamp: str = '"1731578460"') -> bytes:
    return (
        '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":'
        '[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":'
        '{"display_phone_number":"15550783881","phone_number_id":"1234567890"},"statuses":'
        f'[{{"id":"{message_id}","status":"delivered","timestamp":{timestamp},'
        '"recipient_id":"16505551234"}]}}]}]}'
    ).encode()


def sinch_status(message_id: str) -> bytes:
    case = json.loads((CONTRACT / "sinch/webhooks/status_delivered.json").read_text())
    case["body"]["message_delivery_report"]["message_id"] = message_id
    return json.dumps(case["body"]).encode()


def meta(body: bytes, *, length: int | None = None, signed: bytes | None = None) -> bytes:
    sig = {"X-Hub-Signature-256": hub_signature(body if signed is None else signed)}
    return request(
        "/webhooks/meta_cloud", body, sig, length=len(body) if length is None else length
    )


def sinch(body: bytes) -> bytes:
    return request("/webhooks/sinch", body, sinch_headers(body), length=len(body))


def chunked(body: bytes, headers: dict[str, str], path: str = "/webhooks/meta_cloud") -> bytes:
    head = request(path, b"", {**headers, "Transfer-Encoding": "chunked"})
    parts = [body[i : i + 7] for i in range(0, len(body), 7)]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def hostile() -> dict[str, tuple[bytes, float]]:
    """name → (raw request, seconds to keep the connection open before reading)."""
    deep = b"[" * 1000 + b"]" * 1000
    deep_obj = b'{"a":' * 1000 + b"1" + b"}" * 1000
    out = {
        "deep arrays": meta(deep),
        "deep objects, sinch": sinch(
            b'{"app_id":"01HAPPID0000000000000000AB","x":' + deep_obj + b"}"
        ),
        "1e999 timestamp": meta(meta_status("wamid.H1", "1e999")),
        "Infinity and NaN": meta(
            meta_status("wamid.H2", "Infinity").replace(b'"delivered"', b"NaN")
        ),
        "5000-digit integer": meta(meta_status("wamid.H3", "9" * 5000)),
        "invalid UTF-8": meta(meta_status("wamid.X").replace(b"wamid.X", b"wamid.\xff\xfe")),
        "lone surrogate id": meta(meta_status("wamid.\\ud800")),
        "lone surrogate, sinch": sinch(sinch_status("01\udfff")),  # json.dumps: \\udfff
        "NUL bytes": meta(b'{"object":"\x00","entry":[]}'),
        "empty body": meta(b""),
        "not JSON": meta(b"<xml/>"),
        "onemsg junk": request(
            f"/webhooks/onemsg?token={ONEMSG_WEBHOOK_TOKEN}", b"[1e999, -1e999]", {}, length=15
        ),
        "chunked, too large": chunked(b" " * (70 * 1024), {"X-Hub-Signature-256": "sha256=00"}),
        "length shorter than body": meta(meta_status("wamid.H4"), length=40),
        "length longer than body": meta(meta_status("wamid.H5"), length=5000),
        "length not a number": meta(b"{}", length=None).replace(
            b"\r\n\r\n", b"\r\nContent-Length: -1\r\n\r\n", 1
        ),
        "unsigned": request("/webhooks/meta_cloud", b"{}", {}, length=2),
    }
    holds = {"length longer than body": 1.0}  # keep sending nothing: the body timeout ends it
    return {name: (raw, holds.get(name, 0.0)) for name, raw in out.items()}


def test_hostile_input_is_never_5xx_and_every_legitimate_callback_is_handled(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, max_body_bytes=64 * 1024, **LIMITS)
    receiver = WebhookReceiver(config)
    handled: list[str] = []
    receiver.on(MessageStatus, name="collect")(lambda e: handled.append(e.message_id))
    legit = [f"wamid.OK{i}" for i in range(20)] + [f"01SINCHOK{i}" for i in range(10)]

    async def legitimate(port: int, message_id: str) -> list[int]:
        if message_id.startswith("wamid."):
            body = meta_status(message_id)
            if message_id.endswith("7"):  # chunked, no Content-Length
                return await exchange(
                    port, chunked(body, {"X-Hub-Signature-256": hub_signature(body)})
                )
            return await exchange(port, meta(body))
        return await exchange(port, sinch(sinch_status(message_id)))

    async def run(port: int) -> tuple[dict[str, list[int]], list[list[int]]]:
        cases = hostile()
        calls: list[tuple[str, Any]] = []  # (hostile case name or "", coroutine), interleaved
        for i in range(max(len(cases), len(legit))):
            if i < len(legit):
                calls.append(("", legitimate(port, legit[i])))
            if i < len(cases):
                name = list(cases)[i]
                raw, hold = cases[name]
                calls.append((name, exchange(port, raw, hold=hold)))
        results = await asyncio.gather(*(call for _, call in calls))
        pairs = list(zip((name for name, _ in calls), results, strict=True))
        return {n: r for n, r in pairs if n}, [r for n, r in pairs if not n]

    with served(receiver) as port:
        bad, good = asyncio.run(run(port))
        deadline = time.monotonic() + 5
        while not set(legit) <= set(handled) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert good == [[200]] * len(legit)
    for name, statuses in bad.items():  # some are accepted (a status with odd values)
        assert statuses, name
        assert all(200 <= s < 500 for s in statuses), (name, statuses)
    assert bad["length longer than body"] == [408]
    assert bad["chunked, too large"] == [413]
    assert bad["unsigned"] == [401]
    assert bad["deep arrays"] == bad["invalid UTF-8"] == bad["empty body"] == [400]
    assert all(handled.count(m) == 1 for m in legit), handled


async def _slow_client(port: int, results: list[float]) -> None:
    """Headers one byte at a time, forever; records when the server hung up."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _trickle_headers(reader, writer)
    results.append(time.monotonic() - started)


async def _trickle_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Start a request, then send its headers a byte at a time until the server hangs up."""
    try:
        writer.write(b"POST /webhooks/meta_cloud HTTP/1.1\r\nHost: x\r\n")
        while not reader.at_eof():
            writer.write(b"X")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1024), 0.1)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _slow_second_request(port: int, results: list[float]) -> None:
    """One real request on a kept-alive connection, then the next one's headers, slowly."""
    body = meta_status("wamid.KEEPALIVE")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    raw = meta(body).replace(b"Connection: close", b"Connection: keep-alive")
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    await _trickle_headers(reader, writer)
    results.append(time.monotonic() - started)


async def _idle(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_slow_clients_are_cut_off_and_connections_are_capped(tmp_path: Path, http: str) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, max_connections=30, **LIMITS))

    async def run(port: int) -> tuple[list[float], int, int]:
        cut: list[float] = []
        slow = [asyncio.create_task(_slow_client(port, cut)) for _ in range(19)]
        slow.append(asyncio.create_task(_slow_second_request(port, cut)))
        await asyncio.sleep(0.1)
        idle = [await _idle(port) for _ in range(20)]  # 10 of them over the cap
        await asyncio.sleep(0.1)
        refused = sum(r.at_eof() for r, _ in idle)
        for _, w in idle:
            w.close()
        await asyncio.wait_for(asyncio.gather(*slow), 3)
        await asyncio.sleep(0.1)  # the closed idle connections are gone
        body = meta_status("wamid.AFTER")
        [status] = await exchange(port, meta(body))
        return cut, refused, status

    with served(receiver, http=http) as port:
        began = time.monotonic()
        cut, refused, status = asyncio.run(run(port))
    assert len(cut) == 20
    assert max(cut) < 0.5 + 0.6  # the header timeout, not forever
    assert refused >= 10
    assert status == 200  # the service is still there for a real callback
    assert time.monotonic() - began < 5


def test_plain_uvicorn_does_not_log_the_1msg_token(tmp_path: Path) -> None:
    """``uvicorn module:app`` configures its loggers first and imports the app after."""
    onemsg = {"provider": "onemsg", **PROVIDERS["onemsg"]}
    lines = ["[senders.onemsg]"] + [f"{k} = {json.dumps(v)}" for k, v in onemsg.items()]
    lines += ["[receiver]", f"inbox = {json.dumps(str(tmp_path / 'inbox.db'))}"]
    (tmp_path / "gateway.toml").write_text("\n".join(lines) + "\n")
    (tmp_path / "hooks.py").write_text(
        "from gateway.receiver import WebhookReceiver\n"
        f"app = WebhookReceiver.from_config({str(tmp_path / 'gateway.toml')!r}).asgi\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    cmd = [sys.executable, "-m", "uvicorn", "hooks:app", "--port", str(port), "--log-level", "info"]
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        case = json.loads((CONTRACT / "onemsg/webhooks/raw_flow_completion.json").read_text())
        body = json.dumps(case["body"]).encode()
        deadline = time.monotonic() + 15
        with httpx.Client() as client:
            while True:
                try:
                    url = f"http://127.0.0.1:{port}/webhooks/onemsg"
                    ok = client.post(url, content=body, params={"token": ONEMSG_WEBHOOK_TOKEN})
                    wrong = client.post(url, content=body, params={"token": "guessed-0123456789"})
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, "uvicorn exited"
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    assert (ok.status_code, wrong.status_code) == (200, 401)
    text = out.decode()
    assert "POST /webhooks/onemsg?token=*** HTTP/1.1" in text  # the access log ran
    assert ONEMSG_WEBHOOK_TOKEN not in text
    assert "guessed-0123456789" not in text
