"""Optional dependencies (the distribution's extras) and the error for a missing one.

The core (models, adapters, the sync and async gateways on httpx, the in-process
emulator, the Flow JSON validator) needs no extra. The rest checks its extra where it is
entered, so that a missing one reads as one sentence naming what to install, never as a
``ModuleNotFoundError`` from deep inside::

    import gateway.receiver  # without starlette installed, raises
    # MissingExtra: the receiver needs the 'server' extra: pip install 'flowgateway[server]'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from gateway.errors import GatewayError

EXTRAS: Mapping[str, tuple[str, ...]] = {
    "server": ("starlette", "uvicorn"),
    "crypto": ("cryptography", "jwt"),
    "fast": ("aiohttp",),
    "postgres": ("psycopg", "psycopg_pool"),
    "redis": ("redis",),
    "otel": ("opentelemetry", "opentelemetry.sdk", "opentelemetry.exporter.prometheus"),
}
"""Extra → the modules it must make importable (pyproject.toml's lists, by import name;
``fast``'s uvloop and httptools only speed things up, so nothing requires them)."""


class MissingExtra(GatewayError, ImportError):
    """A feature was used whose extra is not installed.

    Also an ``ImportError``: the ``try: import … except ImportError`` idiom for optional
    dependencies keeps working. ``extra`` is what to install, ``feature`` what needed it,
    ``name`` the first missing module.
    """

    def __init__(self, extra: str, feature: str, module: str) -> None:
        self.extra = extra
        self.feature = feature
        super().__init__(
            f"{feature} needs the {extra!r} extra: pip install 'flowgateway[{extra}]'",
            name=module,
        )


def missing(extra: str) -> str | None:
    """The first module of ``extra`` that cannot be found, or None when all can.

    ``find_spec`` looks without importing, so checking costs no import time.
    """
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` unless every module of ``extra`` is installed."""
    module = missing(extra)
    if module is not None:
        raise MissingExtra(extra, feature, module)


def extra_for_module(module: str) -> str | None:
    """The extra that provides top-level module ``module`` (for errors that escaped a
    check), or None when it belongs to no extra."""
    top = module.partition(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)
