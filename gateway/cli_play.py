"""``flowgateway flows play``: walk a Flow JSON with a scripted user, offline.

Prints the walk as a transcript (``--json``: the whole :class:`PlayResult`). The endpoint,
if the Flow has one, is an in-process ``FlowEndpoint`` (``--app module:attribute``) or a
URL with the business public key (``--endpoint URL --public-key PEM``). Exit 0 when the
Flow completes without a finding, 1 on findings, 2 for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from gateway.extras import require


def add_parser(flows_sub: Any) -> None:
    """Register ``play`` under ``flowgateway flows``."""
    p = flows_sub.add_parser("play", help="walk a Flow offline with scripted answers")
    p.add_argument("file", type=Path, metavar="FLOW.json", help="Flow JSON file")
    p.add_argument(
        "--answers",
        type=Path,
        required=True,
        metavar="ANSWERS.json",
        help='{screen_id: {field: value, "_action": "footer|<name>|back"}}',
    )
    p.add_argument("--token", default=None, help="the flow_token (default: a fixed test token)")
    p.add_argument("--app", metavar="MODULE:ENDPOINT", help="an in-process FlowEndpoint")
    p.add_argument("--endpoint", metavar="URL", help="the endpoint's URL")
    p.add_argument("--public-key", type=Path, metavar="PEM", help="the business public key")
    p.add_argument("--app-secret", help="sign requests with X-Hub-Signature-256")
    p.add_argument("--json", action="store_true", help="the whole result as JSON")


def run(args: argparse.Namespace) -> int:
    from gateway.flowjson.player import DEFAULT_TOKEN, play

    try:
        flow = args.file.read_text(encoding="utf-8")
        answers = json.loads(args.answers.read_text(encoding="utf-8"))
        if not isinstance(answers, dict):
            raise ValueError(f"{args.answers}: the answers must be a JSON object")
        exchange = _exchange(args)
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        print(f"flowgateway flows play: {exc}", file=sys.stderr)
        return 2
    result = play(flow, answers, exchange=exchange, flow_token=args.token or DEFAULT_TOKEN)
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(result.transcript())
    return 1 if result.findings else 0


def _exchange(args: argparse.Namespace) -> Any:
    if args.app and args.endpoint:
        raise ValueError("give --app or --endpoint, not both")
    if not (args.app or args.endpoint):
        return None
    require("crypto", "flows play with an endpoint")
    from gateway.flowjson import player_exchange as px

    if args.app:
        module_name, _, attr = args.app.partition(":")
        if "" not in sys.path and "." not in sys.path:  # as uvicorn's --app-dir ".": the
            sys.path.insert(0, "")  # module is found from the directory the command runs in
        try:
            endpoint = getattr(importlib.import_module(module_name), attr or "endpoint")
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"--app {args.app}: {exc}") from exc
        from gateway.endpoint import FlowEndpoint

        if not isinstance(endpoint, FlowEndpoint):
            raise ValueError(f"--app {args.app} is not a FlowEndpoint")
        return px.endpoint_exchange(endpoint, app_secret=args.app_secret)
    if args.public_key is None:
        raise ValueError("--endpoint needs --public-key")
    key = px.load_public_key(args.public_key.read_bytes())
    return px.http_exchange(args.endpoint, key, app_secret=args.app_secret)
