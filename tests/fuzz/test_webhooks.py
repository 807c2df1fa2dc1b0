"""``parse_webhook`` and ``verify_webhook`` of every provider, fuzzed.

parse_webhook: a documented callback with nodes replaced by hostile fragments (deep
nesting, 1e999, NaN, lone surrogates, invalid UTF-8…) or bytes of any shape → a list of
events (which the receiver can store as JSON), or WebhookPayloadError — nothing else.

verify_webhook: authentic credentials over any body are accepted; tampered credentials,
bodies changed after signing (for the providers that sign the body), and senders whose
secret is blank are refused with SignatureError — nothing else escapes.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import SignatureError, WebhookPayloadError
from gateway.errors import ConfigError
from gateway.events import InboundEvent, event_from_dict, event_to_dict
from providers import get_adapter
from tests.conftest import PROVIDERS, authentic
from tests.fuzz.strategies import default_stack, fixtures, more, raw_bodies, spliced, texts
from tests.kits import KITS

NAMES = sorted(PROVIDERS)
BODIES = {p: [case["body"] for case in fixtures(p, "webhooks")] for p in NAMES}
HEADERS = st.dictionaries(texts(30), texts(), max_size=3)


_BODIES = {p: st.one_of(spliced(BODIES[p]), raw_bodies()) for p in NAMES}


def _bodies(provider: str) -> st.SearchStrategy[bytes]:
    return _BODIES[provider]


def _stored(event: InboundEvent) -> None:
    """What the receiver does next: the event as JSON text, and back."""
    assert isinstance(event, InboundEvent)
    event_from_dict(json.loads(json.dumps(event_to_dict(event))))


@pytest.mark.parametrize("provider", NAMES)
@more(2)
@given(data=st.data())
def test_parse_webhook_gives_events_or_payload_error(provider: str, data: st.DataObject) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    body = data.draw(_bodies(provider), label="body")
    headers = data.draw(st.one_of(st.just({}), HEADERS), label="headers")
    with default_stack():
        try:
            events = adapter.parse_webhook(body, headers)
        except WebhookPayloadError as exc:
            events = [exc]
        else:
            for event in events:
                _stored(event)
    assert isinstance(events, list)
    assert all(str(e) for e in events if isinstance(e, WebhookPayloadError))


def _credentials(provider: str, body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    headers, query = authentic(provider, body)
    return dict(headers), dict(query)


@pytest.mark.parametrize("provider", NAMES)
@given(data=st.data())
def test_authentic_callbacks_are_accepted(provider: str, data: st.DataObject) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    body = data.draw(_bodies(provider), label="body")
    headers, query = _credentials(provider, body)
    with default_stack():
        adapter.verify_webhook(body, headers, query)


@st.composite
def _tampered(draw: st.DrawFn, provider: str) -> tuple[bytes, dict[str, str], dict[str, str], bool]:
    """(body, headers, query, must_refuse) with one credential or the body changed."""
    body = draw(_bodies(provider))
    headers, query = _credentials(provider, body)
    how = draw(st.sampled_from(["value", "drop", "body", "junk"]))
    must_refuse = True
    if how == "body":
        body = draw(_bodies(provider).filter(lambda b: b != body))
        must_refuse = KITS[provider].signs_body  # the others check a shared secret
    elif how == "junk":
        headers, query = draw(HEADERS), draw(HEADERS)
    else:
        creds = headers if headers else query
        name = draw(st.sampled_from(sorted(creds)))
        old = creds.pop(name)
        if how == "value":
            creds[name] = draw(texts().filter(lambda v: v.strip().lower() != old.strip().lower()))
        must_refuse = name.lower() not in KITS[provider].unchecked_credentials
    return body, headers, query, must_refuse


@pytest.mark.parametrize("provider", NAMES)
@given(data=st.data())
def test_tampered_callbacks_are_refused(provider: str, data: st.DataObject) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    body, headers, query, must_refuse = data.draw(_tampered(provider), label="callback")
    with default_stack():
        try:
            adapter.verify_webhook(body, headers, query)
        except SignatureError as exc:
            refused: SignatureError | None = exc
        else:
            refused = None
    assert refused is not None or not must_refuse, "a tampered callback was accepted"
    assert refused is None or str(refused)


@pytest.mark.parametrize("provider", NAMES)
@given(secret=texts(12), body=st.binary(max_size=32))
def test_any_configured_secret_is_checked(provider: str, secret: str, body: bytes) -> None:
    """Whatever secret the config holds, the adapter refuses it at construction
    (ConfigError) or checks callbacks against it; a blank one authenticates nothing."""
    kit = KITS[provider]
    settings = {**PROVIDERS[provider], kit.webhook_secret_setting: secret}
    try:
        adapter = get_adapter(provider, **settings)
    except ConfigError:
        return
    blank = not secret.strip()
    # What an attacker who knows (or guesses) the secret sends.
    attempts = [(made_with, kit.credentials(body, made_with))
                for made_with in dict.fromkeys(["", secret]) if _encodable(made_with)]  # fmt: skip
    # Junk credentials, which nobody can compute from (a lone surrogate): refused, typed.
    names, params = kit.authentic(body)
    attempts.append((None, (dict.fromkeys(names, secret), dict.fromkeys(params, secret))))
    for made_with, (headers, query) in attempts:
        with default_stack():
            try:
                adapter.verify_webhook(body, headers, query)
            except SignatureError:
                accepted = False
            else:
                accepted = True
        if blank:
            assert not accepted, f"a sender whose secret is {secret!r} accepted a callback"
        elif made_with == secret:
            assert accepted, "authentic credentials refused"


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
