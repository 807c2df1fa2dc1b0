"""Senders at run time: the registry merging the config file's senders with the store's,
the encryption of stored settings (keys, rotation) and ``flowgateway senders``.

"Another process" is a second registry on its own connection to the same SQLite file;
the same behaviours on PostgreSQL are in tests/store/test_sender_store.py. No secret
may show in a repr, a log record, an error or the CLI's output: every test that handles
one checks.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import ConfigError, FlowMessage, Gateway, cli
from gateway.config import GatewayConfig, parse_config
from gateway.core import GatewayCore
from gateway.http import HttpRequest, HttpResponse
from gateway.log import formatter
from gateway.senders import (
    ENV_KEY,
    SecretBox,
    SenderRegistry,
    UnreadableSettings,
    mask_settings,
    secret_settings,
)
from gateway.store import Store, StoredSender, open_store
from providers import get_adapter
from tests.conftest import PROVIDER_SECRETS, PROVIDERS
from tests.contract.sinch.kit import SINCH_AUTH_URL

META = PROVIDERS["meta_cloud"]
SINCH = PROVIDERS["sinch"]
ONEMSG = PROVIDERS["onemsg"]
NEW_SECRETS = (
    "EAAG-rotated-token-777777",
    "sinch-key-secret-rotated-888",
    "1msg-token-rotated-999",
)
ALL_SECRETS = {*PROVIDER_SECRETS, *NEW_SECRETS}
MSG = FlowMessage(to="+46732001122", flow_id="1", flow_cta="Open", body="Hi", screen="S")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A store that counts the generation checks (each is one query)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.checks = 0

    def senders_generation(self) -> int:
        self.checks += 1
        return self.store.senders_generation()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


_RENDER = formatter("console")  # the record as the library renders it: event and fields


class Records(logging.Handler):
    """Every record of the ``flowgateway`` logger, rendered."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(_RENDER.format(record))

    def named(self, event: str) -> list[str]:
        # The console renderer quotes 'event', the JSON one "event" (a CLI test may pick it).
        return [t for t in self.texts if f"'{event}'" in t or f'"{event}"' in t]


@pytest.fixture
def records() -> Iterator[Records]:
    logger, handler = logging.getLogger("flowgateway"), Records()
    level, before = logger.level, list(logger.handlers)
    for old in before:  # e.g. a CLI test's, on a stream closed since
        logger.removeHandler(old)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        for old in before:
            logger.addHandler(old)
        logger.setLevel(level)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = SecretBox.generate_key()
    monkeypatch.setenv(ENV_KEY, value)
    return value


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'senders.db'}"


@pytest.fixture
def stores(url: str) -> Iterator[list[Store]]:
    """Stores opened by the test (closed at its end): one per simulated process."""
    opened: list[Store] = []
    yield opened
    for s in opened:
        s.close()


def config(url: str | None, refresh: float = 5.0, **senders: dict[str, Any]) -> GatewayConfig:
    gateway: dict[str, Any] = {"senders_refresh": refresh}
    if url is not None:
        gateway["store"] = url
    return parse_config({"gateway": gateway, "senders": senders}, env={})


def process(
    url: str, stores: list[Store], *, refresh: float = 5.0, clock: Clock | None = None, **kw: Any
) -> SenderRegistry:
    """A registry as another process would have it: its own connection to the store."""
    store = open_store(url)
    stores.append(store)
    toml = kw.pop("toml", {"main": {"provider": "meta_cloud", **META}})
    return SenderRegistry(config(url, refresh, **toml), store, clock=clock or Clock(), **kw)


def assert_clean(*texts: object) -> None:
    joined = "\n".join(str(t) for t in texts)
    assert not [s for s in ALL_SECRETS if s in joined]


# -- the box -----------------------------------------------------------------------------


def test_box_round_trips_and_hides_its_keys() -> None:
    k = SecretBox.generate_key()
    box = SecretBox([k])
    token = box.encrypt({"access_token": META["access_token"], "n": 1})
    assert META["access_token"].encode() not in token
    assert box.decrypt(token, sender="x") == {"access_token": META["access_token"], "n": 1}
    assert k not in repr(box)
    assert repr(box) == "SecretBox(1 key)"


def test_box_from_env_names_the_variable_and_how_to_make_a_key() -> None:
    for env in ({}, {ENV_KEY: ""}, {ENV_KEY: " , "}):
        with pytest.raises(ConfigError) as info:
            SecretBox.from_env(env)
        assert info.value.key == ENV_KEY
        assert "flowgateway senders keygen" in str(info.value)
    good = SecretBox.generate_key()
    bad = "not-a-fernet-key-but-a-secret-1234"
    with pytest.raises(ConfigError, match="key 2 of 2 is not a Fernet key") as info:
        SecretBox.from_env({ENV_KEY: f"{good},{bad}"})
    assert bad not in str(info.value)
    assert good not in str(info.value)


def test_wrong_key_names_the_sender_not_the_key() -> None:
    right, wrong = SecretBox.generate_key(), SecretBox.generate_key()
    token = SecretBox([right]).encrypt({"token": "x"})
    with pytest.raises(UnreadableSettings) as info:
        SecretBox([wrong]).decrypt(token, sender="br")
    assert isinstance(info.value, ConfigError)
    assert info.value.key == "senders.br"
    assert ENV_KEY in str(info.value)
    assert right not in str(info.value)
    assert wrong not in str(info.value)
    with pytest.raises(UnreadableSettings):
        SecretBox([right]).decrypt(b"damaged" + token, sender="br")


def test_several_keys_the_first_encrypts_every_one_decrypts() -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    written_with_old = SecretBox([old]).encrypt({"a": "1"})
    both = SecretBox.from_env({ENV_KEY: f"{new}, {old}"})
    assert repr(both) == "SecretBox(2 keys)"
    assert both.decrypt(written_with_old, sender="s") == {"a": "1"}
    with pytest.raises(UnreadableSettings):
        SecretBox([new]).decrypt(written_with_old, sender="s")
    rotated = both.rotate(written_with_old)
    assert SecretBox([new]).decrypt(rotated, sender="s") == {"a": "1"}
    assert SecretBox([new]).decrypt(both.encrypt({"b": 2}), sender="s") == {"b": 2}


def test_secret_settings_are_the_adapters_secretstr_fields() -> None:
    assert secret_settings("meta_cloud") == ("access_token", "app_secret", "verify_token")
    assert secret_settings("sinch") == ("key_secret", "webhook_secret")
    masked = mask_settings("sinch", SINCH)
    assert masked["key_secret"] == masked["webhook_secret"] == "***"
    assert masked["key_id"] == SINCH["key_id"]  # an id, not a credential


# -- merging and reading -----------------------------------------------------------------


def test_without_a_store_a_lookup_is_the_dicts_own() -> None:
    registry = SenderRegistry(config(None, main={"provider": "meta_cloud", **META}))
    # The send hot path: GatewayCore.sender calls this, a C-level dict lookup.
    assert registry.lookup == registry._view.senders.__getitem__
    core = GatewayCore.from_config(config(None, main={"provider": "meta_cloud", **META}))
    assert core.sender("main").provider == "meta_cloud"
    assert core._lookup.__qualname__ == "dict.__getitem__"


def test_toml_and_store_senders_merge(url: str, stores: list[Store], key: str) -> None:
    writer = process(url, stores)
    writer.add("br", "sinch", SINCH)
    registry = process(url, stores)
    assert list(registry) == ["main", "br"]  # the file's first, then the store's by name
    assert (registry.source("main"), registry.source("br")) == ("toml", "store")
    assert registry["br"].provider == "sinch"
    assert registry["br"].adapter.sender == "br"
    assert registry["br"].tokens is not None  # OAuth: a token cache, like a TOML sender's
    assert "br" in registry
    assert "nope" not in registry
    assert len(registry) == 2
    core = GatewayCore.from_config(
        config(url, main={"provider": "meta_cloud", **META}), None, registry._store
    )
    assert core.sender("br").adapter.business_id == SINCH["app_id"]
    with pytest.raises(ConfigError, match="no such sender"):
        core.sender("nope")
    assert_clean(repr(registry), repr(core), registry.listing(), registry.describe("br"))


def test_routing_lookups(url: str, stores: list[Store], key: str) -> None:
    registry = process(url, stores)
    registry.add("z-dup", "meta_cloud", {**META, "access_token": NEW_SECRETS[0]})
    registry.add("onemsg-a", "onemsg", {**ONEMSG, "waba_account_id": "WABA-9"})
    assert registry.by_business_id("meta_cloud", META["phone_number_id"]) is registry["main"]
    assert registry.by_business_id("sinch", META["phone_number_id"]) is None
    assert registry.by_account_id("meta_cloud", META["waba_id"]) is registry["main"]
    assert registry.by_business_id("onemsg", ONEMSG["instance_id"]) is registry["onemsg-a"]
    assert registry.by_account_id("onemsg", "WABA-9") is registry["onemsg-a"]
    assert [s.name for s in registry.of_provider("meta_cloud")] == ["main", "z-dup"]
    assert registry.of_provider("sinch") == []
    registry.remove("onemsg-a")
    assert registry.by_business_id("onemsg", ONEMSG["instance_id"]) is None


# -- refreshing from another process -----------------------------------------------------


def test_changes_from_another_process_arrive_at_the_next_refresh(
    url: str, stores: list[Store], key: str
) -> None:
    clock = Clock()
    reader = process(url, stores, refresh=5.0, clock=clock)
    writer = process(url, stores)
    counting = Counting(reader._store)  # type: ignore[arg-type]
    reader._store = counting

    writer.add("br", "sinch", SINCH)
    for _ in range(100):
        assert "br" not in reader  # cached: the store is not asked before 5 s
    assert counting.checks == 0
    clock.now += 5.0
    assert "br" in reader
    assert counting.checks == 1
    for _ in range(100):
        reader.get("br")
    assert counting.checks == 1  # at most once per interval, however many lookups

    version = writer.update("br", callback_url="https://example.com/cb").version
    clock.now += 5.0
    assert reader["br"].adapter.settings.callback_url == "https://example.com/cb"  # type: ignore[attr-defined]
    assert reader.describe("br").version == version

    assert writer.remove("br") is True
    assert writer.remove("br") is False
    assert "br" in reader
    clock.now += 5.0
    assert "br" not in reader
    assert reader.by_business_id("sinch", SINCH["app_id"]) is None


def test_refresh_zero_checks_on_every_access(url: str, stores: list[Store], key: str) -> None:
    reader = process(url, stores, refresh=0)
    counting = Counting(reader._store)  # type: ignore[arg-type]
    reader._store = counting
    writer = process(url, stores)
    writer.add("br", "sinch", SINCH)
    assert "br" in reader
    reader.get("main")
    assert counting.checks == 2


def test_without_polling_only_refresh_reads_the_store(
    url: str, stores: list[Store], key: str
) -> None:
    clock = Clock()
    store = open_store(url)
    stores.append(store)
    counting = Counting(store)
    cfg = config(url, 0, main={"provider": "meta_cloud", **META})
    core = GatewayCore.from_config(cfg, store=counting, poll=False)
    reader = core.senders
    reader._clock = clock
    reader._due = 0.0  # set from the real monotonic clock while the core was made
    checks = counting.checks
    process(url, stores).add("br", "sinch", SINCH)
    clock.now += 3600
    for _ in range(10):
        assert "br" not in reader
        assert reader.by_business_id("sinch", SINCH["app_id"]) is None
    assert counting.checks == checks  # lookups never asked
    assert reader.refresh() is True
    assert core.sender("br").provider == "sinch"
    assert reader.refresh() is False  # the generation has not moved since


def test_writes_take_effect_in_this_process_at_once(
    url: str, stores: list[Store], key: str
) -> None:
    registry = process(url, stores, refresh=3600)
    saved = registry.add("br", "sinch", SINCH)
    assert saved.version > 0
    assert saved.business_id == SINCH["app_id"]
    assert registry["br"].provider == "sinch"
    assert registry.rotate("br", key_secret=NEW_SECRETS[1]).version > saved.version
    assert registry["br"].adapter.settings.key_secret.get_secret_value() == NEW_SECRETS[1]  # type: ignore[attr-defined]
    assert registry.remove("br")
    assert "br" not in registry


def test_a_store_that_fails_keeps_the_senders_in_use(
    url: str, stores: list[Store], key: str, records: Records
) -> None:
    clock = Clock()
    registry = process(url, stores, clock=clock)
    registry.add("br", "sinch", SINCH)

    class Down(Counting):
        def senders_generation(self) -> int:
            self.checks += 1
            raise OSError("connection refused")

    down = Down(registry._store)  # type: ignore[arg-type]
    registry._store = down
    clock.now += 10
    assert registry["br"].provider == "sinch"
    assert registry["main"].provider == "meta_cloud"
    assert registry.get("br") is not None
    assert down.checks == 1  # not again before the next interval
    [warning] = records.named("senders.refresh_failed")
    assert "connection refused" in warning


def test_token_cache_is_kept_unless_the_token_request_changes(
    url: str, stores: list[Store], key: str
) -> None:
    clock = Clock()
    reader = process(url, stores, clock=clock)
    writer = process(url, stores)
    writer.add("br", "sinch", SINCH)
    writer.add("other", "onemsg", ONEMSG)
    clock.now += 5
    tokens = reader["br"].tokens
    sender = reader["br"]

    writer.update("other", namespace="changed")  # another sender changed
    clock.now += 5
    assert reader["br"] is sender

    writer.rekey()  # every version moves; no setting changed
    clock.now += 5
    assert reader["br"] is sender

    writer.update("br", callback_url="https://example.com/cb")  # not used to get a token
    clock.now += 5
    assert reader["br"] is not sender
    assert reader["br"].tokens is tokens

    writer.rotate("br", key_secret=NEW_SECRETS[1])  # a new credential: a new token
    clock.now += 5
    assert reader["br"].tokens is not tokens


# -- what is refused, skipped, logged ----------------------------------------------------


def test_a_stored_sender_cannot_take_a_toml_name(
    url: str, stores: list[Store], key: str, records: Records
) -> None:
    registry = process(url, stores)
    with pytest.raises(ConfigError, match="defined in the config file") as info:
        registry.add("main", "sinch", SINCH)
    assert info.value.key == "senders.main"
    for change in (registry.remove, lambda n: registry.update(n, api_version="v1")):
        with pytest.raises(ConfigError, match="config file"):
            change("main")
    # One written anyway (an older release, another config file): the file's wins.
    box = SecretBox.from_env()
    sneaky = StoredSender("main", "sinch", SINCH["app_id"], None, box.encrypt(SINCH), 0.0)
    registry._store.put_sender(sneaky)  # type: ignore[union-attr]
    registry.refresh(force=True)
    registry.refresh(force=True)
    assert registry["main"].provider == "meta_cloud"
    assert len(records.named("senders.shadowed")) == 1
    [row] = [i for i in registry.listing() if i.source == "store"]
    assert row.problem is not None
    assert "shadowed" in row.problem


def test_an_unreadable_or_invalid_stored_sender_is_skipped_and_named(
    url: str, stores: list[Store], key: str, records: Records
) -> None:
    registry = process(url, stores)
    registry.add("good", "onemsg", ONEMSG)
    store = registry._store
    assert store is not None
    box = SecretBox.from_env()
    store.put_sender(StoredSender("corrupt", "sinch", "x", None, b"gAAAA-not-a-token", 0.0))
    invalid = {k: v for k, v in SINCH.items() if k != "key_id"}  # a required setting missing
    store.put_sender(StoredSender("invalid", "sinch", "y", None, box.encrypt(invalid), 0.0))
    unknown = StoredSender("unknown", "nope", None, None, box.encrypt({"token": "abcd-efgh"}), 0.0)
    store.put_sender(unknown)

    other = process(url, stores)
    assert set(other) == {"main", "good"}
    errors = records.named("senders.skipped")
    named = ("corrupt", "invalid", "unknown")
    assert {n for n in named if any(f"'{n}'" in e or f'"{n}"' in e for e in errors)} == {
        "corrupt",
        "invalid",
        "unknown",
    }
    assert any("senders.invalid.key_id" in e for e in errors)
    problems = {i.name: i.problem for i in other.listing()}
    assert problems["good"] is None
    assert problems["corrupt"]
    assert problems["invalid"]
    with pytest.raises(UnreadableSettings):
        other.describe("corrupt")
    count = len(records.texts)
    other.refresh(force=True)
    assert len(records.named("senders.skipped")) == len(errors)  # logged once per version
    assert len(records.texts) == count
    assert_clean(*records.texts, other.listing(), repr(other))
    assert "abcd-efgh" not in "\n".join(records.texts)  # the unknown provider's token


def test_wrong_or_missing_key_skips_stored_senders_only(
    url: str, stores: list[Store], key: str, monkeypatch: pytest.MonkeyPatch, records: Records
) -> None:
    process(url, stores).add("br", "sinch", SINCH)
    monkeypatch.setenv(ENV_KEY, SecretBox.generate_key())
    wrong = process(url, stores)
    assert list(wrong) == ["main"]
    monkeypatch.delenv(ENV_KEY)
    missing = process(url, stores)
    assert list(missing) == ["main"]
    errors = records.named("senders.skipped")
    assert len(errors) == 2
    assert all(("'br'" in e or '"br"' in e) and ENV_KEY in e for e in errors)
    assert "is not set" in errors[1]
    assert key not in "\n".join(records.texts)
    with pytest.raises(ConfigError, match=ENV_KEY):
        missing.add("new", "onemsg", ONEMSG)


def test_rotate_changes_credentials_only_and_says_which(
    url: str, stores: list[Store], key: str
) -> None:
    registry = process(url, stores)
    registry.add("m2", "meta_cloud", META)
    with pytest.raises(ConfigError) as info:
        registry.rotate("m2", phone_number_id="1")
    assert info.value.key == "senders.m2.phone_number_id"
    assert "access_token, app_secret, verify_token" in str(info.value)
    with pytest.raises(ConfigError, match="no credential given"):
        registry.rotate("m2")
    with pytest.raises(ConfigError, match="no such sender"):
        registry.rotate("absent", access_token="x")
    registry.rotate("m2", access_token=NEW_SECRETS[0])
    assert registry["m2"].adapter.settings.secret_values()[0] == NEW_SECRETS[0]


def test_add_validates_before_writing(url: str, stores: list[Store], key: str) -> None:
    registry = process(url, stores)
    bad = [
        (("x", "meta_cloud", {**META, "colour": "red"}), "senders.x.colour"),
        (("x", "meta_cloud", {"phone_number_id": "1"}), "senders.x.access_token"),
        (("x", "nope", META), "senders.x.provider"),
        (("bad/name", "meta_cloud", META), "senders"),
        (("x", "meta_cloud", {**META, "sender": "y"}), "senders.x.sender"),
        (("x", "meta_cloud", {**META, "access_token": ""}), "senders.x.access_token"),
    ]
    for call, key_named in bad:
        with pytest.raises(ConfigError) as info:
            registry.add(*call)
        assert info.value.key == key_named
        assert_clean(info.value)
    assert registry._store is not None
    assert registry._store.senders() == []
    registry.add("x", "meta_cloud", META)
    with pytest.raises(ConfigError, match="already in the store"):
        registry.add("x", "meta_cloud", META)
    with pytest.raises(ConfigError, match="no setting to change"):
        registry.update("x")


def test_without_a_store_writes_say_how_to_configure_one() -> None:
    registry = SenderRegistry(config(None, main={"provider": "meta_cloud", **META}))
    with pytest.raises(ConfigError) as info:
        registry.add("x", "onemsg", ONEMSG)
    assert info.value.key == "gateway.store"
    assert registry.refresh() is False


# -- keys: rotation ----------------------------------------------------------------------


def test_key_rotation_old_blobs_stay_readable_and_rekey_moves_them(
    url: str, stores: list[Store], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    process(url, stores).add("br", "sinch", SINCH)
    new = SecretBox.generate_key()
    monkeypatch.setenv(ENV_KEY, f"{new},{key}")
    both = process(url, stores)
    assert both["br"].provider == "sinch"  # written with the old key, read with the list
    assert both.rekey() == 1
    monkeypatch.setenv(ENV_KEY, new)  # the old key dropped
    only_new = process(url, stores)
    assert only_new["br"].provider == "sinch"
    assert only_new.describe("br").settings["key_secret"] == "***"


def test_rekey_refuses_and_changes_nothing_when_a_sender_is_unreadable(
    url: str, stores: list[Store], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = process(url, stores)
    registry.add("br", "sinch", SINCH)
    store = registry._store
    assert store is not None
    store.put_sender(
        StoredSender(
            "lost", "sinch", None, None, SecretBox([SecretBox.generate_key()]).encrypt(SINCH), 0.0
        )
    )
    before = {s.name: s.settings for s in store.senders()}
    with pytest.raises(ConfigError, match="lost") as info:
        registry.rekey()
    assert info.value.key == ENV_KEY
    assert "nothing was re-encrypted" in str(info.value)
    assert {s.name: s.settings for s in store.senders()} == before


# -- the gateways ------------------------------------------------------------------------


class FakeSinch:
    """Answers Sinch's token endpoint and sends; counts tokens fetched."""

    def __init__(self) -> None:
        self.tokens = 0

    def send(self, request: HttpRequest) -> HttpResponse:
        if request.url == SINCH_AUTH_URL:
            self.tokens += 1
            body = {"access_token": f"T{self.tokens}", "expires_in": 3600}
        else:
            body = {"message_id": "01HMSG", "accepted_time": "2026-11-21T10:00:00Z"}
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())

    def close(self) -> None:
        pass


def test_gateway_opens_the_store_sends_through_stored_senders_and_closes_it(
    url: str, stores: list[Store], key: str, tmp_path: Path
) -> None:
    process(url, stores).add("br", "sinch", SINCH)
    transport = FakeSinch()
    cfg = config(url, 0, main={"provider": "meta_cloud", **META})
    with Gateway(cfg, transport=transport) as gw:
        assert gw._store is not None
        store = gw._store
        assert gw.send(MSG.model_copy(update={"sender": "br"})).message_id == "01HMSG"
        process(url, stores).update("br", callback_url="https://example.com/cb")
        gw.send(MSG.model_copy(update={"sender": "br"}))
        assert transport.tokens == 1  # the cache outlived an unrelated change
        process(url, stores).rotate("br", key_secret=NEW_SECRETS[1])
        gw.send(MSG.model_copy(update={"sender": "br"}))
        assert transport.tokens == 2
        assert_clean(repr(gw))
    assert gw._store is None
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        store.senders()


def test_a_store_in_from_config_is_read_only_when_the_config_names_one(
    url: str, stores: list[Store], key: str
) -> None:
    process(url, stores).add("br", "sinch", SINCH)
    store = open_store(url)
    stores.append(store)
    without = config(None, main={"provider": "meta_cloud", **META})
    core = GatewayCore.from_config(without, store=store)  # an inbox, say: not for senders
    assert list(core.senders) == ["main"]
    assert core.senders.refresh(force=True) is False


def test_an_empty_store_and_no_toml_sender_is_a_valid_start(
    url: str, stores: list[Store], key: str
) -> None:
    store = open_store(url)
    stores.append(store)
    core = GatewayCore.from_config(config(url), store=store)
    assert len(core.senders) == 0
    with pytest.raises(ConfigError, match="no sender given"):
        core.sender(None)
    core.senders.add("only", "onemsg", ONEMSG)
    assert core.sender("only").provider == "onemsg"


# -- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cfg_file(tmp_path: Path, url: str, key: str) -> Path:
    path = tmp_path / "gateway.toml"
    toml = [f'[gateway]\nstore = "{url}"\n', '[senders.main]\nprovider = "meta_cloud"']
    toml += [f"{k} = {json.dumps(v)}" for k, v in META.items()]
    path.write_text("\n".join(toml) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["senders", *args])
    out, err = capsys.readouterr()
    assert_clean(out, err)
    return code, out, err


def test_cli_add_list_show_update_rotate_remove(
    cfg_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = ["--config", str(cfg_file)]
    monkeypatch.setenv("BR_SECRET", SINCH["key_secret"])
    monkeypatch.setenv("BR_HOOK", SINCH["webhook_secret"])
    args = ["add", "br", "--provider", "sinch", *c, "--set-env", "key_secret=BR_SECRET"]
    args += ["--set-env", "webhook_secret=BR_HOOK"]
    for k in ("project_id", "app_id", "region", "key_id"):
        args += ["--set", f"{k}={SINCH[k]}"]
    code, out, err = run(capsys, *args)
    assert (code, err) == (0, "")
    assert out.startswith(f"added sender br (sinch, business id {SINCH['app_id']}, version ")

    code, out, _ = run(capsys, "list", *c)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "provider", "business_id", "source", "version"]
    assert lines[1].split() == ["main", "meta_cloud", META["phone_number_id"], "toml"]
    assert lines[2].split()[:4] == ["br", "sinch", SINCH["app_id"], "store"]

    code, out, _ = run(capsys, "list", "--json", *c)
    assert [json.loads(line)["source"] for line in out.splitlines()] == ["toml", "store"]

    code, out, _ = run(capsys, "show", "br", *c)
    assert code == 0
    assert '  key_secret: "***"' in out
    assert f'  key_id: "{SINCH["key_id"]}"' in out
    code, out, _ = run(capsys, "show", "main", "--json", *c)
    shown = json.loads(out)
    assert shown["source"] == "toml"
    assert shown["settings"]["access_token"] == "***"

    code, out, err = run(capsys, "update", "br", "--set", "callback_url=https://x.example/cb", *c)
    assert (code, err) == (0, "")
    assert out.startswith("updated sender br")
    code, out, _ = run(capsys, "update", "br", "--unset", "callback_url", *c)
    assert code == 0

    monkeypatch.setenv("NEW_SECRET", NEW_SECRETS[1])
    code, out, _ = run(capsys, "rotate", "br", "--set-env", "key_secret=NEW_SECRET", *c)
    assert code == 0
    assert out.startswith("rotated key_secret of sender br")

    code, out, _ = run(capsys, "remove", "br", *c)
    assert (code, out) == (0, "removed sender br\n")
    code, _, err = run(capsys, "remove", "br", *c)
    assert code == 2
    assert err == "flowgateway: senders.br: no such sender in the store\n"


def test_cli_from_json_and_a_credential_on_the_command_line(
    cfg_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = ["--config", str(cfg_file)]
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"provider": "onemsg", **ONEMSG})))
    code, _, err = run(capsys, "add", "eu", "--from-json", "-", *c)
    assert (code, err) == (0, "")
    code, _, err = run(capsys, "update", "eu", "--set", f"token={NEW_SECRETS[2]}", *c)
    assert code == 0
    assert err.startswith("flowgateway: warning: token was given on the command line")


def test_cli_errors_are_one_line_exit_2(
    cfg_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    c = ["--config", str(cfg_file)]
    cases = [
        ["add", "x", "--provider", "meta_cloud", "--set", "phone_number_id=1"],
        ["add", "main", "--provider", "onemsg", "--set", "instance_id=1"],
        ["add", "x", "--set", "a=b"],
        ["add", "x", "--provider", "onemsg", "--set-env", "token=UNSET_VARIABLE_42"],
        ["add", "x", "--provider", "onemsg", "--set", "novalue"],
        ["show", "absent"],
        ["rotate", "main", "--set-env", "access_token=HOME"],
        ["update", "absent", "--set", "a=b"],
    ]
    secret_json = tmp_path / "bad.json"
    secret_json.write_text(f'{{"token": "{NEW_SECRETS[2]}",}}')  # invalid JSON with a secret
    cases.append(["add", "x", "--provider", "onemsg", "--from-json", str(secret_json)])
    for args in cases:
        code, out, err = run(capsys, *args, *c)
        assert code == 2, args
        assert out == "", args
        assert err.startswith("flowgateway: "), args
        assert err.count("\n") == 1, (args, err)
    monkeypatch.delenv(ENV_KEY)
    monkeypatch.setenv("X_TOKEN", NEW_SECRETS[2])
    args = ["add", "x", "--provider", "onemsg", "--set", "instance_id=1"]
    code, _, err = run(capsys, *args, "--set-env", "token=X_TOKEN", *c)
    assert code == 2
    assert err.startswith(f"flowgateway: {ENV_KEY}: is not set: ")
    assert "`flowgateway senders keygen`" in err


def test_cli_keygen_and_rekey(
    cfg_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    c = ["--config", str(cfg_file)]
    monkeypatch.setenv("EU_TOKEN", ONEMSG["token"])
    run(
        capsys,
        "add",
        "eu",
        "--provider",
        "onemsg",
        "--set",
        "instance_id=i1",
        "--set-env",
        "token=EU_TOKEN",
        *c,
    )
    code, out, err = run(capsys, "keygen")
    new = out.strip()
    assert code == 0
    assert SecretBox([new])
    assert "rekey" in err
    monkeypatch.setenv(ENV_KEY, f"{new},{key}")
    code, out, _ = run(capsys, "rekey", *c)
    assert code == 0
    assert out.startswith("1 sender(s) encrypted")
    monkeypatch.setenv(ENV_KEY, new)
    code, out, _ = run(capsys, "show", "eu", *c)
    assert code == 0
    assert 'token: "***"' in out
    monkeypatch.setenv(ENV_KEY, key)  # the old key alone: it no longer decrypts "eu"
    code, _, err = run(capsys, "show", "eu", *c)
    assert code == 2
    assert err.startswith("flowgateway: senders.eu: its stored settings cannot be decrypted")
    assert err.count("\n") == 1  # the error alone: the registry logged nothing besides
    code, out, err = run(capsys, "list", *c)
    assert (code, err) == (0, "")
    assert "  ! senders.eu: its stored settings cannot be decrypted" in out.splitlines()[2]


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("add", "list", "show", "update", "rotate", "remove", "keygen", "rekey"):
        with pytest.raises(SystemExit) as info:
            cli.main(["senders", command, "--help"])
        assert info.value.code == 0
        assert "--config" in capsys.readouterr().out


def test_nothing_logged_or_raised_shows_a_secret(
    url: str, stores: list[Store], key: str, records: Records
) -> None:
    registry = process(url, stores, refresh=0)
    registry.add("br", "sinch", SINCH)
    registry.add("eu", "onemsg", ONEMSG)
    registry.rotate("eu", token=NEW_SECRETS[2])
    registry.update("br", key_secret=NEW_SECRETS[1])
    texts: list[object] = [repr(registry), registry.listing(), repr(registry["br"])]
    texts += [registry.describe(n) for n in registry]
    texts += [repr(s) for s in registry._store.senders()]  # type: ignore[union-attr]
    for bad in ({**SINCH, "region": "mars"}, {**SINCH, "key_secret": ""}):
        with pytest.raises(ConfigError) as info:
            registry.update("br", bad)
        texts.append(info.value)
    assert_clean(*texts, *records.texts)


def test_adapters_given_in_code_still_make_a_core() -> None:
    adapter = get_adapter("meta_cloud", **META)
    core = GatewayCore({"m": adapter})
    assert core.default_sender == "m"
    assert core.senders.source("m") == "code"
    assert core.senders.describe("m").settings["access_token"] == "***"
    with pytest.raises(ConfigError, match="at least one sender"):
        GatewayCore({})


def test_without_the_crypto_extra(
    url: str,
    stores: list[Store],
    key: str,
    cfg_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    records: Records,
) -> None:
    process(url, stores).add("br", "sinch", SINCH)
    monkeypatch.setitem(sys.modules, "cryptography", None)  # as if not installed
    registry = process(url, stores)  # the file's senders serve; the store's are named
    assert list(registry) == ["main"]
    [error] = records.named("senders.skipped")
    hint = "needs the 'crypto' extra: pip install 'flowgateway[crypto]'"
    assert f"encrypted sender settings {hint}" in error
    assert cli.main(["senders", "list", "--config", str(cfg_file)]) == 2
    assert capsys.readouterr() == ("", f"flowgateway: the senders command {hint}\n")
