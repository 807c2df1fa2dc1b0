"""Which providers the emulator simulates: found, never listed.

Built-in simulators are the modules of :mod:`gateway.emulator.sims` (module name = the
provider's registry name, attribute ``SIMULATOR``). Other packages add theirs through the
``flowgateway.emulators`` entry-point group (``name = "package.module:SimClass"``), the
emulator's twin of ``flowgateway.providers``. Like the rest of the emulator, nothing here
imports ``providers``: the two registries agree by name, and a test holds them to it.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import TypeVar

from gateway.emulator import sims
from gateway.emulator.base import Sim
from gateway.emulator.failures import FailureSite
from gateway.errors import ConfigError
from gateway.plugins import load_target, with_entry_points

ENTRY_POINT_GROUP = "flowgateway.emulators"

V = TypeVar("V")
_loaded: dict[str, type[Sim]] = {}


@cache  # scanned once: entry_points() reads every installed distribution
def _registry() -> dict[str, str]:
    builtin = {
        m.name: f"{sims.__name__}.{m.name}:SIMULATOR"
        for m in pkgutil.iter_modules(sims.__path__)
        if not m.name.startswith("_")
    }
    return dict(sorted(with_entry_points(builtin, entry_points(group=ENTRY_POINT_GROUP)).items()))


def simulator_names() -> list[str]:
    """Every provider the emulator can stand in for, built-in and installed."""
    return list(_registry())


def simulator_class(name: str) -> type[Sim]:
    """The simulator registered under ``name`` (imported on first use)."""
    cls = _loaded.get(name)
    if cls is not None:
        return cls
    target = _registry().get(name)
    if target is None:
        known = ", ".join(simulator_names())
        raise ConfigError("provider", f"the emulator has no {name} (known: {known})")
    obj = load_target(target, "simulator", name)
    if not (isinstance(obj, type) and issubclass(obj, Sim)) or obj.name != name:
        raise ConfigError("provider", f"{target!r} is not a Sim subclass named {name!r}")
    _loaded[name] = obj
    return obj


class _ByName(Mapping[str, V]):
    """A read-only view over the registered names that loads an entry when it is read."""

    def __init__(self, load: Callable[[str], V]) -> None:
        self._load = load

    def __getitem__(self, name: str) -> V:
        if name not in _registry():
            raise KeyError(name)
        return self._load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_registry())

    def __len__(self) -> int:
        return len(_registry())


SIMULATORS: Mapping[str, type[Sim]] = _ByName(simulator_class)
"""Provider name → simulator class, for every registered simulator."""

FAILURE_LOCATIONS: Mapping[str, Mapping[str, FailureSite]] = _ByName(
    lambda name: simulator_class(name).failure_sites
)
"""Provider name → fault → where that provider reports it (each simulator's own table)."""
