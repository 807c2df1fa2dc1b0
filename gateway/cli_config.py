"""``flowgateway config check``: every problem of a configuration file at once."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_DEFAULT_CONFIG = Path("config/gateway.toml")


def add_parsers(sub: Any) -> None:
    """Register ``config`` on the main parser's subcommands."""
    cf = sub.add_parser("config", help="check a configuration file")
    cf_sub = cf.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    ck = cf_sub.add_parser(
        "check", help="report every problem of a config file, each with its key (exit 1 if any)"
    )
    ck.add_argument("--config", type=Path, default=_DEFAULT_CONFIG, help="the config file")
    ck.add_argument("--json", action="store_true", help="problems as a JSON array")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the file is clean, 1 when it has problems."""
    from gateway.config_check import check_file

    problems = check_file(args.config)
    if args.json:
        print(json.dumps([{"key": p.key, "message": p.message} for p in problems], indent=2))
    elif problems:
        for p in problems:
            print(f"{args.config}: error: {p}")
        print(f"{len(problems)} problem(s)", file=sys.stderr)
    else:
        print(f"{args.config}: ok")
    return 1 if problems else 0
