"""``flowgateway worker`` and ``flowgateway outbox``: the durable outbox from a shell."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from gateway.config import load_config
from gateway.store import Store, open_configured_store, open_store
from gateway.store.base import OUTBOX_STATUSES

_DEFAULT_CONFIG = Path("config/gateway.toml")


def add_parsers(sub: Any) -> None:
    """Add ``worker`` and ``outbox`` to the CLI's subcommands."""
    w = sub.add_parser("worker", help="send the outbox's messages, paced (any number of them)")
    w.add_argument("--config", type=Path, default=_DEFAULT_CONFIG, help="config file")
    w.add_argument("--concurrency", type=int, default=64, help="sends in flight at once")
    w.add_argument("--lease", type=float, default=30.0, help="seconds a claimed send stays ours")
    w.add_argument("--until-empty", action="store_true", help="stop once nothing is due")
    w.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on this port (extra otel; default: none)",
    )

    ob = sub.add_parser("outbox", help="inspect, retry and cancel durable sends")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True)
    ls = _where(ob_sub.add_parser("list", help="list sends"))
    ls.add_argument("--status", choices=OUTBOX_STATUSES, help="only sends in this status")
    ls.add_argument("--limit", type=int, default=50, help="at most this many")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = _where(ob_sub.add_parser("show", help="one send: its message, receipt and delivery"))
    show.add_argument("entry", metavar="ID|KEY", help="the send's id or idempotency key")
    show.add_argument("--json", action="store_true", help="JSON for scripts")
    for name, text in (
        ("retry", "queue again sends a person decided on (unknown, failed, cancelled)"),
        ("cancel", "cancel sends not yet out (queued, unknown, failed)"),
    ):
        c = _where(ob_sub.add_parser(name, help=text))
        c.add_argument("ids", nargs="*", type=int, metavar="ID", help="sends to act on")
        c.add_argument(
            "--status",
            choices=["queued", "unknown", "failed", "cancelled"],
            help="act on every send in this status",
        )
    _where(ob_sub.add_parser("stats", help="sends per status and per delivery state"))


def _where(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", type=Path, default=_DEFAULT_CONFIG, help="config file")
    p.add_argument("--store", metavar="URL", help="sqlite:///file or postgresql://…")
    return p


def _open(args: argparse.Namespace) -> Store:
    if args.store:
        return open_store(args.store, create=False)
    return open_configured_store(load_config(args.config), required=True, create=False)


def run_outbox(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        return _COMMANDS[args.outbox_command](store, args)
    finally:
        store.close()


def run_worker(args: argparse.Namespace) -> int:
    from gateway.outbox import WorkerSettings, serve_outbox

    settings = WorkerSettings(concurrency=args.concurrency, lease=args.lease)
    config = load_config(args.config)

    async def main() -> dict[str, int]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await serve_outbox(
            config, settings, stop, until_empty=args.until_empty, metrics_port=args.metrics_port
        )

    counts = asyncio.run(main())
    print(json.dumps(counts, sort_keys=True), file=sys.stderr)
    return 0


def _list(store: Store, args: argparse.Namespace) -> int:
    rows = store.outbox(args.status, args.limit)
    if args.json:
        for r in rows:
            print(json.dumps(dataclasses.asdict(r)))
        return 0
    print(f"{'id':>6}  {'status':9} {'tries':>5}  sender  to  message id / error  delivery")
    for r in rows:
        what = r.message_id or (f"{r.error_class}: {r.error}" if r.error_class else "")
        print(
            f"{r.id:>6}  {r.status:9} {r.attempts:>5}  {r.sender}  {r.recipient}  {what}"
            f"  {r.delivery or ''}"
        )
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    entry: int | str = int(args.entry) if args.entry.isdigit() else args.entry
    row = store.outbox_entry(entry)
    if row is None:
        print(f"flowgateway: no send {args.entry} in {store.url}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**dataclasses.asdict(row), "message": json.loads(row.message)}, indent=2))
        return 0
    print(f"send {row.id} (key {row.key}): {row.status}, {row.attempts} attempt(s)")
    print(f"  through {row.sender} ({row.provider}) to {row.recipient}")
    if row.message_id:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.delivery_at or 0))
        print(f"  message id {row.message_id}: {row.delivery or 'sent'} at {when}")
    if row.error_class:
        print(f"  {row.error_class}: {row.error}")
    if row.status == "unknown":
        print("  the request may have reached the provider: `outbox retry` or `outbox cancel`")
    print(json.dumps(json.loads(row.message), indent=2))
    return 0


def _retry(store: Store, args: argparse.Namespace) -> int:
    return _decide(store, args, store.outbox_retry, "queued again")


def _cancel(store: Store, args: argparse.Namespace) -> int:
    return _decide(store, args, store.outbox_cancel, "cancelled")


def _decide(store: Store, args: argparse.Namespace, act: Any, done: str) -> int:
    if not args.ids and not args.status:
        print("flowgateway: give IDs or --status", file=sys.stderr)
        return 2
    if args.ids:
        missing = [i for i in args.ids if store.outbox_entry(i) is None]
        if missing:
            print(f"flowgateway: no send {', '.join(map(str, missing))}", file=sys.stderr)
            return 1
        n = act(args.ids)
    else:
        n = act(status=args.status)
    print(f"{n} send(s) {done}")
    return 0


def _stats(store: Store, args: argparse.Namespace) -> int:
    print(json.dumps(store.outbox_counts(), sort_keys=True))
    return 0


_COMMANDS = {
    "list": _list,
    "show": _show,
    "retry": _retry,
    "cancel": _cancel,
    "stats": _stats,
}
