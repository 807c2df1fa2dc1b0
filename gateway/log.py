"""structlog on top of the stdlib ``flowgateway`` logger, with secret redaction built in.

The library never configures logging globally. Events go to the stdlib logger
``flowgateway`` as ordinary :class:`logging.LogRecord` objects built with structlog's
standard-library integration (:func:`structlog.stdlib.render_to_log_kwargs`): the
message is the event name (``send.ok``), every field is a record attribute
(``record.sender``, ``record.provider``, ``record.timestamp`` in ISO 8601 UTC), and an
exception is ``record.exc_info``. So the application's own handlers and formatters,
JSON or text, root logger or not, receive structured records; :func:`formatter` renders
them (and anyone else's records) as JSON or console lines, and :func:`configure_logging`
attaches one for the CLI and quick scripts. ``flowgateway`` carries a
:class:`logging.NullHandler`: with nothing configured a WARNING is dropped instead of
being printed by :data:`logging.lastResort`.

Redaction is part of our own processor chain, before a record is created, so it applies
whatever the application configures. The libraries under us log too (httpx prints every
request URL, 1msg's ``?token=`` included; uvicorn's access log prints webhook paths with
their query), so :func:`install_log_redaction` puts :class:`RedactingFilter` on each
logger they use.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any, Literal, TextIO, TypeAlias

import structlog
from structlog.typing import EventDict, WrappedLogger

from gateway.redact import MASK, is_sensitive_name, redact, secrets

LOGGER_NAME = "flowgateway"
_stdlib = logging.getLogger(LOGGER_NAME)
# Counts as a handler, so with nothing configured a WARNING is dropped rather than
# printed by logging.lastResort; records still propagate to the application's handlers.
_null = logging.NullHandler()
_stdlib.addHandler(_null)

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
_exceptions = logging.Formatter()


class RedactedTraceback(Exception):
    """Stands in, in a log record, for an exception whose traceback showed a secret;
    its message is that traceback, redacted."""


def _redacted(exc_info: ExcInfo) -> tuple[ExcInfo, str | None]:
    """``exc_info``, or a :class:`RedactedTraceback` standing in for it if its traceback
    shows a secret (with that traceback's redacted text)."""
    text = _exceptions.formatException(exc_info)
    clean = redact(text)
    if clean == text:
        return exc_info, None
    # Replace the exception itself: formatters that render exc_info anew (structlog's
    # ProcessorFormatter, an application's JSON formatter) would print the secret again.
    return (RedactedTraceback, RedactedTraceback(clean), None), clean


def exc_info_processor(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Resolve ``exc_info=True`` or an exception to an ``exc_info`` tuple, redacted: the
    record gets a real ``exc_info`` (formatters render it) that shows no secret."""
    value = event.get("exc_info")
    if not value:
        return event
    if isinstance(value, BaseException):
        found: Any = (type(value), value, value.__traceback__)
    elif isinstance(value, tuple):
        found = value
    else:
        found = sys.exc_info()
    if found[0] is not None:
        event["exc_info"] = _redacted(found)[0]
    return event


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


# Attributes every LogRecord has: an event field named so would make the stdlib raise
# ("Attempt to overwrite 'name' in LogRecord") or shadow it, so it gets a trailing "_".
RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_RENAMED = RECORD_ATTRIBUTES - set(structlog.stdlib.LOG_KWARG_NAMES)


def to_record(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """The last processor: the event as ``Logger.log`` keyword arguments (the event name
    as the message, fields as ``extra``, ``exc_info`` as itself)."""
    for key in _RENAMED.intersection(event):
        event[f"{key}_"] = event.pop(key)
    kwargs = structlog.stdlib.render_to_log_kwargs(logger, name, event)
    kwargs.setdefault("stacklevel", _stacklevel())
    return kwargs


_STRUCTLOG = os.path.dirname(structlog.__file__)


def _stacklevel() -> int:
    """The ``stacklevel`` that makes a record's ``funcName``/``lineno``/``pathname`` our
    caller's rather than structlog's: structlog calls ``Logger.info`` two frames above
    :func:`to_record`, and our caller is the first frame above that outside structlog
    (``info`` → ``_proxy_to_logger`` ×2, one more for ``exception``). Checked by
    tests/unit/test_log_stdlib.py."""
    frame: FrameType | None = sys._getframe(3)  # _stacklevel ← to_record ← _process_event
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_STRUCTLOG):
        frame = frame.f_back
        level += 1
    return level


_logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
    _stdlib,
    processors=[
        structlog.stdlib.filter_by_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exc_info_processor,  # before redact_processor, which would stringify an exception
        redact_processor,
        to_record,
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


def _record_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """A record's own fields (``extra``) into the event, with a timestamp if it has none."""
    record: logging.LogRecord = event["_record"]
    for key, value in record.__dict__.items():
        if key not in RECORD_ATTRIBUTES and not key.startswith("_"):
            event[key] = value
    if "timestamp" not in event:
        event["timestamp"] = datetime.fromtimestamp(record.created, UTC).isoformat()
    return event


_renderers: dict[str, structlog.typing.Processor] = {
    "console": structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=False),
    "json": structlog.processors.JSONRenderer(sort_keys=False),
}


def formatter(fmt: Literal["console", "json"] = "json") -> logging.Formatter:
    """A formatter rendering each record as one line: its message as ``event``, its
    level, timestamp and fields, the exception as ``exception`` — for our records and any
    other library's. Attach it to a handler of your own, e.g. on the root logger."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, _record_fields],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_processor,
            _renderers[fmt],
        ],
    )


def configure_logging(
    level: int | str = "INFO",
    fmt: Literal["console", "json"] = "console",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Attach a handler to the ``flowgateway`` logger (for the CLI and quick scripts),
    replacing any that an earlier call attached; our records stop propagating to root."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    for old in list(_stdlib.handlers):
        if old is not _null:
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
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            exc_info, clean = _redacted(record.exc_info)
            if clean is not None:
                record.exc_info, record.exc_text = exc_info, clean
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
