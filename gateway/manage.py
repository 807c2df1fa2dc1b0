"""Flows and templates management: the neutral values (ARCHITECTURE §10, contract names).

Two kinds of values live here. Results (:class:`FlowInfo`, :class:`FlowPreview`,
:class:`DeployResult`, :class:`TemplateInfo`…) are what ``gw.flows`` and ``gw.templates``
return, the same for every provider. Operations (:class:`FlowCreate`, :class:`FlowList`…)
are what an adapter translates: ``adapter.build_manage(op) -> HttpRequest`` and
``adapter.parse_manage(op, response) -> op's result``. An operation names its result type
(``ManageOp[FlowInfo]``), so both ends stay typed, and names the capability it needs, so
a provider without it refuses before any request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from gateway.errors import GatewayError
from gateway.events import FlowStatus
from gateway.flowjson.issues import FlowJSONIssue

R = TypeVar("R")

FLOW_CATEGORIES = (
    "SIGN_UP",
    "SIGN_IN",
    "APPOINTMENT_BOOKING",
    "LEAD_GENERATION",
    "CONTACT_US",
    "CUSTOMER_SUPPORT",
    "SURVEY",
    "OTHER",
)
"""Meta's Flow categories (reference/flows.md §C); kept open: a new one is passed as given."""

FLOW_MANAGEMENT = "flow_management"
TEMPLATE_MANAGEMENT = "template_management"


# -- results ------------------------------------------------------------------------------


class FlowJSONInvalid(GatewayError):
    """``deploy`` found errors in the Flow JSON before sending anything (``issues``)."""

    def __init__(self, name: str, issues: tuple[FlowJSONIssue, ...]) -> None:
        self.issues = issues
        shown = "\n".join(str(i) for i in issues[:20])
        super().__init__(f"{name}: {len(issues)} error(s) in the Flow JSON\n{shown}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowInfo:
    """A Flow as the provider holds it (``validation_errors`` as the provider reports
    them, in :class:`~gateway.flowjson.FlowJSONIssue` form: ``rule`` is ``"provider"``)."""

    provider: str
    sender: str | None
    id: str
    name: str | None
    status: FlowStatus | str | None
    categories: tuple[str, ...] = ()
    validation_errors: tuple[FlowJSONIssue, ...] = ()
    json_version: str | None = None
    data_api_version: str | None = None
    endpoint_uri: str | None = None
    health: dict[str, Any] | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowPreview:
    """A public preview of a Flow: ``url`` (with the preview parameters asked for)."""

    flow_id: str
    url: str
    expires_at: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowAsset:
    """A file of a Flow (its ``flow.json``): where to download it."""

    name: str
    asset_type: str
    download_url: str | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationResult:
    """Flows copied from another account: ``migrated`` (name, source id, new id) and
    ``failed`` (name, code, message)."""

    migrated: tuple[tuple[str, str, str], ...]
    failed: tuple[tuple[str, str | int | None, str], ...]
    raw: Any = field(default=None, repr=False, compare=False)


DeployAction = Literal["created", "updated", "unchanged", "cloned"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployResult:
    """What ``flows.deploy`` did: ``action`` on the JSON, then whether it is published.

    ``issues`` are the provider's validation errors (``line``/``column`` in your file)
    when it refused the JSON; ``notes`` say in words what happened (a clone, a skipped publish).
    """

    flow_id: str | None
    name: str
    action: DeployAction
    published: bool
    status: FlowStatus | str | None
    issues: tuple[FlowJSONIssue, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues

    def __str__(self) -> str:
        state = "published" if self.published else str(self.status or "not published")
        lines = [f"{self.name}: {self.action}, {state} (flow {self.flow_id})", *self.notes]
        return "\n".join([*lines, *(str(i) for i in self.issues)])


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateInfo:
    """A message template as the provider lists it."""

    provider: str
    sender: str | None
    id: str | None
    name: str
    language: str | None
    status: str | None
    category: str | None
    components: tuple[dict[str, Any], ...] = ()
    quality: str | None = None
    rejected_reason: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a list; ``after`` is the cursor of the next page (None: the last)."""

    items: tuple[R, ...]
    after: str | None = None


# -- operations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ManageOp(Generic[R]):
    """A management call an adapter translates; ``name`` is its log event."""

    name: ClassVar[str]
    capability: ClassVar[str] = FLOW_MANAGEMENT


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowCreate(ManageOp[FlowInfo]):
    name: ClassVar[str] = "flows.create"
    flow_name: str
    categories: tuple[str, ...]
    flow_json: str | None = None
    publish: bool = False
    clone_flow_id: str | None = None
    endpoint_uri: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowUpdateMetadata(ManageOp[bool]):
    name: ClassVar[str] = "flows.update_metadata"
    flow_id: str
    flow_name: str | None = None
    categories: tuple[str, ...] | None = None
    endpoint_uri: str | None = None
    application_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowUpdateJson(ManageOp[tuple[FlowJSONIssue, ...]]):
    """Upload ``flow_json`` (the exact text: the provider's line numbers then match it).
    The result is the provider's ``validation_errors`` (``path`` and the provider's own
    ``line``/``column``); ``gw.flows`` places them in your text."""

    name: ClassVar[str] = "flows.update_json"
    flow_id: str
    flow_json: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowGet(ManageOp[FlowInfo]):
    name: ClassVar[str] = "flows.get"
    flow_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowList(ManageOp[Page[FlowInfo]]):
    name: ClassVar[str] = "flows.list"
    after: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowTransition(ManageOp[bool]):
    """A lifecycle move of one flow (publish, deprecate, delete): True when done."""

    flow_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowPublish(FlowTransition):
    name: ClassVar[str] = "flows.publish"


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowDeprecate(FlowTransition):
    name: ClassVar[str] = "flows.deprecate"


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowDelete(FlowTransition):
    name: ClassVar[str] = "flows.delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowPreviewGet(ManageOp[FlowPreview]):
    """The provider's preview URL; ``gw.flows.preview`` adds the preview parameters."""

    name: ClassVar[str] = "flows.preview"
    flow_id: str
    invalidate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowAssets(ManageOp[tuple[FlowAsset, ...]]):
    name: ClassVar[str] = "flows.assets"
    flow_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowDownload(ManageOp[str]):
    """Fetch an asset's ``download_url``: the Flow JSON text as stored."""

    name: ClassVar[str] = "flows.download"
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowMigrate(ManageOp[MigrationResult]):
    name: ClassVar[str] = "flows.migrate"
    source_account_id: str
    flow_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateList(ManageOp[Page[TemplateInfo]]):
    name: ClassVar[str] = "templates.list"
    capability: ClassVar[str] = TEMPLATE_MANAGEMENT
    after: str | None = None
    limit: int = 100
    template_name: str | None = None
    status: str | None = None
    category: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateGet(ManageOp[TemplateInfo]):
    name: ClassVar[str] = "templates.get"
    capability: ClassVar[str] = TEMPLATE_MANAGEMENT
    template_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateDelete(ManageOp[bool]):
    """Delete every language of ``template_name``, or the one ``template_id``."""

    name: ClassVar[str] = "templates.delete"
    capability: ClassVar[str] = TEMPLATE_MANAGEMENT
    template_name: str
    template_id: str | None = None
    language: str | None = None


def canonical_json(text: str | bytes) -> str | None:
    """The form two Flow JSONs are compared in (keys sorted, no spacing); None if not JSON.

    ``deploy`` uploads only when this differs from what the provider holds.
    """
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return None
