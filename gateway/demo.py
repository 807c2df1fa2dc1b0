"""``flowgateway demo``: the whole round trip against the embedded emulator.

Loads ``config/gateway.toml``, sends an interactive Flow and a FLOW-button template
through every configured sender the emulator can stand in for, lets the simulated user
complete the Flows, feeds the signed webhooks back through the gateway and prints what
came out, normalized. No credentials, no network.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gateway.client import Gateway
from gateway.config import load_config
from gateway.emulator import InProcessTransport, MetaEmulator
from gateway.errors import GatewayError
from gateway.events import FlowCompleted, MessageStatus
from gateway.model import FlowMessage, FlowTemplate, TemplateRef

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "gateway.toml"


class DemoFailure(Exception):
    """A step of the demo did not produce what it should."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise DemoFailure(message)


@dataclass
class Row:
    sender: str
    provider: str
    kind: str
    message_id: str
    statuses: str
    flow_token: str
    response: str


def _emulator_for(settings: dict[str, str]) -> MetaEmulator:
    return MetaEmulator(
        access_token=settings["access_token"],
        app_secret=settings["app_secret"],
        phone_number_id=settings["phone_number_id"],
        waba_id=settings["waba_id"],
    )


def run(config_path: Path = DEFAULT_CONFIG, out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when every step produced the expected normalized events."""
    config = load_config(config_path)
    senders = {n: s for n, s in config.senders.items() if s["provider"] == "meta_cloud"}
    if not senders:
        print("demo: no sender the emulator can stand in for", file=out)
        return 1
    rows: list[Row] = []
    failures: list[str] = []
    for name, settings in senders.items():
        emulator = _emulator_for(settings)
        with Gateway(config, transport=InProcessTransport(emulator.handle)) as gw:
            try:
                rows += _round_trip(gw, emulator, name, settings["provider"])
            except (GatewayError, DemoFailure) as exc:
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
    _print_table(rows, out)
    for failure in failures:
        print(f"FAILED {failure}", file=out)
    print(f"\n{len(rows)} Flow round trips, {len(failures)} failures", file=out)
    return 1 if failures or not rows else 0


def _round_trip(gw: Gateway, emulator: MetaEmulator, sender: str, provider: str) -> list[Row]:
    interactive = FlowMessage(
        to="+16505551234",
        flow_id="1234567890",
        flow_cta="Book now",
        flow_token=f"demo-{sender}-interactive",
        header="Appointments",
        body="Pick a time that suits you.",
        footer="Takes 30 seconds",
        screen="APPOINTMENT",
        data={"department": "dental"},
        sender=sender,
    )
    template = FlowMessage(
        to="+5511987654321",
        flow_token=f"demo-{sender}-template",
        data={"first_name": "Ana"},
        template=TemplateRef(name="signup_flow", language="pt_BR"),
        sender=sender,
    )
    created = gw.create_template(
        FlowTemplate(
            name="signup_flow",
            language="pt_BR",
            category="MARKETING",
            body="Crie sua conta em segundos",
            button_text="Cadastrar",
            flow_id="1234567890",
            navigate_screen="SIGN_UP",
        ),
        sender=sender,
    )
    _check(bool(created.template_id), "template creation returned no id")
    rows = []
    for kind, msg in (("interactive", interactive), ("template", template)):
        receipt = gw.send(msg)
        message_id = receipt.message_id
        if message_id is None:
            raise DemoFailure(f"{kind} send returned no message id")
        events = gw.handle_webhook(
            sender, *emulator.statuses(message_id, "sent", "delivered", "read")
        )
        events += gw.handle_webhook(
            sender,
            *emulator.complete_flow(message_id, {"date": "2026-12-01", "slot": "10:30"}),
        )
        statuses = [e.status for e in events if isinstance(e, MessageStatus)]
        completed = [e for e in events if isinstance(e, FlowCompleted)]
        _check(statuses == ["sent", "delivered", "read"], f"unexpected statuses {statuses}")
        _check(len(completed) == 1, f"expected one FlowCompleted, got {len(completed)}")
        done = completed[0]
        _check(done.reply_to == receipt.message_id, "completion does not answer our message")
        _check(done.flow_token == msg.flow_token, "flow_token lost on the way")
        rows.append(
            Row(
                sender,
                provider,
                kind,
                message_id,
                "→".join(statuses),
                done.flow_token or "-",
                json.dumps(done.response, sort_keys=True),
            )
        )
    return rows


def _print_table(rows: list[Row], out: TextIO) -> None:
    header = ("sender", "provider", "kind", "message id", "statuses", "flow_token", "response")
    table = [header] + [
        (r.sender, r.provider, r.kind, r.message_id, r.statuses, r.flow_token, r.response)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)
