"""The emulator's Flow and template store: Meta's lifecycle, provider-neutral, no IO.

Each simulator wraps a :class:`FlowStore` / :class:`TemplateStore` and shapes answers and
:class:`Refusal` errors its provider's way. Facts: reference/flows.md §C (API, §C2 lifecycle,
§A9 errors), management.md §1 (templates), Meta's words from its Flows error-codes page
(https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/reference/error-codes).
Flow JSON is checked by this module's own small code, never by ``gateway.flowjson``: the
emulator stands in for the provider the library is tested against, not for the library.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PREVIEW_TTL = 30 * 24 * 3600  # a preview URL is public for 30 days (flows.md §C)

PREVIEW_BASE = "https://business.facebook.com/wa/manage/flows/{id}/preview/?token={token}"

PUBLISHABLE_VERSIONS = frozenset({"5.1", "6.0", "6.1", "6.2", "6.3", "7.0", "7.1", "7.2", "7.3"})
# Flow JSON versions Meta lets you publish (flows.md §A1); FlowStore(versions=…) overrides.

DATA_API_VERSIONS = frozenset({"3.0", "4.0"})  # flows.md §A1

VERSION_KEYS = ("version", "data_api_version")
STATUSES = ("DRAFT", "PUBLISHED", "DEPRECATED", "THROTTLED", "BLOCKED")  # flows.md §C3

# Meta's words, from its Flows error-codes table (flows.md §C, "Management errors").
NAME_TAKEN = "Flow name is not unique"
UNKNOWN_FLOW = "Flow with specified ID does not exist"
CANT_UPDATE = "Flow can't be updated"
PUBLISH_STATE = "Publishing Flow in invalid state"
PUBLISH_INVALID = "Publishing Flow with validation errors"
PUBLISH_NO_ENDPOINT = "Publishing without specifying `endpoint_uri` is forbidden"
DEPRECATE_UNPUBLISHED = "Can't deprecate unpublished flow"
ALREADY_DEPRECATED = "Flow is already deprecated"
CANT_DELETE = "Can't delete published Flow"
TEMPLATE_NOT_FOUND = "Message template not found"  # management.md §1.3 [likely]

Obj = dict[str, Any]  # a JSON object
Error = Obj  # one validation error in Meta's shape (flows.md §A9)


class Refusal(Exception):
    """A refused management call: Meta's ``code`` (100, 139001…139004), its ``message``,
    the HTTP status to answer with and, where Meta has one, an ``error_subcode``."""

    def __init__(self, code: int, message: str, http: int = 400, subcode: int | None = None):
        super().__init__(f"({code}) {message}")
        self.code, self.message, self.http, self.subcode = code, message, http, subcode


@dataclass(kw_only=True)
class StoredFlow:
    """One Flow as the store holds it (mutable: the store edits it in place)."""

    id: str
    name: str
    categories: list[str]
    status: str = "DRAFT"
    json_text: str | None = None
    validation_errors: list[Error] = field(default_factory=list)  # Meta's shape, §A9
    json_version: str | None = None
    data_api_version: str | None = None
    endpoint_uri: str | None = None
    preview_url: str | None = None
    preview_expires: int | None = None
    updated_at: int = 0
    frozen: bool = False  # set by tests/control: an old flow Meta won't edit (139001)
    seq: int = 0  # creation order, which paging follows


_WS = re.compile(r"[ \t\r\n]*")
_LITERAL = re.compile(r"[^ \t\r\n,\]}]*")


def _spans(text: str) -> dict[str, tuple[int, int]]:
    """Offsets [start, end) of every value in valid JSON text, by Meta-style path. A
    member's span starts at its key, so an error points at the offending key
    (``screens[0].id``); array items span their value (``screens[1]``)."""
    out: dict[str, tuple[int, int]] = {}

    def skip(i: int) -> int:
        return _WS.match(text, i).end()  # type: ignore[union-attr]  # always matches

    def value(i: int, path: str, start: int | None) -> int:
        i = skip(i)
        begin = i if start is None else start
        ch = text[i]
        if ch in "{[":
            close, n = "}" if ch == "{" else "]", 0
            i = skip(i + 1)
            while text[i] != close:
                if ch == "{":
                    key_at = i
                    key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                    i = value(skip(i) + 1, f"{path}.{key}" if path else key, key_at)
                else:
                    i, n = value(i, f"{path}[{n}]", None), n + 1
                i = skip(i)
                i = skip(i + 1) if text[i] == "," else i
            i += 1
        elif ch == '"':
            i = json.decoder.scanstring(text, i + 1)[1]  # type: ignore[attr-defined]
        else:  # number, true, false, null
            i = _LITERAL.match(text, i).end()  # type: ignore[union-attr]
        out[path] = (begin, i)
        return i

    value(0, "", None)
    return out


class _Where:
    """Offsets to Meta's 1-based line/column (column_end: one past the last character)."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def box(self, span: tuple[int, int]) -> dict[str, int]:
        (ls, cs), (le, ce) = self.at(span[0]), self.at(span[1])
        return {"line_start": ls, "line_end": le, "column_start": cs, "column_end": ce}


def _error(code: str, message: str, box: dict[str, int], path: str | None) -> Error:
    # Meta answers both error_types (flows.md §A9); which rule gets which is our guess.
    schema = code in {"MISSING_REQUIRED_PROPERTY", "MIN_ITEMS_REQUIRED"}
    kind = "JSON_SCHEMA_ERROR" if schema else "FLOW_JSON_ERROR"
    err: Error = {"error": code, "error_type": kind, "message": message, **box}
    if path is not None:
        err["pointers"] = [{**box, "path": path}]
    return err


def _has_footer(node: Any) -> bool:
    """A Footer anywhere below: in a Form, an If branch or a Switch case (§A5)."""
    if isinstance(node, list):
        return any(_has_footer(n) for n in node)
    if not isinstance(node, dict):
        return False
    return node.get("type") == "Footer" or _has_footer([*node.values()])


def check_flow_json(text: str, versions: Iterable[str] = PUBLISHABLE_VERSIONS) -> list[Error]:
    """Meta-shaped ``validation_errors`` for a few real rules (flows.md §A10 F1, F2, F3,
    F6, F7, F9): enough for the emulator to refuse a bad publish like Meta does."""
    try:
        doc = json.loads(text)
    except ValueError as exc:  # F1
        pos = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        box = _Where(text).box((pos, pos + 1))
        return [_error("INVALID_FLOW_JSON", f"Invalid JSON: {exc}", box, None)]
    where, spans = _Where(text), _spans(text)
    errors: list[Error] = []

    def add(code: str, path: str, message: str) -> None:
        errors.append(_error(code, message, where.box(spans.get(path, spans[""])), path))

    if not isinstance(doc, dict):
        add("INVALID_FLOW_JSON", "", "Flow JSON must be a JSON object.")
        return errors
    version, api = doc.get("version"), doc.get("data_api_version")
    if version is None:  # F2
        add("MISSING_FLOW_JSON_VERSION", "", "Flow JSON version is missing.")
    elif not isinstance(version, str) or version not in set(versions):
        add("UNSUPPORTED_FLOW_JSON_VERSION", "version", f"Version '{version}' is not supported.")
    if api is not None and (not isinstance(api, str) or api not in DATA_API_VERSIONS):  # F3
        add("NO_SUPPORTED_DATA_API_VERSION", "data_api_version", f"'{api}' is not supported.")
    screens = doc.get("screens")
    if screens is None:  # F6
        add("MISSING_REQUIRED_PROPERTY", "", "The property 'screens' is required.")
    elif not isinstance(screens, list) or not screens:
        add("MIN_ITEMS_REQUIRED", "screens", "Array should have at least 1 item.")
    else:
        seen: set[Any] = set()
        terminals = 0
        for n, screen in enumerate(screens):
            if not isinstance(screen, dict):
                continue
            sid = screen.get("id")
            if isinstance(sid, str) and sid in seen:  # F7
                add("DUPLICATE_SCREEN_IDS", f"screens[{n}].id", f"Duplicate screen id '{sid}'.")
            seen.add(sid if isinstance(sid, str) else None)
            if screen.get("terminal") is True:  # F9
                terminals += 1
                layout = screen.get("layout")
                if not _has_footer(layout.get("children") if isinstance(layout, dict) else None):
                    words = f"Terminal screen '{sid}' is missing a Footer component."
                    add("MISSING_FOOTER_ON_TERMINAL_SCREEN", f"screens[{n}].terminal", words)
        if not terminals:  # F9
            add("MISSING_TERMINAL_SCREEN", "screens", "At least one terminal screen is required.")
    return errors


def _cursor(kind: str, seq: int) -> str:
    # Opaque like Graph's cursors; it names a position, so deleting items never shifts pages.
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def _after(kind: str, cursor: str | None) -> int:
    if not cursor:
        return -1
    with contextlib.suppress(ValueError):  # a cursor we did not make: bad parameter, as Graph
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, seq = raw.split(":")
        if prefix == kind:
            return int(seq)
    raise Refusal(100, "Invalid parameter")


def _page(
    items: list[Any], seq: Callable[[Any], int], kind: str, after: str | None, limit: int
) -> tuple[list[Any], str | None]:
    start = _after(kind, after)
    rest = [x for x in items if seq(x) > start]
    chunk = rest[: max(1, limit)]
    return chunk, (_cursor(kind, seq(chunk[-1])) if len(rest) > len(chunk) else None)


class FlowStore:
    """Flows of one account (WABA) in Meta's lifecycle (flows.md §C2). ``changes`` gets
    ``(flow_id, old_status, new_status)`` on every status change, creation included (old
    None); simulators drain it to post status webhooks."""

    def __init__(
        self,
        clock: Callable[[], float],
        id_prefix: str = "",
        *,
        versions: Iterable[str] = PUBLISHABLE_VERSIONS,
        token: Callable[[], str] = lambda: secrets.token_urlsafe(16),
    ) -> None:
        self._clock = clock
        self._prefix = id_prefix
        self.versions = frozenset(versions)
        self._token = token
        self._flows: dict[str, StoredFlow] = {}
        self._seq = 0
        self.changes: list[tuple[str, str | None, str]] = []

    def _now(self) -> int:
        return int(self._clock())

    def _move(self, flow: StoredFlow, status: str) -> None:
        old, flow.status = flow.status, status
        self.changes.append((flow.id, old, status))

    def _check_name(self, name: str, other_than: str | None = None) -> None:
        # Unique among this account's flows, deprecated ones included (flows.md §C).
        if any(f.name == name and f.id != other_than for f in self._flows.values()):
            raise Refusal(100, NAME_TAKEN)

    def _set_json(self, flow: StoredFlow, text: str) -> list[Error]:
        flow.json_text = text
        flow.validation_errors = check_flow_json(text, self.versions)
        # INVALID_FLOW_JSON covers text that is not a JSON object; anything else loads to one.
        bad = any(e["error"] == "INVALID_FLOW_JSON" for e in flow.validation_errors)
        version, api = (None, None) if bad else map(json.loads(text).get, VERSION_KEYS)
        flow.json_version = version if isinstance(version, str) else None
        flow.data_api_version = api if isinstance(api, str) else None
        return flow.validation_errors

    def create(
        self,
        name: str,
        categories: list[str],
        *,
        flow_json: str | None = None,
        publish: bool = False,
        clone_flow_id: str | None = None,
        endpoint_uri: str | None = None,
    ) -> StoredFlow:
        """A new flow in DRAFT, or PUBLISHED when ``publish`` and its JSON is valid.

        Cloning copies the source's JSON and categories (``categories``, if given, win).
        Raises Refusal(100) for a taken name or an unknown clone source."""
        self._check_name(name)
        source = self.get(clone_flow_id) if clone_flow_id else None
        if not categories and source is None:
            raise Refusal(100, "The parameter categories is required")
        self._seq += 1
        flow = StoredFlow(
            id=f"{self._prefix}{10**15 + self._seq}",  # numeric, like Meta's ids
            name=name,
            categories=list(categories or (source.categories if source else [])),
            endpoint_uri=endpoint_uri,
            updated_at=self._now(),
            seq=self._seq,
        )
        text = flow_json if flow_json is not None else (source.json_text if source else None)
        if text is not None:
            self._set_json(flow, text)
        if publish and self._publishable(flow) is None:
            flow.status = "PUBLISHED"
        self._flows[flow.id] = flow
        self.changes.append((flow.id, None, flow.status))
        return flow

    def get(self, flow_id: str) -> StoredFlow:
        """The flow; Refusal(100) for an unknown (or deleted) id."""
        try:
            return self._flows[flow_id]
        except KeyError:
            raise Refusal(100, UNKNOWN_FLOW) from None

    def page(self, after: str | None, limit: int) -> tuple[list[StoredFlow], str | None]:
        """Flows in creation order from the opaque cursor ``after``; the next cursor or None."""
        return _page(list(self._flows.values()), lambda f: f.seq, "flow", after, limit)

    def _edit(self, flow_id: str) -> StoredFlow:
        # flows.md §C2: DRAFT edits stay DRAFT, PUBLISHED edits revert to DRAFT; Meta's
        # old flows (``frozen``) refuse with 139001. DEPRECATED is terminal; editing a
        # THROTTLED/BLOCKED flow is undocumented, so refused the same way [unconfirmed].
        flow = self.get(flow_id)
        if flow.frozen or flow.status not in ("DRAFT", "PUBLISHED"):
            raise Refusal(139001, CANT_UPDATE)
        return flow

    def _edited(self, flow: StoredFlow) -> None:
        flow.updated_at = self._now()
        if flow.status == "PUBLISHED":
            self._move(flow, "DRAFT")

    def update_metadata(
        self,
        flow_id: str,
        *,
        name: str | None = None,
        categories: list[str] | None = None,
        endpoint_uri: str | None = None,
    ) -> None:
        """Change what is given; a PUBLISHED flow reverts to DRAFT."""
        flow = self._edit(flow_id)
        if name is not None:
            self._check_name(name, other_than=flow_id)
            flow.name = name
        if categories is not None:
            flow.categories = list(categories)
        if endpoint_uri is not None:
            flow.endpoint_uri = endpoint_uri
        self._edited(flow)

    def upload(self, flow_id: str, text: str) -> list[Error]:
        """Store the Flow JSON text and return its validation_errors (stored even when
        invalid: Meta answers success with the errors, flows.md §A9)."""
        flow = self._edit(flow_id)
        errors = self._set_json(flow, text)
        self._edited(flow)
        return errors

    def _publishable(self, flow: StoredFlow) -> str | None:
        """Why publishing would fail (Meta's words), or None."""
        if flow.json_text is None or flow.validation_errors:
            return PUBLISH_INVALID
        if flow.data_api_version is not None and not flow.endpoint_uri:
            return PUBLISH_NO_ENDPOINT  # an endpoint flow needs its endpoint_uri (§C)
        return None

    def publish(self, flow_id: str) -> None:
        """DRAFT → PUBLISHED; Refusal(139002) in another state or with invalid JSON."""
        flow = self.get(flow_id)
        if flow.status != "DRAFT":
            raise Refusal(139002, PUBLISH_STATE)
        if reason := self._publishable(flow):
            raise Refusal(139002, reason)
        flow.updated_at = self._now()
        self._move(flow, "PUBLISHED")

    def deprecate(self, flow_id: str) -> None:
        """PUBLISHED/THROTTLED/BLOCKED → DEPRECATED (terminal); else Refusal(139003)."""
        flow = self.get(flow_id)
        if flow.status not in ("PUBLISHED", "THROTTLED", "BLOCKED"):
            words = ALREADY_DEPRECATED if flow.status == "DEPRECATED" else DEPRECATE_UNPUBLISHED
            raise Refusal(139003, words)
        flow.updated_at = self._now()
        self._move(flow, "DEPRECATED")

    def delete(self, flow_id: str) -> None:
        """Remove a DRAFT flow (its name is free again); else Refusal(139004)."""
        flow = self.get(flow_id)
        if flow.status != "DRAFT":
            raise Refusal(139004, CANT_DELETE)
        del self._flows[flow_id]

    def preview(self, flow_id: str, invalidate: bool = False) -> tuple[str, int]:
        """The public preview URL and its expiry (30 days); ``invalidate`` rotates the
        token, as does expiry. The same URL is returned until then (flows.md §C)."""
        flow = self.get(flow_id)
        now = self._now()
        url, expires = flow.preview_url, flow.preview_expires
        if invalidate or url is None or expires is None or expires <= now:
            url, expires = PREVIEW_BASE.format(id=flow.id, token=self._token()), now + PREVIEW_TTL
            flow.preview_url, flow.preview_expires = url, expires
        return url, expires

    def asset_url(self, flow_id: str) -> str | None:
        """Where the flow's ``flow.json`` downloads from: a path the simulator serves under
        its own prefix; None before any JSON. It changes with every upload, like Meta's
        signed CDN links."""
        flow = self.get(flow_id)
        if flow.json_text is None:
            return None
        return f"/flow_assets/{flow.id}/{flow.updated_at}/flow.json"

    def set_status(self, flow_id: str, status: str) -> None:
        """A system move (THROTTLED, BLOCKED, back to PUBLISHED…), for tests and control:
        any known status, recorded in ``changes``; setting the same status is a no-op."""
        if status not in STATUSES:
            raise ValueError(f"unknown flow status {status!r}; one of {STATUSES}")
        flow = self.get(flow_id)
        if flow.status != status:
            self._move(flow, status)


def _matches(value: Any, wanted: str | list[str] | None) -> bool:
    # None: any. Graph takes lists for category/language/status (management.md §1.1).
    return wanted is None or value in ([wanted] if isinstance(wanted, str) else wanted)


class TemplateStore:
    """Message templates of one account (management.md §1), as dicts in Meta's list shape
    (id, name, language, category, status, components); ``changes`` as in FlowStore."""

    def __init__(self, id_prefix: str = "") -> None:
        self._prefix = id_prefix
        self._items: dict[str, Obj] = {}
        self._seq: dict[str, int] = {}  # creation order, kept after deletes
        self.changes: list[tuple[str, str | None, str]] = []

    def add(
        self,
        name: str,
        language: str,
        category: str,
        components: list[Obj],
        status: str = "APPROVED",
    ) -> Obj:
        """Store a template and return it (with its new numeric ``id``)."""
        n = len(self._seq) + 1
        tid = f"{self._prefix}{2 * 10**15 + n}"
        item: Obj = {"id": tid, "name": name, "language": language}
        item.update(category=category, status=status, components=list(components))
        self._items[tid] = item
        self._seq[tid] = n
        self.changes.append((tid, None, status))
        return item

    def page(
        self, after: str | None, limit: int, **filters: str | list[str] | None
    ) -> tuple[list[Obj], str | None]:
        """Templates in creation order, filtered by ``name`` (exact [unconfirmed: Graph may
        match partially]), ``status``, ``category``, ``language`` (each a value or a list,
        None: any); the next opaque cursor or None."""
        if unknown := set(filters) - {"name", "status", "category", "language"}:
            raise TypeError(f"unknown template filters: {sorted(unknown)}")
        items = self._items.values()
        found = [t for t in items if all(_matches(t[k], v) for k, v in filters.items())]
        return _page(found, lambda t: self._seq[t["id"]], "template", after, limit)

    def get(self, template_id: str) -> Obj:
        """The template; Refusal(100, subcode 2593002) for an unknown id."""
        try:
            return self._items[template_id]
        except KeyError:
            raise Refusal(100, TEMPLATE_NOT_FOUND, subcode=2593002) from None

    def delete(self, name: str, template_id: str | None = None, language: str | None = None) -> int:
        """Delete by name (all languages), or only ``template_id`` / one ``language`` of
        it (management.md §1.3, §6.2); how many went. Refusal(100) when none matches."""
        gone = [
            tid
            for tid, t in self._items.items()
            if t["name"] == name
            and _matches(tid, template_id)
            and _matches(t["language"], language)
        ]
        if not gone:
            raise Refusal(100, TEMPLATE_NOT_FOUND, subcode=2593002)
        for tid in gone:
            del self._items[tid]
        return len(gone)

    def set_status(self, template_id: str, status: str) -> None:
        """A review outcome (APPROVED, REJECTED, PAUSED…), recorded in ``changes``."""
        item = self.get(template_id)
        if item["status"] != status:
            self.changes.append((template_id, item["status"], status))
            item["status"] = status
