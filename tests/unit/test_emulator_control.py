"""The control API (``/_emulator/*``) answers bad input with a 4xx JSON error, bounds the
faults it queues, and posts callbacks to loopback hosts only unless told otherwise."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import pytest

from gateway import transport
from gateway.emulator import FAULTS, Emulator, WebhookCall
from gateway.emulator.app import MAX_FAULT_COUNT, MAX_FAULT_DELAY, MAX_RETRY_AFTER
from gateway.emulator.control import MAX_BODY
from gateway.errors import ProviderUnavailable
from gateway.http import HttpRequest, HttpResponse
from tests.unit.emulator_wire import ACCOUNTS, PHONE, emulator, send

POST_ROUTES = ("faults", "failure_locations", "webhooks", "complete", "users", "identity")
HOOK = "http://127.0.0.1:9/hook"


class Recorder:
    """Stands in for deliver()'s transport: records the URLs, answers 200 (and skips the
    ~20 ms TLS setup of a real client per delivery)."""

    urls: ClassVar[list[str]] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.urls.append(request.url)
        return HttpResponse.of(200)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No callback leaves the process: the URLs deliver() posts to, in order."""
    monkeypatch.setattr(Recorder, "urls", [])
    monkeypatch.setattr(transport, "AsyncHttpxTransport", Recorder)
    return Recorder.urls


def call(emu: Emulator, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """Requests ``(method, path, httpx keyword arguments)`` to the ASGI app, in one loop.
    App exceptions become the 500 a client would see, so the tests can say which input."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=emu.asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            return [await client.request(m, path, **kw) for m, path, kw in requests]

    return asyncio.run(go())


def post(emu: Emulator, route: str, body: Any = None, **kw: Any) -> httpx.Response:
    if body is not None:
        kw["json"] = body
    [resp] = call(emu, ("POST", f"/_emulator/{route}", kw))
    return resp


def error(resp: httpx.Response, status: int) -> str:
    """The reason of a JSON error answer, checking its status."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"] == "application/json"
    reason = resp.json()["error"]
    assert isinstance(reason, str)
    assert reason
    return reason


# -- item 13: invalid JSON ---------------------------------------------------------------

NOT_JSON = [
    b"",
    b"{",
    b'{"provider": "meta_cloud",}',
    b"\xff\xfe{}",
    b"NaN",
    b'{"provider": "meta_cloud", "kind": "slow", "delay": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,
    b"1" * 5000,  # over Python's int-digits limit
]


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("body", NOT_JSON, ids=range(len(NOT_JSON)))
def test_a_body_that_is_not_json_is_400_with_a_reason(route: str, body: bytes) -> None:
    reason = error(post(emulator(), route, content=body), 400)
    assert "not JSON" in reason


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("body", [[], "meta_cloud", 3, None])
def test_a_body_that_is_not_an_object_is_400(route: str, body: Any) -> None:
    content = json.dumps(body).encode()
    assert "JSON object" in error(post(emulator(), route, content=content), 400)


def test_a_body_over_the_limit_is_413() -> None:
    padding = "x" * MAX_BODY
    resp = post(emulator(), "faults", {"provider": "meta_cloud", "kind": "drop", "p": padding})
    assert "bytes" in error(resp, 413)


# -- item 13: fault limits ---------------------------------------------------------------

SLOW = {"provider": "meta_cloud", "kind": "slow"}


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("count", MAX_FAULT_COUNT + 1, "count"),
        ("count", 0, "count"),
        ("count", -5, "count"),
        ("count", 10**300, "count"),
        ("count", 2.5, "integer"),
        ("count", "2", "integer"),
        ("count", True, "integer"),
        ("delay", MAX_FAULT_DELAY + 0.001, "delay"),
        ("delay", -1, "delay"),
        ("delay", "slow", "number"),
        ("retry_after", MAX_RETRY_AFTER + 1, "retry_after"),
        ("retry_after", -1, "retry_after"),
        ("retry_after", 1.5, "integer"),
        ("cnt", 2, "unknown key"),
    ],
)
def test_fault_numbers_are_bounded_and_typed(field: str, value: Any, fragment: str) -> None:
    emu = emulator()
    assert fragment in error(post(emu, "faults", {**SLOW, field: value}), 400)
    assert not emu.sims["meta_cloud"].faults


def test_fault_limits_are_inclusive_and_bound_the_queue() -> None:
    emu = emulator()
    spec = {**SLOW, "delay": MAX_FAULT_DELAY, "retry_after": MAX_RETRY_AFTER}
    assert post(emu, "faults", {**spec, "count": MAX_FAULT_COUNT}).json() == {"ok": True}
    assert "queued" in error(post(emu, "faults", spec), 400)
    assert len(emu.sims["meta_cloud"].faults) == MAX_FAULT_COUNT
    zero = {**SLOW, "count": 1, "delay": 0, "retry_after": 0}
    assert post(emulator(), "faults", zero).json() == {"ok": True}


def test_the_python_api_has_the_same_bounds() -> None:
    emu = emulator()
    for kwargs in (
        {"count": MAX_FAULT_COUNT + 1},
        {"count": 0},
        {"delay": float("nan")},
        {"delay": float("inf")},
        {"retry_after": MAX_RETRY_AFTER + 1},
    ):
        with pytest.raises(ValueError, match="must be"):
            emu.inject("meta_cloud", "slow", **kwargs)
    assert not emu.sims["meta_cloud"].faults


# -- item 13: webhook URLs ---------------------------------------------------------------

LOOPBACK = [
    "http://127.0.0.1:9/hook",
    "http://127.5.6.7/hook",
    "https://localhost:8443/hook",
    "http://LOCALHOST./hook",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://user:pass@127.0.0.1/hook?token=x",
]
REMOTE = [
    "http://example.com/hook",
    "https://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://127.0.0.1.nip.io/hook",
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://127.0.0.1@example.com/hook",
    "http://localhost.example.com/hook",
]
NOT_URLS = ["", "hook", "/hook", "ftp://127.0.0.1/hook", "file:///etc/passwd", "http:///x"]


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_webhook_urls_are_taken(url: str) -> None:
    emu = emulator()
    assert post(emu, "webhooks", {"provider": "sinch", "url": url}).json() == {"ok": True}
    assert emu.sims["sinch"].webhook_url == url


@pytest.mark.parametrize("url", REMOTE + NOT_URLS)
def test_other_webhook_urls_are_refused(url: str) -> None:
    emu = emulator()
    reason = error(post(emu, "webhooks", {"provider": "sinch", "url": url}), 400)
    assert ("loopback" in reason) if url in REMOTE else ("URL" in reason)
    assert emu.sims["sinch"].webhook_url is None
    with pytest.raises(ValueError, match=r"loopback|URL"):
        emu.set_webhook("sinch", url)


def test_a_refused_webhook_gets_no_callbacks(posted: list[str]) -> None:
    emu = emulator()
    _, message_id = send(emu, "meta_cloud")
    error(post(emu, "webhooks", {"provider": "meta_cloud", "url": "http://example.com/"}), 400)
    error(post(emu, "complete", {"message_id": message_id}), 409)
    stray = WebhookCall("meta_cloud", "http://example.com/hook", b"{}", {})
    with pytest.raises(ValueError, match="loopback"):
        asyncio.run(emu.deliver([WebhookCall("meta_cloud", HOOK, b"{}", {}), stray]))
    assert posted == []  # checked before the first post


def test_remote_webhooks_by_allow_list_or_by_choice(posted: list[str]) -> None:
    listed = Emulator(ACCOUNTS, webhook_hosts=["Receiver.Test", "10.0.0.7"])
    listed.set_webhook("meta_cloud", "https://receiver.test/hook")
    listed.set_webhook("sinch", "http://10.0.0.7:8080/hook")
    listed.set_webhook("onemsg", HOOK)  # loopback stays allowed
    with pytest.raises(ValueError, match="loopback"):
        listed.set_webhook("meta_cloud", "https://other.test/hook")
    anywhere = Emulator(ACCOUNTS, allow_remote_webhooks=True)
    anywhere.set_webhook("meta_cloud", "https://example.com/hook")
    _, message_id = send(anywhere, "meta_cloud")
    resp = post(anywhere, "complete", {"message_id": message_id, "answers": None})
    assert resp.json() == {"delivered": [200, 200, 200]}
    assert posted == ["https://example.com/hook"] * 3
    with pytest.raises(ValueError, match="http"):
        anywhere.set_webhook("meta_cloud", "file:///etc/passwd")


# -- item 13: bad input on every route ---------------------------------------------------


def sent_and_registered(emu: Emulator) -> str:
    emu.register_user(PHONE)
    emu.set_webhook("meta_cloud", HOOK)
    return send(emu, "meta_cloud")[1]


CHANGE = {"provider": "meta_cloud", "user": PHONE, "type": "user_changed_user_id"}
BAD_INPUT: list[tuple[str, dict[str, Any], int, str]] = [
    ("faults", {"kind": "drop"}, 400, "missing 'provider'"),
    ("faults", {"provider": "meta_cloud"}, 400, "missing 'kind'"),
    ("faults", {"provider": ["meta_cloud"], "kind": "drop"}, 400, "must be a string"),
    ("faults", {"provider": "nobody", "kind": "drop"}, 400, "no emulated provider"),
    ("faults", {"provider": "meta_cloud", "kind": "meltdown"}, 400, "unknown fault"),
    ("failure_locations", {"provider": "onemsg", "fault": "window_closed"}, 400, "'where'"),
    ("failure_locations", {"provider": {}, "fault": "x", "where": "x"}, 400, "string"),
    ("failure_locations", {"provider": "nobody", "fault": "x", "where": "x"}, 400, "provider"),
    ("webhooks", {"provider": "meta_cloud"}, 400, "missing 'url'"),
    ("webhooks", {"provider": "meta_cloud", "url": 5}, 400, "must be a string"),
    ("webhooks", {"provider": "nobody", "url": HOOK}, 400, "no emulated provider"),
    ("complete", {}, 400, "missing 'message_id'"),
    ("complete", {"message_id": 5}, 400, "must be a string"),
    ("complete", {"message_id": "nope"}, 404, "no message"),
    ("complete", {"message_id": "$id", "statuses": "sent"}, 400, "list"),
    ("complete", {"message_id": "$id", "statuses": [1]}, 400, "list of strings"),
    ("complete", {"message_id": "$id", "statuses": ["bounced"]}, 400, "unknown status"),
    ("complete", {"message_id": "$id", "answers": [1]}, 400, "must be an object"),
    ("users", {}, 400, "missing 'phone'"),
    ("users", {"phone": 16505551234}, 400, "must be a string"),
    ("users", {"phone": "x"}, 400, "not a phone"),
    ("users", {"phone": PHONE, "hide_phone": "no"}, 400, "true or false"),
    ("users", {"phone": PHONE, "username": 5}, 400, "must be a string"),
    ("users", {"phone": PHONE, "name": ["Ana"]}, 400, "must be a string"),
    ("identity", {**CHANGE, "provider": "nobody"}, 400, "no emulated provider"),
    ("identity", {**CHANGE, "user": ["x"]}, 400, "must be a string"),
    ("identity", {**CHANGE, "type": 1}, 400, "must be a string"),
    ("identity", {**CHANGE, "type": "user_changed_name"}, 400, "unknown identity change"),
    ("identity", {**CHANGE, "new_user_id": 7}, 400, "must be a string"),
    ("identity", {**CHANGE, "user": "+4930123456"}, 404, "no simulated user"),
    ("identity", {**CHANGE, "provider": "sinch"}, 409, "no webhook URL"),
]


@pytest.mark.parametrize(("route", "body", "status", "fragment"), BAD_INPUT)
def test_bad_input_is_a_4xx_json_error_naming_the_problem(
    route: str, body: dict[str, Any], status: int, fragment: str, posted: list[str]
) -> None:
    emu = emulator()
    message_id = sent_and_registered(emu)
    body = {k: message_id if v == "$id" else v for k, v in body.items()}
    assert fragment in error(post(emu, route, body), status)
    assert posted == []


def test_an_unknown_provider_in_the_messages_query_is_400() -> None:
    emu = emulator()
    [bad, good] = call(
        emu,
        ("GET", "/_emulator/messages", {"params": {"provider": "nobody"}}),
        ("GET", "/_emulator/messages", {"params": {"provider": "sinch"}}),
    )
    assert "no emulated provider" in error(bad, 400)
    assert good.json() == []


def test_an_unreachable_webhook_is_a_502(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(self: Recorder, request: HttpRequest) -> HttpResponse:
        raise ProviderUnavailable("could not connect to 127.0.0.1:9 (ConnectError)")

    monkeypatch.setattr(Recorder, "send", refused)
    monkeypatch.setattr(transport, "AsyncHttpxTransport", Recorder)
    emu = emulator()
    message_id = sent_and_registered(emu)
    assert "could not connect" in error(post(emu, "complete", {"message_id": message_id}), 502)
    assert "could not connect" in error(post(emu, "identity", CHANGE), 502)


# -- a seeded fuzz test: junk to every control route ---------------------------------------

KEYS = {
    "faults": ("provider", "kind", "count", "retry_after", "delay"),
    "failure_locations": ("provider", "fault", "where"),
    "webhooks": ("provider", "url"),
    "complete": ("message_id", "answers", "statuses"),
    "users": ("phone", "username", "hide_phone", "parent_user_id", "name"),
    "identity": ("provider", "user", "type", "new_phone", "new_user_id"),
}
VALID: dict[str, dict[str, Any]] = {
    "faults": {"provider": "sinch", "kind": "rate_limit", "count": 2, "retry_after": 3},
    "failure_locations": {"provider": "onemsg", "fault": "window_closed", "where": "webhook"},
    "webhooks": {"provider": "sinch", "url": HOOK},
    "complete": {"answers": {"slot": "10:30"}, "statuses": ["sent"]},
    "users": {"phone": PHONE, "username": "sheena", "hide_phone": True},
    "identity": {"provider": "meta_cloud", "user": PHONE, "type": "user_changed_user_id"},
}
# Values each key might well be sent, right or nearly: junk alone seldom gets past the
# first field, and the deeper paths (inject, deliver, identity changes) need a reach.
LIKELY: dict[str, list[Any]] = {
    "provider": [*ACCOUNTS, "nobody"],
    "kind": [*FAULTS, "meltdown"],
    "count": [1, 2, MAX_FAULT_COUNT, MAX_FAULT_COUNT + 1, 0],
    "retry_after": [0, 1, MAX_RETRY_AFTER, MAX_RETRY_AFTER + 1],
    "delay": [0, 0.01, MAX_FAULT_DELAY, MAX_FAULT_DELAY + 0.5],
    "fault": ["window_closed", "rate_limit", "expire_token"],
    "where": ["response", "webhook"],
    "url": [*LOOPBACK, *REMOTE, *NOT_URLS],
    "answers": [None, {}, {"slot": "10:30"}],
    "statuses": [[], ["sent"], ["sent", "delivered", "read"], ["bounced"]],
    "phone": [PHONE, "+5511987654321", "+4930123456", "x"],
    "username": [None, "sheena", "no..dots"],
    "hide_phone": [True, False],
    "parent_user_id": [None, "US.ENT.123", "US.123"],
    "name": ["Ana", "\ud800", "é" * 40],
    "user": [PHONE, "+5511987654321", "US.123"],
    "type": ["user_changed_number", "user_changed_user_id", "user_changed_name"],
    "new_phone": [None, "+5511987650000", "x"],
    "new_user_id": [None, "US.999", "US.ENT.1"],
}
WORDS = [
    *ACCOUNTS, "nobody", "drop", "slow", "rate_limit", "window_closed", "expire_token",
    "response", "webhook", "sent", "read", "bounced", "user_changed_number",
    "user_changed_user_id", PHONE, "+5511987654321", "US.ENT.123", "US.123", "sheena",
    *LOOPBACK, *REMOTE, *NOT_URLS, "\u0000", "\ud800", "é" * 40,
]  # fmt: skip


def junk(rng: random.Random, words: list[str], depth: int = 0) -> Any:
    """A random JSON value, biased towards the words and numbers the routes expect."""
    choice = rng.randrange(10 if depth < 3 else 7)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.choice([0, 1, -1, 3, MAX_FAULT_COUNT, MAX_FAULT_COUNT + 1, 2**63, -(10**30)])
    if choice == 3:
        return rng.choice([0.5, -0.0, 59.9, 60.5, 1e308, 3600.0])
    if choice in (4, 5, 6):
        return rng.choice(words)
    if choice == 7:
        return [junk(rng, words, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(words): junk(rng, words, depth + 1) for _ in range(rng.randrange(3))}


def junk_request(
    rng: random.Random, route: str, words: list[str]
) -> tuple[str, str, dict[str, Any]]:
    """Raw bytes, any JSON, a GET with a junk query, a body of likely and junk values, or
    a valid body with one key dropped, changed or added; ``words[-1]`` is a message id."""
    path = f"/_emulator/{route}"
    kind = rng.randrange(7)
    if kind == 0:
        return "POST", path, {"content": rng.randbytes(rng.randrange(40))}
    if kind == 1:
        return "POST", path, {"content": json.dumps(junk(rng, words)).encode()}
    if kind == 2 or route not in KEYS:  # any bytes in the query, escaped
        query = quote(str(junk(rng, words)).encode("utf-8", "surrogatepass"))
        return "GET", f"{path}?provider={query}", {}
    likely = {**LIKELY, "message_id": [words[-1], "nope"]}

    def value(key: str) -> Any:
        return rng.choice(likely[key]) if key in likely and rng.random() < 0.7 else junk(rng, words)

    if kind in (3, 4):
        body = {k: value(k) for k in KEYS[route] if rng.random() < 0.85}
    else:
        body = {**VALID[route], "message_id": words[-1]} if route == "complete" else VALID[route]
        key = rng.choice([*KEYS[route], rng.choice(words)])
        body = {k: v for k, v in body.items() if k != key}
        if rng.random() < 0.8:
            body[key] = value(key)
    return "POST", path, {"content": json.dumps(body).encode()}


@pytest.mark.parametrize("seed", range(4))
def test_junk_to_every_control_route_is_never_a_500(seed: int, posted: list[str]) -> None:
    rng = random.Random(seed)
    emu = emulator()
    words = [*WORDS, sent_and_registered(emu)]
    for provider in emu.sims:
        emu.set_webhook(provider, HOOK)
    requests = [junk_request(rng, route, words) for route in [*KEYS, "messages"] * 30]
    for (method, path, kw), resp in zip(requests, call(emu, *requests), strict=True):
        assert resp.status_code < 500, (method, path, kw, resp.status_code, resp.text)
        assert resp.headers["content-type"] == "application/json", (method, path, kw)
        if resp.status_code >= 400:
            assert isinstance(resp.json()["error"], str)
    assert set(posted) <= {HOOK, *LOOPBACK}


def test_faults_and_limits_take_a_sender_name_as_well_as_a_provider() -> None:
    from gateway.config import parse_config
    from gateway.emulator import Emulator
    from tests.conftest import PROVIDERS

    config = parse_config(
        {"senders": {"shop": {"provider": "meta_cloud", **PROVIDERS["meta_cloud"]}}}, env={}
    )
    emulator = Emulator.from_config(config)
    assert emulator.provider_named("shop") == "meta_cloud"
    assert emulator.senders["shop"][0] == "meta_cloud"
    emulator.inject("shop", "server_error")  # by sender name
    with pytest.raises(KeyError, match="no emulated provider or sender 'nobody'"):
        emulator.inject("nobody", "server_error")


def test_the_limit_and_message_routes_take_a_sender_name_as_well_as_a_provider() -> None:
    from gateway.config import parse_config
    from tests.conftest import PROVIDERS

    config = parse_config(
        {"senders": {"shop": {"provider": "meta_cloud", **PROVIDERS["meta_cloud"]}}}, env={}
    )
    emu = Emulator.from_config(config)
    refused, reset, messages, limits = call(
        emu,
        ("GET", "/_emulator/refused?provider=shop", {}),
        ("DELETE", "/_emulator/refused?provider=shop", {}),
        ("GET", "/_emulator/messages?provider=shop", {}),
        ("POST", "/_emulator/limits", {"json": {"provider": "shop", "throughput": 10}}),
    )
    assert refused.status_code == 200, refused.text
    assert refused.json() == {"meta_cloud": {}}
    assert reset.json() == {"meta_cloud": {}}
    assert messages.json() == []
    assert limits.json()["meta_cloud"]["throughput"] == 10.0
