"""The soak's senders and callbacks: every provider, several numbers per provider,
signed status callbacks with unique ids, Meta batches naming several numbers, and
redeliveries (see :mod:`tests.e2e.soak`)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves the host
Routing = Literal["provider", "sender"]


# -- senders ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoakSender:
    """One configured sender: its settings and the secret its callbacks are signed with."""

    name: str
    provider: str
    business_id: str | None
    account_id: str | None
    secret: str
    settings: dict[str, Any]


def soak_senders() -> list[SoakSender]:
    """Every provider, several numbers where the provider names one in its callbacks.

    Meta: three numbers of one app (one secret) in two WABAs; 360dialog Cloud: two
    numbers with the same webhook header; Sinch: two apps, two secrets; 1msg: two
    instances, two tokens; 360dialog On-Premise names no number: one sender. Names differ
    from the providers' so that ``/webhooks/{provider}`` and ``/webhooks/{sender}`` never
    meet.
    """
    from tests.kits import KITS

    def make(name: str, provider: str, **overrides: Any) -> SoakSender:
        kit = KITS[provider]
        settings = {**kit.settings, **kit.emulator_settings(NOWHERE), **overrides}
        ids = {
            "meta_cloud": ("phone_number_id", "waba_id"),
            "dialog360_cloud": ("phone_number_id", "waba_account_id"),
            "sinch": ("app_id", None),
            "onemsg": ("instance_id", "waba_account_id"),
        }.get(provider, (None, None))
        business_id = settings.get(ids[0]) if ids[0] else None
        account_id = settings.get(ids[1]) if ids[1] else None
        secret = str(settings[kit.webhook_secret_setting])
        return SoakSender(name, provider, business_id, account_id, secret, settings)

    return [
        make("meta_a", "meta_cloud", phone_number_id="100000000000001", waba_id="200000000000001"),
        make("meta_b", "meta_cloud", phone_number_id="100000000000002", waba_id="200000000000001"),
        make("meta_c", "meta_cloud", phone_number_id="100000000000003", waba_id="200000000000002"),
        make("d360_a", "dialog360_cloud", phone_number_id="300000000000001"),
        make("d360_b", "dialog360_cloud", phone_number_id="300000000000002"),
        make("onprem", "dialog360_onprem"),
        make("sinch_a", "sinch", app_id="01SOAKAPP0000000000000000A", webhook_secret="sinch-a"),
        make("sinch_b", "sinch", app_id="01SOAKAPP0000000000000000B", webhook_secret="sinch-b"),
        make("onemsg_a", "onemsg", instance_id="soakinst1", webhook_token="onemsg-a-token"),
        make("onemsg_b", "onemsg", instance_id="soakinst2", webhook_token="onemsg-b-token"),
    ]  # fmt: skip


def config_toml(
    workdir: Path,
    store_url: str,
    senders: Sequence[SoakSender],
    *,
    lease: float = 2.0,
    receiver: dict[str, Any] | None = None,
) -> str:
    """The receivers' config: the store, a short lease, and every sender."""
    table = {
        "inbox": str(workdir / "inbox.sqlite3"),  # only a receiver that ignores the store uses it
        "poll_interval": 0.2,
        "handler_concurrency": 64,
        "lease": lease,
        "shutdown_grace": 5.0,
        **(receiver or {}),
    }
    lines = ["[gateway]", f"store = {json.dumps(store_url)}", "", "[receiver]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    for s in senders:
        lines += ["", f"[senders.{s.name}]", f"provider = {json.dumps(s.provider)}"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in s.settings.items()]
    return "\n".join(lines) + "\n"


# -- callbacks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Callback:
    """One POST: where it goes, its body, and the events (dedup key → sender) it holds."""

    provider: str
    path: str
    body: bytes
    secret: str
    events: tuple[tuple[str, str], ...]


_STATUSES = {  # provider → [(its word, the neutral status)]
    "meta": [("sent", "sent"), ("delivered", "delivered"), ("read", "read")],
    "sinch": [("QUEUED_ON_CHANNEL", "sent"), ("DELIVERED", "delivered"), ("READ", "read")],
    "onemsg": [("sent", "sent"), ("delivered", "delivered"), ("viewed", "read")],
}


class _Maker:
    """Writes each provider's documented status callbacks (tests/contract/*/webhooks)
    with message ids unique to this run."""

    def __init__(self, rng: random.Random, senders: Sequence[SoakSender], routing: Routing):
        self.rng, self.routing, self.n = rng, routing, 0
        self.by_provider: dict[str, list[SoakSender]] = defaultdict(list)
        for s in senders:
            self.by_provider[s.provider].append(s)

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}SOAK{self.n:08d}{self.rng.getrandbits(32):08X}"

    def _status(self, family: str) -> tuple[str, str]:
        return self.rng.choice(_STATUSES[family])

    def meta_status(
        self, provider: str, sender: SoakSender, out: list[tuple[str, str]]
    ) -> dict[str, Any]:
        mid = self._id("wamid.")
        word, neutral = self._status("meta")
        out.append((f"{provider}:status:{mid}:{neutral}", sender.name))
        ts = str(1764583200 + self.n)
        return {"id": mid, "status": word, "timestamp": ts, "recipient_id": "16505551234"}

    def meta(self, provider: str) -> tuple[str, bytes, tuple[tuple[str, str], ...], SoakSender]:
        """A Meta envelope (Meta Cloud, 360dialog Cloud). By provider URL, one in seven is
        a batch naming two or three numbers, grouped in one entry per WABA as Meta does."""
        senders = self.by_provider[provider]
        batch = self.routing == "provider" and len(senders) > 1 and self.rng.random() < 1 / 7
        chosen = (
            self.rng.sample(senders, self.rng.randint(2, len(senders)))
            if batch
            else [self.rng.choice(senders)]
        )
        out: list[tuple[str, str]] = []
        entries: dict[str, list[dict[str, Any]]] = {}
        for s in chosen:
            statuses = [self.meta_status(provider, s, out) for _ in range(self.rng.randint(1, 2))]
            value = {
                "messaging_product": "whatsapp",
                "metadata": {
                    "display_phone_number": "15550783881",
                    "phone_number_id": s.business_id,
                },
                "statuses": statuses,
            }
            waba = s.account_id or "102290129340398"
            entries.setdefault(waba, []).append({"value": value, "field": "messages"})
        doc = {
            "object": "whatsapp_business_account",
            "entry": [{"id": waba, "changes": changes} for waba, changes in entries.items()],
        }
        return provider, json.dumps(doc).encode(), tuple(out), chosen[0]

    def onprem(self) -> tuple[str, bytes, tuple[tuple[str, str], ...], SoakSender]:
        [sender] = self.by_provider["dialog360_onprem"]
        out: list[tuple[str, str]] = []
        statuses = [
            self.meta_status("dialog360_onprem", sender, out) for _ in range(self.rng.randint(1, 2))
        ]
        return "dialog360_onprem", json.dumps({"statuses": statuses}).encode(), tuple(out), sender

    def sinch(self) -> tuple[str, bytes, tuple[tuple[str, str], ...], SoakSender]:
        sender = self.rng.choice(self.by_provider["sinch"])
        mid = self._id("01J")
        word, neutral = self._status("sinch")
        doc = {
            "app_id": sender.business_id,
            "accepted_time": "2026-11-21T10:00:06.9Z",
            "event_time": "2026-11-21T10:00:06Z",
            "project_id": sender.settings["project_id"],
            "message_delivery_report": {
                "message_id": mid,
                "conversation_id": "01JD3M2B7H9K4N6P8R0T2V4X6Z",
                "status": word,
                "channel_identity": {
                    "channel": "WHATSAPP", "identity": "46732001122", "app_id": sender.business_id
                },
                "contact_id": "01JB8WQ3F5H7K9M1N3P5R7T9VX",
                "processing_mode": "CONVERSATION",
            },
        }  # fmt: skip
        events = ((f"sinch:status:{mid}:{neutral}", sender.name),)
        return "sinch", json.dumps(doc).encode(), events, sender

    def onemsg(self) -> tuple[str, bytes, tuple[tuple[str, str], ...], SoakSender]:
        sender = self.rng.choice(self.by_provider["onemsg"])
        acks, out = [], []
        for _ in range(self.rng.randint(1, 3)):
            mid = self._id("gBGGFlB5YjQ1")
            word, neutral = self._status("onemsg")
            acks.append({"id": mid, "chatId": "12020721369@c.us", "status": word})
            out.append((f"onemsg:status:{mid}:{neutral}", sender.name))
        doc = {"instanceId": sender.business_id, "ack": acks}
        return "onemsg", json.dumps(doc).encode(), tuple(out), sender

    def make(self) -> Callback:
        provider = self.rng.choice(sorted(self.by_provider))
        if provider in ("meta_cloud", "dialog360_cloud"):
            provider, body, events, first = self.meta(provider)
        elif provider == "dialog360_onprem":
            provider, body, events, first = self.onprem()
        elif provider == "sinch":
            provider, body, events, first = self.sinch()
        else:
            provider, body, events, first = self.onemsg()
        path = provider if self.routing == "provider" else first.name
        return Callback(provider, path, body, first.secret, events)


def make_callbacks(
    senders: Sequence[SoakSender],
    count: int,
    *,
    seed: int,
    routing: Routing = "provider",
    redeliveries: float = 0.03,
) -> list[Callback]:
    """``count`` callbacks across every provider; a share ``redeliveries`` of them post a
    body again (a provider's redelivery: acknowledged, not stored or handled again)."""
    rng = random.Random(seed)
    maker = _Maker(rng, senders, routing)
    out: list[Callback] = []
    for _ in range(count):
        if out and rng.random() < redeliveries:
            out.append(out[rng.randrange(len(out))])
        else:
            out.append(maker.make())
    return out


def request_bytes(callback: Callback, port: int) -> bytes:
    """The signed HTTP/1.1 request, signed now (Sinch's signature carries a timestamp)."""
    from tests.kits import KITS

    headers, query = KITS[callback.provider].credentials(callback.body, callback.secret)
    target = f"/webhooks/{callback.path}"
    if query:
        target += "?" + urlencode(query)
    head = [f"POST {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(callback.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + callback.body
