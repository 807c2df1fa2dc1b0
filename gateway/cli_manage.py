"""``flowgateway flows …`` and ``flowgateway templates …``: management from a shell or CI.

Readable tables by default, ``--json`` for scripts. ``flows deploy`` checks the file
offline first: errors are printed as ``file:line:col: …`` and the command exits 1 before
any request.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from gateway import cli_play
from gateway.client import Gateway
from gateway.manage import FLOW_CATEGORIES, FlowJSONInvalid

_FLOW_ACTIONS = ("list", "get", "publish", "deprecate", "delete", "preview")


def add_parsers(sub: Any) -> None:
    """Register ``flows`` and ``templates`` on the main parser's subcommands."""
    fl = sub.add_parser("flows", help="manage Flows (deploy, list, publish…)")
    fl_sub = fl.add_subparsers(dest="flows_command", required=True)
    dp = fl_sub.add_parser("deploy", help="validate, then create or update, then publish")
    dp.add_argument("file", type=Path, metavar="FILE", help="Flow JSON file")
    dp.add_argument("--name", required=True, help="the flow's name (unique per account)")
    dp.add_argument(
        "--category",
        action="append",
        dest="categories",
        metavar="CATEGORY",
        help=f"repeatable; one of {', '.join(FLOW_CATEGORIES)} (default OTHER)",
    )
    dp.add_argument("--no-publish", action="store_true", help="leave it as a draft")
    dp.add_argument("--endpoint-uri", help="the data-exchange endpoint of the flow")
    for name in ("deploy", *_FLOW_ACTIONS):
        if name == "preview":  # FLOW_ID at the provider, or a FLOW.json played here
            c = cli_play.add_preview_parser(fl_sub)
        else:
            c = dp if name == "deploy" else fl_sub.add_parser(name, help=f"{name} flows")
        if name not in ("deploy", "list", "preview"):
            c.add_argument("flow_id", metavar="FLOW_ID", help="the flow's id")
        _common(c)
    pv = fl_sub.choices["preview"]
    pv.add_argument("--interactive", action="store_true", help="an interactive preview")
    pv.add_argument("--screen", help="first screen (navigate)")
    pv.add_argument("--flow-token", help="token echoed in the preview's replies")
    pv.add_argument("--data", metavar="JSON|@FILE", help="first-screen data, a JSON object")
    cli_play.add_parser(fl_sub)

    tp = sub.add_parser("templates", help="list or delete message templates")
    tp_sub = tp.add_subparsers(dest="templates_command", required=True)
    tl = tp_sub.add_parser("list", help="every template (all pages)")
    tl.add_argument("--name", dest="template_name", help="only templates of this name")
    tl.add_argument("--status", help="only this status (APPROVED, PENDING…)")
    tl.add_argument("--category", help="only this category (MARKETING, UTILITY…)")
    tl.add_argument("--language", help="only this language (en_US…)")
    td = tp_sub.add_parser("delete", help="delete a template (every language, or one id)")
    td.add_argument("name", help="the template's name")
    td.add_argument("--template-id", help="delete only this id")
    td.add_argument("--language", help="delete only this language")
    for c in (tl, td):
        _common(c)


def _common(c: argparse.ArgumentParser) -> None:
    c.add_argument("--config", type=Path, default=Path("config/gateway.toml"), help="config file")
    c.add_argument("--sender", help="default: the default sender")
    c.add_argument("--json", action="store_true", help="JSON for scripts")


def run_flows(args: argparse.Namespace) -> int:
    """``flowgateway flows …``; exits 1 on local errors before any request."""
    cmd = args.flows_command
    if cmd == "play":
        return cli_play.run(args)
    if cmd == "preview" and cli_play.is_local(args.flow_id):
        return cli_play.run_preview(args)
    if cmd == "preview":
        local = [f"--{k.replace('_', '-')}" for k in cli_play.LOCAL_ONLY if getattr(args, k)]
        if local:
            need = "need" if len(local) > 1 else "needs"
            why = f"{', '.join(local)} {need} a FLOW.json, not a FLOW_ID"
            print(f"flowgateway flows preview: {why}", file=sys.stderr)
            return 2
    if cmd == "deploy":
        text = args.file.read_text(encoding="utf-8")
        try:
            with Gateway.from_config(args.config) as gw:
                result = gw.flows.deploy(
                    args.name, text, categories=tuple(args.categories or ["OTHER"]),
                    publish=not args.no_publish, endpoint_uri=args.endpoint_uri,
                    sender=args.sender,
                )  # fmt: skip
        except FlowJSONInvalid as exc:
            for issue in exc.issues:
                print(_located(args.file, issue), file=sys.stderr)
            print(f"flowgateway: {len(exc.issues)} error(s); nothing sent", file=sys.stderr)
            return 1
        for issue in result.issues:
            print(_located(args.file, issue), file=sys.stderr)
        _show(args, result, lambda r: str(r))
        return 0 if result.ok else 1
    with Gateway.from_config(args.config) as gw:
        flows, sender = gw.flows, args.sender
        if cmd == "list":
            items = flows.list(sender=sender)
            _show(args, items, lambda xs: _table(xs, ("id", "name", "status", "categories")))
        elif cmd == "get":
            _show(args, flows.get(args.flow_id, sender=sender), _fields)
        elif cmd == "preview":
            data = cli_play.read_data(args.data)
            got = flows.preview(
                args.flow_id, sender=sender, interactive=args.interactive or None,
                screen=args.screen, data=data, flow_token=args.flow_token,
            )  # fmt: skip
            _show(args, got, lambda p: p.url)
        else:  # publish, deprecate, delete
            done = getattr(flows, cmd)(args.flow_id, sender=sender)
            _show(args, {"flow_id": args.flow_id, cmd: done}, lambda d: f"{cmd}: {done}")
    return 0


def run_templates(args: argparse.Namespace) -> int:
    """``flowgateway templates list|delete``."""
    with Gateway.from_config(args.config) as gw:
        if args.templates_command == "list":
            filters = {
                k: getattr(args, k)
                for k in ("template_name", "status", "category", "language")
                if getattr(args, k)
            }
            items = gw.templates.list(sender=args.sender, **filters)
            cols = ("id", "name", "language", "status", "category")
            _show(args, items, lambda xs: _table(xs, cols))
        else:
            done = gw.templates.delete(
                args.name, template_id=args.template_id, language=args.language,
                sender=args.sender,
            )  # fmt: skip
            _show(args, {"name": args.name, "deleted": done}, lambda d: f"deleted: {done}")
    return 0


def _located(path: Path, issue: Any) -> str:
    where = f"{issue.line}:{issue.column}" if issue.line is not None else "1:1"
    at = f" (at {issue.path})" if issue.path else ""
    return f"{path}:{where}: {issue.severity}: {issue.error} {issue.message}{at}"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "raw"
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _show(args: argparse.Namespace, value: Any, human: Any) -> None:
    if args.json:
        print(json.dumps(_plain(value), indent=2, ensure_ascii=False, default=str))
    else:
        print(human(value))


def _fields(value: Any) -> str:
    plain = _plain(value)
    return "\n".join(f"{k}: {v}" for k, v in plain.items() if v not in (None, [], {}))


def _table(items: Sequence[Any], cols: tuple[str, ...]) -> str:
    rows = [[_cell(getattr(i, c, None)) for c in cols] for i in items]
    widths = [max([len(c), *(len(r[n]) for r in rows)]) for n, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines) + f"\n({len(items)})"


def _cell(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    if isinstance(value, Enum):
        return str(value.value)
    return "" if value is None else str(value)
