"""FlowGateway: send WhatsApp Flows through any BSP from one model (contract names below)."""

from gateway.client import AsyncGateway, Gateway
from gateway.config import GatewayConfig, load_config
from gateway.core import GatewayCore
from gateway.errors import (
    AuthenticationError,
    ConfigError,
    FlowUnavailable,
    GatewayError,
    InvalidRequest,
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
    InboundEvent,
    MessageStatus,
    SendReceipt,
    TemplateReceipt,
    UnhandledEvent,
)
from gateway.http import HttpRequest, HttpResponse
from gateway.model import FlowMessage, FlowTemplate, SinchOptions, TemplateRef
from gateway.retry import RetryPolicy, RetrySettings

__version__ = "0.1.0"

__all__ = [
    "AsyncGateway",
    "AuthenticationError",
    "ConfigError",
    "ErrorDetail",
    "ErrorEvent",
    "FlowCompleted",
    "FlowMessage",
    "FlowTemplate",
    "FlowUnavailable",
    "Gateway",
    "GatewayConfig",
    "GatewayCore",
    "GatewayError",
    "HttpRequest",
    "HttpResponse",
    "InboundEvent",
    "InvalidRequest",
    "MessageStatus",
    "OutcomeUnknown",
    "PermissionDenied",
    "ProviderError",
    "ProviderUnavailable",
    "QualityLimited",
    "RateLimited",
    "RecipientUnreachable",
    "RetryPolicy",
    "RetrySettings",
    "SendReceipt",
    "ServiceWindowClosed",
    "SignatureError",
    "SinchOptions",
    "TemplateError",
    "TemplateReceipt",
    "TemplateRef",
    "UnhandledEvent",
    "UnsupportedFeature",
    "WebhookError",
    "WebhookPayloadError",
    "load_config",
]
