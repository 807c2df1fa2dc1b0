"""``flowgateway demo``: one Flow through every provider, over real HTTP, no credentials.

Starts the emulator and the webhook receiver on free loopback ports, sends the same
FlowMessage through each configured sender, lets the emulator's simulated users read and
complete the Flows (each provider's own webhook shape, authenticated its own way, posted
to the receiver), and prints what the receiver normalized: the same FlowCompleted from
every provider. With the ``crypto`` extra, one more row: a data-exchange Flow the user
plays through a Flow endpoint served on a third loopback port (:mod:`gateway.demo_endpoint`),
over real HTTP and encrypted as the WhatsApp client does, before completing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.bundled import DEFAULT_CONFIG
from gateway.client import AsyncGateway
from gateway.config import GatewayConfig, load_config
from gateway.errors import GatewayError, UnsupportedFeature
from gateway.events import FlowCompleted, InboundEvent, MessageStatus
from gateway.extras import MissingExtra, require
from gateway.identity import UserRef, addressed
from gateway.model import FlowMessage

if TYPE_CHECKING:  # the emulator needs the server extra; imported when the demo runs
    from gateway.demo_endpoint import Booking
    from gateway.emulator import Emulator
    from gateway.flowjson.player import Step

ANSWERS = {"date": "2026-12-01", "slot": "10:30", "party_size": 2}
MESSAGE = FlowMessage(
    to="+16505551234",
    flow_id="1234567890",
    flow_cta="Book now",
    flow_token="demo-booking-42",  # noqa: S106 - a correlation token, not a secret
    header="Table booking",
    body="Pick a date and a time that suit you.",
    footer="Takes 30 seconds",
    screen="BOOKING",
    data={"restaurant": "Casa Emulada"},
)


class DemoFailure(Exception):
    """A step of the demo did not produce what it should."""


DATA_EXCHANGE = FlowMessage(
    to=MESSAGE.to,
    flow_id="1234567891",
    flow_cta="Book now",
    flow_action="data_exchange",  # no screen, no data: the endpoint answers INIT
    flow_token="demo-endpoint-3",  # noqa: S106 - a correlation token, not a secret
    header="Table booking",
    body="Pick a date, a time and how many you are.",
    footer="Our endpoint checks what is free",
)
ENDPOINT_PATH = "/flow"
VIA_ENDPOINT = " via endpoint"  # marks the user of the data-exchange row

USERNAME_USER = {"phone": "+16505550199", "username": "sheena", "hide_phone": True}
"""A user who hides the phone number behind a username: reached by business-scoped id."""


@dataclass
class Row:
    sender: str
    provider: str
    message_id: str
    user: str
    statuses: str
    flow_token: str
    response: str


def run(config_path: Path = DEFAULT_CONFIG, out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when every provider produced the expected normalized events."""
    try:
        require("server", "the demo")  # the emulator and the receiver run over HTTP
        return asyncio.run(_run(config_path, out))
    except (GatewayError, DemoFailure, OSError) as exc:
        print(f"demo FAILED: {type(exc).__name__}: {exc}", file=out)
        return 1


async def _run(config_path: Path, out: TextIO) -> int:
    from gateway.emulator import Emulator
    from gateway.emulator.server import LoopbackServer
    from gateway.receiver import WebhookReceiver

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flowgateway-demo-") as tmp:
        # Bind the emulator first: the config's base URLs read FLOWGATEWAY_EMULATOR_URL.
        emulator_server = LoopbackServer()
        env = {**os.environ, "FLOWGATEWAY_EMULATOR_URL": emulator_server.url}
        config = _with_inbox(load_config(config_path, env), str(Path(tmp) / "inbox.sqlite3"))
        emulator = Emulator.from_config(config)
        receiver = WebhookReceiver(config)
        events: list[InboundEvent] = []
        arrived = asyncio.Event()

        @receiver.on(name="demo.collect")
        async def collect(event: InboundEvent) -> None:
            events.append(event)
            arrived.set()

        receiver_server = LoopbackServer()
        await emulator_server.start(emulator.asgi)
        await receiver_server.start(receiver.asgi)
        try:
            for name, table in config.senders.items():
                url = f"{receiver_server.url}{config.receiver.path_prefix}/{name}"
                emulator.set_webhook(table["provider"], url)
            rows = await _round_trips(config, emulator, events, arrived, MESSAGE)
            _check_same_completion(events, MESSAGE)
            hidden = emulator.register_user(**USERNAME_USER)  # type: ignore[arg-type]
            to_username = MESSAGE.model_copy(
                update={"to": hidden.user_id, "flow_token": "demo-username-7"}
            )
            events.clear()
            rows += await _round_trips(config, emulator, events, arrived, to_username)
            _check_same_completion(events, to_username)
            reached = sum(r.message_id != "-" for r in rows)
            events.clear()
            row, note = await _endpoint_row(config, emulator, events, arrived)
            rows += [row] if row else []
        finally:
            await receiver_server.stop()
            await emulator_server.stop()
    _print_table(rows, out)
    elapsed = time.perf_counter() - started
    refused = sorted({r.provider for r in rows if r.message_id == "-"})
    cannot = f"; {', '.join(refused)} cannot address one" if refused else ""
    more = ", and a data-exchange Flow through a local endpoint" if row else ""
    print(f"\n{note}", file=out)
    print(
        f"{reached} round trips over {len(config.senders)} providers — a phone user, and "
        f"a username user reached by business-scoped id ({hidden.user_id}{cannot}) — "
        f"the same FlowCompleted from each{more}, in {elapsed:.1f}s",
        file=out,
    )
    return 0


async def _round_trips(
    config: GatewayConfig,
    emulator: Emulator,
    events: list[InboundEvent],
    arrived: asyncio.Event,
    message: FlowMessage,
) -> list[Row]:
    sent: dict[str, tuple[str, str]] = {}
    refused: list[Row] = []
    async with AsyncGateway(config) as gw:
        for name, table in config.senders.items():
            try:
                receipt = await gw.send(message.model_copy(update={"sender": name}))
            except UnsupportedFeature as exc:  # before any request: nothing was sent
                refused.append(
                    Row(name, table["provider"], "-", message.to, "-", "-", f"refused: {exc}")
                )
                continue
            if receipt.message_id is None:
                raise DemoFailure(f"{name}: the send returned no message id")
            sent[receipt.message_id] = (name, receipt.provider)
            codes = await emulator.deliver(emulator.callbacks(receipt.message_id, ANSWERS))
            if set(codes) != {200}:
                raise DemoFailure(f"{name}: the receiver answered {codes} to the callbacks")
    await _until_completed(events, arrived, len(sent))
    rows = [
        _completion_row(name, provider, mid, events)[0] for mid, (name, provider) in sent.items()
    ]
    return rows + refused


def _completion_row(
    name: str, provider: str | None, message_id: str, events: list[InboundEvent], marker: str = ""
) -> tuple[Row, FlowCompleted]:
    """The table row of one sent message, and its FlowCompleted (``provider`` None: the
    one the FlowCompleted names)."""
    statuses = [
        e.status for e in events if isinstance(e, MessageStatus) and e.message_id == message_id
    ]
    done = next(e for e in events if isinstance(e, FlowCompleted) and e.reply_to == message_id)
    response = json.dumps(done.response, sort_keys=True)
    row = Row(
        name, provider or done.provider, message_id, _who(done.user) + marker,
        "→".join(statuses) or "-", done.flow_token or "-", response,
    )  # fmt: skip
    return row, done


async def _endpoint_row(
    config: GatewayConfig, emulator: Emulator, events: list[InboundEvent], arrived: asyncio.Event
) -> tuple[Row | None, str]:
    """The data-exchange row, and the line that explains it (or why it is missing)."""
    try:
        require("crypto", "the demo's data-exchange row")  # the endpoint decrypts
    except MissingExtra as exc:  # the other rows need no key: the demo still passes
        return None, str(exc)
    from gateway import demo_endpoint as booking_flow
    from gateway.emulator.server import LoopbackServer
    from gateway.endpoint.app import endpoint_app
    from gateway.flowjson.player_exchange import http_exchange

    name, message_id = await _send_first(config, DATA_EXCHANGE)
    secret = config.senders[name].get("app_secret")  # Meta signs endpoint requests with it
    booking = booking_flow.booking_endpoint(secret)
    server = LoopbackServer()
    await server.start(endpoint_app(booking.endpoint, ENDPOINT_PATH))
    url = f"{server.url}{ENDPOINT_PATH}"
    try:
        exchange = http_exchange(url, booking.public_key, app_secret=secret)
        # The player's requests are blocking and this loop serves the endpoint: a thread.
        result, calls = await asyncio.to_thread(
            emulator.play, message_id, booking_flow.load_flow(), booking_flow.ANSWERS,
            exchange=exchange,
        )  # fmt: skip
    finally:
        await server.stop()
    if result.findings or not calls:
        found = "; ".join(str(f) for f in result.findings) or "the Flow never completed"
        raise DemoFailure(f"{name}: the data-exchange Flow: {found}")
    codes = await emulator.deliver(calls)
    if set(codes) != {200}:
        raise DemoFailure(f"{name}: the receiver answered {codes} to the callbacks")
    await _until_completed(events, arrived, 1)
    row = _endpoint_completion(name, message_id, events, booking_flow.EXPECTED)
    return row, _endpoint_note(result.steps, booking, url)


async def _send_first(config: GatewayConfig, message: FlowMessage) -> tuple[str, str]:
    """(sender, message id) of the first configured sender that takes ``message``."""
    refusals = []
    async with AsyncGateway(config) as gw:
        for name in config.senders:
            try:
                receipt = await gw.send(message.model_copy(update={"sender": name}))
            except UnsupportedFeature as exc:
                refusals.append(f"{name}: {exc}")
                continue
            if receipt.message_id is None:
                raise DemoFailure(f"{name}: the send returned no message id")
            return name, receipt.message_id
    raise DemoFailure(f"no sender takes a data_exchange Flow ({'; '.join(refusals)})")


def _endpoint_completion(
    name: str, message_id: str, events: list[InboundEvent], expected: dict[str, object]
) -> Row:
    row, done = _completion_row(name, None, message_id, events, VIA_ENDPOINT)
    got = (done.flow_token, done.response, _is(done.user, DATA_EXCHANGE.to))
    if got != (DATA_EXCHANGE.flow_token, expected, True):
        raise DemoFailure(f"{name}: the data-exchange FlowCompleted is not the booking: {got}")
    return row


def _endpoint_note(steps: Sequence[Step], booking: Booking, url: str) -> str:
    screens = " → ".join(dict.fromkeys(s.screen for s in steps if s.screen))
    actions = ", ".join(booking.seen)  # what the endpoint answered, not what was sent
    return (
        f"{VIA_ENDPOINT.strip()}: {DATA_EXCHANGE.to} played {screens} through the Flow "
        f"endpoint at {url} ({len(booking.seen)} encrypted exchanges: {actions})"
    )


async def _until_completed(events: list[InboundEvent], arrived: asyncio.Event, n: int) -> None:
    deadline = time.monotonic() + 15
    while _completed(events) < n:
        if time.monotonic() > deadline:
            raise DemoFailure(f"only {_completed(events)} of {n} Flows completed")
        arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), 0.5)


def _who(user: UserRef) -> str:
    if user.phone is not None:
        return user.phone
    return f"{user.user_id} (@{user.username})" if user.username else str(user.user_id)


def _completed(events: list[InboundEvent]) -> int:
    return sum(isinstance(e, FlowCompleted) for e in events)


def _check_same_completion(events: list[InboundEvent], message: FlowMessage) -> None:
    done = [e for e in events if isinstance(e, FlowCompleted)]
    seen = {
        (e.flow_token, json.dumps(e.response, sort_keys=True), _is(e.user, message.to))
        for e in done
    }
    if seen != {(message.flow_token, json.dumps(ANSWERS, sort_keys=True), True)}:
        raise DemoFailure(f"the providers' FlowCompleted events differ: {sorted(seen)}")


def _is(user: UserRef, to: str) -> bool:
    """Whether ``user`` is the user ``to`` addressed (providers add what else they know)."""
    wanted = addressed(to)
    return all(
        getattr(user, name) == value
        for name in ("phone", "user_id", "parent_user_id")
        if (value := getattr(wanted, name)) is not None
    )


def _with_inbox(config: GatewayConfig, inbox: str) -> GatewayConfig:
    receiver = config.receiver.model_copy(update={"inbox": inbox, "poll_interval": 0.1})
    return config.model_copy(update={"receiver": receiver})


def _print_table(rows: list[Row], out: TextIO) -> None:
    header = ("sender", "provider", "message id", "user", "statuses", "flow_token", "response")
    table = [header] + [
        (r.sender, r.provider, r.message_id, r.user, r.statuses, r.flow_token, r.response)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    bold = out.isatty()
    for i, row in enumerate(table):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        print(f"\033[1m{line}\033[0m" if bold and i == 0 else line, file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)
