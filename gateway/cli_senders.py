"""``flowgateway senders …``: the senders kept in the store, from a shell.

``add``, ``update``, ``rotate`` and ``remove`` change the store; every running process
picks the change up within ``[gateway] senders_refresh`` seconds. Credentials are read
from the environment (``--set-env KEY=VAR``) or a JSON file (``--from-json FILE|-``);
nothing printed ever shows one (``show`` masks them as ``***``). Errors are one line and
exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import load_config
from gateway.errors import ConfigError, GatewayError
from gateway.extras import missing
from gateway.secretbox import credential_test
from gateway.senders import ENV_KEY, SecretBox, SenderInfo, SenderRegistry
from gateway.store import StoredSender, open_configured_store


def add_parsers(sub: Any) -> None:
    """Register ``senders`` on the main parser's subcommands."""
    sp = sub.add_parser("senders", help="senders kept in the store: add, list, rotate…")
    sp_sub = sp.add_subparsers(dest="senders_command", required=True)
    add = sp_sub.add_parser("add", help="keep a new sender in the store")
    add.add_argument("name", metavar="NAME", help="the sender's name")
    add.add_argument("--provider", help="e.g. meta_cloud (or the JSON's 'provider')")
    update = sp_sub.add_parser("update", help="change settings of a stored sender")
    update.add_argument("name", metavar="NAME", help="the sender's name")
    update.add_argument(
        "--unset", action="append", default=[], metavar="KEY", help="remove a setting"
    )
    rotate = sp_sub.add_parser("rotate", help="replace credentials of a stored sender")
    rotate.add_argument("name", metavar="NAME", help="the sender's name")
    for c in (add, update, rotate):
        if c is not rotate:  # a credential on the command line shows in ps and history
            c.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="a setting (repeatable; not for credentials)",
            )
        c.add_argument(
            "--set-env",
            action="append",
            default=[],
            metavar="KEY=VAR",
            help="the value of environment variable VAR (for credentials)",
        )
        c.add_argument(
            "--from-json", metavar="FILE", help="settings as a JSON object (- reads stdin)"
        )
    ls = sp_sub.add_parser("list", help="every sender: name, provider, business id, source")
    ls.add_argument("--json", action="store_true", help="JSON for scripts")
    show = sp_sub.add_parser("show", help="one sender's settings, credentials masked")
    show.add_argument("name", metavar="NAME", help="the sender's name")
    show.add_argument("--json", action="store_true", help="JSON for scripts")
    rm = sp_sub.add_parser("remove", help="delete a stored sender")
    rm.add_argument("name", metavar="NAME", help="the sender's name")
    kg = sp_sub.add_parser("keygen", help=f"print a new key for {ENV_KEY}")
    rk = sp_sub.add_parser("rekey", help=f"encrypt every stored sender with {ENV_KEY}'s first key")
    for c in (add, update, rotate, ls, show, rm, kg, rk):
        c.add_argument(
            "--config", type=Path, default=Path("config/gateway.toml"), help="config file"
        )


def run(args: argparse.Namespace) -> int:
    """``flowgateway senders …``; errors are one line, exit 2."""
    try:
        return _run(args)
    except (GatewayError, OSError) as exc:
        return _fail(str(exc))
    except _store_errors() as exc:
        return _fail(f"the store failed: {type(exc).__name__}: {exc}")


def _run(args: argparse.Namespace) -> int:
    cmd = args.senders_command
    if cmd == "keygen":
        print(SecretBox.generate_key())
        print(
            f"set {ENV_KEY} to it in every process; to rotate, list it first "
            f"({ENV_KEY}=NEW,OLD), run `flowgateway senders rekey`, then drop OLD",
            file=sys.stderr,
        )
        return 0
    config = load_config(args.config)
    store = open_configured_store(config)
    try:
        # Problems show where they matter: list's "!" column, or the named sender's error.
        registry = SenderRegistry(config, store, refresh=0, report=False)
        return _COMMANDS[cmd](registry, args)
    finally:
        if store is not None:
            store.close()


def _add(registry: SenderRegistry, args: argparse.Namespace) -> int:
    table = _settings(args)
    provider = table.pop("provider", None)
    if args.provider is not None:
        if provider is not None and provider != args.provider:
            raise ConfigError("provider", "--provider and the JSON's 'provider' differ")
        provider = args.provider
    if not isinstance(provider, str):
        raise ConfigError("provider", "give --provider (e.g. meta_cloud)")
    _warn_command_line(args, provider)
    saved = registry.add(args.name, provider, table)
    print(f"added {_summary(saved)}")
    return 0


def _update(registry: SenderRegistry, args: argparse.Namespace) -> int:
    changes: dict[str, Any] = _settings(args)
    if "provider" in changes:
        raise ConfigError("provider", "cannot change; remove the sender and add it again")
    changes.update(dict.fromkeys(args.unset))
    info = registry.describe(args.name)
    _warn_command_line(args, info.provider)
    print(f"updated {_summary(registry.update(args.name, changes))}")
    return 0


def _rotate(registry: SenderRegistry, args: argparse.Namespace) -> int:
    credentials = _settings(args)
    bad = [k for k, v in credentials.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"senders.{args.name}.{bad[0]}", "must be a string")
    saved = registry.rotate(args.name, **credentials)
    print(f"rotated {', '.join(sorted(credentials))} of {_summary(saved)}")
    return 0


def _remove(registry: SenderRegistry, args: argparse.Namespace) -> int:
    if not registry.remove(args.name):
        raise ConfigError(f"senders.{args.name}", "no such sender in the store")
    print(f"removed sender {args.name}")
    return 0


def _rekey(registry: SenderRegistry, args: argparse.Namespace) -> int:
    n = registry.rekey()
    print(f"{n} sender(s) encrypted with the first key of {ENV_KEY}; older keys can go")
    return 0


def _list(registry: SenderRegistry, args: argparse.Namespace) -> int:
    items = registry.listing()
    if args.json:
        for info in items:
            print(json.dumps(_plain(info)))
        return 0
    cols = ("name", "provider", "business_id", "source", "version")
    rows = [[_cell(getattr(i, c)) for c in cols] for i in items]
    widths = [max([len(c), *(len(r[n]) for r in rows)]) for n, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for info, row in zip(items, rows, strict=True):
        line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        print(f"{line}  ! {info.problem}" if info.problem else line)
    return 0


def _show(registry: SenderRegistry, args: argparse.Namespace) -> int:
    info = registry.describe(args.name)
    if args.json:
        print(json.dumps(_plain(info), indent=2, ensure_ascii=False, default=str))
        return 0
    for key, value in _plain(info).items():
        if key != "settings" and value is not None:
            print(f"{key}: {value}")
    print("settings:")
    for key, value in sorted(info.settings.items()):
        print(f"  {key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    return 0


_COMMANDS = {
    "add": _add,
    "update": _update,
    "rotate": _rotate,
    "remove": _remove,
    "rekey": _rekey,
    "list": _list,
    "show": _show,
}


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """``--from-json``, then ``--set``, then ``--set-env`` (later ones win)."""
    table: dict[str, Any] = {}
    if args.from_json is not None:
        text = (
            sys.stdin.read()
            if args.from_json == "-"
            else Path(args.from_json).read_text(encoding="utf-8")
        )
        try:
            doc = json.loads(text)
        except ValueError:  # the decoder's message may quote the text: a credential
            raise ConfigError(args.from_json, "is not valid JSON") from None
        if not isinstance(doc, dict):
            raise ConfigError(args.from_json, "must hold a JSON object of settings")
        table.update(doc)
    for item in getattr(args, "set", []):
        key, value = _pair(item, "--set", "KEY=VALUE")
        table[key] = value
    for item in args.set_env:
        key, var = _pair(item, "--set-env", "KEY=VAR")
        from_env = os.environ.get(var)
        if not from_env:
            raise ConfigError(var, f"environment variable for --set-env {key} is not set or empty")
        table[key] = from_env
    return table


def _pair(item: str, flag: str, form: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(flag, f"takes {form} (got something without a key)")
    return key.strip(), value


def _warn_command_line(args: argparse.Namespace, provider: str) -> None:
    try:
        credential = credential_test(provider, unknown_ok=False)
    except ConfigError:
        return  # the registry names the unknown provider
    for item in getattr(args, "set", []):
        key = item.partition("=")[0].strip()
        if credential(key):
            print(
                f"flowgateway: warning: {key} was given on the command line, where the "
                f"process list and shell history keep it; prefer --set-env {key}=VAR",
                file=sys.stderr,
            )


def _summary(s: StoredSender) -> str:
    bid = f", business id {s.business_id}" if s.business_id else ""
    return f"sender {s.name} ({s.provider}{bid}, version {s.version})"


def _plain(info: SenderInfo) -> dict[str, Any]:
    out = dataclasses.asdict(info)
    if info.updated_at is not None:
        out["updated_at"] = datetime.fromtimestamp(info.updated_at, UTC).isoformat()
    return out


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _fail(message: str) -> int:
    print(f"flowgateway: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _store_errors() -> tuple[type[BaseException], ...]:
    """The store engines' own errors (an unreachable server, a locked or damaged file)."""
    errors: list[type[BaseException]] = [sqlite3.Error]
    if missing("postgres") is None:
        import psycopg

        errors.append(psycopg.Error)
    return tuple(errors)
