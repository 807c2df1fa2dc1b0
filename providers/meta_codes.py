"""Meta's error codes and the words that name them, shared by every adapter.

Meta Cloud API, 360dialog (both APIs), 1msg (which relays Meta's words as free text) and
Sinch (``channel_code``) all report WhatsApp failures with Meta's codes; this module maps
them to the neutral :mod:`gateway.errors` classes.
https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import (
    AuthenticationError,
    FlowBlocked,
    FlowDeleteFailed,
    FlowDeprecateFailed,
    FlowMetricsUnavailable,
    FlowPublishFailed,
    FlowUnavailable,
    FlowUpdateFailed,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QualityLimited,
    RateLimited,
    RecipientUnreachable,
    ServiceWindowClosed,
    TemplateError,
)

Classifier = Callable[[Any], "type[ProviderError] | None"]
"""Provider code → error class (None when the code is unknown)."""

# Meta's error codes (reference/providers.md §1.6) → class. Ranges follow below.
GRAPH_CODES: Mapping[int, type[ProviderError]] = {
    0: AuthenticationError,
    1: ProviderUnavailable,
    2: ProviderUnavailable,
    3: PermissionDenied,
    4: RateLimited,
    10: PermissionDenied,
    100: InvalidRequest,
    190: AuthenticationError,
    368: PermissionDenied,
    80007: RateLimited,
    130429: RateLimited,
    130472: RecipientUnreachable,
    130497: PermissionDenied,
    131000: ProviderUnavailable,
    131005: PermissionDenied,
    131008: InvalidRequest,
    131009: InvalidRequest,
    131016: ProviderUnavailable,
    131021: InvalidRequest,
    131026: RecipientUnreachable,
    131031: PermissionDenied,
    131042: PermissionDenied,
    131045: PermissionDenied,
    131047: ServiceWindowClosed,
    131048: QualityLimited,
    131049: QualityLimited,
    131050: RecipientUnreachable,
    131051: InvalidRequest,
    131052: InvalidRequest,
    131053: InvalidRequest,
    131056: RateLimited,
    131057: ProviderUnavailable,
    131062: InvalidRequest,  # authentication templates cannot go to a BSUID
    132068: FlowUnavailable,
    132069: FlowUnavailable,
    133010: PermissionDenied,
    133016: RateLimited,
    135000: InvalidRequest,
    # Flows management (Meta's Flows error-codes page; reference/flows.md §C)
    139000: FlowBlocked,
    139001: FlowUpdateFailed,
    139002: FlowPublishFailed,
    139003: FlowDeprecateFailed,
    139004: FlowDeleteFailed,
    139006: FlowMetricsUnavailable,
}


def code_table(
    codes: Mapping[int, type[ProviderError]],
    ranges: tuple[tuple[int, int, type[ProviderError]], ...] = (),
    fallback: Classifier | None = None,
) -> Classifier:
    """A classifier: exact codes first, then inclusive ranges, then ``fallback``."""

    def classify(code: Any) -> type[ProviderError] | None:
        try:
            n = int(code)
        except (TypeError, ValueError, OverflowError):  # Infinity and 1e999 parse as floats
            return None
        cls = codes.get(n)
        if cls is not None:
            return cls
        for low, high, ranged in ranges:
            if low <= n <= high:
                return ranged
        return fallback(n) if fallback is not None else None

    return classify


graph_class: Classifier = code_table(
    GRAPH_CODES, ((200, 299, PermissionDenied), (132000, 132999, TemplateError))
)
"""The error class for a Meta/Graph error code, or None if unknown."""


def int_or_raw(code: Any) -> int | str | None:
    if code is None or isinstance(code, bool):
        return None
    if isinstance(code, float) and not code.is_integer():
        return str(code)  # NaN, Infinity, 1e999 or 1.5: no code, kept as written
    try:
        return int(code)
    except (TypeError, ValueError):
        return str(code)


_CODE_IN_TEXT = re.compile(r"\(#(\d+)\)|\b(13[0-3]\d{3})\b")

# The titles and explanations Meta gives each code, lower-cased: a provider that relays
# only Meta's words (1msg's failed acks: "User's number is part of an experiment") is
# classified like the code itself. Titles and details from the error-codes page (link
# above; Meta's older "Title" column) and from real payloads (failed statuses, 1msg acks).
META_TEXTS: Mapping[str, int] = {
    "rate limit hit": 130429,
    "user's number is part of an experiment": 130472,
    "phone number is part of an experiment": 130472,
    "message was not sent as part of an experiment": 130472,
    "business account is restricted from messaging users in this country": 130497,
    "restricted from messaging to users in certain countries": 130497,
    "something went wrong": 131000,
    "access denied": 131005,
    "required parameter is missing": 131008,
    "parameter value is not valid": 131009,
    "service unavailable": 131016,
    "recipient cannot be sender": 131021,
    "message undeliverable": 131026,
    "receiver is incapable of receiving this message": 131026,
    "business account locked": 131031,
    "account has been locked": 131031,
    "business eligibility payment issue": 131042,
    "incorrect certificate": 131045,
    "re-engagement message": 131047,
    "more than 24 hours have passed since the customer last replied": 131047,
    "spam rate limit hit": 131048,
    "maintain healthy ecosystem engagement": 131049,
    "chosen to stop receiving marketing messages": 131050,
    "unsupported message type": 131051,
    "media download error": 131052,
    "media upload error": 131053,
    "pair rate limit hit": 131056,
    "account in maintenance mode": 131057,
    "business-scoped user id (bsuid) recipients are not supported": 131062,
    "number of parameters does not match the expected number of params": 132000,
    "template does not exist": 132001,
    "template is paused": 132015,
    "template is disabled": 132016,
    "flow is blocked": 132068,
    "flow is in blocked state": 132068,
    "flow is throttled": 132069,
    "flow is in throttled state": 132069,
    "phone number not registered": 133010,
}
_TEXTS_LONGEST_FIRST = sorted(META_TEXTS.items(), key=lambda item: -len(item[0]))
_SPACES = re.compile(r"\s+")


def code_in_text(text: str) -> int | None:
    """The Meta code a free text names: ``(#131047) …``, a bare 13xxxx number, or Meta's
    own title or explanation of the code ("Re-engagement message")."""
    m = _CODE_IN_TEXT.search(text)
    if m:
        return int(m.group(1) or m.group(2))
    folded = _SPACES.sub(" ", text.lower().replace("\u2019", "'"))
    for words, code in _TEXTS_LONGEST_FIRST:  # "spam rate limit hit" before "rate limit hit"
        if words in folded:
            return code
    return None


# Meta's words for code 100 when a name is taken (its Flows error-codes table: "Flow name
# is not unique"; templates: "… already exists"), lower-cased: 100 is also every other
# invalid parameter, so only these words make it a NameTaken.
NAME_TAKEN_TEXTS = ("name is not unique", "name already exists", "already exists with the name")


def names_taken(text: str) -> bool:
    """Does an error 100's text say the name is already used in the account?"""
    folded = _SPACES.sub(" ", text.lower())
    return any(words in folded for words in NAME_TAKEN_TEXTS)


def text_class(text: str) -> type[ProviderError] | None:
    """The error class of a free-text failure, from the Meta code it names."""
    code = code_in_text(text)
    return graph_class(code) if code is not None else None
