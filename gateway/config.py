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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.errors import ConfigError
from gateway.limiter import limiter_kind
from gateway.retry import RetrySettings
from gateway.store import store_scheme

MAX_DEPTH = 32
"""Deepest nesting of tables and arrays: a real config uses four levels."""
AsyncBackend = Literal["auto", "aiohttp", "httpx"]
"""AsyncGateway's HTTP client (``[gateway] async_backend``)."""
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
    async_backend: AsyncBackend = "auto"
    """AsyncGateway's HTTP client: ``aiohttp`` (extra ``fast``), ``httpx``, or ``auto`` —
    aiohttp when installed, else httpx. The sync Gateway always uses httpx."""
    store: str | None = None
    """Where the inbox and the run-time senders live: ``sqlite:///file.db`` (embedded) or
    ``postgresql://…`` (extra ``postgres``). Unset: the receiver uses ``[receiver] inbox``
    and senders come from this file only."""
    store_migrate: bool | None = None
    """Apply schema migrations when a process opens the store. Unset: yes for SQLite,
    no for PostgreSQL (run ``flowgateway store migrate`` once per release)."""
    senders_refresh: float = Field(default=5.0, ge=0)
    """Seconds between checks for senders added, changed or removed in the store."""
    limiter: str = "memory://"
    """Where send pacing is kept: ``memory://`` (this process) or ``redis://host/db``
    (every process sharing the server; extra ``redis``)."""
    max_wait: float | None = Field(default=30.0, ge=0)
    """Default for ``send(max_wait=…)``: seconds a send may wait for the limiter or a
    Retry-After before it raises ``RateLimited`` instead; None: no bound."""

    @field_validator("limiter")
    @classmethod
    def _limiter_url(cls, v: str) -> str:
        if limiter_kind(v) is None:
            raise ValueError("must be memory:// or a redis:// URL")
        return v

    @field_validator("store")
    @classmethod
    def _store_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.strip():
            raise ValueError("must be a URL: sqlite:///file.db or postgresql://…")
        try:
            store_scheme(v)
        except ConfigError as exc:
            raise ValueError(exc.problem) from None
        return v


class ReceiverSettings(BaseModel):
    """The ``[receiver]`` table: the webhook service (``flowgateway serve``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inbox: str = "flowgateway-inbox.sqlite3"
    """SQLite file holding every callback and event until handled (created 0600; a
    missing directory is created 0700 when the receiver starts). Checked at load only for
    what no host could use, so that one config serves senders on hosts without it."""
    path_prefix: str = Field(default="/webhooks", pattern=r"^/[A-Za-z0-9_/-]*$")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_attempts: int = Field(default=8, ge=1)
    """Handler attempts before an event is dead-lettered."""
    retry_initial: float = Field(default=1.0, ge=0)
    retry_max: float = Field(default=300.0, ge=0)
    handler_concurrency: int = Field(default=8, ge=1)
    """Jobs handled at once; claiming goes on while handlers run."""
    poll_interval: float = Field(default=1.0, gt=0)
    """How often the worker looks for due retries and replays from the CLI."""
    handler_timeout: float = Field(default=30.0, gt=0)
    """Seconds one handler call may take (waiting for a thread included); past it the
    attempt fails and is retried or dead-lettered like any failure."""
    handler_threads: int = Field(default=8, ge=1)
    """Threads for sync handlers, apart from the inbox's: acknowledging never waits on one."""
    inbox_threads: int = Field(default=4, ge=1)
    """Threads for inbox reads and writes."""
    inbox_busy_timeout: float = Field(default=5.0, ge=0)
    """Seconds an inbox write waits for a lock held by another process before failing."""
    shutdown_grace: float = Field(default=10.0, ge=0)
    """On a graceful stop, seconds running handlers get to finish; the rest go back to
    pending."""
    header_timeout: float = Field(default=10.0, gt=0)
    """``flowgateway serve``: seconds to receive a request's headers, else the connection
    is closed (408)."""
    body_timeout: float = Field(default=20.0, gt=0)
    """Seconds to receive a whole request body, else 408."""
    keep_alive_timeout: float = Field(default=5.0, gt=0)
    """``flowgateway serve``: seconds an idle keep-alive connection stays open."""
    max_connections: int = Field(default=1000, ge=1)
    """``flowgateway serve``: open connections at most; more are closed on accept."""
    max_header_bytes: int = Field(default=32_768, ge=1024)
    """``flowgateway serve``: size of a request's headers at most."""
    lease: float = Field(default=30.0, gt=0)
    """Seconds a claimed job stays this process's; the heartbeat renews it every third.
    Another process takes a job over only once its lease expired (its process died)."""
    retention_days: float = Field(default=14.0, ge=0)
    """Days handled jobs, their events and the raw callbacks are kept (0: forever).
    Keep it past the providers' redelivery window (Meta retries for up to 7 days): a
    redelivery of something pruned is stored and handled again."""
    prune_interval: float = Field(default=3600.0, gt=0)
    """Seconds between prunes (each receiver process prunes; the deletes are idempotent)."""
    maintenance_interval: float = Field(default=60.0, gt=0)
    """Seconds between SQLite WAL checkpoints, which keep the files bounded."""

    @field_validator("inbox")
    @classmethod
    def _inbox_file(cls, v: str) -> str:
        problem = inbox_problem(v)
        if problem:
            raise ValueError(problem)
        return v


def inbox_problem(path: str) -> str | None:
    """Why ``path`` cannot be the receiver's SQLite inbox, or None.

    For the config and for ``--inbox`` alike: ``ConfigError("receiver.inbox", problem)``.
    """
    if not path.strip():
        return "must name a file"
    if "\x00" in path:
        return "contains a NUL character"
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return "is not a file name this system can encode"
    file = Path(path)
    try:
        if file.is_dir():
            return f"{path!r} is a directory: name a file inside it"
    except OSError as exc:  # a name too long, a loop of links
        return f"cannot be used: {exc.strerror or exc}"
    return None


class GatewayConfig(BaseModel):
    """A whole configuration file, validated; sender settings are checked by their adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateway: GatewaySection = Field(default_factory=GatewaySection)
    senders: dict[str, dict[str, Any]] = Field(default_factory=dict, validate_default=True)
    routes: tuple[RouteConfig, ...] = ()
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)

    @field_validator("senders")
    @classmethod
    def _has_provider(
        cls, v: dict[str, dict[str, Any]], info: ValidationInfo
    ) -> dict[str, dict[str, Any]]:
        gateway = info.data.get("gateway")
        problems = sender_problems(v, has_store=gateway is not None and gateway.store is not None)
        if problems:
            first = problems[0]
            raise ValueError(first.problem if first.key == "senders" else str(first))
        return v

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        problems = reference_problems(
            self.gateway.default_sender,
            [route.sender for route in self.routes],
            self.senders,
            has_store=self.gateway.store is not None,
        )
        if problems:
            raise ValueError(str(problems[0]))
        return self

    @property
    def store_url(self) -> str:
        """``[gateway] store``, else the receiver's SQLite inbox file."""
        return self.gateway.store or f"sqlite:///{self.receiver.inbox}"

    @property
    def default_sender(self) -> str | None:
        """The configured default, or the only sender when there is just one."""
        if self.gateway.default_sender is not None:
            return self.gateway.default_sender
        return next(iter(self.senders)) if len(self.senders) == 1 else None


def interpolate(
    value: Any,
    env: Mapping[str, str],
    path: str = "",
    missing: list[ConfigError] | None = None,
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of ``value``.

    An unset variable without a default raises ConfigError, or, given ``missing``, is
    appended to it and replaced by ``""`` so that every one can be reported at once.
    """
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, fallback = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if fallback is not None:
                return fallback
            error = ConfigError(path, f"environment variable {name} is not set")
            if missing is None:
                raise error
            missing.append(error)
            return ""

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {
            k: interpolate(v, env, f"{path}.{k}" if path else k, missing) for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, env, f"{path}[{i}]", missing) for i, v in enumerate(value)]
    return value


def is_url_key(key: str) -> bool:
    """Whether a sender setting names a URL (``base_url``, ``auth_url``, ``callback_url``…)."""
    return key == "url" or key.endswith("_url")


def url_problem(value: Any) -> str | None:
    """Why a URL setting is unusable, or None. Empty means "the adapter's default"."""
    if not isinstance(value, str) or not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The value is not echoed: a URL may carry credentials (https://user:pass@host).
        return "must be an absolute http(s) URL with a scheme, like https://host/path"
    return None


def sender_problems(senders: Mapping[str, Any], *, has_store: bool) -> list[ConfigError]:
    """Every structural problem of the ``[senders]`` tables, each naming its key: none at
    all, a missing ``provider``, a URL setting without a scheme. The settings themselves
    are the adapters' to check (``gateway.config_check`` and ``Gateway`` do)."""
    if not senders and not has_store:
        return [
            ConfigError(
                "senders", "at least one sender is required (or a [gateway] store holding them)"
            )
        ]
    problems: list[ConfigError] = []
    for name, table in senders.items():
        if not isinstance(table, Mapping):
            continue  # the model's type check names it
        if not isinstance(table.get("provider"), str):
            problems.append(ConfigError(f"senders.{name}.provider", "needs a 'provider' key"))
        for key, value in table.items():
            problem = url_problem(value) if is_url_key(str(key)) else None
            if problem:
                problems.append(ConfigError(f"senders.{name}.{key}", problem))
    return problems


def reference_problems(
    default_sender: Any,
    route_senders: Sequence[Any],
    senders: Mapping[str, Any],
    *,
    has_store: bool,
) -> list[ConfigError]:
    """Sender names used by ``[gateway] default_sender`` and ``[[routes]]`` that no
    ``[senders]`` table defines (unchecked with a store: senders may live there)."""
    if has_store:
        return []
    problems = []
    if isinstance(default_sender, str) and default_sender not in senders:
        problems.append(
            ConfigError("gateway.default_sender", f"{default_sender!r} is not a configured sender")
        )
    for i, name in enumerate(route_senders):
        if isinstance(name, str) and name not in senders:
            problems.append(
                ConfigError(f"routes[{i}].sender", f"{name!r} is not a configured sender")
            )
    return problems


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate an already-parsed config mapping."""
    too_deep = _too_deep(data)
    if too_deep is not None:
        raise ConfigError(too_deep, f"nested deeper than {MAX_DEPTH} levels")
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
    """Read and validate a TOML config file; every problem is a ConfigError naming the
    key, or the file when it cannot be read or parsed."""
    return parse_config(read_config_file(path), env)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML config file's tables as parsed, not yet validated; a ConfigError naming the
    file when it cannot be read or parsed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "config file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(p), "is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), f"not UTF-8 text (byte {exc.start})") from None
    except (OSError, ValueError) as exc:  # permissions, a NUL in the name, too long a name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(str(p), f"cannot read the config file: {reason}") from None
    try:
        return tomllib.loads(text)
    except RecursionError:  # the parser recurses once per nested array or inline table
        raise ConfigError(str(p), "invalid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer past Python's digit limit
        raise ConfigError(str(p), f"invalid TOML: {exc}") from None


def _too_deep(data: Any) -> str | None:
    """The key of the first table or array nested past MAX_DEPTH, found without
    recursion (interpolation and validation recurse)."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        node, depth, key = stack.pop()
        if isinstance(node, Mapping):
            children = [(f"{key}.{k}" if key else str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(f"{key}[{i}]", v) for i, v in enumerate(node)]
        else:
            continue
        if depth > MAX_DEPTH:
            return key
        stack.extend((child, depth + 1, name) for name, child in children)
    return None
