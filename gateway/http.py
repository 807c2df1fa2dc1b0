"""Plain HTTP values passed between pure adapters and the transport (contract).

Adapters build :class:`HttpRequest` and read :class:`HttpResponse`; neither touches a
socket. Reprs mask credentials so a request can be printed or logged safely.
"""

from __future__ import annotations

import json as _json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.redact import MASK, is_sensitive_name, secrets


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON, the encoding every request body uses."""
    return _json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def mask_url(url: str) -> str:
    """The URL with credential-bearing query parameters (``token=``, ``key=``…) masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, MASK if is_sensitive_name(k) else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="*")))


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with credential values masked: by name (Authorization, D360-API-KEY, …)
    and by value (any registered secret, whatever the header that carries it)."""
    return {k: (MASK if is_sensitive_name(k) else secrets.scrub(v)) for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class FormPart:
    """One field of a ``multipart/form-data`` body; a file when ``filename`` is set."""

    name: str
    value: str | bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A complete request: ``url`` includes the query; ``content`` is the exact body sent.

    A multipart upload is described, not encoded: ``form`` holds its parts and the
    transport encodes them (boundary and all) with its HTTP library, so adapters stay free
    of one. ``content`` is then empty.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes = b""
    form: tuple[FormPart, ...] = ()

    @classmethod
    def for_form(
        cls,
        method: str,
        url: str,
        parts: tuple[FormPart, ...],
        headers: Mapping[str, str] | None = None,
    ) -> HttpRequest:
        """A ``multipart/form-data`` request (the transport sets the Content-Type)."""
        hdrs = {"Accept": "application/json", **(headers or {})}
        return cls(method, url, hdrs, form=parts)

    @classmethod
    def for_json(
        cls, method: str, url: str, payload: Any, headers: Mapping[str, str] | None = None
    ) -> HttpRequest:
        """A JSON request whose ``content`` is the compact encoding of ``payload``."""
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        if headers:
            hdrs.update(headers)
        return cls(method, url, hdrs, payload, encode_json(payload))

    def masked(self) -> dict[str, Any]:
        """A printable view with every credential masked (for logs and ``--dry-run``)."""
        return {
            "method": self.method,
            "url": mask_url(self.url),
            "headers": mask_headers(self.headers),
            "json": self.json,
            **({"form": [_shown(p) for p in self.form]} if self.form else {}),
        }

    def __repr__(self) -> str:
        m = self.masked()
        return f"HttpRequest(method={m['method']!r}, url={m['url']!r}, headers={m['headers']!r})"


def _shown(part: FormPart) -> dict[str, Any]:
    size = len(part.value.encode() if isinstance(part.value, str) else part.value)
    if part.filename is not None:  # a file: its name and size, not its bytes
        return {"name": part.name, "filename": part.filename, "bytes": size}
    return {"name": part.name, "value": secrets.scrub(str(part.value))}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A received response; ``headers`` keys are lower-cased."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    @classmethod
    def of(
        cls, status_code: int, headers: Mapping[str, str] | None = None, content: bytes = b""
    ) -> HttpResponse:
        """Build a response, lower-casing header names."""
        return cls(status_code, {k.lower(): v for k, v in (headers or {}).items()}, content)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The decoded body; raises ``ValueError`` if it is not JSON (or nests deeper than
        Python's parser recurses: a 2 KB reply of ``[`` must not escape as RecursionError)."""
        try:
            return _json.loads(self.content)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

    def text(self, limit: int = 300) -> str:
        """The body as text, shortened for error messages."""
        text = self.content.decode("utf-8", "replace").strip()
        return text if len(text) <= limit else text[:limit] + "…"

    def retry_after(self) -> float | None:
        """``Retry-After`` in seconds (delta or HTTP date relative to ``Date``), if any."""
        value = self.header("retry-after")
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:  # "inf" and "nan" parse as floats: no wait to honour
            return max(0.0, seconds) if math.isfinite(seconds) else None
        try:
            when = parsedate_to_datetime(value)
            now_hdr = self.header("date")
            if now_hdr is None:
                return None
            return max(0.0, (when - parsedate_to_datetime(now_hdr)).total_seconds())
        except (TypeError, ValueError):
            return None


def encodable(text: str) -> bool:
    """Whether ``text`` is UTF-8 text: JSON's ``"\\udc00"`` decodes to a lone
    surrogate, which no wire, file or database column can carry."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
