"""Webhook receiver under load: signed Meta status callbacks over loopback.

    python benchmarks/receiver_load.py [--events 5000] [--duplicates 500] [--concurrency 50]

Starts ``flowgateway serve`` in a subprocess (uvicorn), posts from 50 keep-alive
connections, then checks the inbox and the handler log: nothing lost, nothing twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.loadgen import run_load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--duplicates", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_load(Path(tmp), args.events, args.duplicates, args.concurrency)
    print(json.dumps(dataclasses.asdict(result), indent=2))
    ok = result.lost == 0 and result.handled_twice == 0 and set(result.statuses) == {200}
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
