"""structlog on top of the stdlib ``flowgateway`` logger, with secret redaction built in.

The library never configures logging globally: events go to the stdlib logger
``flowgateway`` (silent until the application attaches a handler). Redaction is part of
our own processor chain, so it applies whatever the application configures.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from gateway.redact import MASK, is_sensitive_name, secrets

LOGGER_NAME = "flowgateway"
_stdlib = logging.getLogger(LOGGER_NAME)


def redact_processor(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Mask credential-named keys and scrub known secret values from every string."""
    for key, value in event.items():
        if is_sensitive_name(key):
            event[key] = MASK
        elif isinstance(value, str):
            event[key] = secrets.scrub(value)
        elif isinstance(value, BaseException):
            event[key] = secrets.scrub(f"{type(value).__name__}: {value}")
    return event


_renderers: dict[str, structlog.typing.Processor] = {
    "console": structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=False),
    "json": structlog.processors.JSONRenderer(sort_keys=False),
}
_current = {"renderer": _renderers["console"]}


def _render(logger: WrappedLogger, name: str, event: EventDict) -> Any:
    return _current["renderer"](logger, name, event)


_logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
    _stdlib,
    processors=[
        structlog.stdlib.filter_by_level,
        structlog.stdlib.add_log_level,
        redact_processor,
        _render,
    ],
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def enabled(level: int) -> bool:
    """Whether ``level`` would be emitted: lets hot paths skip building an event at all."""
    return _stdlib.isEnabledFor(level)


def get_logger(**context: Any) -> structlog.stdlib.BoundLogger:
    """The library's logger, optionally bound to ``context``."""
    return _logger.bind(**context) if context else _logger


def configure_logging(
    level: int | str = "INFO",
    fmt: Literal["console", "json"] = "console",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Attach a handler to the ``flowgateway`` logger (for the CLI and quick scripts)."""
    _current["renderer"] = _renderers[fmt]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for old in list(_stdlib.handlers):
        _stdlib.removeHandler(old)
    _stdlib.addHandler(handler)
    _stdlib.setLevel(level if isinstance(level, int) else level.upper())
    _stdlib.propagate = False
    return handler
