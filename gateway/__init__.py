"""FlowGateway: send WhatsApp Flows through any BSP from one model (contract names below).

Names are imported on first use (PEP 562), so ``import gateway`` — and every provider
adapter, which imports the neutral core — loads no HTTP client, retry or logging library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AsyncGateway": "gateway.client",
    "Gateway": "gateway.client",
    "GatewayConfig": "gateway.config",
    "load_config": "gateway.config",
    "GatewayCore": "gateway.core",
    "HttpRequest": "gateway.http",
    "HttpResponse": "gateway.http",
    "UserRef": "gateway.identity",
    "FlowMessage": "gateway.model",
    "FlowTemplate": "gateway.model",
    "ProviderOptions": "gateway.model",
    "TemplateRef": "gateway.model",
    "RetryPolicy": "gateway.retry",
    "RetrySettings": "gateway.retry",
    "MissingExtra": "gateway.extras",
    "FlowInfo": "gateway.manage",
    "FlowPreview": "gateway.manage",
    "FlowAsset": "gateway.manage",
    "DeployResult": "gateway.manage",
    "MigrationResult": "gateway.manage",
    "TemplateInfo": "gateway.manage",
    "FlowJSONInvalid": "gateway.manage",
    **dict.fromkeys(
        (
            "ErrorDetail",
            "ErrorEvent",
            "FlowCompleted",
            "FlowHealthAlert",
            "FlowStatus",
            "FlowStatusChanged",
            "InboundEvent",
            "MessageStatus",
            "SendReceipt",
            "TemplateReceipt",
            "TemplateStatusChanged",
            "UnhandledEvent",
            "UserIdentityChanged",
        ),
        "gateway.events",
    ),
    **dict.fromkeys(
        (
            "AuthenticationError",
            "ConfigError",
            "FlowUnavailable",
            "GatewayError",
            "InvalidRequest",
            "OutcomeUnknown",
            "PermissionDenied",
            "ProviderError",
            "ProviderUnavailable",
            "QualityLimited",
            "RateLimited",
            "RecipientUnreachable",
            "ServiceWindowClosed",
            "SignatureError",
            "TemplateError",
            "UnsupportedFeature",
            "WebhookError",
            "FlowManagementError",
            "FlowBlocked",
            "FlowUpdateFailed",
            "FlowPublishFailed",
            "FlowDeprecateFailed",
            "FlowDeleteFailed",
            "FlowMetricsUnavailable",
            "NameTaken",
            "LimitExceeded",
            "WebhookPayloadError",
        ),
        "gateway.errors",
    ),
}

__all__ = [
    "AsyncGateway",
    "AuthenticationError",
    "ConfigError",
    "DeployResult",
    "ErrorDetail",
    "ErrorEvent",
    "FlowAsset",
    "FlowBlocked",
    "FlowCompleted",
    "FlowDeleteFailed",
    "FlowDeprecateFailed",
    "FlowHealthAlert",
    "FlowInfo",
    "FlowJSONInvalid",
    "FlowManagementError",
    "FlowMessage",
    "FlowMetricsUnavailable",
    "FlowPreview",
    "FlowPublishFailed",
    "FlowStatus",
    "FlowStatusChanged",
    "FlowTemplate",
    "FlowUnavailable",
    "FlowUpdateFailed",
    "Gateway",
    "GatewayConfig",
    "GatewayCore",
    "GatewayError",
    "HttpRequest",
    "HttpResponse",
    "InboundEvent",
    "InvalidRequest",
    "LimitExceeded",
    "MessageStatus",
    "MigrationResult",
    "MissingExtra",
    "NameTaken",
    "OutcomeUnknown",
    "PermissionDenied",
    "ProviderError",
    "ProviderOptions",
    "ProviderUnavailable",
    "QualityLimited",
    "RateLimited",
    "RecipientUnreachable",
    "RetryPolicy",
    "RetrySettings",
    "SendReceipt",
    "ServiceWindowClosed",
    "SignatureError",
    "TemplateError",
    "TemplateInfo",
    "TemplateReceipt",
    "TemplateRef",
    "TemplateStatusChanged",
    "UnhandledEvent",
    "UnsupportedFeature",
    "UserIdentityChanged",
    "UserRef",
    "WebhookError",
    "WebhookPayloadError",
    "load_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # what type checkers and IDEs see
    from gateway.client import AsyncGateway, Gateway
    from gateway.config import GatewayConfig, load_config
    from gateway.core import GatewayCore
    from gateway.errors import (
        AuthenticationError,
        ConfigError,
        FlowBlocked,
        FlowDeleteFailed,
        FlowDeprecateFailed,
        FlowManagementError,
        FlowMetricsUnavailable,
        FlowPublishFailed,
        FlowUnavailable,
        FlowUpdateFailed,
        GatewayError,
        InvalidRequest,
        LimitExceeded,
        NameTaken,
        OutcomeUnknown,
        PermissionDenied,
        ProviderError,
        ProviderUnavailable,
        QualityLimited,
        RateLimited,
        RecipientUnreachable,
        ServiceWindowClosed,
        SignatureError,
        TemplateError,
        UnsupportedFeature,
        WebhookError,
        WebhookPayloadError,
    )
    from gateway.events import (
        ErrorDetail,
        ErrorEvent,
        FlowCompleted,
        FlowHealthAlert,
        FlowStatus,
        FlowStatusChanged,
        InboundEvent,
        MessageStatus,
        SendReceipt,
        TemplateReceipt,
        TemplateStatusChanged,
        UnhandledEvent,
        UserIdentityChanged,
    )
    from gateway.extras import MissingExtra
    from gateway.http import HttpRequest, HttpResponse
    from gateway.identity import UserRef
    from gateway.manage import (
        DeployResult,
        FlowAsset,
        FlowInfo,
        FlowJSONInvalid,
        FlowPreview,
        MigrationResult,
        TemplateInfo,
    )
    from gateway.model import FlowMessage, FlowTemplate, ProviderOptions, TemplateRef
    from gateway.retry import RetryPolicy, RetrySettings
