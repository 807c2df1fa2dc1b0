"""The ``flowgateway`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway import demo
from gateway.client import Gateway
from gateway.errors import ConfigError, GatewayError, ProviderError
from gateway.log import configure_logging
from gateway.model import FlowMessage


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flowgateway",
        description="Send WhatsApp Flows through any BSP from one model.",
    )
    p.add_argument("--log-level", default="WARNING", help="log level (default: WARNING)")
    p.add_argument("--log-format", choices=["console", "json"], default="console")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="round trip against the embedded emulator (no credentials)")
    d.add_argument("--config", type=Path, default=demo.DEFAULT_CONFIG, help="config file")

    sub.add_parser("providers", help="list the available provider adapters")

    s = sub.add_parser("send", help="send one Flow message through a configured sender")
    s.add_argument("--config", type=Path, default=Path("config/gateway.toml"))
    s.add_argument("--json", dest="json_file", type=Path, help="FlowMessage as a JSON file")
    s.add_argument("--dry-run", action="store_true", help="print the request; send nothing")
    for flag in (
        "to",
        "sender",
        "flow-id",
        "flow-name",
        "flow-cta",
        "flow-token",
        "screen",
        "header",
        "body",
        "footer",
        "template",
        "language",
    ):
        s.add_argument(f"--{flag}")
    s.add_argument("--flow-action", choices=["navigate", "data_exchange"])
    s.add_argument("--mode", choices=["draft", "published"])
    s.add_argument("--data", help="first-screen data as a JSON object")
    s.add_argument("--button-index", type=int)
    return p


def _message(args: argparse.Namespace) -> FlowMessage:
    fields: dict[str, Any] = {}
    if args.json_file is not None:
        fields = json.loads(args.json_file.read_text(encoding="utf-8"))
    for name in (
        "to",
        "sender",
        "flow_id",
        "flow_name",
        "flow_cta",
        "flow_token",
        "screen",
        "header",
        "body",
        "footer",
        "flow_action",
        "mode",
    ):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    if args.data is not None:
        fields["data"] = json.loads(args.data)
    if args.template is not None:
        ref: dict[str, Any] = {"name": args.template, "language": args.language or "en_US"}
        if args.button_index is not None:
            ref["button_index"] = args.button_index
        fields["template"] = ref
    return FlowMessage.model_validate(fields)


def _send(args: argparse.Namespace) -> int:
    msg = _message(args)
    with Gateway.from_config(args.config) as gw:
        if args.dry_run:
            print(json.dumps(gw.build_send(msg).masked(), indent=2, ensure_ascii=False))
            return 0
        receipt = gw.send(msg)
    print(
        json.dumps(
            {
                "provider": receipt.provider,
                "message_id": receipt.message_id,
                "recipient": receipt.recipient,
                "status": receipt.status,
            }
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowgateway`` console script."""
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        if args.command == "demo":
            return demo.run(args.config)
        if args.command == "providers":
            from providers import adapter_names

            print("\n".join(adapter_names()))
            return 0
        return _send(args)
    except ValidationError as exc:
        print(f"flowgateway: invalid message:\n{exc}", file=sys.stderr)
        return 2
    except (ConfigError, json.JSONDecodeError, OSError) as exc:
        print(f"flowgateway: {exc}", file=sys.stderr)
        return 2
    except ProviderError as exc:
        print(f"flowgateway: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except GatewayError as exc:
        print(f"flowgateway: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
