"""Secret redaction shared by reprs, logs and error messages."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"

_SENSITIVE = re.compile(
    r"(token|secret|password|passwd|authorization|api[-_]?key|apikey|signature|credential"
    r"|private)",
    re.IGNORECASE,
)


_NOT_SECRET = frozenset({"flow_token", "key_id"})  # correlation id; a public key id


def is_sensitive_name(name: str) -> bool:
    """True for header, query and setting names that carry credentials."""
    lowered = name.lower()
    if lowered in _NOT_SECRET:
        return False
    return lowered == "key" or bool(_SENSITIVE.search(lowered))


class SecretRegistry:
    """Known secret values, scrubbed from any text that leaves the library.

    Secrets reach the registry when a gateway loads its senders, so even a provider that
    echoes a credential back in an error message cannot leak it through our output.
    """

    _MIN_LEN = 4  # shorter values would mask ordinary words

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            new = {v for v in values if len(v) >= self._MIN_LEN} - self._values
            if new:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


secrets = SecretRegistry()
"""The process-wide registry every gateway adds its credentials to."""

# A query parameter inside any text: in a URL, a request line, an exception message, or
# a raw query string such as uvicorn's trace of an ASGI scope (b'token=…').
_QUERY_PARAM = re.compile(r"(?:^|(?<=[?&;'\"]))([^=&#;?\s\"'<>]+)=([^&#;\s\"'<>]*)")


def _mask_param(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"{name}={MASK}" if is_sensitive_name(unquote(name)) else match.group(0)


def redact(text: str) -> str:
    """``text`` with credential-named query values (``?token=…``) and every registered
    secret masked: for text written by code we do not control, e.g. a library's log line."""
    if "=" in text:
        text = _QUERY_PARAM.sub(_mask_param, text)
    return secrets.scrub(text)


def redact_url(url: str) -> str:
    """``url`` with its password masked, in the userinfo or in the query (for reprs and
    errors)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}"
    query = redact(f"?{parts.query}")[1:] if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
