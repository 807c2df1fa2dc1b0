"""Senders kept in the store, on each engine: what the registry writes, how another
process sees it, and that nothing readable is stored but provider and ids.

A second ``open_store`` on the same URL is another process (its own connection, or pool).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.senders import ENV_KEY, SecretBox, SenderRegistry
from gateway.store import Store, StoredSender, open_store
from tests.conftest import PROVIDER_SECRETS, PROVIDERS

META = PROVIDERS["meta_cloud"]
SINCH = PROVIDERS["sinch"]
ROTATED = "EAAG-rotated-on-the-store-4242"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def box(monkeypatch: pytest.MonkeyPatch) -> SecretBox:
    key = SecretBox.generate_key()
    monkeypatch.setenv(ENV_KEY, key)
    return SecretBox([key])


@pytest.fixture
def other(store_url: str) -> Iterator[Store]:
    """The same store, opened by another process."""
    s = open_store(store_url)
    yield s
    s.close()


def registry(store: Store, url: str, clock: Clock | None = None, **kw: Any) -> SenderRegistry:
    config = parse_config({"gateway": {"store": url}, "senders": {}}, env={})
    return SenderRegistry(config, store, clock=clock or Clock(), **kw)


def test_stored_senders_round_trip_encrypted(store: Store, store_url: str, box: SecretBox) -> None:
    reg = registry(store, store_url)
    saved = reg.add("br", "sinch", SINCH)
    [row] = store.senders()
    assert row == saved
    assert (row.name, row.provider, row.business_id, row.account_id) == (
        "br",
        "sinch",
        SINCH["app_id"],
        None,
    )
    assert store.sender("br") == row
    assert box.decrypt(row.settings, sender="br") == SINCH  # the exact table, byte-exact blob
    stored = b"".join([row.settings, repr(row).encode()])
    assert not [s for s in PROVIDER_SECRETS if s.encode() in stored]


def test_another_process_sees_add_update_rotate_remove(
    store: Store, other: Store, store_url: str, box: SecretBox
) -> None:
    clock = Clock()
    reader = registry(store, store_url, clock)
    writer = registry(other, store_url)

    writer.add("m", "meta_cloud", META)
    assert "m" not in reader
    clock.now += 5
    assert reader.by_business_id("meta_cloud", META["phone_number_id"]) is reader["m"]
    assert reader.by_account_id("meta_cloud", META["waba_id"]) is reader["m"]

    writer.update("m", {"phone_number_id": "555"})
    clock.now += 5
    assert reader.by_business_id("meta_cloud", "555") is reader["m"]
    assert reader.by_business_id("meta_cloud", META["phone_number_id"]) is None
    assert store.sender("m").business_id == "555"  # type: ignore[union-attr]

    writer.rotate("m", access_token=ROTATED)
    clock.now += 5
    assert reader["m"].adapter.settings.secret_values()[0] == ROTATED

    assert writer.remove("m") is True
    clock.now += 5
    assert "m" not in reader
    assert store.senders() == []


def test_generation_moves_on_every_change_and_only_then(store: Store, box: SecretBox) -> None:
    g0 = store.senders_generation()
    row = StoredSender("s", "sinch", "a", None, box.encrypt(SINCH), 1.0)
    v1 = store.put_sender(row).version
    g1 = store.senders_generation()
    assert g1 != g0
    assert store.senders_generation() == g1  # reading changes nothing
    v2 = store.put_sender(row).version
    assert v2 != v1
    assert store.senders_generation() != g1
    g2 = store.senders_generation()
    assert store.delete_sender("absent") is False
    assert store.senders_generation() == g2
    assert store.delete_sender("s") is True
    assert store.senders_generation() != g2


def test_a_damaged_row_is_skipped_on_each_engine(
    store: Store, store_url: str, box: SecretBox
) -> None:
    reg = registry(store, store_url)
    reg.add("good", "sinch", SINCH)
    store.put_sender(StoredSender("bad", "sinch", "b", None, b"\x00\xff not a token", 1.0))
    reg.refresh(force=True)
    assert list(reg) == ["good"]
    assert {i.name: i.problem is not None for i in reg.listing()} == {"good": False, "bad": True}


def test_rekey_on_each_engine(
    store: Store, store_url: str, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = registry(store, store_url)
    reg.add("a", "sinch", SINCH)
    reg.add("b", "meta_cloud", META)
    old_key, new_key = os.environ[ENV_KEY], SecretBox.generate_key()
    before = [s.settings for s in store.senders()]

    monkeypatch.setenv(ENV_KEY, new_key)
    assert list(registry(store, store_url)) == []  # skipped: written with the old key
    with pytest.raises(ConfigError, match="a, b decrypt with none"):
        registry(store, store_url).rekey()
    assert [s.settings for s in store.senders()] == before  # refused whole

    monkeypatch.setenv(ENV_KEY, f"{new_key},{old_key}")
    assert registry(store, store_url).rekey() == 2
    assert [s.settings for s in store.senders()] != before
    monkeypatch.setenv(ENV_KEY, new_key)
    assert list(registry(store, store_url)) == ["a", "b"]
