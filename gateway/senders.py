"""Senders at run time: the config file's senders and the store's, in one registry.

A platform's numbers live in its database and change daily. :class:`SenderRegistry` is a
read-only ``Mapping[str, Sender]`` (what ``core.senders`` is) merging the senders of the
TOML file with those kept in the store (:mod:`gateway.store`); its write methods —
:meth:`~SenderRegistry.add`, :meth:`~SenderRegistry.update`,
:meth:`~SenderRegistry.rotate`, :meth:`~SenderRegistry.remove`,
:meth:`~SenderRegistry.rekey` — change the store and take effect in this process at once,
and in every other process at its next refresh: a lookup checks the store's *senders
generation* (a counter every change bumps) at most every ``[gateway] senders_refresh``
seconds, and re-reads the senders only when it moved.

A stored sender's settings are one Fernet token (AES-128-CBC and HMAC-SHA256,
``cryptography``; https://github.com/fernet/spec) encrypted with the first key of
``FLOWGATEWAY_SECRET_KEY``; every key listed there decrypts, so keys rotate without a
pause (:class:`SecretBox`). Provider, business id and account id stay readable, for
listing and routing. Nothing here logs, prints or puts in a message a setting's value.

Errors (all :class:`~gateway.errors.ConfigError`, naming the key or the sender)::

    ConfigError
     └── UnreadableSettings   a stored sender's settings do not decrypt with any key
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from gateway.auth import TokenCache
from gateway.config import GatewayConfig
from gateway.errors import ConfigError, GatewayError
from gateway.log import get_logger
from gateway.redact import secrets
from gateway.secretbox import (
    ENV_KEY,
    SecretBox,
    UnreadableSettings,
    encode_settings,
    mask_settings,
    scrub_later,
    secret_settings,
)
from gateway.store.base import StoredSender
from providers import adapter_class
from providers.base import Adapter

if TYPE_CHECKING:
    from gateway.store.base import Store

__all__ = [
    "ENV_KEY",
    "SecretBox",
    "Sender",
    "SenderInfo",
    "SenderRegistry",
    "UnreadableSettings",
    "mask_settings",
    "secret_settings",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RESERVED = frozenset({"provider", "sender", "key_prefix"})  # not settings: from_settings' own


@dataclass(frozen=True, slots=True)
class Sender:
    """A named, configured adapter (with its bearer-token cache when it needs one)."""

    name: str
    adapter: Adapter
    tokens: TokenCache | None = None

    @property
    def provider(self) -> str:
        return self.adapter.name


def build_sender(name: str, provider: str, table: Mapping[str, Any]) -> Sender:
    """A sender from its settings table (raises ConfigError naming ``senders.NAME.KEY``,
    or ``provider`` for an unknown provider)."""
    cls = adapter_class(provider)
    reserved = sorted(_RESERVED & set(table))
    if reserved:
        raise ConfigError(f"senders.{name}.{reserved[0]}", "is not a setting")
    adapter = cls.from_settings(key_prefix=f"senders.{name}.", sender=name, **table)
    secrets.add(adapter.settings.secret_values())
    return _sender(name, adapter)


def _sender(name: str, adapter: Adapter) -> Sender:
    adapter = adapter.for_sender(name)
    return Sender(name, adapter, TokenCache() if adapter.token_request() else None)


Source = Literal["toml", "code", "store"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderInfo:
    """What ``flowgateway senders list`` and ``show`` print; never a secret.

    ``source``: ``toml`` (the config file), ``code`` (adapters given to the constructor)
    or ``store``. ``settings`` (filled by :meth:`SenderRegistry.describe` only) masks every
    credential as ``***``; ``problem`` says why a stored sender is not in use.
    """

    name: str
    provider: str
    source: Source
    business_id: str | None = None
    account_id: str | None = None
    version: int | None = None
    updated_at: float | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored sender in use: its row, a digest of its settings, the sender built."""

    row: StoredSender
    digest: bytes
    sender: Sender


@dataclass(frozen=True, slots=True)
class _View:
    """One immutable snapshot of every sender and the routing indexes; a refresh swaps it
    whole, so a reader on another thread never sees half of one."""

    senders: dict[str, Sender]
    business: dict[tuple[str, str], Sender]
    account: dict[tuple[str, str], Sender]
    provider: dict[str, list[Sender]]


def _view(senders: dict[str, Sender]) -> _View:
    business: dict[tuple[str, str], Sender] = {}
    account: dict[tuple[str, str], Sender] = {}
    provider: dict[str, list[Sender]] = {}
    for name in sorted(senders):  # several senders with one id: the first by name
        s = senders[name]
        if (bid := s.adapter.business_id) is not None:
            business.setdefault((s.provider, bid), s)
        if (aid := s.adapter.account_id) is not None:
            account.setdefault((s.provider, aid), s)
        provider.setdefault(s.provider, []).append(s)
    return _View(senders, business, account, provider)


def _stored_info(
    row: StoredSender, problem: str | None, settings: Mapping[str, Any] | None = None
) -> SenderInfo:
    return SenderInfo(
        name=row.name,
        provider=row.provider,
        source="store",
        business_id=row.business_id,
        account_id=row.account_id,
        version=row.version,
        updated_at=row.updated_at,
        settings=settings or {},
        problem=problem,
    )


def _digest(provider: str, table: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(encode_settings({"": provider, **table})).digest()


class SenderRegistry(Mapping[str, Sender]):
    """Every sender by name: the config file's (or adapters given in code) and the store's.

    ``config``: a :class:`~gateway.config.GatewayConfig` (its ``[senders]``, and
    ``[gateway] senders_refresh``) or a mapping of names to adapters. ``store``: where
    senders added at run time live (None: the config's only, and a lookup is a plain dict
    lookup). ``box``: the key(s); by default read from ``FLOWGATEWAY_SECRET_KEY`` when
    first needed. ``refresh`` overrides ``senders_refresh`` (seconds between checks of the
    store; 0: every access). ``poll=False``: lookups never touch the store — the owner
    calls :meth:`refresh` itself (e.g. off an event loop). ``report=False``: stored senders
    left out are not logged (the caller shows :meth:`listing`'s problems itself).

    A name in both the file and the store is the file's (a warning is logged once); a
    stored sender that does not decrypt or validate is left out with an error logged,
    naming it. A sender whose stored version (or, after a rekey, whose settings) did not
    change is kept as it was, token cache included.
    """

    def __init__(
        self,
        config: GatewayConfig | Mapping[str, Adapter],
        store: Store | None = None,
        *,
        box: SecretBox | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh: float | None = None,
        poll: bool = True,
        report: bool = True,
    ) -> None:
        self._tables: dict[str, dict[str, Any]] = {}
        static: dict[str, Sender] = {}
        if isinstance(config, GatewayConfig):
            self._source: Source = "toml"
            for name, table in config.senders.items():
                settings = {k: v for k, v in table.items() if k != "provider"}
                static[name] = build_sender(name, table["provider"], settings)
                self._tables[name] = settings
            interval = config.gateway.senders_refresh
        else:
            self._source = "code"
            for name, adapter in config.items():
                static[name] = _sender(name, adapter)
                secrets.add(adapter.settings.secret_values())
            interval = 5.0
        self._static = static
        self._store = store
        self._box_given = box
        self._clock = clock
        self._interval = interval if refresh is None else refresh
        self._lock = threading.Lock()
        self._log = get_logger(component="senders")
        self._report = report
        self._stored: dict[str, _Stored] = {}
        self._rows: dict[str, StoredSender] = {}
        self._problems: dict[str, str] = {}
        self._reported: dict[str, int] = {}  # name → the version whose problem was logged
        self._shadowed: set[str] = set()
        self._generation: int | None = None
        self._due = 0.0
        self._view = _view(dict(static))
        self._poll = poll and store is not None
        self.lookup: Callable[[str], Sender] = (
            # No store, nothing ever changes: the dict's own C lookup (the send hot path).
            self._view.senders.__getitem__ if store is None else self.__getitem__
        )
        """``registry[name]`` as fast as it can be: what GatewayCore.sender calls."""
        if store is not None:
            self.refresh(force=True)

    # -- reading ---------------------------------------------------------------------

    def __getitem__(self, name: str) -> Sender:
        if self._poll:
            self._maybe_refresh()
        return self._view.senders[name]

    def __contains__(self, name: object) -> bool:
        if self._poll:
            self._maybe_refresh()
        return name in self._view.senders

    def __iter__(self) -> Iterator[str]:
        if self._poll:
            self._maybe_refresh()
        return iter(self._view.senders)

    def __len__(self) -> int:
        if self._poll:
            self._maybe_refresh()
        return len(self._view.senders)

    def by_business_id(self, provider: str, business_id: str) -> Sender | None:
        """The sender of ``provider`` whose business id (phone_number_id, app_id,
        instanceId) is ``business_id``; the first by name when several share it."""
        if self._poll:
            self._maybe_refresh()
        return self._view.business.get((provider, business_id))

    def by_account_id(self, provider: str, account_id: str) -> Sender | None:
        """The sender of ``provider`` whose account (WABA) id is ``account_id``; the first
        by name when several share it."""
        if self._poll:
            self._maybe_refresh()
        return self._view.account.get((provider, account_id))

    def of_provider(self, provider: str) -> list[Sender]:
        """Every sender of ``provider``, by name."""
        if self._poll:
            self._maybe_refresh()
        return list(self._view.provider.get(provider, ()))

    def source(self, name: str) -> Source:
        """Where the sender ``name`` comes from (KeyError when there is none)."""
        if name in self._static:
            return self._source
        if name in self._view.senders:
            return "store"
        raise KeyError(name)

    def listing(self) -> list[SenderInfo]:
        """Every sender, the file's first, then the store's by name — also those left out
        (with their ``problem``) and those the file shadows."""
        self.refresh()
        out = [self._info(s, self._source) for s in self._static.values()]
        for name, row in sorted(self._rows.items()):
            problem = self._problems.get(name)
            if name in self._static:
                problem = "shadowed: the config file defines a sender of this name"
            out.append(_stored_info(row, problem))
        return out

    def describe(self, name: str) -> SenderInfo:
        """One sender with its settings, every credential masked as ``***``."""
        if name in self._static:
            s = self._static[name]
            table = self._tables.get(name)
            if table is None:  # adapters given in code: their validated settings
                table = s.adapter.settings.model_dump(exclude_none=True)
            return replace(self._info(s, self._source), settings=mask_settings(s.provider, table))
        row = self._row(name)
        table = self._box().decrypt(row.settings, sender=name)
        stored = self._stored.get(name)
        problem = None if stored is not None else self._problems.get(name)
        return _stored_info(row, problem, mask_settings(row.provider, table))

    @staticmethod
    def _info(s: Sender, source: Source) -> SenderInfo:
        return SenderInfo(
            name=s.name,
            provider=s.provider,
            source=source,
            business_id=s.adapter.business_id,
            account_id=s.adapter.account_id,
        )

    # -- refreshing ------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the store's senders if they changed (``force``: whatever the interval
        says); returns whether the senders were re-read. Safe from any thread."""
        if self._store is None:
            return False
        with self._lock:
            return self._check(force, quiet=False)

    def _maybe_refresh(self) -> None:
        if self._clock() < self._due:
            return
        # Another thread refreshing: read the current snapshot rather than wait.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._check(False, quiet=True)
        finally:
            self._lock.release()

    def _check(self, force: bool, *, quiet: bool) -> bool:
        assert self._store is not None
        now = self._clock()
        if not force and now < self._due:
            return False
        self._due = now + self._interval
        try:
            generation = self._store.senders_generation()  # before the rows: never stale
            if not force and generation == self._generation:
                return False
            rows = self._store.senders()
        except Exception as exc:
            if not quiet:
                raise
            # A lookup keeps the senders it has; the store is asked again next interval.
            self._log.warning("senders.refresh_failed", error=type(exc).__name__, reason=str(exc))
            return False
        self._apply(generation, rows)
        return True

    def _apply(self, generation: int, rows: list[StoredSender]) -> None:
        stored: dict[str, _Stored] = {}
        problems: dict[str, str] = {}
        for row in rows:
            if row.name in self._static:
                if row.name not in self._shadowed:
                    self._shadowed.add(row.name)
                    self._log.warning(
                        "senders.shadowed",
                        sender=row.name,
                        reason="the config file defines a sender of this name; it wins",
                    )
                continue
            old = self._stored.get(row.name)
            if old is not None and old.row.version == row.version:
                stored[row.name] = old
                continue
            try:
                stored[row.name] = self._load(row, old)
            except GatewayError as exc:
                problems[row.name] = str(exc)
                if self._report and self._reported.get(row.name) != row.version:
                    self._reported[row.name] = row.version
                    self._log.error(
                        "senders.skipped",
                        sender=row.name,
                        provider=row.provider,
                        version=row.version,
                        reason=str(exc),
                    )
        senders = dict(self._static)
        senders.update((name, s.sender) for name, s in stored.items())
        self._stored, self._problems = stored, problems
        self._rows = {row.name: row for row in rows}
        self._view = _view(senders)
        self._generation = generation

    def _load(self, row: StoredSender, old: _Stored | None) -> _Stored:
        table = self._box().decrypt(row.settings, sender=row.name)
        scrub_later(row.provider, table)
        digest = _digest(row.provider, table)
        if old is not None and old.digest == digest:
            return _Stored(row, digest, old.sender)  # re-encrypted (rekey), not changed
        sender = build_sender(row.name, row.provider, table)
        # The same token request (same credentials, same endpoint): the token holds.
        if (
            old is not None
            and old.sender.tokens is not None
            and sender.tokens is not None
            and old.sender.adapter.token_request() == sender.adapter.token_request()
        ):
            sender = replace(sender, tokens=old.sender.tokens)
        return _Stored(row, digest, sender)

    def _box(self) -> SecretBox:
        if self._box_given is None:
            self._box_given = SecretBox.from_env()
        return self._box_given

    # -- writing ---------------------------------------------------------------------

    def add(self, name: str, provider: str, settings: Mapping[str, Any]) -> StoredSender:
        """Keep a new sender in the store; validated by building its adapter first.

        Raises ConfigError: a bad name or setting, a name the config file or the store
        already has, no store.
        """
        store = self._writable()
        if not _NAME.match(name):
            raise ConfigError(
                "senders",
                f"{name!r} is not a sender name: 1 to 64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit",
            )
        if name in self._static:
            raise ConfigError(
                f"senders.{name}",
                "is defined in the config file; a stored sender cannot take its name",
            )
        if store.sender(name) is not None:
            raise ConfigError(
                f"senders.{name}", "is already in the store (update, rotate or remove it)"
            )
        saved = store.put_sender(self._seal(name, provider, dict(settings)))
        self.refresh(force=True)
        return saved

    def update(
        self, name: str, changes: Mapping[str, Any] | None = None, /, **more: Any
    ) -> StoredSender:
        """Change some settings of a stored sender (a value None removes the setting)."""
        given = {**(changes or {}), **more}
        if not given:
            raise ConfigError(f"senders.{name}", "no setting to change")
        row = self._row(name)
        table = self._box().decrypt(row.settings, sender=name)
        for key, value in given.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        saved = self._writable().put_sender(self._seal(name, row.provider, table))
        self.refresh(force=True)
        return saved

    def rotate(self, name: str, /, **credentials: str) -> StoredSender:
        """Replace credentials of a stored sender: only its provider's secret settings
        (:func:`secret_settings`, e.g. Meta's ``access_token``, ``app_secret``,
        ``verify_token``); anything else is :meth:`update`'s."""
        row = self._row(name)
        allowed = secret_settings(row.provider)
        if not credentials:
            raise ConfigError(
                f"senders.{name}", f"no credential given (its credentials: {', '.join(allowed)})"
            )
        for key, value in credentials.items():
            if key not in allowed:
                raise ConfigError(
                    f"senders.{name}.{key}",
                    f"is not a credential of provider {row.provider!r} (rotate changes only "
                    f"{', '.join(allowed)}; use update for other settings)",
                )
            if not isinstance(value, str):
                raise ConfigError(f"senders.{name}.{key}", "must be a string")
        return self.update(name, credentials)

    def remove(self, name: str) -> bool:
        """Delete a stored sender; False when the store has none of that name."""
        store = self._writable()
        if name in self._static:
            raise ConfigError(f"senders.{name}", "is defined in the config file: remove it there")
        gone = store.delete_sender(name)
        self.refresh(force=True)
        return gone

    def rekey(self) -> int:
        """Encrypt every stored sender again with the first key; returns how many.

        Refuses, changing nothing, when a sender does not decrypt with any key (list its
        old key after the new one first).
        """
        store, box = self._writable(), self._box()
        unreadable = []
        for row in store.senders():
            try:
                box.rotate(row.settings, sender=row.name)
            except UnreadableSettings:
                unreadable.append(row.name)
        if unreadable:
            raise ConfigError(
                ENV_KEY,
                f"the settings of {', '.join(unreadable)} decrypt with none of its keys: list "
                "the key they were written with after the new one; nothing was re-encrypted",
            )
        done = 0
        for name in [row.name for row in store.senders()]:
            current = store.sender(name)  # read again just before it is written
            if current is None:  # removed meanwhile
                continue
            blob = box.rotate(current.settings, sender=name)
            store.put_sender(replace(current, settings=blob, updated_at=time.time()))
            done += 1
        self.refresh(force=True)
        return done

    def _writable(self) -> Store:
        if self._store is None:
            raise ConfigError(
                "gateway.store",
                "not set: senders added at run time live in a store "
                '([gateway] store = "sqlite:///flowgateway.db" or "postgresql://…")',
            )
        return self._store

    def _row(self, name: str) -> StoredSender:
        store = self._writable()
        if name in self._static:
            raise ConfigError(f"senders.{name}", "is defined in the config file: change it there")
        row = store.sender(name)
        if row is None:
            raise ConfigError(f"senders.{name}", "no such sender in the store")
        return row

    def _seal(self, name: str, provider: str, table: dict[str, Any]) -> StoredSender:
        scrub_later(provider, table)
        try:
            adapter = build_sender(name, provider, table).adapter  # validates: names the key
        except ConfigError as exc:
            if exc.key != "provider":
                raise
            raise ConfigError(f"senders.{name}.provider", exc.problem) from None
        return StoredSender(
            name=name,
            provider=provider,
            business_id=adapter.business_id,
            account_id=adapter.account_id,
            settings=self._box().encrypt(table),
            updated_at=time.time(),
        )

    def __repr__(self) -> str:
        view = self._view.senders
        shown = ", ".join(
            f"{n}={s.provider}" + ("" if n in self._static else " (store)") for n, s in view.items()
        )
        where = f"; store, refresh {self._interval:g}s" if self._store is not None else ""
        return f"<SenderRegistry {shown}{where}>"
