"""Every problem of a configuration file at once (``flowgateway config check``).

:func:`gateway.config.load_config` raises the first problem, which suits a library; an
operator fixing a file wants them all. Nothing here restates a rule: the problems come
from the same pydantic models (``GatewayConfig`` and each adapter's ``Settings``) and the
same helpers (:func:`~gateway.config.sender_problems`,
:func:`~gateway.config.reference_problems`) that loading uses, collected instead of
raised. A misspelled key gets a "did you mean" from the keys its table allows.

No value is ever echoed: pydantic is told to hide inputs, and secrets are never read.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gateway.config import (
    MAX_DEPTH,
    GatewayConfig,
    _too_deep,
    interpolate,
    read_config_file,
    reference_problems,
    sender_problems,
)
from gateway.errors import ConfigError
from providers import adapter_class, adapter_names

__all__ = ["Problem", "check_config", "check_file"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One mistake in a configuration: its dotted key and what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


def check_file(path: str | Path, env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of a TOML config file; an unreadable or unparsable file is one."""
    try:
        data = read_config_file(path)
    except ConfigError as exc:
        return [Problem(key=exc.key, message=exc.problem)]
    return check_config(data, env)


def check_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of an already-parsed config mapping, in file order where known."""
    too_deep = _too_deep(data)
    if too_deep is not None:
        return [Problem(key=too_deep, message=f"nested deeper than {MAX_DEPTH} levels")]
    missing: list[ConfigError] = []
    resolved = interpolate(dict(data), os.environ if env is None else env, missing=missing)
    problems = _model_problems(resolved)
    senders = resolved.get("senders")
    gateway = resolved.get("gateway")
    gateway = gateway if isinstance(gateway, Mapping) else {}
    has_store = gateway.get("store") is not None
    if isinstance(senders, Mapping):
        problems += _from_errors(sender_problems(senders, has_store=has_store))
        for name, table in senders.items():
            if isinstance(table, Mapping) and isinstance(table.get("provider"), str):
                problems += _settings_problems(str(name), table)
    routes = resolved.get("routes")
    route_senders = [
        r.get("sender") if isinstance(r, Mapping) else None
        for r in (routes if isinstance(routes, list) else [])
    ]
    problems += _from_errors(
        reference_problems(
            gateway.get("default_sender"),
            route_senders,
            senders if isinstance(senders, Mapping) else {},
            has_store=has_store,
        )
    )
    # An unset variable became "": what that breaks downstream is the same mistake.
    unset = {e.key for e in missing}
    problems = _from_errors(missing) + [p for p in problems if p.key not in unset]
    return _unique(problems)


def _model_problems(resolved: Mapping[str, Any]) -> list[Problem]:
    """GatewayConfig's own errors, less those its validators raise from the helpers that
    :func:`check_config` calls itself (they stop at the first; the helpers do not)."""
    try:
        GatewayConfig.model_validate(resolved)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return []
    problems = []
    for err in errors:
        loc = err["loc"]
        if err["type"] == "value_error" and (loc == () or loc == ("senders",)):
            continue  # sender_problems / reference_problems, reported in full below
        problems.append(_problem(loc, err, _allowed_keys(GatewayConfig, loc[:-1])))
    return problems


def _settings_problems(name: str, table: Mapping[str, Any]) -> list[Problem]:
    """A sender's settings as its adapter validates them (every error, not the first)."""
    provider = table["provider"]
    prefix = ("senders", name)
    if provider not in adapter_names():
        hint = _did_you_mean(provider, adapter_names())
        known = ", ".join(adapter_names())
        return [
            Problem(
                key=f"senders.{name}.provider", message=f"unknown provider{hint} (known: {known})"
            )
        ]
    try:
        settings_model = adapter_class(provider).Settings
    except ConfigError as exc:  # a plugin that fails to import
        return [Problem(key=f"senders.{name}.provider", message=exc.problem)]
    values = {k: v for k, v in table.items() if k != "provider"}
    try:
        settings_model.model_validate(values)
    except ValidationError as exc:
        allowed = sorted(settings_model.model_fields)
        return [_problem((*prefix, *err["loc"]), err, allowed) for err in exc.errors()]
    return []


def _problem(loc: Sequence[Any], err: Any, allowed: Iterable[str] | None) -> Problem:
    key = _dotted(loc)
    if err["type"] == "extra_forbidden":
        hint = _did_you_mean(str(loc[-1]), allowed or ())
        return Problem(key=key, message=f"unknown key{hint}")
    return Problem(key=key, message=str(err["msg"]).removeprefix("Value error, "))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _allowed_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str] | None:
    """The keys the table at ``loc`` allows, by walking the model's field types."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of [[routes]]: same model
        found = _model_in(current)
        if found is None or part not in found.model_fields:
            return None
        current = found.model_fields[str(part)].annotation
    found = _model_in(current)
    return sorted(found.model_fields) if found else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel an annotation holds: itself, or inside ``X | None``, ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _dotted(loc: Sequence[Any]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _from_errors(errors: Iterable[ConfigError]) -> list[Problem]:
    return [Problem(key=e.key, message=e.problem) for e in errors]


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
