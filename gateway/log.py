"""structlog on top of the stdlib ``flowgateway`` logger, with secret redaction built in.

The library never configures logging globally: events go to the stdlib logger
``flowgateway`` (silent until the application attaches a handler). Redaction is part of
our own processor chain, so it applies whatever the application configures.

The libraries under us log too (httpx prints every request URL, 1msg's ``?token=``
included; uvicorn's access log prints webhook paths with their query), so
:func:`install_log_redaction` puts :class:`RedactingFilter` on each logger they use.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from gateway.redact import MASK, is_sensitive_name, redact, secrets

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
        # exc_info=True → an "exception" key holding the traceback, scrubbed below.
        structlog.processors.format_exc_info,
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


# Every name the HTTP stack creates records on (a logger's filters do not see its
# children's records, so parents such as "httpcore" would cover nothing). Kept complete
# by tests/unit/test_log_secrets.py, which reads the installed libraries' sources.
DEPENDENCY_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    # The stdlib's: the event loop's exception handler and captured warnings print
    # aiohttp's "Unclosed response <ClientResponse(url)>", URL query included.
    "asyncio",
    "py.warnings",
)

_NUMBERS = (int, float)  # kept as they are: %d and %f need numbers
_exceptions = logging.Formatter()


def _clean(value: object) -> object:
    """``value`` redacted: a str if anything was masked, else the original object."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, _NUMBERS):
        return value
    try:
        text = str(value)
    except Exception:  # formatting would fail the same way; logging must never raise
        return value
    clean = redact(text)
    return value if clean == text else clean


class RedactedTraceback(Exception):
    """Stands in, in a log record, for an exception whose traceback showed a secret;
    its message is that traceback, redacted."""


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and exception text, in place.

    Arguments keep their shape (a tuple stays a tuple of the same length, a mapping a
    mapping) because formatters may read them: uvicorn's access formatter unpacks five.
    Applications may also attach it to their own handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not args:
            record.msg = _clean(record.msg)
        else:
            # A template with arguments: runtime values are in the arguments, and
            # masking "…?token=%s" in the template would remove a placeholder.
            if isinstance(record.msg, str):
                record.msg = secrets.scrub(record.msg)
            if isinstance(args, tuple):
                record.args = tuple(_clean(a) for a in args)
            else:  # LogRecord unpacks a lone mapping argument
                record.args = {
                    k: MASK if isinstance(k, str) and is_sensitive_name(k) else _clean(v)
                    for k, v in args.items()
                }
        if record.exc_info and not record.exc_text:
            text = _exceptions.formatException(record.exc_info)
            clean = redact(text)
            if clean != text:
                # Replace the exception too: formatters that render exc_info anew
                # (structlog's ProcessorFormatter) would print the secret again.
                record.exc_info = (RedactedTraceback, RedactedTraceback(clean), None)
                record.exc_text = clean
        return True


_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Put :class:`RedactingFilter` on every logger named in :data:`DEPENDENCY_LOGGERS`.

    Called when a gateway, a receiver or a server is created; safe to call again
    (``addFilter`` ignores a filter already there). Costs nothing while those loggers
    are disabled: filters run only for records that pass the level check.
    """
    for name in DEPENDENCY_LOGGERS:
        # The same logger objects the libraries create at import: no handler or level
        # is set, so the application's logging configuration still decides everything.
        logging.getLogger(name).addFilter(_filter)
