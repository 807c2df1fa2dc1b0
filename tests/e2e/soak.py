"""Soak: several ``flowgateway serve`` processes on one store, killed and restarted.

:func:`run_soak` writes a config with every provider and several numbers per provider,
starts ``processes`` receivers on one store (SQLite file or PostgreSQL schema), and posts
signed callbacks from ``concurrency`` keep-alive clients spread across the processes'
ports, meanwhile SIGKILLing a random process at random moments and restarting it on the
same port. A request that fails (connection lost, non-200) is posted again to another
process, as a provider redelivers. Afterwards it waits for the handlers to finish and
checks the issue's acceptance:

- every event of a callback answered 200 is stored exactly once (the store's dedup keys
  against the events the callbacks hold), and routed to the sender whose number it names;
- every event is handled at least once (each handler call appends ``pid key sender`` to
  a log with one ``os.write`` on an ``O_APPEND`` descriptor, which a SIGKILL cannot
  half-write);
- an event handled twice was first handled by a process that was then killed (its
  lease expired and another process took the job over); others are bugs;
- no 5xx.

Traffic goes to 127.0.0.1 only; request loops are bounded in count and time. Senders'
``base_url`` point at a closed loopback port, so nothing could ever be sent out.
``benchmarks/bench_receivers.py`` reuses the processes and the client without the killer.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.soak_client import ClientStats, kill_at_random, post_all
from tests.e2e.soak_traffic import (
    Callback,
    Routing,
    config_toml,
    make_callbacks,
    soak_senders,
)

ROOT = Path(__file__).resolve().parents[2]
LOG_ENV = "FLOWGATEWAY_SOAK_LOG"

# -- the receivers' handler hook ---------------------------------------------------------------


def register(receiver: object) -> None:
    """``--handlers tests.e2e.soak:register``: log each handled event as ``pid key sender``.

    One ``os.write`` per line on an ``O_APPEND`` descriptor: lines from several processes
    never interleave, and a SIGKILL loses at most a line not yet written (whose job was
    not settled either, so it runs again).
    """
    from gateway.events import InboundEvent
    from gateway.receiver import WebhookReceiver, dedup_key

    assert isinstance(receiver, WebhookReceiver)
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    pid = os.getpid()

    @receiver.on(name="soak.log")
    async def log(event: InboundEvent) -> None:
        os.write(fd, f"{pid} {dedup_key(event.provider, event)} {event.sender}\n".encode())


# -- the receiver processes --------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """``n`` loopback ports free now, below the ephemeral range: while a killed process
    restarts, its port must not become the local port of a client's new connection."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    ports: list[int] = []
    for _ in range(1000):
        port = rng.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError(f"no {n} free ports below {low}")


def http_get(port: int, path: str, timeout: float = 2.0) -> int:
    """The status of ``GET path`` on 127.0.0.1:port; 0 when nothing answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


class Processes:
    """Server processes on fixed loopback ports: started, killed and restarted by index."""

    def __init__(
        self,
        workdir: Path,
        command: Callable[[int], list[str]],
        count: int,
        *,
        env: dict[str, str] | None = None,
        ready_path: str = "/readyz",
    ) -> None:
        self.workdir, self.command, self.ready_path = workdir, command, ready_path
        workdir.mkdir(parents=True, exist_ok=True)
        self.ports = free_ports(count)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.killed: list[tuple[float, int, int]] = []  # (monotonic time, index, pid)

    def start(self, i: int) -> int:
        with (self.workdir / f"server-{i}.log").open("ab") as log:  # the child keeps its handle
            proc = subprocess.Popen(  # noqa: S603
                self.command(self.ports[i]), cwd=self.workdir, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs[i] = proc
        return proc.pid

    def kill(self, i: int) -> int:
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.killed.append((time.monotonic(), i, proc.pid))
        self.procs[i] = None
        return proc.pid

    def ready(self, i: int) -> bool:
        proc = self.procs[i]
        if proc is None or proc.poll() is not None:
            return False
        return http_get(self.ports[i], self.ready_path, timeout=1.0) == 200

    def wait_ready(self, indices: Sequence[int], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(indices)
        while waiting:
            waiting = [i for i in waiting if not self.ready(i)]
            for i in waiting:
                proc = self.procs[i]
                if proc is not None and proc.poll() is not None:
                    log = (self.workdir / f"server-{i}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"server {i} exited with {proc.returncode}:\n{log}")
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"servers {waiting} not ready within {timeout:g}s")
            if waiting:
                time.sleep(0.1)

    def start_all(self, timeout: float = 30.0) -> None:
        for i in range(len(self.ports)):
            self.start(i)
        self.wait_ready(range(len(self.ports)), timeout)

    def stop_all(self, timeout: float = 20.0) -> list[int]:
        """SIGINT (uvicorn's graceful stop) to each, SIGKILL past ``timeout``; returns
        the exit codes."""
        codes = []
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for i, proc in enumerate(self.procs):
            if proc is None:
                continue
            try:
                codes.append(proc.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
            self.procs[i] = None
        return codes


def serve_command(
    config: Path, handlers: str = "tests.e2e.soak:register"
) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                "--port", str(port), "--handlers", handlers]  # fmt: skip

    return command


# -- the run and its verdict ----------------------------------------------------------------------


@dataclass
class SoakResult:
    """What a soak run did and found; :meth:`problems` lists the acceptance failures."""

    store: str
    processes: int
    routing: Routing
    callbacks: int
    answered_200: int
    statuses: dict[int, int]
    attempts: int
    connection_errors: int
    timeouts: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    kills: int
    kills_per_process: dict[int, int]
    drain_seconds: float
    events_expected: int
    events_stored: int
    deliveries: int
    unroutable: int
    jobs: dict[str, int]
    missing: list[str]
    unexpected: list[str]
    misrouted: list[str]
    not_handled: list[str]
    handled_unexpected: list[str]
    handled_twice: int
    twice_after_kill: int
    twice_unexplained: list[str]
    wrong_sender_handled: list[str]
    exit_codes: list[int]

    def problems(self) -> list[str]:
        """Everything that breaks the acceptance criteria (empty: passed)."""
        p = []
        if self.answered_200 != self.callbacks:
            p.append(f"{self.callbacks - self.answered_200} callbacks never answered 200")
        if fives := {s: n for s, n in self.statuses.items() if s >= 500}:
            p.append(f"5xx answers: {fives}")
        if others := {s: n for s, n in self.statuses.items() if 200 < s < 500 or s < 200}:
            p.append(f"answers other than 200: {others}")
        if self.events_stored != self.events_expected or self.missing or self.unexpected:
            p.append(
                f"stored {self.events_stored} events for {self.events_expected} expected: "
                f"{len(self.missing)} missing (e.g. {self.missing[:3]}), "
                f"{len(self.unexpected)} unexpected (e.g. {self.unexpected[:3]})"
            )
        if self.deliveries < self.answered_200:
            p.append(f"{self.deliveries} deliveries stored for {self.answered_200} answers 200")
        if self.unroutable:
            p.append(f"{self.unroutable} callback parts stored as unroutable")
        if self.misrouted:
            p.append(
                f"{len(self.misrouted)} events stored for another sender: {self.misrouted[:3]}"
            )
        if self.not_handled:
            p.append(f"{len(self.not_handled)} events never handled: {self.not_handled[:3]}")
        if self.handled_unexpected:
            p.append(f"handled events nobody sent: {self.handled_unexpected[:3]}")
        if self.twice_unexplained:
            p.append(
                f"{len(self.twice_unexplained)} events handled again though no kill "
                f"interrupted them: {self.twice_unexplained[:3]}"
            )
        if self.wrong_sender_handled:
            p.append(f"handled for the wrong sender: {self.wrong_sender_handled[:3]}")
        if bad := {k: v for k, v in self.jobs.items() if k != "done" and v}:
            p.append(f"jobs not done: {bad}")
        if self.jobs.get("done", 0) != self.events_expected:
            p.append(f"{self.jobs.get('done', 0)} jobs done for {self.events_expected} events")
        if any(code not in (0, -signal.SIGINT) for code in self.exit_codes):
            p.append(f"a process did not stop cleanly: exit codes {self.exit_codes}")
        return p

    def summary(self) -> str:
        kills = ", ".join(f"#{i}: {n}" for i, n in sorted(self.kills_per_process.items()))
        return (
            f"soak {self.store}, {self.processes} processes, /webhooks/{{{self.routing}}}: "
            f"{self.callbacks} callbacks ({self.events_expected} events) in {self.seconds:.1f}s "
            f"= {self.rate:.0f}/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; "
            f"{self.attempts} requests, answers {dict(sorted(self.statuses.items()))}, "
            f"{self.connection_errors} connection errors, {self.timeouts} timeouts; "
            f"{self.kills} SIGKILLs ({kills}); drained in {self.drain_seconds:.1f}s; "
            f"stored {self.events_stored} events in {self.deliveries} deliveries; "
            f"handled twice {self.handled_twice} (all after a kill: "
            f"{self.handled_twice == self.twice_after_kill}); jobs {self.jobs}"
        )


def migrate(config: Path, store_url: str) -> None:
    """``flowgateway store migrate``; where the command does not exist yet, the API."""
    cmd = [sys.executable, "-m", "gateway.cli", "store", "migrate", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    if done.returncode == 0:
        return
    if "invalid choice" not in done.stderr:
        raise RuntimeError(f"flowgateway store migrate failed:\n{done.stdout}{done.stderr}")
    from gateway.store import open_store

    open_store(store_url, migrate=True).close()


def stored_events(store_url: str) -> list[tuple[str, str]]:
    """(dedup key, sender) of every stored event, read with the store's own SQL layer."""
    from gateway.store import open_store
    from gateway.store.sql import SqlStore

    store = open_store(store_url)
    try:
        assert isinstance(store, SqlStore)  # both engines; the Store protocol lists no keys
        with store.tx() as db:
            rows = db.all("SELECT dedup_key, sender FROM events")
        return [(store.check_key(k), s) for k, s in rows]
    finally:
        store.close()


def wait_drained(store_url: str, jobs: int, timeout: float) -> tuple[dict[str, int], float]:
    """Poll until ``jobs`` jobs are done and none is pending or running (bounded)."""
    from gateway.store import open_store

    started = time.monotonic()
    store = open_store(store_url)
    try:
        while True:
            counts = store.counts()
            busy = counts.get("pending", 0) + counts.get("running", 0)
            elapsed = time.monotonic() - started
            if (busy == 0 and counts.get("done", 0) >= jobs) or elapsed > timeout:
                return counts, elapsed
            time.sleep(0.25)
    finally:
        store.close()


def run_soak(
    workdir: Path,
    store_url: str,
    *,
    processes: int,
    callbacks: int,
    concurrency: int = 50,
    kill_every: tuple[float, float] | None = (1.0, 3.0),
    seed: int = 18,
    routing: Routing = "provider",
    lease: float = 2.0,
    redeliveries: float = 0.03,
    max_seconds: float = 900.0,
    drain_timeout: float = 120.0,
) -> SoakResult:
    """Run the soak described in the module docstring and return what it found.

    ``kill_every=None``: no kills (the benchmark). ``routing``: post to
    ``/webhooks/{provider}`` (routed by business id) or to ``/webhooks/{sender}``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    senders = soak_senders()
    config = workdir / "soak.toml"
    config.write_text(config_toml(workdir, store_url, senders, lease=lease))
    log = workdir / "handled.log"
    log.touch()
    if not store_url.startswith("sqlite"):
        migrate(config, store_url)
    batch = make_callbacks(
        senders, callbacks, seed=seed, routing=routing, redeliveries=redeliveries
    )
    expected = {key: sender for cb in batch for key, sender in cb.events}
    rng = random.Random(seed)
    procs = Processes(workdir, serve_command(config), processes, env={LOG_ENV: str(log)})
    try:
        procs.start_all()

        stats = ClientStats(answered=[False] * len(batch))

        async def go() -> ClientStats:
            done = asyncio.Event()
            killer = None
            if kill_every is not None:
                progress = lambda: stats.ok / len(batch)  # noqa: E731
                killer = asyncio.create_task(kill_at_random(procs, kill_every, rng, progress, done))
            try:
                return await post_all(
                    procs.ports, batch, concurrency=concurrency,
                    deadline=time.monotonic() + max_seconds, stats=stats,
                )  # fmt: skip
            finally:
                done.set()
                if killer is not None:
                    await killer

        stats = asyncio.run(go())
        # every process up again, so that the jobs of the last one killed are taken over
        for i, proc in enumerate(procs.procs):
            if proc is None or proc.poll() is not None:
                procs.start(i)
        procs.wait_ready(range(processes))
        jobs, drain = wait_drained(store_url, len(expected), drain_timeout + 2 * lease)
    finally:
        codes = procs.stop_all()
    return _verdict(store_url, procs, routing, batch, expected, stats, jobs, drain, log, codes)


def _verdict(
    store_url: str,
    procs: Processes,
    routing: Routing,
    batch: Sequence[Callback],
    expected: dict[str, str],
    stats: ClientStats,
    jobs: dict[str, int],
    drain: float,
    log: Path,
    codes: list[int],
) -> SoakResult:
    stored = stored_events(store_url)
    stored_keys = {k for k, _ in stored}
    killed_pids = {pid for _, _, pid in procs.killed}
    handled: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        pid, key, sender = line.split(" ", 2)
        handled[key].append((int(pid), sender))
    twice = {k: v for k, v in handled.items() if len(v) > 1}
    # A second handling is allowed only where every earlier one was by a process killed
    # afterwards: its job's lease expired and another process took it over.
    unexplained = [k for k, v in twice.items() if any(pid not in killed_pids for pid, _ in v[:-1])]
    latencies = sorted(stats.latencies) or [0.0]
    answered = [cb for cb, ok in zip(batch, stats.answered, strict=True) if ok]
    answered_keys = {key for cb in answered for key, _ in cb.events}
    kills = Counter(i for _, i, _ in procs.killed)
    return SoakResult(
        store="sqlite" if store_url.startswith("sqlite") else "postgresql",
        processes=len(procs.ports),
        routing=routing,
        callbacks=len(batch),
        answered_200=stats.ok,
        statuses=dict(stats.statuses),
        attempts=stats.attempts,
        connection_errors=stats.connection_errors,
        timeouts=stats.timeouts,
        seconds=stats.seconds,
        rate=stats.rate,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        kills=len(procs.killed),
        kills_per_process={i: kills[i] for i in range(len(procs.ports))},
        drain_seconds=drain,
        events_expected=len(expected),
        events_stored=len(stored),
        deliveries=jobs.get("deliveries", 0),
        unroutable=jobs.get("unroutable", 0),
        jobs={k: v for k, v in jobs.items() if k in ("pending", "running", "done", "dead")},
        missing=sorted(answered_keys - stored_keys),
        unexpected=sorted(stored_keys - set(expected)),
        misrouted=sorted(k for k, s in stored if k in expected and expected[k] != s),
        not_handled=sorted(set(expected) - set(handled)),
        handled_unexpected=sorted(set(handled) - set(expected)),
        handled_twice=len(twice),
        twice_after_kill=len(twice) - len(unexplained),
        twice_unexplained=sorted(unexplained),
        wrong_sender_handled=sorted(
            k for k, v in handled.items() if k in expected and any(s != expected[k] for _, s in v)
        ),
        exit_codes=codes,
    )
