"""Where a provider reports each failure the emulator can inject.

Each simulator declares its own sites (``Sim.failure_sites``, next to the code that emits
them); :data:`gateway.emulator.FAILURE_LOCATIONS` gathers them for the control API, the
tests and docs/testing.md.

``response``: the send's own HTTP answer says it failed (nothing is sent). ``webhook``: the
send is accepted (200 and a message id) and the failure arrives later as the provider's
failed-status callback, with nothing else for that message (no delivered/read, no Flow
completion). ``slow`` and ``drop`` are connection faults, not provider reports: every
provider has them and they are not in the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Where = Literal["response", "webhook"]
WHERE: tuple[Where, ...] = ("response", "webhook")
Confidence = Literal["confirmed", "likely", "unconfirmed"]
TRANSPORT_FAULTS = ("slow", "drop")


@dataclass(frozen=True)
class FailureSite:
    """Where a provider reports one failure by default, and what the emulator emits."""

    where: Where
    emits: str
    source: str
    confidence: Confidence
    # The other place, when the emulator can also report it there (a per-provider setting).
    alternative: tuple[Where, str] | None = None

    @property
    def settable(self) -> tuple[Where, ...]:
        return (self.where,) + ((self.alternative[0],) if self.alternative else ())


def failure_table_markdown(
    locations: Mapping[str, Mapping[str, FailureSite]] | None = None,
) -> str:
    """docs/testing.md's failure table: a row per provider and fault (:data:`FAILURE_LOCATIONS`)."""
    if locations is None:
        from gateway.emulator.registry import FAILURE_LOCATIONS  # the registry imports us

        locations = FAILURE_LOCATIONS
    rows = [
        "| provider | fault | reported in (default) | what the emulator emits | "
        "other setting | source / confidence |",
        "|---|---|---|---|---|---|",
    ]
    for provider, faults in locations.items():
        for fault, site in faults.items():
            other = f"`{site.alternative[0]}`: {site.alternative[1]}" if site.alternative else "—"
            rows.append(
                f"| `{provider}` | `{fault}` | `{site.where}` | {site.emits} | {other} | "
                f"{site.source} — **{site.confidence}** |"
            )
    return "\n".join(rows) + "\n"
