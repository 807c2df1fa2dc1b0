"""Provider adapters and their registry.

Built-in adapters are registered by import path and imported on first use. Third-party
packages add providers through the ``flowgateway.providers`` entry-point group
(``name = "package.module:AdapterClass"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from gateway.errors import ConfigError
from gateway.model import FlowMessage, ProviderOptions
from gateway.plugins import load_target, with_entry_points
from providers.base import CAPABILITIES, Adapter

ENTRY_POINT_GROUP = "flowgateway.providers"

_BUILTIN: dict[str, str] = {
    "meta_cloud": "providers.meta_cloud:MetaCloudAdapter",
    "dialog360_cloud": "providers.dialog360:Dialog360CloudAdapter",
    "dialog360_onprem": "providers.dialog360:Dialog360OnPremAdapter",
    "onemsg": "providers.onemsg:OneMsgAdapter",
    "sinch": "providers.sinch:SinchAdapter",
}

_loaded: dict[str, type[Adapter]] = {}


def _registry() -> dict[str, str]:
    return with_entry_points(_BUILTIN, entry_points(group=ENTRY_POINT_GROUP))


def adapter_names() -> list[str]:
    """Names of every available adapter, built-in and installed."""
    return sorted(_registry())


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered under ``name`` (imported lazily)."""
    cls = _loaded.get(name)
    if cls is not None:
        return cls
    target = _registry().get(name)
    if target is None:
        raise ConfigError(
            "provider", f"unknown provider {name!r} (known: {', '.join(adapter_names())})"
        )
    obj = load_target(target, "provider", name)
    if not (isinstance(obj, type) and issubclass(obj, Adapter)):
        raise ConfigError("provider", f"{target!r} is not an Adapter subclass")
    _loaded[name] = obj
    return obj


def capability_matrix_markdown() -> str:
    """The README's table of what each registered adapter declares it can express."""
    names = adapter_names()
    rows = [
        "| capability | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for capability, meaning in CAPABILITIES.items():
        marks = ["✓" if capability in adapter_class(n).capabilities else "–" for n in names]
        rows.append(f"| `{capability}`: {meaning} | " + " | ".join(marks) + " |")
    return "\n".join(rows) + "\n"


def options_from_mapping(data: Mapping[str, Mapping[str, Any]]) -> tuple[ProviderOptions, ...]:
    """Provider options from plain data (a JSON file): ``{"sinch": {"correlation_id": …}}``."""
    out = []
    for name, values in data.items():
        cls = adapter_class(name).Options
        if cls is None:
            raise ConfigError(f"options.{name}", f"provider {name!r} takes no message options")
        out.append(cls.model_validate(values))
    return tuple(out)


def message_to_mapping(msg: FlowMessage) -> dict[str, Any]:
    """``msg`` as plain JSON data, its options by provider name (``{"sinch": {…}}``), so
    that :func:`message_from_mapping` rebuilds the adapters' own option types."""
    data = msg.model_dump(mode="json", exclude_none=True, exclude={"options"})
    if msg.options:
        data["options"] = {
            o.provider: o.model_dump(mode="json", exclude_none=True) for o in msg.options
        }
    return data


def message_from_mapping(data: Mapping[str, Any]) -> FlowMessage:
    """A message from plain data (a JSON file, :func:`message_to_mapping`): options given
    by provider name go through :func:`options_from_mapping`.

    Raises:
        pydantic.ValidationError: not a valid message (or options).
        ConfigError: options for an unknown provider, or one that takes none.
    """
    options = data.get("options") if isinstance(data, Mapping) else None
    if isinstance(options, Mapping):
        data = {**data, "options": options_from_mapping(options)}
    return FlowMessage.model_validate(data)


def get_adapter(name: str, **settings: Any) -> Adapter:
    """A configured adapter: ``get_adapter("meta_cloud", phone_number_id=…, access_token=…)``."""
    return adapter_class(name).from_settings(**settings)


__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "adapter_class",
    "adapter_names",
    "capability_matrix_markdown",
    "get_adapter",
    "message_from_mapping",
    "message_to_mapping",
    "options_from_mapping",
]
