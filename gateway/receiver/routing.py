"""One callback URL per provider app: each part of a body goes to the sender it names.

Meta posts every number of an app to one URL; the number is in the payload
(``metadata.phone_number_id``; Sinch ``app_id``; 1msg ``instanceId``). The provider's
adapter splits a body into parts by that business id (pure, ``split_webhook``); here each
part is matched to a configured sender, and the whole body is verified with the secret of
every sender it reaches (the signature covers the whole body). A part that names no
configured sender is still kept, as *unroutable*, once the body proved authentic with one
of the provider's senders: a number added to the app before it was added here must not
lose its callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.errors import GatewayError, SignatureError
from providers import adapter_class

if TYPE_CHECKING:
    from gateway.core import GatewayCore, Sender


@dataclass(frozen=True, slots=True)
class Routed:
    """A part of a callback for a configured sender."""

    sender: Sender
    body: bytes


@dataclass(frozen=True, slots=True)
class Unroutable:
    """A part of a callback no configured sender owns, and why."""

    reason: str
    body: bytes


def route(
    core: GatewayCore,
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str] | None = None,
) -> list[Routed | Unroutable]:
    """Split ``body`` by business id, match each part to a sender, verify.

    Raises :class:`~gateway.errors.SignatureError` when a sender the body reaches (or,
    for a body reaching none, every sender of ``provider``) refuses its signature.
    """
    registry = core.senders
    out: list[Routed | Unroutable] = []
    reached: dict[str, Sender] = {}
    of_provider: list[Sender] | None = None  # looked up once, when a part needs it
    for part in adapter_class(provider).split_webhook(body):
        sender = None
        if part.business_id is not None:
            sender = registry.by_business_id(provider, part.business_id)
        if sender is None and part.account_id is not None:
            sender = registry.by_account_id(provider, part.account_id)
        if sender is None and part.business_id is None:
            # Nothing names a number (On-Premise), or only an account no sender claims
            # (a template status): the provider's only sender, when there is one.
            if of_provider is None:
                of_provider = registry.of_provider(provider)
            sender = of_provider[0] if len(of_provider) == 1 else None
        if sender is None:
            out.append(Unroutable(_why(provider, part.business_id, part.account_id), part.body))
            continue
        reached[sender.name] = sender
        out.append(Routed(sender, part.body))
    if reached:
        for sender in reached.values():
            sender.adapter.verify_webhook(body, headers, query)
    else:
        senders = registry.of_provider(provider) if of_provider is None else of_provider
        _verify_with_any(senders, body, headers, query)
    return out


def _verify_with_any(
    senders: list[Sender],
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str] | None,
) -> None:
    first: GatewayError | None = None
    for sender in senders:
        try:
            sender.adapter.verify_webhook(body, headers, query)
        except GatewayError as exc:
            first = first or exc
            continue
        return
    raise first or SignatureError("no configured sender of this provider")


def _why(provider: str, business_id: str | None, account_id: str | None) -> str:
    if business_id is not None:
        return f"no {provider} sender has business id {business_id}"
    if account_id is not None:
        return f"no {provider} sender has account id {account_id}"
    return f"the body names no business id and several {provider} senders are configured"
