"""A 4-validator localnet: committed events per second, commit latency, catch-up time.

Setup: four ``vcledger-node`` processes on 127.0.0.1, written by
``node.localnet.create`` (the same files ``scripts/localnet`` uses), fully
connected, one registered issuer.  Events are ``credential.issue`` events
signed before any clock starts.

* **Throughput.**  N events go to the four nodes round-robin in batches of 500
  through ``POST /v1/events/batch`` (8 batches in flight); the clock stops when
  every node has committed all N.  Every node verifies every signature once
  (events reach it by gossip) and re-executes every block, so the network can
  at best reach the 2-core Ed25519 verify rate / 4.  Baseline, same run:
  verifying 4N signatures with libsodium in a pool of 2 processes (the
  machine's limit, benchmarks/signatures.py).  Target: >= 0.5x.
* **Latency at half load.**  At half the throughput just measured, batches of
  25 events are posted with ``?wait=commit`` at a steady pace for a bounded
  time; each event's latency is its batch's round trip.  p50 and p99 are
  reported; targets p99 <= 1 s and p50 <= 250 ms (each row's "baseline" is
  its budget).
* **Catch-up.**  One node is stopped, M events are committed by the other
  three, and the node is restarted: the time from its start to serving the
  same head as the others.  Informational, next to the time the network took
  to commit the same M events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks import (
    GOAL_LATENCY_P50,
    GOAL_LATENCY_P99,
    GOAL_LOCALNET,
    Row,
    stop_process,
)
from benchmarks.signatures import LibsodiumPool
from client import encoding
from client.events import (
    CredentialIssue,
    IssuerRegister,
    SignedEvent,
    sign_event,
    signing_bytes,
)
from client.hashes import sha256
from client.keys import KeyPair, read_key_file
from node.localnet import ORIGIN, create, free_port_block

NAME = "network"

FULL = {"events": 20_000, "catch_up": 100_000, "latency_seconds": 15.0}
QUICK = {"events": 1_000, "catch_up": 1_000, "latency_seconds": 2.0}
BATCH = 500
IN_FLIGHT = 8
LATENCY_BATCH = 25
NODES = 4


class Localnet:
    def __init__(self, directory: Path, *, profile: Path | None = None) -> None:
        self.directory = directory
        self.profile = profile
        self.base = free_port_block(NODES)
        create(directory, NODES, self.base)
        self.urls = [f"http://127.0.0.1:{self.base + i}" for i in range(NODES)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * NODES

    def start(self, i: int) -> None:
        # Under cProfile on request: a node stops cleanly on SIGTERM, so the profile is written.
        profiler = ([] if self.profile is None else
                    ["-m", "cProfile", "-o", str(self.profile / f"node{i}.prof")])
        with (self.directory / f"node{i}.log").open("ab") as log:
            self.processes[i] = subprocess.Popen(
                [sys.executable, *profiler, "-m", "node.cli", "run", "--config",
                 str(self.directory / f"node{i}" / "node.toml")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={"VCLEDGER_LOG_LEVEL": "WARNING", **os.environ})

    def stop(self, i: int) -> None:
        process = self.processes[i]
        if process is not None:
            stop_process(process)
        self.processes[i] = None

    def close(self) -> None:
        for i in range(NODES):
            self.stop(i)

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds used so far by the node processes, and by their signature workers."""
        nodes = workers = 0.0
        for process in self.processes:
            if process is not None:
                nodes += _cpu_seconds(process.pid)
                workers += sum(_cpu_seconds(child) for child in _children(process.pid))
        return nodes, workers


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process (Linux /proc; 0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for task in tasks
                for c in (task / "children").read_text().split()]
    except OSError:
        return []


async def _health(session: aiohttp.ClientSession, url: str) -> dict[str, object] | None:
    try:
        async with session.get(url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
            return dict(await r.json()) if r.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _committed(session: aiohttp.ClientSession, url: str) -> float:
    return await _metric(session, url, "vcledger_events_committed_total")


def _batch_body(events: list[SignedEvent]) -> bytes:
    return encoding.pack([e.encoded for e in events])


async def _post_batch(session: aiohttp.ClientSession, url: str, events: list[SignedEvent],
                      *, wait: bool = False) -> None:
    query = "?wait=commit" if wait else ""
    while True:
        async with session.post(url + "/v1/events/batch" + query, data=_batch_body(events),
                                headers={"Content-Type": "application/vnd.vcledger.events"}) as r:
            if r.status == 503:  # mempool full or catching up: back off as told
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")) / 4)
                continue
            body = await r.json()
            assert r.status == 200, body
            bad = [x for x in body["results"] if x["status"] == "rejected"]
            assert not bad, bad[:3]
            return


async def _submit_all(session: aiohttp.ClientSession, urls: list[str],
                      events: list[SignedEvent]) -> None:
    batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def send(n: int, batch: list[SignedEvent]) -> None:
        async with semaphore:
            await _post_batch(session, urls[n % len(urls)], batch)

    await asyncio.gather(*(send(n, b) for n, b in enumerate(batches)))


async def _all_committed(session: aiohttp.ClientSession, urls: list[str], count: float) -> None:
    async def done() -> bool:
        values = await asyncio.gather(*(_committed(session, u) for u in urls))
        return all(v >= count for v in values)

    await _wait(done, 600, f"{count:.0f} committed events on every node")


async def _print_timeline(session: aiohttp.ClientSession, url: str, started: float) -> None:
    """Manual runs: each block since the throughput clock started, as its proposer's
    clock saw it (milliseconds since the previous block, events, proposer)."""
    health = await _health(session, url)
    assert health is not None
    lost = await _metric(session, url, "vcledger_consensus_round_changes_total")
    print(f"rounds lost (entered above round 0) seen by {url}: {lost:.0f}", file=sys.stderr)
    wall_start_ms = (time.time() - (time.perf_counter() - started)) * 1000
    previous = wall_start_ms
    for height in range(1, int(health["height"]) + 1):  # type: ignore[call-overload]
        async with session.get(f"{url}/v1/blocks/{height}") as response:
            header = (await response.json())["header"]
        if header["time_ms"] < wall_start_ms - 2000:
            continue
        print(f"height {height:4d}  +{header['time_ms'] - previous:7.0f} ms  "
              f"{header['event_count']:5d} events  proposer {header['proposer'][:8]}",
              file=sys.stderr)
        previous = header["time_ms"]


def _signed(issuer: KeyPair, count: int, tag: str) -> list[SignedEvent]:
    now = int(time.time())
    return [sign_event(CredentialIssue(issuer.did, sha256(f"{tag} {i}".encode())),
                       origin=ORIGIN, key=issuer, created=now) for i in range(count)]


def _baseline_seconds(events: list[SignedEvent], copies: int) -> tuple[float, float]:
    """Seconds for libsodium in 2 processes to verify ``copies`` x the events' signatures,
    and the CPU seconds its processes used (start-up included)."""
    triples = [(e.signer, e.signature, signing_bytes(ORIGIN, e.payload, e.created, e.signer))
               for e in events] * copies
    cpu_before = _children_cpu()
    with LibsodiumPool(2) as pool:
        started = time.perf_counter()
        pool.verify_all(triples)
        seconds = time.perf_counter() - started
    return seconds, _children_cpu() - cpu_before


def _children_cpu() -> float:
    """CPU seconds of this process's children that have exited (and been waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _measure(directory: Path, sizes: dict[str, float], *,
                   profile: Path | None = None) -> list[Row]:
    net = Localnet(directory, profile=profile)
    rows: list[Row] = []
    try:
        for i in range(NODES):
            net.start(i)
        timeout = aiohttp.ClientTimeout(total=600)
        # No client-side cap on connections (aiohttp's default is 100): at half load
        # ~100 batches a second wait for their commit at once, and a capped pool
        # would queue them in this process, counting the harness's queue as the
        # network's latency and sending them on in bursts.
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            async def ready() -> bool:
                healths = await asyncio.gather(*(_health(session, u) for u in net.urls))
                return all(h is not None and int(h["peers"] or 0) >= NODES - 1  # type: ignore[call-overload]
                           for h in healths)

            await _wait(ready, 60, "a connected localnet")
            governance = read_key_file(directory / "governance.key")
            issuer = read_key_file(directory / "issuer.key")
            register = sign_event(IssuerRegister(issuer.did, "Bench University", issuer.public_key),
                                  origin=ORIGIN, key=governance, created=int(time.time()))
            await _post_batch(session, net.urls[0], [register], wait=True)

            # -- throughput
            count = int(sizes["events"])
            events = _signed(issuer, count, "throughput")
            base = max(await asyncio.gather(*(_committed(session, u) for u in net.urls)))
            cpu_before = net.cpu_seconds()
            started = time.perf_counter()
            await _submit_all(session, net.urls, events)
            await _all_committed(session, net.urls, base + count)
            ours = time.perf_counter() - started
            cpu_after = net.cpu_seconds()
            baseline, baseline_cpu = _baseline_seconds(events, NODES)
            rows.append(Row(f"committed events/s, 4-node localnet, {count} events", ours,
                            "libsodium 2 processes / 4", baseline, target=0.5,
                            count=count, unit="events", goal=GOAL_LOCALNET))
            # Where the CPU went: the target allows each node one verify per event.
            node_cpu, worker_cpu = (a - b for a, b in zip(cpu_after, cpu_before, strict=True))
            rows.append(Row(f"CPU s of the 4 node processes, {count} events", node_cpu,
                            "libsodium CPU s, 4 verifies per event", baseline_cpu))
            if worker_cpu > 0:  # none unless node.toml asks for signature_workers > 1
                rows.append(Row(f"CPU s of their signature workers, {count} events", worker_cpu,
                                "libsodium CPU s, 4 verifies per event", baseline_cpu))
            if sizes.get("throughput_only"):
                await _print_timeline(session, net.urls[0], started)
                return rows

            # -- latency at half the measured load
            rate = sizes.get("latency_rate") or 0.5 * count / ours
            interval = LATENCY_BATCH / rate
            latencies: list[float] = []
            pending: list[asyncio.Task[None]] = []
            latency_events = _signed(issuer, int(rate * sizes["latency_seconds"]) + LATENCY_BATCH,
                                     "latency")

            async def timed(n: int, batch: list[SignedEvent], due: float) -> None:
                # From the moment the batch was due, not when this task got to run: a
                # harness that falls behind its pace must not hide that as less latency.
                sent = due
                await _post_batch(session, net.urls[n % NODES], batch, wait=True)
                latencies.extend([time.perf_counter() - sent] * len(batch))

            latency_cpu_before = net.cpu_seconds()[0]
            deadline = time.perf_counter() + sizes["latency_seconds"]
            n = 0
            next_send = time.perf_counter()
            while time.perf_counter() < deadline and (n + 1) * LATENCY_BATCH <= len(latency_events):
                pending.append(asyncio.create_task(
                    timed(n, latency_events[n * LATENCY_BATCH:(n + 1) * LATENCY_BATCH],
                          next_send)))
                n += 1
                next_send += interval
                await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
            await asyncio.gather(*pending)
            latency_cpu = net.cpu_seconds()[0] - latency_cpu_before
            latencies.sort()
            p50 = latencies[len(latencies) // 2]
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            rows.append(Row(f"commit latency p50 at {rate:.0f} events/s (half load)", p50,
                            "250 ms budget", 0.25, target=1.0, goal=GOAL_LATENCY_P50))
            rows.append(Row(f"commit latency p99 at {rate:.0f} events/s (half load)", p99,
                            "1 s budget", 1.0, target=1.0, goal=GOAL_LATENCY_P99))
            # Why "half load" may not be half: batches of 25 with ?wait=commit cost the
            # nodes more CPU per event than the throughput phase's batches of 500.
            rows.append(Row(f"CPU s of the 4 node processes, latency phase ({len(latencies)} "
                            "events)", latency_cpu, "libsodium CPU s, 4 verifies per event",
                            baseline_cpu * len(latencies) / count))

            # -- catch-up
            behind = int(sizes["catch_up"])
            if not behind:
                return rows
            net.stop(NODES - 1)
            live = net.urls[:NODES - 1]
            backlog = _signed(issuer, behind, "catch-up")
            base = max(await asyncio.gather(*(_committed(session, u) for u in live)))
            started = time.perf_counter()
            await _submit_all(session, live, backlog)
            await _all_committed(session, live, base + behind)
            commit_time = time.perf_counter() - started
            target_head = await _health(session, live[0])
            assert target_head is not None
            started = time.perf_counter()
            net.start(NODES - 1)

            async def caught_up() -> bool:
                health = await _health(session, net.urls[-1])
                return health is not None and int(health["height"]) >= int(  # type: ignore[call-overload]
                    target_head["height"])  # type: ignore[call-overload]

            await _wait(caught_up, 1200, "the restarted node to catch up")
            catch_up = time.perf_counter() - started
            rows.append(Row(f"catch-up of a node {behind} events behind (restart to head)",
                            catch_up, f"network committing those {behind}", commit_time))
    finally:
        net.close()
    return rows


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="vcledger-bench-net-") as tmp:
        return asyncio.run(_measure(Path(tmp) / "localnet", QUICK if quick else FULL))


def main(argv: list[str]) -> None:
    """Manual runs, for profiling: ``python -m benchmarks.network [--quick] [--events N]
    [--throughput-only] [--catch-up N] [--latency-rate R] [--profile DIR]`` (from scripts/,
    with the .venv's python); ``--catch-up 0`` skips the catch-up row, which takes most of
    a full run; ``--latency-rate`` fixes the latency row's load so that runs compare;
    ``--profile`` runs every node under cProfile and leaves ``DIR/node{i}.prof``."""
    parser = argparse.ArgumentParser(prog="benchmarks.network")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--catch-up", type=int, help="events behind for the catch-up row "
                        "(0 skips it)")
    parser.add_argument("--latency-rate", type=float,
                        help="events/s for the latency row (default: half the measured rate), "
                        "so that before/after runs offer the same load")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--keep-logs", type=Path, help="copy the nodes' logs here")
    args = parser.parse_args(argv)
    sizes: dict[str, float] = dict(QUICK if args.quick else FULL)
    if args.events is not None:
        sizes["events"] = args.events
    sizes["throughput_only"] = float(args.throughput_only)
    if args.latency_rate is not None:
        sizes["latency_rate"] = args.latency_rate
    if args.catch_up is not None:
        sizes["catch_up"] = args.catch_up
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vcledger-bench-net-") as tmp:
        try:
            rows = asyncio.run(_measure(Path(tmp) / "localnet", sizes, profile=args.profile))
        finally:
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in (Path(tmp) / "localnet").glob("node*.log"):
                    shutil.copy(log, args.keep_logs / log.name)
    for row in rows:
        print(json.dumps(row.as_json()))


if __name__ == "__main__":  # pragma: no cover - manual runs
    main(sys.argv[1:])
