"""``flowgateway send-many FILE.jsonl``: a campaign from a file, paced, with a report.

One FlowMessage JSON object per line, as ``flowgateway send --json`` reads one (blank
lines are skipped; ``-`` reads stdin). Every line is checked before anything is sent.
The messages go through :meth:`Gateway.send_many <gateway.client.Gateway.send_many>`,
paced per number and per user; on a terminal, a progress line on stderr (sent, failed,
rate, ETA) is redrawn four times a second. The closing report counts failures by error
class with the first example of each; ``--json`` prints it as JSON on stdout, with every
message's result. Exit 0: all sent; 1: any failed; 2: bad input (the line named) or
config; 130: interrupted (the sends under way finish, no further one starts).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from gateway.client import Gateway
from gateway.errors import GatewayError
from gateway.events import SendReceipt
from gateway.model import FlowMessage
from providers import message_from_mapping

TICK = 0.25
"""Seconds between redraws of the progress line."""


def add_parser(sub: Any) -> None:
    """Register ``send-many`` on the main parser's subcommands."""
    p = sub.add_parser(
        "send-many", help="send a JSON Lines file of Flow messages, paced, with a report"
    )
    p.add_argument("file", metavar="FILE.jsonl", help="one FlowMessage JSON per line (- : stdin)")
    p.add_argument("--config", type=Path, default=Path("config/gateway.toml"), help="config file")
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="sends in flight (default: the numbers' total messages/s x 0.1 s, 4 to 256)",
    )
    p.add_argument(
        "--max-wait",
        type=float,
        metavar="S",
        help="seconds one message may wait for its slot and retries (default: "
        "[gateway] max_wait); past it, RateLimited",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON on stdout")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class BadLine(Exception):
    """A line of the input that is not a FlowMessage; the message names the line."""


def read_messages(lines: TextIO, name: str) -> tuple[list[FlowMessage], list[int]]:
    """The messages of a JSON Lines stream and the line number of each.

    Raises:
        BadLine: the first line that is not valid JSON or not a valid FlowMessage.
    """
    messages: list[FlowMessage] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            if not isinstance(fields, dict):
                raise BadLine(f"{name}:{number}: expected a JSON object")
            messages.append(message_from_mapping(fields))  # options: {"sinch": {...}}
        except json.JSONDecodeError as exc:
            raise BadLine(f"{name}:{number}: not JSON: {exc.msg} (column {exc.colno})") from None
        except ValidationError as exc:
            raise BadLine(f"{name}:{number}: invalid message:\n{exc}") from None
        except GatewayError as exc:  # options for an unknown provider
            raise BadLine(f"{name}:{number}: {exc}") from None
        numbers.append(number)
    return messages, numbers


@dataclass
class Progress:
    """Counts results as they come (from the sending threads) and draws the line."""

    total: int
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, index: int, result: SendReceipt | GatewayError) -> None:
        with self._lock:
            if isinstance(result, GatewayError):
                self.failed += 1
            else:
                self.sent += 1

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        done = self.sent + self.failed
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _clock((self.total - done) / rate) if rate > 0 else "--:--"
        return (
            f"sent {self.sent} · failed {self.failed} · {done}/{self.total} · "
            f"{rate:.1f} msg/s · ETA {eta}"
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class _Ticker:
    """Redraws the progress line on a terminal every :data:`TICK` s, on its own thread."""

    def __init__(self, progress: Progress, stream: TextIO) -> None:
        self._progress = progress
        self._stream = stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowgateway-progress", daemon=True)

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._draw()
        self._stream.write("\n")
        self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            self._draw()

    def _draw(self) -> None:
        self._stream.write(f"\r{self._progress.line()}\x1b[K")
        self._stream.flush()


def report(
    results: list[SendReceipt | GatewayError], lines: list[int], seconds: float
) -> dict[str, Any]:
    """The closing report: counts, failures by error class (first example of each), and
    each message's result (``index`` in the input, its ``line``)."""
    errors: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for index, (result, line) in enumerate(zip(results, lines, strict=True)):
        if isinstance(result, GatewayError):
            kind = type(result).__name__
            row = {"index": index, "line": line, "error": kind, "message": str(result)}
            entry = errors.setdefault(kind, {"count": 0, "example": row})
            entry["count"] += 1
        else:
            row = {
                "index": index,
                "line": line,
                "message_id": result.message_id,
                "sender": result.sender,
            }
        rows.append(row)
    failed = sum(e["count"] for e in errors.values())
    return {
        "total": len(results),
        "sent": len(results) - failed,
        "failed": failed,
        "seconds": round(seconds, 3),
        "rate": round(len(results) / seconds, 1) if seconds > 0 else None,
        "errors": errors,
        "results": rows,
    }


def _print_report(summary: dict[str, Any], out: TextIO) -> None:
    rate = f" ({summary['rate']} msg/s)" if summary["rate"] is not None else ""
    print(
        f"sent {summary['sent']} of {summary['total']}, failed {summary['failed']}, "
        f"in {summary['seconds']:.2f} s{rate}",
        file=out,
    )
    for kind, entry in sorted(summary["errors"].items(), key=lambda kv: -kv[1]["count"]):
        example = entry["example"]
        print(
            f"  {kind:24} {entry['count']:6}  e.g. line {example['line']}: {example['message']}",
            file=out,
        )


def run(args: argparse.Namespace) -> int:
    """``flowgateway send-many``."""
    try:
        if args.file == "-":
            messages, lines = read_messages(sys.stdin, "<stdin>")
        else:
            with open(args.file, encoding="utf-8") as f:
                messages, lines = read_messages(f, args.file)
    except BadLine as exc:
        print(f"flowgateway: {exc}", file=sys.stderr)
        return 2
    progress = Progress(len(messages))
    with Gateway.from_config(args.config) as gw:
        progress.started = time.monotonic()
        try:
            if sys.stderr.isatty():
                with _Ticker(progress, sys.stderr):
                    results = _send(gw, messages, args, progress)
            else:
                results = _send(gw, messages, args, progress)
        except KeyboardInterrupt:
            left = len(messages) - progress.sent - progress.failed
            print(
                f"flowgateway: interrupted: {progress.sent} sent, {progress.failed} failed, "
                f"{left} not sent",
                file=sys.stderr,
            )
            return 130
    summary = report(results, lines, time.monotonic() - progress.started)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_report(summary, sys.stdout)
    return 1 if summary["failed"] else 0


def _send(
    gw: Gateway, messages: list[FlowMessage], args: argparse.Namespace, progress: Progress
) -> list[SendReceipt | GatewayError]:
    return gw.send_many(
        messages, concurrency=args.concurrency, max_wait=args.max_wait, on_result=progress
    )
