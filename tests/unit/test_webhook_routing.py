"""``Adapter.split_webhook``: one callback URL per provider app, routed by business id.

A callback names its sender (Meta and 360dialog Cloud: ``metadata.phone_number_id`` per
change, the WABA ``entry.id`` for account-level changes; Sinch: ``app_id``; 1msg:
``instanceId``); a Meta batch naming several numbers is cut into one part per number, and
each part, parsed by that number's sender, gives exactly that number's events. Junk never
raises: it is one part naming nobody, for the sender's parser to refuse.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.events import InboundEvent
from providers import adapter_class, get_adapter
from providers.base import Adapter, WebhookPart
from tests.conftest import CONTRACT, PROVIDERS
from tests.fuzz.strategies import default_stack, fixtures, raw_bodies, spliced
from tests.kits import KITS, load_fixture_files
from tests.realworld import realworld

ROUTED = ("meta_cloud", "dialog360_cloud", "sinch", "onemsg")
"""Providers whose callbacks name their sender; dialog360_onprem's name none."""
ENVELOPES = ("meta_cloud", "dialog360_cloud")
"""Providers whose callbacks may name several senders (Meta's envelope)."""
REALWORLD = realworld("webhooks")


def _adapter(provider: str, **settings: Any) -> Adapter:
    return get_adapter(
        provider, **{**PROVIDERS[provider], "allow_unsigned_webhooks": True, **settings}
    )


def _split(provider: str, body: bytes) -> list[WebhookPart]:
    return adapter_class(provider).split_webhook(body)


def _summary(event: InboundEvent) -> list[str]:
    """What names an event in the fixtures: its type and message id (else kind, name)."""
    label = next(
        getattr(event, key)
        for key in ("message_id", "kind", "name", "flow_id")
        if getattr(event, key, None) is not None
    )
    return [type(event).__name__, label]


def _same_events(got: list[InboundEvent], want: list[InboundEvent]) -> bool:
    """The same events, in any order (events hold dicts, so they cannot be hashed)."""
    rest = list(want)
    for event in got:
        if event not in rest:
            return False
        rest.remove(event)
    return not rest


def _cases(provider: str) -> list[Any]:
    return [
        pytest.param(provider, json.loads(f.read_text()), id=f"{provider}-{f.stem}")
        for f in load_fixture_files(KITS[provider], "webhooks")
    ]


# -- one sender named: one part, the original bytes --------------------------------------


@pytest.mark.parametrize(("provider", "case"), [p for name in ROUTED for p in _cases(name)])
def test_a_callback_for_one_sender_is_one_part_with_its_own_bytes(
    provider: str, case: dict[str, Any]
) -> None:
    body = json.dumps(case["body"]).encode()
    [part] = _split(provider, body)
    assert part.body is body  # not even re-serialized
    # it names the sender its events name (the fixture says which), this kit's sender
    # (1msg's raw hooks: the instance; Sinch's Provisioning callbacks), or nobody
    adapter = _adapter(provider)
    named = {e.get("business_id") for e in case["expected"]}
    named |= {adapter.business_id, adapter.account_id, None}
    assert part.business_id in named
    assert part.account_id in named


@pytest.mark.parametrize(
    ("provider", "doc", "business_id"),
    [
        ("meta_cloud", "flow_completion", "1234567890"),
        ("meta_cloud", "batch", "1234567890"),  # two entries, one number
        ("dialog360_cloud", "bsuid_status_delivered_to_bsuid", "106540352242922"),
        ("sinch", "flow_completion", "01HAPPID0000000000000000AB"),
        ("onemsg", "flow_reply_body_json", "inst12345"),
        ("onemsg", "raw_statuses", "inst12345"),  # rawHooks: by instanceId, never cut
    ],
)
def test_the_sender_is_named(provider: str, doc: str, business_id: str) -> None:
    text = (CONTRACT / provider / "webhooks" / f"{doc}.json").read_text()
    body = json.dumps(json.loads(text)["body"]).encode()
    assert _split(provider, body) == [WebhookPart(business_id, None, body)]


def test_account_level_changes_name_the_waba() -> None:
    body = json.dumps(
        json.loads((CONTRACT / "meta_cloud/webhooks/template_status_approved.json").read_text())[
            "body"
        ]
    ).encode()
    [part] = _split("meta_cloud", body)
    assert part == WebhookPart(None, "102290129340398", body)
    assert part.account_id == _adapter("meta_cloud").account_id
    [event] = _adapter("meta_cloud").parse_webhook(part.body, {})
    assert event.business_id == part.account_id


def test_on_premise_callbacks_name_no_sender() -> None:
    for case in fixtures("dialog360_onprem", "webhooks"):
        body = json.dumps(case["body"]).encode()
        assert _split("dialog360_onprem", body) == [WebhookPart(None, None, body)]


def test_each_adapter_says_which_account_it_serves() -> None:
    assert _adapter("meta_cloud").account_id == PROVIDERS["meta_cloud"]["waba_id"]
    assert _adapter("dialog360_cloud").account_id == PROVIDERS["dialog360_cloud"].get(
        "waba_account_id"
    )
    assert _adapter("onemsg", waba_account_id="1029384756").account_id == "1029384756"
    assert _adapter("sinch").account_id is None
    assert _adapter("dialog360_onprem").account_id is None


@pytest.mark.parametrize(
    ("doc", "business_id"),
    [
        ({"instanceId": 123456, "ack": []}, "123456"),  # a number: compared as text
        ({"instanceId": "", "ack": []}, None),
        ({"instanceId": None, "ack": []}, None),
        ({"instanceId": True, "ack": []}, None),
        ({"ack": []}, None),
    ],
)
def test_1msg_instance_ids_are_text(doc: dict[str, Any], business_id: str | None) -> None:
    body = json.dumps(doc).encode()
    [part] = _split("onemsg", body)
    assert part == WebhookPart(business_id, None, body)
    if business_id is not None:  # and that sender's parser takes it as its own
        assert _adapter("onemsg", instance_id=business_id).parse_webhook(body, {}) == []


@pytest.mark.parametrize(
    ("doc", "business_id"),
    [
        ({"app_id": "01EB37HMH1M6SV18ABNS3G135H", "message": {}}, "01EB37HMH1M6SV18ABNS3G135H"),
        ({"app_id": "", "contact_create_notification": {}}, None),  # as a real capture has
        ({"app_id": {"id": "x"}, "message": {}}, None),
        ({"type": "WHATSAPP_TEMPLATE_APPROVED", "payload": {}}, None),  # Provisioning API
    ],
)
def test_sinch_callbacks_name_their_app(doc: dict[str, Any], business_id: str | None) -> None:
    body = json.dumps(doc).encode()
    assert _split("sinch", body) == [WebhookPart(business_id, None, body)]


# -- several senders named: one part each ------------------------------------------------


def _routing_cases() -> list[Any]:
    return [
        pytest.param(provider, path, id=f"{provider}-{path.stem}")
        for provider in ENVELOPES
        for path in sorted((CONTRACT / provider).glob("routing_*.json"))
    ]


def _part_adapter(provider: str, part: WebhookPart) -> Adapter:
    """The sender a part is routed to: its number's, else its account's."""
    if part.business_id is not None:
        return _adapter(provider, phone_number_id=part.business_id)
    key = "waba_id" if provider == "meta_cloud" else "waba_account_id"
    return _adapter(provider, **{key: part.account_id})


@pytest.mark.parametrize(("provider", "path"), _routing_cases())
def test_a_batch_naming_several_senders_is_cut_per_sender(provider: str, path: Path) -> None:
    case = json.loads(path.read_text())
    body = json.dumps(case["body"]).encode()
    parts = _split(provider, body)

    want = case["expected_parts"]
    assert [(p.business_id, p.account_id) for p in parts] == [
        (w["business_id"], w["account_id"]) for w in want
    ]
    originals = {json.dumps(e, sort_keys=True) for e in case["body"]["entry"]}
    for part, expected in zip(parts, want, strict=True):
        doc = json.loads(part.body)
        assert {k: v for k, v in doc.items() if k != "entry"} == {
            k: v for k, v in case["body"].items() if k != "entry"
        }
        assert [[e["id"], len(e["changes"])] for e in doc["entry"]] == expected["entries"]
        for entry in doc["entry"]:  # its other keys (time) kept, its changes from there
            assert any(_within(entry, json.loads(original)) for original in originals), (
                f"{entry} is not cut from an entry of the batch"
            )
        events = _part_adapter(provider, part).parse_webhook(part.body, {})
        assert [_summary(e) for e in events] == expected["events"]
        assert {e.business_id for e in events} == {part.business_id or part.account_id}

    whole = _adapter(provider).parse_webhook(body, {})
    cut = [e for p in parts for e in _adapter(provider).parse_webhook(p.body, {})]
    assert _same_events(cut, whole)


def _within(part_entry: dict[str, Any], entry: dict[str, Any]) -> bool:
    """``part_entry`` is ``entry`` with some of its changes, in their order."""
    rest = {k: v for k, v in part_entry.items() if k != "changes"}
    if rest != {k: v for k, v in entry.items() if k != "changes"}:
        return False
    changes = iter(entry["changes"])
    return all(any(c == d for d in changes) for c in part_entry["changes"])


def test_an_envelope_naming_nobody_is_one_part() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert _split("meta_cloud", body) == [WebhookPart(None, None, body)]


def test_account_level_changes_of_two_wabas_are_two_parts() -> None:
    change = {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    doc = {"entry": [{"id": "1", "changes": [change]}, {"id": "2", "changes": [change]}]}
    parts = _split("meta_cloud", json.dumps(doc).encode())
    assert [(p.business_id, p.account_id) for p in parts] == [(None, "1"), (None, "2")]
    assert [json.loads(p.body) for p in parts] == [{"entry": [e]} for e in doc["entry"]]


def test_lone_surrogates_survive_a_cut() -> None:
    """The parser accepts an escaped lone surrogate; the re-serialized part keeps it."""
    changes = [
        {"field": "messages", "value": {"metadata": {"phone_number_id": n}, "x": "\ud800"}}
        for n in ("1", "2")
    ]
    body = json.dumps({"entry": [{"id": "w", "changes": changes}]}).encode()
    parts = _split("meta_cloud", body)
    assert [json.loads(p.body)["entry"][0]["changes"] for p in parts] == [[c] for c in changes]


# -- junk: one part naming nobody, never an exception ------------------------------------

_CHANGE = {"field": "messages", "value": {"metadata": {"phone_number_id": "1"}}}
JUNK = [
    b"",
    b"not json",
    b"\xff\xfe\x00",
    b"[]",
    b'"text"',
    b"null",
    b"1e999",
    b"9" * 5000,  # past Python's integer digits limit
    b"{}",
    b'{"entry": {}}',
    b'{"entry": "x"}',
    b'{"entry": [1]}',
    b'{"entry": [{"changes": {}}]}',
    b'{"entry": [{"id": "w"}]}',
    json.dumps({"entry": [{"changes": [_CHANGE, 5]}]}).encode(),
    json.dumps({"entry": [{"changes": [_CHANGE]}, {"changes": None}]}).encode(),
    b"[" * 100_000,
    b'{"entry": ' + b"[" * 5000 + b"]" * 5000 + b"}",
]


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_is_one_part_naming_nobody(provider: str, body: bytes) -> None:
    with default_stack():
        parts = _split(provider, body)
    assert parts == [WebhookPart(None, None, body)]


@pytest.mark.parametrize("depth", [100, 900, *range(980, 992), 1000, 2000])
def test_deep_values_in_a_batch_never_raise(depth: int) -> None:
    """Nesting the decoder just manages may be too deep to encode again: then one part."""
    deep = "[" * depth + "1" + "]" * depth  # written as text: json.dumps would overflow
    changes = ",".join(
        f'{{"field":"messages","value":{{"metadata":{{"phone_number_id":"{n}"}},"x":{deep}}}}}'
        for n in ("1", "2")
    )
    body = f'{{"entry":[{{"id":"w","changes":[{changes}]}}]}}'.encode()
    with default_stack():
        parts = _split("meta_cloud", body)
    if len(parts) == 1:
        assert parts == [WebhookPart(None, None, body)]
    else:
        assert [p.business_id for p in parts] == ["1", "2"]


# -- published payloads ------------------------------------------------------------------


def _realworld() -> list[Any]:
    if not REALWORLD.is_dir():
        return []
    return [
        pytest.param(provider, path, id=f"{provider}-{path.stem}")
        for provider in (*ROUTED, "dialog360_onprem")
        for path in sorted((REALWORLD / provider).glob("wh_*.json"))
        + sorted((REALWORLD / provider).glob("derived_*.json"))
    ]


@pytest.mark.skipif(
    not REALWORLD.is_dir(), reason=f"the shared real-payload collection is absent ({REALWORLD})"
)
@pytest.mark.parametrize(("provider", "path"), _realworld())
def test_every_real_webhook_splits_into_the_same_events(provider: str, path: Path) -> None:
    body = path.read_bytes()
    adapter = _adapter(provider, **KITS[provider].realworld_settings(json.loads(body)))
    parts = _split(provider, body)
    assert parts, "no part at all"
    if len(parts) == 1:
        assert parts[0].body is body
    cut = [e for p in parts for e in adapter.parse_webhook(p.body, {})]
    assert _same_events(cut, adapter.parse_webhook(body, {}))


# -- fuzzed -------------------------------------------------------------------------------

_LONG = os.environ.get("FLOWGATEWAY_FUZZ_EXAMPLES")
_FUZZ = settings(  # tests/fuzz/conftest.py's profiles, which apply under tests/fuzz only
    max_examples=int(_LONG) if _LONG else 120,
    derandomize=not _LONG,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_DOCS = {
    p: [case["body"] for case in fixtures(p, "webhooks")]
    + [json.loads(f.read_text())["body"] for f in sorted((CONTRACT / p).glob("routing_*.json"))]
    for p in sorted(PROVIDERS)
}
_BODIES = {p: st.one_of(spliced(docs), raw_bodies()) for p, docs in _DOCS.items()}


@pytest.mark.fuzz
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@_FUZZ
@given(data=st.data())
def test_split_webhook_never_raises(provider: str, data: st.DataObject) -> None:
    body = data.draw(_BODIES[provider], label="body")
    with default_stack():
        parts = _split(provider, body)
    assert parts, "no part at all"
    assert all(isinstance(p, WebhookPart) for p in parts)
    for part in parts:
        for name in (part.business_id, part.account_id):
            assert name is None or (isinstance(name, str) and name)
    if len(parts) == 1:
        assert parts[0].body is body
    else:  # cut: each part an envelope naming its own sender, each sender once
        names = [(p.business_id, p.account_id) for p in parts]
        assert len(set(names)) == len(names)
        for part in parts:
            assert _split(provider, part.body) == [part]
