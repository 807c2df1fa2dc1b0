"""Gateway configuration: named senders, routes, retry settings (TOML, ``${VAR}`` aware).

```toml
[gateway]
default_sender = "main"
[gateway.retry]
max_attempts = 4
[senders.main]
provider = "meta_cloud"
access_token = "${META_ACCESS_TOKEN}"
[[routes]]
to_prefix = "+55"
sender = "br"
```
``${VAR}`` reads the environment; ``${VAR:-fallback}`` supplies a default. A missing
variable or key fails at load time with its full name.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.errors import ConfigError
from gateway.retry import RetrySettings

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class RouteConfig(BaseModel):
    """One ``[[routes]]`` entry: recipients starting with ``to_prefix`` go to ``sender``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to_prefix: tuple[str, ...]
    sender: str

    @field_validator("to_prefix", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("to_prefix")
    @classmethod
    def _digits(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("needs at least one prefix")
        # "+55" and "55" mean the same recipients: compare without the plus.
        return tuple(p.lstrip("+") for p in v)


class GatewaySection(BaseModel):
    """The ``[gateway]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_sender: str | None = None
    retry: RetrySettings = Field(default_factory=RetrySettings)


class ReceiverSettings(BaseModel):
    """The ``[receiver]`` table: the webhook service (``flowgateway serve``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inbox: str = "flowgateway-inbox.sqlite3"
    """SQLite file holding every callback and event until handled."""
    path_prefix: str = Field(default="/webhooks", pattern=r"^/[A-Za-z0-9_/-]*$")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_attempts: int = Field(default=8, ge=1)
    """Handler attempts before an event is dead-lettered."""
    retry_initial: float = Field(default=1.0, ge=0)
    retry_max: float = Field(default=300.0, ge=0)
    handler_concurrency: int = Field(default=8, ge=1)
    poll_interval: float = Field(default=1.0, gt=0)
    """How often the worker looks for due retries and replays from the CLI."""


class GatewayConfig(BaseModel):
    """A whole configuration file, validated; sender settings are checked by their adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateway: GatewaySection = Field(default_factory=GatewaySection)
    senders: dict[str, dict[str, Any]]
    routes: tuple[RouteConfig, ...] = ()
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)

    @field_validator("senders")
    @classmethod
    def _has_provider(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not v:
            raise ValueError("at least one sender is required")
        for name, table in v.items():
            if not isinstance(table.get("provider"), str):
                raise ValueError(f"sender {name!r} needs a 'provider' key")
        return v

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        default = self.gateway.default_sender
        if default is not None and default not in self.senders:
            raise ValueError(f"gateway.default_sender {default!r} is not a configured sender")
        for i, route in enumerate(self.routes):
            if route.sender not in self.senders:
                raise ValueError(f"routes[{i}].sender {route.sender!r} is not a configured sender")
        return self

    @property
    def default_sender(self) -> str | None:
        """The configured default, or the only sender when there is just one."""
        if self.gateway.default_sender is not None:
            return self.gateway.default_sender
        return next(iter(self.senders)) if len(self.senders) == 1 else None


def interpolate(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of ``value``."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, fallback = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if fallback is not None:
                return fallback
            raise ConfigError(path, f"environment variable {name} is not set")

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate an already-parsed config mapping."""
    resolved = interpolate(dict(data), os.environ if env is None else env)
    try:
        return GatewayConfig.model_validate(resolved)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(key, msg) from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate a TOML config file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(p), "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), f"invalid TOML: {exc}") from None
    return parse_config(data, env)
