"""``gw.flows`` and ``gw.templates`` (contract, ARCHITECTURE §10): thin shells.

What each call does is written once in :mod:`gateway.manage_protocol` (and the adapters);
these classes only name the calls and hand the flow to their gateway's driver, the same
``_run`` that sends messages. :class:`Flows` / :class:`Templates` return results;
:class:`AsyncFlows` / :class:`AsyncTemplates` return awaitables of the same.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway import manage_protocol as mp
from gateway.events import TemplateReceipt
from gateway.flowjson.issues import FlowJSONIssue
from gateway.manage import (
    DeployResult,
    FlowAsset,
    FlowAssets,
    FlowDelete,
    FlowDeprecate,
    FlowInfo,
    FlowList,
    FlowMigrate,
    FlowPreview,
    FlowPublish,
    FlowUpdateMetadata,
    MigrationResult,
    TemplateDelete,
    TemplateGet,
    TemplateInfo,
    TemplateList,
)
from gateway.model import FlowTemplate
from gateway.protocol import Flow, exchange

if TYPE_CHECKING:
    from gateway.core import GatewayCore

FlowJSONSource = str | bytes | Mapping[str, Any]


def flow_text(flow_json: FlowJSONSource) -> str:
    """The text to upload: a str or bytes as given (positions then match your file), a
    mapping as indented JSON."""
    if isinstance(flow_json, bytes):
        return flow_json.decode("utf-8")
    if isinstance(flow_json, str):
        return flow_json
    return json.dumps(flow_json, indent=2, ensure_ascii=False)


class _Plans:
    """The flow for each call, built once for both shells."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    def create(
        self,
        name: str,
        categories: Sequence[str],
        *,
        flow_json: FlowJSONSource | None,
        publish: bool,
        clone_flow_id: str | None,
        endpoint_uri: str | None,
        sender: str | None,
    ) -> Flow[FlowInfo]:
        text = flow_text(flow_json) if flow_json is not None else None
        return mp.create(
            self.core, sender, name, tuple(categories), text,
            publish=publish, clone_flow_id=clone_flow_id, endpoint_uri=endpoint_uri,
        )  # fmt: skip

    def deploy(
        self,
        name: str,
        flow_json: FlowJSONSource,
        categories: Sequence[str],
        publish: bool,
        endpoint_uri: str | None,
        sender: str | None,
    ) -> Flow[DeployResult]:
        return mp.deploy(
            self.core, sender, name, flow_text(flow_json),
            categories=tuple(categories), publish=publish, endpoint_uri=endpoint_uri,
        )  # fmt: skip

    def preview(self, flow_id: str, sender: str | None, **kw: Any) -> Flow[FlowPreview]:
        invalidate = bool(kw.pop("invalidate", False))
        params = mp.preview_params(**kw)
        return mp.preview(self.core, sender, flow_id, invalidate=invalidate, params=params)

    def templates(self, sender: str | None, **filters: Any) -> Flow[list[TemplateInfo]]:
        return mp.list_all(self.core, sender, TemplateList(**filters))

    def create_template(self, tpl: FlowTemplate, sender: str | None) -> Flow[TemplateReceipt]:
        s, request = self.core.plan_template(tpl, sender)
        parse = lambda r: s.adapter.parse_create_template_response(r, tpl)  # noqa: E731
        return exchange(self.core, s, "create_template", request, parse)


class Flows:
    """Flows management through a :class:`~gateway.Gateway` (``gw.flows``).

    Every method takes ``sender=`` (default: the default sender) and raises
    :class:`~gateway.errors.UnsupportedFeature` (naming the alternative) where that
    sender's provider cannot do it, before any request.
    """

    def __init__(self, core: GatewayCore, run: Callable[[Flow[Any]], Any]) -> None:
        self._plans = _Plans(core)
        self._run = run

    def create(
        self,
        name: str,
        categories: Sequence[str],
        *,
        flow_json: FlowJSONSource | None = None,
        publish: bool = False,
        clone_flow_id: str | None = None,
        endpoint_uri: str | None = None,
        sender: str | None = None,
    ) -> FlowInfo:
        """Create (or clone) a flow; its ``validation_errors`` are placed in your text."""
        plan = self._plans.create(
            name, categories, flow_json=flow_json, publish=publish,
            clone_flow_id=clone_flow_id, endpoint_uri=endpoint_uri, sender=sender,
        )  # fmt: skip
        result: FlowInfo = self._run(plan)
        return result

    def update_metadata(self, flow_id: str, *, sender: str | None = None, **fields: Any) -> bool:
        """Change ``flow_name``, ``categories``, ``endpoint_uri`` or ``application_id``."""
        return bool(self._run(mp.call(self._plans.core, sender, _metadata(flow_id, fields))))

    def update_json(
        self, flow_id: str, flow_json: FlowJSONSource, *, sender: str | None = None
    ) -> builtins.list[FlowJSONIssue]:
        """Upload the Flow JSON; the provider's validation errors, with positions in it."""
        plan = mp.update_json(self._plans.core, sender, flow_id, flow_text(flow_json))
        return list(self._run(plan))

    def get(self, flow_id: str, *, sender: str | None = None) -> FlowInfo:
        result: FlowInfo = self._run(mp.get(self._plans.core, sender, flow_id))
        return result

    def list(self, *, sender: str | None = None) -> builtins.list[FlowInfo]:
        """Every flow of the account (all pages)."""
        return list(self._run(mp.list_all(self._plans.core, sender, FlowList())))

    def publish(self, flow_id: str, *, sender: str | None = None) -> bool:
        return bool(self._run(mp.call(self._plans.core, sender, FlowPublish(flow_id=flow_id))))

    def deprecate(self, flow_id: str, *, sender: str | None = None) -> bool:
        op = FlowDeprecate(flow_id=flow_id)
        return bool(self._run(mp.call(self._plans.core, sender, op)))

    def delete(self, flow_id: str, *, sender: str | None = None) -> bool:
        return bool(self._run(mp.call(self._plans.core, sender, FlowDelete(flow_id=flow_id))))

    def preview(self, flow_id: str, *, sender: str | None = None, **params: Any) -> FlowPreview:
        """The preview URL; ``params``: ``interactive``, ``flow_token``, ``flow_action``,
        ``screen``, ``data``, ``phone_number``, ``debug``, ``invalidate``."""
        result: FlowPreview = self._run(self._plans.preview(flow_id, sender, **params))
        return result

    def assets(self, flow_id: str, *, sender: str | None = None) -> builtins.list[FlowAsset]:
        return list(self._run(mp.call(self._plans.core, sender, FlowAssets(flow_id=flow_id))))

    def download(self, flow_id: str, *, sender: str | None = None) -> str | None:
        """The Flow JSON the provider holds (None when it cannot show it)."""
        result: str | None = self._run(mp.stored_json(self._plans.core, sender, flow_id))
        return result

    def migrate(
        self, source_account_id: str, names: tuple[str, ...] = (), *, sender: str | None = None
    ) -> MigrationResult:
        """Copy flows from another account of the same business (all, or ``names``)."""
        op = FlowMigrate(source_account_id=source_account_id, flow_names=tuple(names))
        result: MigrationResult = self._run(mp.call(self._plans.core, sender, op))
        return result

    def deploy(
        self,
        name: str,
        flow_json: FlowJSONSource,
        *,
        categories: Sequence[str],
        publish: bool = True,
        endpoint_uri: str | None = None,
        sender: str | None = None,
    ) -> DeployResult:
        """Validate, then create or update only what changed, then publish (see
        :func:`gateway.manage_protocol.deploy`)."""
        plan = self._plans.deploy(name, flow_json, categories, publish, endpoint_uri, sender)
        result: DeployResult = self._run(plan)
        return result


class AsyncFlows:
    """``gw.flows`` of an :class:`~gateway.AsyncGateway`: :class:`Flows`, awaited."""

    def __init__(self, core: GatewayCore, run: Callable[[Flow[Any]], Awaitable[Any]]) -> None:
        self._plans = _Plans(core)
        self._run = run

    async def create(
        self,
        name: str,
        categories: Sequence[str],
        *,
        flow_json: FlowJSONSource | None = None,
        publish: bool = False,
        clone_flow_id: str | None = None,
        endpoint_uri: str | None = None,
        sender: str | None = None,
    ) -> FlowInfo:
        plan = self._plans.create(
            name, categories, flow_json=flow_json, publish=publish,
            clone_flow_id=clone_flow_id, endpoint_uri=endpoint_uri, sender=sender,
        )  # fmt: skip
        result: FlowInfo = await self._run(plan)
        return result

    async def update_metadata(
        self, flow_id: str, *, sender: str | None = None, **fields: Any
    ) -> bool:
        return bool(await self._run(mp.call(self._plans.core, sender, _metadata(flow_id, fields))))

    async def update_json(
        self, flow_id: str, flow_json: FlowJSONSource, *, sender: str | None = None
    ) -> builtins.list[FlowJSONIssue]:
        plan = mp.update_json(self._plans.core, sender, flow_id, flow_text(flow_json))
        return list(await self._run(plan))

    async def get(self, flow_id: str, *, sender: str | None = None) -> FlowInfo:
        result: FlowInfo = await self._run(mp.get(self._plans.core, sender, flow_id))
        return result

    async def list(self, *, sender: str | None = None) -> builtins.list[FlowInfo]:
        return list(await self._run(mp.list_all(self._plans.core, sender, FlowList())))

    async def publish(self, flow_id: str, *, sender: str | None = None) -> bool:
        op = FlowPublish(flow_id=flow_id)
        return bool(await self._run(mp.call(self._plans.core, sender, op)))

    async def deprecate(self, flow_id: str, *, sender: str | None = None) -> bool:
        op = FlowDeprecate(flow_id=flow_id)
        return bool(await self._run(mp.call(self._plans.core, sender, op)))

    async def delete(self, flow_id: str, *, sender: str | None = None) -> bool:
        op = FlowDelete(flow_id=flow_id)
        return bool(await self._run(mp.call(self._plans.core, sender, op)))

    async def preview(
        self, flow_id: str, *, sender: str | None = None, **params: Any
    ) -> FlowPreview:
        result: FlowPreview = await self._run(self._plans.preview(flow_id, sender, **params))
        return result

    async def assets(self, flow_id: str, *, sender: str | None = None) -> builtins.list[FlowAsset]:
        op = FlowAssets(flow_id=flow_id)
        return list(await self._run(mp.call(self._plans.core, sender, op)))

    async def download(self, flow_id: str, *, sender: str | None = None) -> str | None:
        result: str | None = await self._run(mp.stored_json(self._plans.core, sender, flow_id))
        return result

    async def migrate(
        self, source_account_id: str, names: tuple[str, ...] = (), *, sender: str | None = None
    ) -> MigrationResult:
        op = FlowMigrate(source_account_id=source_account_id, flow_names=tuple(names))
        result: MigrationResult = await self._run(mp.call(self._plans.core, sender, op))
        return result

    async def deploy(
        self,
        name: str,
        flow_json: FlowJSONSource,
        *,
        categories: Sequence[str],
        publish: bool = True,
        endpoint_uri: str | None = None,
        sender: str | None = None,
    ) -> DeployResult:
        plan = self._plans.deploy(name, flow_json, categories, publish, endpoint_uri, sender)
        result: DeployResult = await self._run(plan)
        return result


class Templates:
    """Template management through a :class:`~gateway.Gateway` (``gw.templates``);
    ``create`` is ``gw.create_template``."""

    def __init__(self, core: GatewayCore, run: Callable[[Flow[Any]], Any]) -> None:
        self._plans = _Plans(core)
        self._run = run

    def create(self, tpl: FlowTemplate, *, sender: str | None = None) -> TemplateReceipt:
        """Submit a FLOW-button template for review (``gw.create_template`` is a shortcut)."""
        result: TemplateReceipt = self._run(self._plans.create_template(tpl, sender))
        return result

    def list(self, *, sender: str | None = None, **filters: Any) -> builtins.list[TemplateInfo]:
        """Every template (all pages); filters: ``template_name``, ``status``,
        ``category``, ``language``."""
        return list(self._run(self._plans.templates(sender, **filters)))

    def get(self, template_id: str, *, sender: str | None = None) -> TemplateInfo:
        op = TemplateGet(template_id=template_id)
        result: TemplateInfo = self._run(mp.call(self._plans.core, sender, op))
        return result

    def delete(
        self,
        name: str,
        *,
        template_id: str | None = None,
        language: str | None = None,
        sender: str | None = None,
    ) -> bool:
        """Delete every language of ``name``, or only ``template_id`` / ``language``."""
        op = TemplateDelete(template_name=name, template_id=template_id, language=language)
        return bool(self._run(mp.call(self._plans.core, sender, op)))


class AsyncTemplates:
    """``gw.templates`` of an :class:`~gateway.AsyncGateway`: :class:`Templates`, awaited."""

    def __init__(self, core: GatewayCore, run: Callable[[Flow[Any]], Awaitable[Any]]) -> None:
        self._plans = _Plans(core)
        self._run = run

    async def create(self, tpl: FlowTemplate, *, sender: str | None = None) -> TemplateReceipt:
        result: TemplateReceipt = await self._run(self._plans.create_template(tpl, sender))
        return result

    async def list(
        self, *, sender: str | None = None, **filters: Any
    ) -> builtins.list[TemplateInfo]:
        return list(await self._run(self._plans.templates(sender, **filters)))

    async def get(self, template_id: str, *, sender: str | None = None) -> TemplateInfo:
        op = TemplateGet(template_id=template_id)
        result: TemplateInfo = await self._run(mp.call(self._plans.core, sender, op))
        return result

    async def delete(
        self,
        name: str,
        *,
        template_id: str | None = None,
        language: str | None = None,
        sender: str | None = None,
    ) -> bool:
        op = TemplateDelete(template_name=name, template_id=template_id, language=language)
        return bool(await self._run(mp.call(self._plans.core, sender, op)))


def _metadata(flow_id: str, fields: Mapping[str, Any]) -> FlowUpdateMetadata:
    if "categories" in fields and fields["categories"] is not None:
        fields = {**fields, "categories": tuple(fields["categories"])}
    return FlowUpdateMetadata(flow_id=flow_id, **fields)
