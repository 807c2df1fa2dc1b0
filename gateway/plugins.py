"""Registries found, not listed: built-in names plus a ``flowgateway.*`` entry-point group.

Shared by the adapter registry (:mod:`providers`) and the emulator's simulator registry
(:mod:`gateway.emulator.registry`). Stdlib only, so the neutral core can hold it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint

from gateway.errors import ConfigError


def with_entry_points(
    builtin: Mapping[str, str], found_eps: Iterable[EntryPoint]
) -> dict[str, str]:
    """``name → "module:attr"``: the built-ins, then what installed packages add
    (``entry_points(group=…)``); a built-in cannot be shadowed."""
    found = dict(builtin)
    for ep in found_eps:
        found.setdefault(ep.name, ep.value)
    return found


def load_target(target: str, what: str, name: str) -> object:
    """Import ``"module:attr"``; a failure is a ConfigError naming ``what`` it was for."""
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            "provider", f"cannot load {what} {name!r} from {target!r}: {exc}"
        ) from None
