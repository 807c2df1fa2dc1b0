"""What a store holds and the interface every engine implements.

A store keeps the receiver's inbox (callbacks with their raw bodies, the events they
normalized to, one *job* per handler that wants an event) and the senders added at run
time. :class:`Store` is the interface; :mod:`gateway.store.sqlite` (embedded, the
default) and :mod:`gateway.store.postgres` (many processes on many hosts) implement it
with the same SQL (:mod:`gateway.store.sql`).

A job is ``pending`` → ``running`` (claimed by an *owner* until its lease expires; the
owner's heartbeat extends it) → ``done``, or back to ``pending`` with a later ``next_at``
when its handler raises, and ``dead`` after the last attempt. Only a lease that expired is
taken over: a process that starts never resets the jobs others are running.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from gateway.store.migrations import Migration

JobStatus = Literal["pending", "running", "done", "dead"]
JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "done", "dead")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to store: its dedup key, class name, JSON payload and the handlers it needs."""

    dedup_key: str
    type: str
    payload: dict[str, Any]
    handlers: tuple[str, ...]
    payload_json: str = ""
    """``payload`` already encoded as ASCII JSON (the receiver encodes it while it can
    still answer 400); empty: the store encodes it."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted callback (or one sender's part of it): the raw request and what it
    normalized to. ``unroutable`` set: no configured sender owns it; it is kept with the
    reason and no events, for a person to look at."""

    sender: str
    provider: str
    received_at: float
    headers: dict[str, str]
    body: bytes
    events: tuple[NewEvent, ...]
    unroutable: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What storing one delivery did; ``error`` set: nothing of it was stored."""

    new: int
    duplicates: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A handler's result on one job: done (``error`` None), retry at ``next_at``, or
    dead (``error`` set, ``next_at`` None)."""

    job_id: int
    error: str | None = None
    next_at: float | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A handler's work on one event, as claimed."""

    id: int
    event_id: int
    handler: str
    attempts: int
    sender: str
    provider: str
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as ``flowgateway inbox list`` shows it."""

    id: int
    event_id: int
    sender: str
    provider: str
    type: str
    handler: str
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    updated_at: float
    owner: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True, slots=True)
class JobDetail:
    """One job with its event and the callback it came in (``flowgateway inbox show``)."""

    job: JobRow
    dedup_key: str
    payload: dict[str, Any]
    delivery_id: int
    received_at: float
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class UnroutableRow:
    """A stored callback part that no configured sender owns."""

    id: int
    provider: str
    received_at: float
    reason: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Pruned:
    """What :meth:`Store.prune` removed."""

    jobs: int
    events: int
    deliveries: int


@dataclass(frozen=True, slots=True)
class StoredSender:
    """A sender kept in the store. ``settings`` is the encrypted settings table (see
    :mod:`gateway.senders`); provider and ids stay readable for routing and listing."""

    name: str
    provider: str
    business_id: str | None
    account_id: str | None
    settings: bytes = field(repr=False)
    updated_at: float = 0.0
    version: int = 0


class Store(Protocol):
    """Every engine's operations. Thread-safe; each call is one transaction."""

    url: str
    """Where it is (a password in a PostgreSQL URL is masked)."""

    @property
    def migrations(self) -> tuple[Migration, ...]: ...

    # -- inbox -------------------------------------------------------------------------
    def record(self, deliveries: Sequence[Delivery]) -> list[Recorded]: ...
    def claim(self, owner: str, now: float, limit: int, lease: float) -> list[Job]: ...
    def heartbeat(self, owner: str, job_ids: Sequence[int], until: float) -> set[int]: ...
    def settle(self, owner: str, outcomes: Sequence[Outcome], now: float) -> int: ...
    def release(self, owner: str, job_ids: Sequence[int], now: float) -> int: ...
    def next_due(self) -> float | None: ...
    def jobs(self, status: str | None = None, limit: int = 100) -> list[JobRow]: ...
    def job(self, job_id: int) -> JobDetail | None: ...
    def replay(self, job_ids: Iterable[int] = (), *, status: str | None = None) -> int: ...
    def unroutable(self, limit: int = 100) -> list[UnroutableRow]: ...
    def counts(self) -> dict[str, int]: ...
    def prune(self, before: float) -> Pruned: ...
    def maintain(self) -> None: ...
    def check(self, timeout: float) -> None: ...

    # -- senders -----------------------------------------------------------------------
    def senders(self) -> list[StoredSender]: ...
    def sender(self, name: str) -> StoredSender | None: ...
    def put_sender(self, sender: StoredSender) -> StoredSender: ...
    def delete_sender(self, name: str) -> bool: ...
    def senders_generation(self) -> int: ...

    # -- outbox ------------------------------------------------------------------------
    def enqueue(self, sends: Sequence[NewSend], now: float) -> list[Enqueued]: ...
    def claim_outbox(self, owner: str, now: float, limit: int, lease: float) -> list[OutboxJob]: ...
    def mark_sending(self, owner: str, ids: Sequence[int], now: float) -> set[int]: ...
    def heartbeat_outbox(self, owner: str, ids: Sequence[int], until: float) -> set[int]: ...
    def settle_outbox(self, owner: str, outcomes: Sequence[SendOutcome], now: float) -> int: ...
    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxRow]: ...
    def outbox_entry(self, entry: int | str) -> OutboxRow | None: ...
    def outbox_retry(self, ids: Iterable[int] = (), *, status: str | None = None) -> int: ...
    def outbox_cancel(self, ids: Iterable[int] = (), *, status: str | None = None) -> int: ...
    def outbox_counts(self) -> dict[str, int]: ...

    # -- schema ------------------------------------------------------------------------
    def schema_version(self) -> int: ...
    def migrate(self) -> list[int]: ...
    def close(self) -> None: ...


# -- the outbox --------------------------------------------------------------------------

OutboxStatus = Literal["queued", "claimed", "sending", "sent", "failed", "unknown", "cancelled"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = (
    "queued", "claimed", "sending", "sent", "failed", "unknown", "cancelled",
)  # fmt: skip
DELIVERY_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}

"""How far a sent message got; a status webhook never moves it back (read stays read
when a late "delivered" arrives). Failed is final."""


ERROR_MAX = 2000
"""Characters of a handler's or a send's error kept."""


def status_key(provider: str, message_id: str | None, status: str) -> str:
    """The inbox's dedup key of a status webhook (the outbox looks sends up by it)."""
    return f"{provider}:status:{message_id}:{status}"


def lease_owner() -> str:
    """Who holds a process's leases: host, pid, and a nonce per start."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def clip(text: str | None) -> str | None:
    """An error message as stored: at most :data:`ERROR_MAX` characters, printable."""
    return None if text is None else printable(text[:ERROR_MAX])


def printable(text: str) -> str:
    """``text`` storable in any text column: a lone surrogate and NUL (PostgreSQL
    refuses it in text) are written as their escapes."""
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")


@dataclass(frozen=True, slots=True)
class NewSend:
    """A send to keep: its idempotency key, routed sender, recipient and FlowMessage JSON."""

    key: str
    sender: str
    provider: str
    recipient: str
    message: str


@dataclass(frozen=True, slots=True)
class Enqueued:
    """An outbox entry: ``new`` False when the key was there already (nothing added)."""

    id: int
    key: str
    new: bool


@dataclass(frozen=True, slots=True)
class OutboxJob:
    """A send claimed by a worker."""

    id: int
    key: str
    sender: str
    message: str
    attempts: int


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What became of a claimed send: ``status`` sent (``message_id``), failed, unknown,
    or queued again at ``next_at`` (a retryable failure, or not sent at all)."""

    id: int
    status: OutboxStatus
    message_id: str | None = None
    error_class: str | None = None
    error: str | None = None
    next_at: float | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox entry as ``flowgateway outbox list/show`` prints it."""

    id: int
    key: str
    sender: str
    provider: str
    recipient: str
    status: str
    attempts: int
    message_id: str | None
    error_class: str | None
    error: str | None
    delivery: str | None
    delivery_at: float | None
    created_at: float
    updated_at: float
    owner: str | None = None
    message: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Queue:
    """A leased queue's table: rows ``ready`` and due are taken, and rows ``held`` past
    their lease are taken over; ``bump`` counts an attempt at each claim."""

    table: str
    ready: str
    held: str
    bump: bool


JOBS = Queue("jobs", "pending", "running", bump=True)
OUTBOX = Queue("outbox", "queued", "claimed", bump=False)
