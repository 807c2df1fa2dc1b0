"""The encrypted Flow data-exchange endpoint (extra ``crypto``; its ASGI app: ``server``)."""

from gateway.extras import require

require("crypto", "the Flow endpoint")  # before the imports below, which need it

from gateway.endpoint.crypto import (  # noqa: E402
    DecryptionError,
    EndpointError,
    MalformedRequest,
    decrypt_request,
    encrypt_response,
    load_private_key,
)
from gateway.endpoint.handler import (  # noqa: E402
    EndpointResponse,
    FlowEndpoint,
    FlowRequest,
    FlowTokenInvalid,
    ScreenError,
    complete,
    next_screen,
)
from gateway.endpoint.media import MediaDecryptionError, decrypt_media  # noqa: E402

__all__ = [
    "DecryptionError",
    "EndpointError",
    "EndpointResponse",
    "FlowEndpoint",
    "FlowRequest",
    "FlowTokenInvalid",
    "MalformedRequest",
    "MediaDecryptionError",
    "ScreenError",
    "complete",
    "decrypt_media",
    "decrypt_request",
    "encrypt_response",
    "load_private_key",
    "next_screen",
]
