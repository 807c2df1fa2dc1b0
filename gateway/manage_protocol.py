"""Flows and templates management as protocol flows (sans-IO, like :mod:`gateway.protocol`).

Every management call is one :func:`call` (the adapter builds the request and reads the
answer; :func:`gateway.protocol.exchange` retries and authorizes it). What takes several
calls is written here once, as a generator the sync and async clients both drive:
:func:`list_all` (every page), :func:`preview` (the URL with its parameters) and
:func:`deploy` (validate, find, create or upload only what changed, publish).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from gateway.errors import FlowUpdateFailed, UnsupportedFeature
from gateway.events import FlowStatus
from gateway.flowjson import validate_flow_json
from gateway.flowjson.issues import FlowJSONIssue
from gateway.flowjson.positions import locate
from gateway.manage import (
    DeployAction,
    DeployResult,
    FlowAssets,
    FlowCreate,
    FlowDownload,
    FlowGet,
    FlowInfo,
    FlowJSONInvalid,
    FlowList,
    FlowPreview,
    FlowPreviewGet,
    FlowPublish,
    FlowUpdateJson,
    FlowUpdateMetadata,
    ManageOp,
    Page,
    canonical_json,
)
from gateway.protocol import Flow, exchange

if TYPE_CHECKING:
    from gateway.core import GatewayCore

R = TypeVar("R")
MAX_PAGES = 1000
"""A provider that hands back the same cursor forever must not hold a list() forever."""


def call(core: GatewayCore, sender: str | None, op: ManageOp[R]) -> Flow[R]:
    """One management call through ``sender`` (or the default sender)."""
    s = core.sender(sender)
    adapter = s.adapter
    request = adapter.build_manage(op)
    return (yield from exchange(core, s, op.name, request, lambda r: adapter.parse_manage(op, r)))


def list_all(core: GatewayCore, sender: str | None, first: ManageOp[Page[R]]) -> Flow[list[R]]:
    """Every item of a paged list, following the provider's cursors."""
    items: list[R] = []
    op: Any = first
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page: Page[R] = yield from call(core, sender, op)
        items.extend(page.items)
        if not page.after or page.after in seen:
            break
        seen.add(page.after)
        op = replace(op, after=page.after)
    return items


def placed(issues: tuple[FlowJSONIssue, ...], text: str) -> tuple[FlowJSONIssue, ...]:
    """The provider's issues with ``line``/``column`` found in ``text`` from their path
    (the provider's own numbers are kept where the path is not found)."""
    paths = [i.path for i in issues if i.path]
    if not paths:
        return issues
    where = locate(text, paths)
    return tuple(
        replace(i, line=where[i.path][0], column=where[i.path][1]) if i.path in where else i
        for i in issues
    )


def update_json(
    core: GatewayCore, sender: str | None, flow_id: str, flow_json: str
) -> Flow[tuple[FlowJSONIssue, ...]]:
    """Upload ``flow_json``; the provider's validation errors, placed in the text."""
    issues = yield from call(core, sender, FlowUpdateJson(flow_id=flow_id, flow_json=flow_json))
    return placed(issues, flow_json)


def preview(
    core: GatewayCore,
    sender: str | None,
    flow_id: str,
    *,
    invalidate: bool = False,
    params: Mapping[str, Any] | None = None,
) -> Flow[FlowPreview]:
    """The provider's preview URL, with Meta's preview parameters added to it."""
    got = yield from call(core, sender, FlowPreviewGet(flow_id=flow_id, invalidate=invalidate))
    if not params:
        return got
    return replace(got, url=with_query(got.url, params))


def preview_params(
    *,
    interactive: bool | None = None,
    flow_token: str | None = None,
    flow_action: str | None = None,
    screen: str | None = None,
    data: Mapping[str, Any] | None = None,
    phone_number: str | None = None,
    debug: bool | None = None,
) -> dict[str, Any]:
    """Meta's preview URL parameters (reference/flows.md §C): ``flow_action_payload`` is
    the JSON of ``{screen, data}``; ``debug`` needs ``interactive``."""
    out: dict[str, Any] = {}
    if interactive is not None:
        out["interactive"] = "true" if interactive else "false"
    if flow_token is not None:
        out["flow_token"] = flow_token
    if flow_action is not None:
        out["flow_action"] = flow_action
    if screen is not None or data:
        payload = {"screen": screen, **({"data": dict(data)} if data else {})}
        out["flow_action_payload"] = json.dumps(payload, separators=(",", ":"))
    if phone_number is not None:
        out["phone_number"] = phone_number
    if debug is not None:
        out["debug"] = "true" if debug else "false"
    return out


def with_query(url: str, params: Mapping[str, Any]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


# -- deploy ----------------------------------------------------------------------------------

_CLONE = re.compile(r"^(?P<base>.*) \((?P<n>\d+)\)$")


def _clone_rank(info: FlowInfo, name: str) -> int | None:
    """0 for ``name`` itself, n for its clone ``name (n)``, None for another flow."""
    if info.name == name:
        return 0
    m = _CLONE.match(info.name or "")
    return int(m["n"]) if m and m["base"] == name else None


def stored_json(core: GatewayCore, sender: str | None, flow_id: str) -> Flow[str | None]:
    """The Flow JSON the provider holds, or None when it cannot say."""
    try:
        assets = yield from call(core, sender, FlowAssets(flow_id=flow_id))
    except UnsupportedFeature:
        return None
    url = next((a.download_url for a in assets if a.asset_type == "FLOW_JSON"), None)
    if url is None:
        return None
    text: str = yield from call(core, sender, FlowDownload(url=url))
    return text


def deploy(
    core: GatewayCore,
    sender: str | None,
    name: str,
    flow_json: str,
    *,
    categories: tuple[str, ...],
    publish: bool = True,
    endpoint_uri: str | None = None,
) -> Flow[DeployResult]:
    """Put ``flow_json`` in place under ``name``, changing only what differs.

    Validates offline first (raises :class:`FlowJSONInvalid` before any request); finds
    the flow by name (or its latest clone); creates it, or uploads the JSON only when it
    differs from the stored one (canonical form); publishes unless told not to. A
    published flow that cannot be edited (139001) is cloned as ``name (n)`` and the clone
    published. A second run with the same file changes nothing: ``action="unchanged"``.
    """
    errors = tuple(i for i in validate_flow_json(flow_json) if i.severity == "error")
    if errors:
        raise FlowJSONInvalid(name, errors)
    flows = yield from list_all(core, sender, FlowList())
    ranked = [(r, f) for f in flows if (r := _clone_rank(f, name)) is not None]
    live = [(r, f) for r, f in ranked if f.status != FlowStatus.DEPRECATED]
    notes: list[str] = []
    if not live:
        taken = {r for r, _ in ranked}
        fresh = name if 0 not in taken else f"{name} ({max(taken) + 1})"
        info = yield from create(
            core, sender, fresh, categories, flow_json, endpoint_uri=endpoint_uri
        )
        return (yield from _finish(core, sender, info, name, "created", publish, notes))
    current = max(live, key=lambda rf: rf[0])[1]
    if endpoint_uri is not None and endpoint_uri != current.endpoint_uri:
        op = FlowUpdateMetadata(flow_id=current.id, endpoint_uri=endpoint_uri)
        yield from call(core, sender, op)
        notes.append(f"endpoint_uri set to {endpoint_uri}")
    stored = yield from stored_json(core, sender, current.id)
    if stored is not None and canonical_json(stored) == canonical_json(flow_json):
        return (yield from _finish(core, sender, current, name, "unchanged", publish, notes))
    if stored is None:
        notes.append("the provider cannot show the stored JSON: uploaded it again")
    try:
        issues = yield from update_json(core, sender, current.id, flow_json)
    except FlowUpdateFailed as exc:
        clone_name = f"{name} ({max(r for r, _ in ranked) + 1})"
        notes.append(
            f"{current.name!r} ({current.status}) cannot be edited ({exc.code}): "
            f"cloned as {clone_name!r}"
        )
        try:
            clone = yield from create(
                core, sender, clone_name, categories, clone_flow_id=current.id
            )
            issues = yield from update_json(core, sender, clone.id, flow_json)
        except UnsupportedFeature:  # no cloning there: a new flow carrying the JSON
            clone = yield from create(
                core, sender, clone_name, categories, flow_json, endpoint_uri=endpoint_uri
            )
            issues = clone.validation_errors
            notes.append("the provider cannot clone: created it anew")
        return (
            yield from _finish(core, sender, clone, name, "cloned", publish, notes, issues=issues)
        )
    edited = replace(current, status=FlowStatus.DRAFT)  # an edit reverts a flow to DRAFT
    return (
        yield from _finish(core, sender, edited, name, "updated", publish, notes, issues=issues)
    )


def create(
    core: GatewayCore,
    sender: str | None,
    name: str,
    categories: tuple[str, ...],
    flow_json: str | None = None,
    *,
    publish: bool = False,
    clone_flow_id: str | None = None,
    endpoint_uri: str | None = None,
) -> Flow[FlowInfo]:
    """Create (or clone) a flow; what the provider does not echo back is filled in from
    the request (its name; DRAFT, or PUBLISHED when published at once)."""
    op = FlowCreate(
        flow_name=name, categories=categories, flow_json=flow_json, publish=publish,
        clone_flow_id=clone_flow_id, endpoint_uri=endpoint_uri,
    )  # fmt: skip
    if flow_json is not None and not core.sender(sender).adapter.manage_create_with_json:
        return (yield from _create_then_upload(core, sender, op, flow_json))
    info: FlowInfo = yield from call(core, sender, op)
    issues = placed(info.validation_errors, flow_json) if flow_json else info.validation_errors
    published = publish and not any(i.severity == "error" for i in issues)
    default = FlowStatus.PUBLISHED if published else FlowStatus.DRAFT
    return replace(
        info,
        name=info.name or name,
        categories=info.categories or categories,
        status=info.status or default,
        validation_errors=issues,
    )


def _create_then_upload(
    core: GatewayCore, sender: str | None, op: FlowCreate, flow_json: str
) -> Flow[FlowInfo]:
    """:func:`create` where the provider creates only empty DRAFTs: create, upload the
    JSON, publish when asked and the provider found no errors."""
    info: FlowInfo = yield from call(core, sender, replace(op, flow_json=None, publish=False))
    issues = yield from update_json(core, sender, info.id, flow_json)
    status: FlowStatus | str | None = FlowStatus.DRAFT
    if op.publish and not any(i.severity == "error" for i in issues):
        yield from call(core, sender, FlowPublish(flow_id=info.id))
        status = FlowStatus.PUBLISHED
    return replace(
        info,
        name=info.name or op.flow_name,
        categories=info.categories or op.categories,
        status=status,
        validation_errors=issues,
    )


def _finish(
    core: GatewayCore,
    sender: str | None,
    info: FlowInfo,
    name: str,
    action: DeployAction,
    publish: bool,
    notes: list[str],
    *,
    issues: tuple[FlowJSONIssue, ...] | None = None,
) -> Flow[DeployResult]:
    found = issues if issues is not None else info.validation_errors
    errors = tuple(i for i in found if i.severity == "error")
    status = info.status
    if publish and status != FlowStatus.PUBLISHED:
        if errors:
            notes.append("not published: the provider found errors in the JSON")
        else:
            yield from call(core, sender, FlowPublish(flow_id=info.id))
            status = FlowStatus.PUBLISHED
            notes.append("published")
    elif not publish and status != FlowStatus.PUBLISHED:
        notes.append("left as a draft (publish=False)")
    return DeployResult(
        flow_id=info.id,
        name=info.name or name,
        action=action,
        published=status == FlowStatus.PUBLISHED,
        status=status,
        issues=errors,
        notes=tuple(notes),
    )


def get(core: GatewayCore, sender: str | None, flow_id: str) -> Flow[FlowInfo]:
    """One flow, its validation errors included."""
    return (yield from call(core, sender, FlowGet(flow_id=flow_id)))
