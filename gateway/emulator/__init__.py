"""Local stand-ins for every provider, for the demo and for tests (no network)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.emulator.app import DEFAULT_ANSWERS, DEFAULT_STATUSES, Emulator
from gateway.emulator.base import FAULTS, Reply, Sent, Sim, WebhookCall
from gateway.emulator.failures import FailureSite, failure_table_markdown
from gateway.emulator.limits import Limits, LimitSite, limits_table_markdown
from gateway.emulator.registry import (
    ENTRY_POINT_GROUP,
    FAILURE_LOCATIONS,
    SIMULATORS,
    simulator_class,
    simulator_names,
)
from gateway.emulator.users import SimUser, bsuid_for
from gateway.http import HttpRequest, HttpResponse

Handler = Callable[[HttpRequest], HttpResponse]


class InProcessTransport:
    """A sync transport handing each request to an in-process handler (``emulator.respond``)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def send(self, request: HttpRequest) -> HttpResponse:
        return self._handler(request)

    def close(self) -> None:
        return None


class AsyncInProcessTransport:
    """The async twin of :class:`InProcessTransport`."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, request: HttpRequest) -> HttpResponse:
        return self._handler(request)

    async def aclose(self) -> None:
        return None


__all__ = [
    "DEFAULT_ANSWERS",
    "DEFAULT_STATUSES",
    "ENTRY_POINT_GROUP",
    "FAILURE_LOCATIONS",
    "FAULTS",
    "SIMULATORS",
    "AsyncInProcessTransport",
    "Emulator",
    "FailureSite",
    "InProcessTransport",
    "LimitSite",
    "Limits",
    "Reply",
    "Sent",
    "Sim",
    "SimUser",
    "WebhookCall",
    "bsuid_for",
    "failure_table_markdown",
    "limits_table_markdown",
    "simulator_class",
    "simulator_names",
]
