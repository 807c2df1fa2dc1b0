"""The providers' sending limits, enforced per simulated provider, on by default.

A client that does not pace sees the errors the real provider answers; a client that
paces at the documented rate is never refused. The rules, exactly (``now`` is the
emulator's monotonic timer, read once per request):

- **throughput** (Meta Cloud, 360dialog Cloud and On-Premise, 1msg: 80 msg/s per business
  number, Meta's default tier). GCRA, the generic cell rate algorithm: each number's
  sends get slots ``1 / throughput`` s apart; a send may arrive up to ``tolerance`` s
  (0.1) ahead of its slot, else it is refused until then. A client pacing at exactly the
  rate is never refused, even with up to 0.1 s of network jitter; an unpaced burst gets
  ``1 + floor(throughput × tolerance)`` sends through at once (9 at 80/s) and then exactly
  the rate, never more in the long run. Only accepted sends take a slot.
- **pair** (the same business number to the same user; same providers): the same rule
  with slots ``pair_interval`` s apart (6 s) and ``pair_burst`` messages at once (10),
  i.e. a tolerance of ``(pair_burst - 1) × pair_interval``. Meta documents one message
  per 6 s with bursts of up to 45 that borrow later quota (after a burst of 20, about
  2 minutes): that is this rule with ``pair_burst = 45``; 10 surfaces pairing bugs
  sooner. The user is the simulated user the recipient names (phone or BSUID alike),
  else the recipient as sent.
- **project_rate** (Sinch: 800 requests/s per project): the throughput rule over every
  authenticated ``messages:send`` request of the project, accepted or not.
- **queue** (Sinch: each app's ingress queue holds 500,000 messages drained at 20 msg/s):
  an accepted message leaves the queue at ``max(now, the last one's leaving) +
  1 / queue_rate``; the send is answered 200 at once and its callbacks are held until it
  leaves (their ``event_time`` says when). A send is refused while ``queue_size``
  messages wait.

A send is checked after its body is validated and before it is accepted; a refusal takes
no slot anywhere and leaves an injected ``window_closed`` fault for the next send. Rates
of 0 are not enforced; ``enabled = False`` turns a provider's limits off. Each refusal is
answered in the provider's own shape (:attr:`Sim.limit_sites`, the docs' "Limits"
table) with ``Retry-After`` (whole seconds, at least 1) and counted per business number
and error code.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.emulator.failures import Confidence
from gateway.limiter import drop_expired, next_tat, slot_wait

LimitKind = Literal["throughput", "pair", "project_rate", "queue"]
LIMIT_KINDS: tuple[LimitKind, ...] = ("throughput", "pair", "project_rate", "queue")
EPSILON = 1e-9  # seconds: float noise never refuses a send paced exactly
SWEEP_EVERY = 60.0  # seconds between sweeps of the full pair buckets
MAX_RATE = 1_000_000.0
MAX_PAIR_INTERVAL = 86_400.0
MAX_COUNT = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """One provider's limit settings (see the module for the rules). 0: not enforced."""

    enabled: bool = True
    throughput: float = 0.0
    """Messages/s per business number (its tier) unless set per number."""
    tolerance: float = 0.1
    """Seconds a send may arrive ahead of its slot at the exact rate (network jitter)."""
    pair_interval: float = 0.0
    """Seconds per message from one number to one user, on average."""
    pair_burst: int = 10
    """Messages from one number to one user that may go at once."""
    project_rate: float = 0.0
    """Requests/s per project (Sinch)."""
    queue_rate: float = 0.0
    """Messages/s each app's queue drains (Sinch) unless set per app."""
    queue_size: int = 500_000
    """Messages an app's queue holds (Sinch)."""

    def __post_init__(self) -> None:
        for name in ("throughput", "project_rate", "queue_rate"):
            check_rate(name, getattr(self, name))
        _bounded("tolerance", self.tolerance, 0.0, 10.0)
        _bounded("pair_interval", self.pair_interval, 0.0, MAX_PAIR_INTERVAL)
        _bounded("pair_burst", self.pair_burst, 1, MAX_COUNT, integer=True)
        _bounded("queue_size", self.queue_size, 1, MAX_COUNT, integer=True)
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled must be true or false, not {self.enabled!r}")

    def applies(self, kind: LimitKind) -> bool:
        """Is ``kind`` enforced by these settings (for a number without its own tier)?"""
        rate = {
            "throughput": self.throughput,
            "pair": self.pair_interval,
            "project_rate": self.project_rate,
            "queue": self.queue_rate,
        }[kind]
        return self.enabled and rate > 0


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Limits))
FIELD_TYPES: Mapping[str, type] = {
    f.name: {"bool": bool, "int": int, "float": float}[str(f.type)]
    for f in dataclasses.fields(Limits)
}
"""Each setting's JSON type, from :class:`Limits` (for the control API)."""
KIND_FIELDS: Mapping[LimitKind, tuple[str, ...]] = {
    "throughput": ("throughput", "tolerance"),
    "pair": ("pair_interval", "pair_burst"),
    "project_rate": ("project_rate", "tolerance"),
    "queue": ("queue_rate", "queue_size"),
}
"""The settings each kind of limit reads: a provider takes only those of its kinds."""


def check_rate(name: str, value: Any) -> float:
    """``value`` as a rate in 0…:data:`MAX_RATE` (``ValueError`` naming ``name``)."""
    return float(_bounded(name, value, 0.0, MAX_RATE))


def _bounded(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> Any:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    number = isinstance(value, kinds) and not isinstance(value, bool)
    if not number or not low <= float(value) <= high:  # also refuses NaN
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} from {low:g} to {high:g}, not {value!r}")
    return value


@dataclass(frozen=True)
class LimitSite:
    """What a provider answers when one of its limits refuses a send (the docs' table)."""

    code: str
    """The error code counted: the provider's own, or the HTTP status where it has none."""
    emits: str
    source: str
    confidence: Confidence


@dataclass(frozen=True, slots=True)
class Refused:
    """A send over a limit: which, and how long until it would pass."""

    kind: LimitKind
    wait: float

    @property
    def retry_after(self) -> int:
        """Whole seconds for ``Retry-After``: never 0, which reads as "now"."""
        return max(1, math.ceil(self.wait))


def _wait(tat: float, now: float, tolerance: float) -> float:
    """GCRA (:mod:`gateway.limiter`'s arithmetic) for a key whose theoretical arrival
    time is ``tat``: 0 if a send fits now, else the seconds until it would."""
    early = slot_wait(tat, now, tolerance)
    return early if early > EPSILON else 0.0


class LimitState:
    """One simulated provider's limits: settings, what they have counted, what they refused.

    Not thread-safe: the emulator calls it under its lock.
    """

    def __init__(self, defaults: Limits, timer: Callable[[], float] = time.monotonic) -> None:
        self.defaults = defaults
        self.settings = defaults
        self.tiers: dict[str, float] = {}
        """Per business number (Sinch: per app): its throughput (Sinch: queue rate)."""
        self.timer = timer
        self.refused: dict[str, dict[str, int]] = {}
        """Business number → error code → sends refused."""
        self._tats: dict[str, float] = {}  # number or project → its arrival time (GCRA)
        self._pairs: dict[tuple[str, str], float] = {}  # (number, user) → the same
        self._queue_free: dict[str, float] = {}  # app → when its queue is empty
        self._next_sweep = 0.0

    # -- settings ------------------------------------------------------------------

    def kinds(self) -> tuple[LimitKind, ...]:
        """The limits this provider has (those its defaults enforce)."""
        return tuple(k for k in LIMIT_KINDS if self.defaults.applies(k))

    def fields(self) -> tuple[str, ...]:
        """The settings this provider takes."""
        wanted = {f for k in self.kinds() for f in KIND_FIELDS[k]}
        return tuple(f for f in FIELDS if f == "enabled" or f in wanted)

    def tier_field(self) -> str | None:
        """What a per-number setting sets: ``throughput``, Sinch's ``queue_rate``, or None."""
        kinds = self.kinds()
        return "throughput" if "throughput" in kinds else "queue_rate" if "queue" in kinds else None

    def describe(self) -> dict[str, Any]:
        """The settings as the control API shows them (``numbers``: per-number tiers)."""
        now = self.timer()
        out: dict[str, Any] = {f: getattr(self.settings, f) for f in self.fields()}
        out["numbers"] = dict(self.tiers)
        if "queue" in self.kinds():
            out["queued"] = {app: self._queued(app, now) for app in self._queue_free}
        return out

    # -- checks ----------------------------------------------------------------------

    def check_send(self, number: str, user: str | None) -> Refused | None:
        """Throughput, then the pair rate, for one send; counted unless refused."""
        s = self.settings
        if not s.enabled:
            return None
        now = self.timer()
        rate = self.tiers.get(number, s.throughput)
        tat = self._tats.get(number, 0.0)
        if rate > 0 and (wait := _wait(tat, now, s.tolerance)):
            return Refused("throughput", wait)
        if s.pair_interval > 0 and user is not None:
            pair = self._pairs.get((number, user), 0.0)
            if wait := _wait(pair, now, (s.pair_burst - 1) * s.pair_interval):
                return Refused("pair", wait)
            self._sweep(now)
            self._pairs[(number, user)] = next_tat(pair, now, s.pair_interval)
        if rate > 0:
            self._tats[number] = next_tat(tat, now, 1.0 / rate)
        return None

    def check_request(self, project: str) -> Refused | None:
        """The project's request rate (Sinch), for one request; counted unless refused."""
        s = self.settings
        if not s.enabled or s.project_rate <= 0:
            return None
        now = self.timer()
        tat = self._tats.get(project, 0.0)
        if wait := _wait(tat, now, s.tolerance):
            return Refused("project_rate", wait)
        self._tats[project] = next_tat(tat, now, 1.0 / s.project_rate)
        return None

    def check_queue(self, app: str) -> Refused | float:
        """Room in the app's queue (Sinch): the timer value at which the accepted message
        leaves it (``now`` when there is no queue), or the refusal."""
        s = self.settings
        now = self.timer()
        rate = self.tiers.get(app, s.queue_rate)
        if not s.enabled or rate <= 0:
            return now
        queued = self._queued(app, now)
        if queued >= s.queue_size:
            return Refused("queue", (queued - s.queue_size + 1) / rate)
        leaves = max(now, self._queue_free.get(app, now)) + 1.0 / rate
        self._queue_free[app] = leaves
        return leaves

    def _queued(self, app: str, now: float) -> int:
        rate = self.tiers.get(app, self.settings.queue_rate)
        free = self._queue_free.get(app, now)
        return math.ceil((free - now) * rate - 1e-9) if free > now and rate > 0 else 0

    def count(self, number: str, code: str) -> None:
        per_code = self.refused.setdefault(number, {})
        per_code[code] = per_code.get(code, 0) + 1

    def _sweep(self, now: float) -> None:
        """Forget the pairs with a full burst again (a campaign has one per user)."""
        if now < self._next_sweep:
            return
        self._pairs = drop_expired(self._pairs, now)
        self._next_sweep = now + SWEEP_EVERY


def limits_table_markdown(
    sites: Mapping[str, Mapping[LimitKind, LimitSite]] | None = None,
    defaults: Mapping[str, Limits] | None = None,
) -> str:
    """docs/testing.md's "Limits" table: a row per provider and limit, from the simulators."""
    if sites is None or defaults is None:
        from gateway.emulator.registry import SIMULATORS  # the registry imports base

        sites = {name: sim.limit_sites for name, sim in SIMULATORS.items()}
        defaults = {name: sim.default_limits for name, sim in SIMULATORS.items()}
    rows = [
        "| provider | limit | default | refused with (counted as) | source / confidence |",
        "|---|---|---|---|---|",
    ]
    for provider, kinds in sites.items():
        for kind, site in kinds.items():
            rows.append(
                f"| `{provider}` | `{kind}` | {_default(kind, defaults[provider])} | "
                f"{site.emits} (`{site.code}`) | {site.source} — **{site.confidence}** |"
            )
    return "\n".join(rows) + "\n"


def _default(kind: LimitKind, d: Limits) -> str:
    if kind == "throughput":
        return f"{d.throughput:g} msg/s per number"
    if kind == "pair":
        return f"1 per {d.pair_interval:g} s per user, bursts of {d.pair_burst}"
    if kind == "project_rate":
        return f"{d.project_rate:g} requests/s per project"
    return f"drains {d.queue_rate:g} msg/s, holds {d.queue_size:,}"
