"""Provider test kits: everything provider-specific that the shared suites need.

A provider's folder ``tests/contract/<name>/`` holds its documented payloads
(``outbound/``, ``responses/``, ``errors/``, ``webhooks/``) and ``kit.py``, whose ``KIT`` is
a :class:`ProviderKit`: its test settings and secrets, how its callbacks are authenticated
(and forged), where a flow_token and a BSUID go in its request bodies, its documented
Flow-completion, delivered, window-closed and hidden-user callbacks, its OK send answer,
and its emulator's wire. The shared suites loop over :data:`KITS` and ask the kit; none
of them names a provider.

Folders are found, not listed: every ``tests/contract/*/kit.py``, plus the folders named in
``$FLOWGATEWAY_KITS`` (``os.pathsep``-separated; how ``tests/toy`` puts a sixth provider
through the same suites). See CONTRIBUTING.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.http import HttpRequest

if TYPE_CHECKING:
    import respx

CONTRACT = Path(__file__).parent / "contract"
KITS_ENV = "FLOWGATEWAY_KITS"

Credentials = tuple[dict[str, str], dict[str, str]]
"""Headers and query parameters of a callback."""

WINDOW_CLOSED_TEXT = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)
"""Meta's words for the closed 24-hour window, which every provider relays in its own way."""


class ProviderKit(ABC):
    """What a provider supplies to the shared suites (the contract in CONTRIBUTING.md).

    Builders write the provider's documented payloads (cite the document beside each);
    readers find a value in a request body the way the provider's docs say it is there.
    Neither may call the adapter: the kit is the oracle the adapter is checked against.
    """

    name: ClassVar[str]
    """The registry name (also the folder's name)."""
    settings: ClassVar[dict[str, Any]]
    """One sender's settings, as the fixtures assume (no ``base_url``: the real host)."""
    secret_settings: ClassVar[tuple[str, ...]]
    """The settings that are credentials: never shown, refused when empty or not Unicode."""
    webhook_secret_setting: ClassVar[str]
    """The setting callbacks are authenticated with."""
    ok_body: ClassVar[dict[str, Any]]
    """The provider's 200 answer to a send whose message id is ``wamid.TEST``."""
    signs_body: ClassVar[bool] = False
    """The credentials cover the body, so a body changed after signing is refused."""
    unchecked_credentials: ClassVar[frozenset[str]] = frozenset()
    """Credential names (lower case) the provider sends but nobody checks."""
    passes_unknown_objects: ClassVar[bool] = False
    """A JSON object of an unknown shape is passed on (UnhandledEvent), not refused."""
    log_markers: ClassVar[tuple[str, ...]] = ()
    """Text a send through the emulator must log (masked where it holds a secret)."""
    token_auth: ClassVar[bool] = False
    """Sends need a bearer token the gateway fetches first (see :meth:`mock_auth`)."""
    bsuid_recipient: ClassVar[bool] = True
    """The provider's docs let a send address a business-scoped user id (a user without a
    phone number): the adapter's capability is checked against this."""

    folder: Path
    """Where the kit and its fixtures live (set when the kit is found)."""

    # -- callback authentication --------------------------------------------------------

    @abstractmethod
    def credentials(self, body: bytes, secret: str) -> Credentials:
        """What a caller who knows ``secret`` sends with ``body``."""

    def authentic(self, body: bytes) -> Credentials:
        """The credentials the provider itself sends with ``body``."""
        return self.credentials(body, str(self.settings[self.webhook_secret_setting]))

    def forged(self, body: bytes) -> list[Credentials]:
        """Credentials that must be refused: missing, and made with the wrong secret."""
        return [({}, {}), self.credentials(body, "wrong-secret")]

    # -- HTTP, mocked or emulated -------------------------------------------------------

    def mock_auth(self, mock: respx.MockRouter) -> respx.Route | None:
        """Routes a send needs before its own (a token endpoint); before any catch-all."""
        return None

    def emulator_settings(self, url: str) -> dict[str, Any]:
        """Settings that point a sender at the emulator running at ``url``."""
        return {"base_url": f"{url}/{self.name}"}

    # -- reading request bodies (written from the docs) ---------------------------------

    @abstractmethod
    def wire_token(self, body: dict[str, Any]) -> str:
        """The flow_token in a send's body (interactive or template)."""

    @abstractmethod
    def wire_recipient(self, body: dict[str, Any]) -> str:
        """The recipient of a send to a business-scoped user id, where the docs put it."""

    def bsuid_on_wire(self, to: str) -> str:
        """How a BSUID ``to`` is written there."""
        return to

    # -- the provider's documented callbacks --------------------------------------------

    @abstractmethod
    def flow_completion(
        self, *, response: dict[str, Any], phone: str, reply_to: str, message_id: str, ts: int
    ) -> bytes:
        """A phone user's Flow reply (``response`` is the response_json) to ``reply_to``."""

    def hidden_user_completion(
        self,
        *,
        response: dict[str, Any],
        user_id: str,
        username: str,
        reply_to: str,
        message_id: str,
        ts: int,
    ) -> bytes:
        """The same from a user who hides the phone behind a username (BSUID only).
        Required when the adapter declares ``bsuid_recipient``."""
        raise NotImplementedError(f"{self.name} cannot name a user without a phone")

    @abstractmethod
    def delivered(self, *, phone: str, message_id: str, ts: int) -> bytes:
        """A ``delivered`` status of ``message_id`` for a phone user."""

    @abstractmethod
    def window_closed(self, *, phone: str, message_id: str, ts: int) -> bytes:
        """The closed 24-hour window, where the provider reports it: a failed status."""

    def realworld_settings(self, doc: Any) -> dict[str, Any]:
        """Settings for reading a real payload of another account (``../shared/realworld``)."""
        return {}

    # -- the emulator's wire (hand-written requests, not the adapter's) -----------------

    @abstractmethod
    def flow_body(self, account: Mapping[str, Any], to: str, fields: Mapping[str, Any]) -> Any:
        """An interactive navigate Flow send, written by hand: ``fields`` has flow_id,
        flow_cta, flow_token, body, screen and optionally header, footer, data."""

    @abstractmethod
    def wire_request(
        self, base_url: str, account: Mapping[str, Any], body: Any, **options: str
    ) -> HttpRequest:
        """The send request carrying ``body``, authenticated with ``account``."""

    @abstractmethod
    def wire_message_id(self, answer: dict[str, Any]) -> str:
        """The message id in the provider's answer to an accepted send."""

    @abstractmethod
    def check_window_closed_callback(
        self, doc: dict[str, Any], *, message_id: str, phone: str
    ) -> None:
        """Assert the emulator's closed-window callback is the documented failed status."""

    def check_window_closed_answer(self, status: int, body: Any) -> None:
        """Assert a send refused for the closed window answers as documented (only for
        providers whose simulator can report it in the answer)."""
        raise NotImplementedError(f"{self.name} reports a closed window by webhook only")


def load_fixture_files(kit: ProviderKit, kind: str) -> list[Path]:
    """The JSON cases of ``kind`` (outbound, responses, errors, webhooks) of ``kit``."""
    return sorted((kit.folder / kind).glob("*.json"))


def load_cases(kit: ProviderKit, *kinds: str) -> list[dict[str, Any]]:
    return [json.loads(f.read_text()) for kind in kinds for f in load_fixture_files(kit, kind)]


def _folders() -> list[Path]:
    found = sorted(p.parent for p in CONTRACT.glob("*/kit.py"))
    extra = [Path(p).resolve() for p in os.environ.get(KITS_ENV, "").split(os.pathsep) if p]
    return found + extra


def _load(folder: Path) -> ProviderKit:
    root = Path(__file__).resolve().parents[1]
    try:  # a package under the checkout: import it by name, so its modules are shared
        module_name = ".".join(folder.resolve().relative_to(root).parts) + ".kit"
        module = importlib.import_module(module_name)
    except ValueError:  # elsewhere: load the file itself
        spec = importlib.util.spec_from_file_location(f"kit_{folder.name}", folder / "kit.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    kit = module.KIT
    assert isinstance(kit, ProviderKit), f"{folder}/kit.py: KIT is not a ProviderKit"
    assert kit.name == folder.name, f"{folder}: the kit is named {kit.name!r}"
    kit.folder = folder
    return kit


class _Kits(Mapping[str, ProviderKit]):
    """Found on first use: kit modules import this one, so loading them here at import
    time would meet a kit half-imported."""

    _found: dict[str, ProviderKit] | None = None

    def _all(self) -> dict[str, ProviderKit]:
        if self._found is None:
            self._found = dict(sorted((k.name, k) for k in map(_load, _folders())))
        return self._found

    def __getitem__(self, name: str) -> ProviderKit:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


KITS: Mapping[str, ProviderKit] = _Kits()
"""Every provider's kit, by registry name, sorted."""


def kit_senders(url: str) -> dict[str, dict[str, Any]]:
    """One sender per kit, named as its provider, pointed at the emulator at ``url``."""
    return {
        name: {"provider": name, **kit.settings, **kit.emulator_settings(url)}
        for name, kit in KITS.items()
    }


def kit_config_toml(url: str = "${FLOWGATEWAY_EMULATOR_URL}") -> str:
    """:func:`kit_senders` as a config file (JSON strings are TOML basic strings)."""
    lines = ["[gateway]", f"default_sender = {json.dumps(next(iter(KITS)))}", ""]
    for name, table in kit_senders(url).items():
        lines.append(f"[senders.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)
