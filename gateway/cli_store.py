"""``flowgateway store`` and ``flowgateway inbox``: the schema, and the receiver's inbox.

Both open the store the config names (``[gateway] store``, else ``[receiver] inbox``),
or the one ``--store URL`` / ``--inbox FILE`` names. The inspection commands never
create a store: a mistyped file name is an error, not a new empty database.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from gateway.config import ReceiverSettings, load_config
from gateway.errors import ConfigError
from gateway.store import Store, open_store
from gateway.store.base import JOB_STATUSES
from gateway.store.migrations import latest

_DEFAULT_CONFIG = Path("config/gateway.toml")


def add_parsers(sub: Any) -> None:
    """Add ``store`` and ``inbox`` to the CLI's subcommands."""
    st = sub.add_parser("store", help="the store's schema (migrations)")
    st_sub = st.add_subparsers(dest="store_command", required=True)
    for name, text in (
        ("migrate", "apply the schema migrations this release needs"),
        ("version", "show the schema version applied and the one this release needs"),
    ):
        _where(st_sub.add_parser(name, help=text), create=True)

    ib = sub.add_parser("inbox", help="inspect, replay and prune the receiver's inbox")
    ib_sub = ib.add_subparsers(dest="inbox_command", required=True)
    ls = _where(ib_sub.add_parser("list", help="list handler jobs"))
    ls.add_argument("--status", choices=JOB_STATUSES, help="only jobs in this status")
    ls.add_argument("--limit", type=int, default=50, help="at most this many")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = _where(ib_sub.add_parser("show", help="one job: its event and raw callback"))
    show.add_argument("job_id", type=int, metavar="JOB_ID", help="the job's id")
    show.add_argument("--json", action="store_true", help="JSON for scripts")
    rp = _where(ib_sub.add_parser("replay", help="run jobs again"))
    rp.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID", help="jobs to replay")
    rp.add_argument(
        "--status",
        choices=[s for s in JOB_STATUSES if s != "running"],
        help="replay every job in this status",
    )
    rp.add_argument("--dead", action="store_true", help="replay every dead-lettered job")
    pr = _where(ib_sub.add_parser("prune", help="remove handled jobs and old callbacks"))
    pr.add_argument(
        "--older-than", type=float, metavar="DAYS", help="default: [receiver] retention_days"
    )
    un = _where(ib_sub.add_parser("unroutable", help="callbacks no configured sender owns"))
    un.add_argument("--limit", type=int, default=50, help="at most this many")
    un.add_argument("--json", action="store_true", help="JSON for scripts")
    _where(ib_sub.add_parser("stats", help="jobs per status, events and callbacks stored"))


def _where(p: argparse.ArgumentParser, *, create: bool = False) -> argparse.ArgumentParser:
    p.add_argument("--config", type=Path, default=_DEFAULT_CONFIG, help="config file")
    p.add_argument(
        "--store", metavar="URL", help="sqlite:///file or postgresql://… (over --config)"
    )
    p.add_argument("--inbox", metavar="FILE", help="a SQLite inbox file (over --config)")
    p.set_defaults(create_store=create)
    return p


def _open(args: argparse.Namespace, *, migrate: bool | None = None) -> Store:
    if args.store:
        url = args.store
    elif args.inbox:
        url = f"sqlite:///{args.inbox}"
    else:
        config = load_config(args.config)
        url = config.store_url
        migrate = config.gateway.store_migrate if migrate is None else migrate
    return open_store(url, migrate=migrate, create=args.create_store)


def run_store(args: argparse.Namespace) -> int:
    store = _open(args, migrate=args.store_command == "migrate" or None)
    try:
        want = latest(store.migrations)
        if args.store_command == "migrate":
            applied = store.migrate()  # already applied on open: reported as up to date
            have = store.schema_version()
            print(
                f"{store.url}: schema at version {have}"
                + (f" (applied {applied})" if applied else " (up to date)")
            )
            return 0
        print(f"{store.url}: schema version {store.schema_version()}; this release needs {want}")
        return 0
    finally:
        store.close()


def run_inbox(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        return _INBOX[args.inbox_command](store, args)
    finally:
        store.close()


def _list(store: Store, args: argparse.Namespace) -> int:
    rows = store.jobs(args.status, args.limit)
    if args.json:
        for r in rows:
            print(json.dumps(dataclasses.asdict(r)))
        return 0
    print(f"{'job':>6} {'event':>6}  {'status':8} {'tries':>5}  sender/provider  type  handler")
    for r in rows:
        error = f"  ! {r.last_error}" if r.last_error else ""
        print(
            f"{r.id:>6} {r.event_id:>6}  {r.status:8} {r.attempts:>5}  "
            f"{r.sender}/{r.provider}  {r.type}  {r.handler}{error}"
        )
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    detail = store.job(args.job_id)
    if detail is None:
        print(f"flowgateway: no job {args.job_id} in {store.url}", file=sys.stderr)
        return 1
    body = detail.body.decode("utf-8", "replace")
    if args.json:
        out = dataclasses.asdict(detail)
        out["body"] = body
        print(json.dumps(out, indent=2))
        return 0
    j = detail.job
    print(f"job {j.id}: {j.status}, {j.attempts} attempt(s), handler {j.handler}")
    if j.owner:
        print(f"  held by {j.owner} until {_when(j.lease_until)}")
    if j.last_error:
        print(f"  last error: {j.last_error}")
    print(f"event {j.event_id}: {j.type} from {j.sender}/{j.provider}, key {detail.dedup_key}")
    print(json.dumps(detail.payload, indent=2))
    if detail.delivery_id:
        print(f"callback {detail.delivery_id}, received {_when(detail.received_at)}:")
        print(body)
    else:
        print("callback: pruned")
    return 0


def _replay(store: Store, args: argparse.Namespace) -> int:
    if args.job_ids:
        missing = [i for i in args.job_ids if store.job(i) is None]
        if missing:
            print(
                f"flowgateway: no job {', '.join(map(str, missing))} in {store.url}",
                file=sys.stderr,
            )
            return 1
        n = store.replay(args.job_ids)
    elif args.dead or args.status:
        n = store.replay(status="dead" if args.dead else args.status)
    else:
        print("flowgateway: give JOB_IDs, --dead or --status", file=sys.stderr)
        return 2
    print(f"{n} job(s) queued again; a running receiver picks them up")
    return 0


def _prune(store: Store, args: argparse.Namespace) -> int:
    days = args.older_than
    if days is None:
        explicit = args.store or args.inbox
        config = None if explicit and not args.config.exists() else load_config(args.config)
        days = (config.receiver if config else ReceiverSettings()).retention_days
    if days < 0:
        raise ConfigError("--older-than", "must be 0 days or more")
    pruned = store.prune(time.time() - days * 86400)
    store.maintain()
    print(
        f"pruned {pruned.jobs} job(s), {pruned.events} event(s), {pruned.deliveries} callback(s)"
        f" older than {days:g} day(s)"
    )
    return 0


def _unroutable(store: Store, args: argparse.Namespace) -> int:
    rows = store.unroutable(args.limit)
    for r in rows:
        if args.json:
            print(json.dumps({**dataclasses.asdict(r), "body": r.body.decode("utf-8", "replace")}))
        else:
            print(f"{r.id:>6}  {_when(r.received_at)}  {r.provider}  {r.reason}")
    return 0


def _stats(store: Store, args: argparse.Namespace) -> int:
    print(json.dumps(store.counts(), sort_keys=True))
    return 0


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


_INBOX = {
    "list": _list,
    "show": _show,
    "replay": _replay,
    "prune": _prune,
    "unroutable": _unroutable,
    "stats": _stats,
}
