"""The error tree (contract).

Every failure the gateway reports is a :class:`GatewayError`. Provider failures carry the
provider's own code and the raw body, plus the two facts a caller acts on: whether a retry
may help (``retryable``) and how long to wait (``retry_after``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error raised by FlowGateway."""


class ConfigError(GatewayError):
    """Bad or missing configuration; the message names the key."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class UnsupportedFeature(GatewayError):
    """The provider cannot express what was asked; raised before any request is made."""

    def __init__(self, provider: str, feature: str, detail: str = "") -> None:
        self.provider = provider
        self.feature = feature
        msg = f"provider {provider!r} does not support {feature!r}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class LimitExceeded(UnsupportedFeature):
    """A field is longer than this provider takes (each adapter documents its limits),
    although the neutral model allows it; raised before any request is made."""

    def __init__(self, provider: str, field: str, rule: str, limit: int, got: int) -> None:
        self.field = field
        self.rule = rule
        self.limit = limit
        self.got = got
        detail = f"{field} must be at most {limit} characters here (got {got})"
        super().__init__(provider, rule, detail)


class WebhookError(GatewayError):
    """An inbound callback could not be accepted."""


class SignatureError(WebhookError):
    """The callback's authentication (HMAC, shared header, token) is missing or wrong."""


class WebhookPayloadError(WebhookError):
    """The callback body is not what the provider sends; the message names the path."""


class ProviderError(GatewayError):
    """A provider refused or failed a request.

    ``category`` is the class name; :class:`gateway.events.ErrorDetail` uses the same names
    so a failed status webhook and a failed send read alike.
    """

    category: ClassVar[str] = "ProviderError"
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        code: int | str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        raw: Any = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.raw = raw
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.provider} " if self.provider else ""
        http = f"HTTP {self.status_code}" if self.status_code is not None else "no response"
        code = f", code {self.code}" if self.code is not None else ""
        return f"{where}{http}{code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status_code={self.status_code!r}, "
            f"code={self.code!r}, retryable={self.retryable!r}, message={self.message!r})"
        )


class AuthenticationError(ProviderError):
    """Credentials rejected or expired (Meta 0/190, HTTP 401, Sinch UNAUTHENTICATED)."""

    category = "AuthenticationError"


class PermissionDenied(ProviderError):
    """Authenticated but not allowed (Meta 3/10/200-299, HTTP 403)."""

    category = "PermissionDenied"


class InvalidRequest(ProviderError):
    """The provider rejected the request's content (Meta 100/131008/131009, HTTP 400)."""

    category = "InvalidRequest"


class RateLimited(ProviderError):
    """Too many requests; retry after ``retry_after`` seconds if given."""

    category = "RateLimited"
    default_retryable = True


class QualityLimited(ProviderError):
    """Spam / healthy-ecosystem limits (131048, 131049, 471): not retried now."""

    category = "QualityLimited"


class ServiceWindowClosed(ProviderError):
    """The 24 h customer-service window is closed (131047, 470): send a template instead."""

    category = "ServiceWindowClosed"


class RecipientUnreachable(ProviderError):
    """The recipient cannot receive the message (131026, 1013, 1026)."""

    category = "RecipientUnreachable"


class TemplateError(ProviderError):
    """The template is missing, paused, or its parameters do not fit (132xxx, 2xxx)."""

    category = "TemplateError"


class FlowUnavailable(ProviderError):
    """The Flow is blocked, throttled, unknown or unpublished (132068, 132069)."""

    category = "FlowUnavailable"


class FlowManagementError(ProviderError):
    """A Flows management call was refused (Meta 139000–139006; reference/flows.md §C)."""

    category = "FlowManagementError"


class FlowBlocked(FlowManagementError):
    """139000: the Flow is blocked by integrity checks."""

    category = "FlowBlocked"


class FlowUpdateFailed(FlowManagementError):
    """139001: the Flow cannot be updated (e.g. a published flow that cannot be edited:
    clone it instead, which ``flows.deploy`` does)."""

    category = "FlowUpdateFailed"


class FlowPublishFailed(FlowManagementError):
    """139002: publishing failed (state, validation errors, missing endpoint/key/app…)."""

    category = "FlowPublishFailed"


class FlowDeprecateFailed(FlowManagementError):
    """139003: only a PUBLISHED flow can be deprecated."""

    category = "FlowDeprecateFailed"


class FlowDeleteFailed(FlowManagementError):
    """139004: only a DRAFT flow can be deleted."""

    category = "FlowDeleteFailed"


class FlowMetricsUnavailable(FlowManagementError):
    """139006: not enough requests for the metric asked."""

    category = "FlowMetricsUnavailable"


class NameTaken(InvalidRequest):
    """A Flow or template name is already used in that account (Meta 100 on create)."""

    category = "NameTaken"


class ProviderUnavailable(ProviderError):
    """The provider is down or unreachable (5xx, 1, 2, 131000, 131016, network failures)."""

    category = "ProviderUnavailable"
    default_retryable = True


class OutcomeUnknown(ProviderUnavailable):
    """The request was sent but no answer came back (read timeout, dropped connection).

    The provider may have accepted it, so it is not retried unless the retry policy allows
    ambiguous retries: a duplicate WhatsApp message is worse than a reported failure.
    """

    category = "ProviderUnavailable"
    default_retryable = False


CATEGORIES: Mapping[str, type[ProviderError]] = {
    cls.category: cls
    for cls in (
        ProviderError,
        AuthenticationError,
        PermissionDenied,
        InvalidRequest,
        RateLimited,
        QualityLimited,
        ServiceWindowClosed,
        RecipientUnreachable,
        TemplateError,
        FlowUnavailable,
        FlowManagementError,
        FlowBlocked,
        FlowUpdateFailed,
        FlowPublishFailed,
        FlowDeprecateFailed,
        FlowDeleteFailed,
        FlowMetricsUnavailable,
        NameTaken,
        ProviderUnavailable,
    )
}
"""Category name → error class, shared by send errors and status-webhook errors."""


def class_for_status(status_code: int) -> type[ProviderError]:
    """The one place where an HTTP status alone decides the error class."""
    if status_code == 401:
        return AuthenticationError
    if status_code == 403:
        return PermissionDenied
    if status_code == 429:
        return RateLimited
    if status_code in (408, 425) or status_code >= 500:
        return ProviderUnavailable
    if 400 <= status_code < 500:
        return InvalidRequest
    return ProviderError
