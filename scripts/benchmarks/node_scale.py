"""Node memory and restart time as the ledger grows; also the node benchmarks' shared set-up.

(a) RSS: a ``vcledger-node run`` process serving a ledger of 100,000 events
    and one of 1,000,000 (one issuer's credential.issue events in blocks of
    2,000, built once through the real Ledger.prepare_block/commit and cached
    in .bench/), each after the same workload of random inclusion proofs,
    event look-ups and status proofs over HTTP.  Measured: the node process's
    VmRSS from /proc/PID/status.  VmRSS counts LevelDB's memory-mapped table
    files as far as their pages were touched, so RssAnon (heap: Python objects,
    caches, LevelDB's block cache) is the figure the target applies to: growth
    from 100k to 1M below 50 MB (the row compares RssAnon at 1M with RssAnon at
    100k + 50 MB; its figures are megabytes, printed in the seconds column).
    VmRSS is reported beside it: its growth is file-backed pages of the
    mmapped table files the workload read, which the kernel reclaims like any
    page cache, so it follows how much of the database was touched, not the
    node's memory.
(b) Restart: time from starting the process to its first /healthz answer on
    the 1M-event ledger (best of 3), against the 1 s target; and the same on
    100k events, whose ratio shows whether opening grows with the log (it
    reads O(log n) tiles).  The Python start-up share is shown by the time to
    import the node's modules alone, and opening the store and the ledger
    in-process (all of the start-up checks) is timed on its own.

The rest of this module is shared by the node benchmarks: networks with fixed
keys written with node.provision, signing events in parallel, building ledgers
into .bench/ (gitignored, keyed by size), and running node processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks import Row, stop_process
from client.events import (
    CredentialIssue,
    IssuerRegister,
    SignedEvent,
    decode_event,
    sign_event,
)
from client.hashes import Hash
from client.keys import KeyPair, write_key_file
from client.trust import format_trust
from node.config import Genesis, NodeConfig, load_genesis, load_node_config
from node.ledger import Ledger
from node.provision import genesis_toml, node_toml
from node.store import Store

ROOT = Path(__file__).resolve().parent.parent.parent
CACHE = ROOT / ".bench"
ORIGIN = "vcledger.bench/node"
CREATED = 1_780_000_000
GENESIS_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def fixed_key(label: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(b"vcledger bench key " + label.encode()).digest())


GOVERNANCE = fixed_key("governance")
VALIDATOR = fixed_key("validator")
ISSUER = fixed_key("issuer")


def digest(i: int) -> Hash:
    return Hash(hashlib.sha256(b"bench credential %d" % i).digest())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Network:
    directory: Path
    config_path: Path
    genesis: Genesis

    @property
    def config(self) -> NodeConfig:
        return load_node_config(self.config_path)


def write_network(directory: Path, *, port: int = 7700,
                  consensus: dict[str, int] | None = None,
                  settings: dict[str, int] | None = None) -> Network:
    """A one-validator network with fixed keys (so a cached database fits it again)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "genesis.toml").write_text(genesis_toml(
        ORIGIN, [("validator", VALIDATOR.public_key)], [("governance", GOVERNANCE.did)],
        genesis_time=GENESIS_TIME, consensus=consensus))
    text = node_toml(role="validator", key="validator.key", listen=f"127.0.0.1:{port}",
                     peers=[])
    for name, value in (settings or {}).items():
        lines = [f"{name} = {value}" if line.startswith(f"{name} = ") else line
                 for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    (directory / "node.toml").write_text(text)
    key = directory / "validator.key"
    if not key.exists():
        write_key_file(key, VALIDATOR.seed)
    genesis = load_genesis(directory / "genesis.toml")
    (directory / "trust.json").write_text(format_trust(genesis.trust()))
    return Network(directory, directory / "node.toml", genesis)


def set_port(network: Network, port: int) -> None:
    text = network.config_path.read_text()
    lines = [f'listen = "127.0.0.1:{port}"' if line.startswith("listen = ") else line
             for line in text.splitlines()]
    network.config_path.write_text("\n".join(lines) + "\n")


def registration() -> SignedEvent:
    return sign_event(IssuerRegister(ISSUER.did, "Bench University", ISSUER.public_key),
                      origin=ORIGIN, key=GOVERNANCE, created=CREATED)


def _sign_range(bounds: tuple[int, int]) -> list[bytes]:
    return [sign_event(CredentialIssue(ISSUER.did, digest(i)), origin=ORIGIN, key=ISSUER,
                       created=CREATED).encoded for i in range(*bounds)]


def signed_issues(start: int, stop: int, *, workers: int | None = None) -> list[bytes]:
    """Encoded credential.issue events ``start..stop-1`` by :data:`ISSUER`, signed in parallel."""
    count = stop - start
    if count < 2000:
        return _sign_range((start, stop))
    workers = workers or os.cpu_count() or 1
    step = max(1000, count // (workers * 8))
    ranges = [(i, min(i + step, stop)) for i in range(start, stop, step)]
    with ProcessPoolExecutor(workers) as pool:
        return [event for chunk in pool.map(_sign_range, ranges) for event in chunk]


def build_ledger(network: Network, events: int, *, block_events: int = 2000) -> None:
    """Commit a registration and ``events`` issuances into the network's data dir.

    Goes through the real :meth:`Ledger.prepare_block` / :meth:`Ledger.commit`
    (rules, status map, log, one synced batch per block); signatures were made
    here, so the blocks skip re-verifying them, as a proposer does for events
    its mempool already checked.
    """
    store = Store.open(network.config.data_dir, create=True)
    try:
        ledger = Ledger(store, network.genesis)

        def commit(batch: Sequence[SignedEvent]) -> None:
            # Block times: a minute after the events' creation, 1 ms apart.
            head = ledger.head.header
            time_ms = (CREATED + 60) * 1000 if head is None else head.time_ms + 1
            block = ledger.prepare_block(batch, time_ms=time_ms,
                                         proposer=VALIDATOR.public_key, drop_invalid=False,
                                         signatures_checked={e.hash for e in batch})
            ledger.commit(block)

        if ledger.head.height == 0:
            commit([decode_event(registration().encoded)])
        # Leaves so far: one header per block, the registration, then issuances.
        done = max(0, ledger.head.tree_size - ledger.head.height - 1)
        step = 50_000
        for start in range(done, events, step):
            encoded = signed_issues(start, min(start + step, events))
            decoded = [decode_event(e) for e in encoded]
            for i in range(0, len(decoded), block_events):
                commit(decoded[i:i + block_events])
            print(f"  built {min(start + step, events)} of {events} events", file=sys.stderr,
                  flush=True)
    finally:
        store.close()


# -- node processes ---------------------------------------------------------------------------


def node_command() -> list[str]:
    script = Path(sys.executable).parent / "vcledger-node"
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class RunningNode:
    process: subprocess.Popen[bytes]
    url: str
    started: float
    healthy_after: float


@contextlib.contextmanager
def run_node(network: Network, log_path: Path, *, timeout: float = 60.0,
             ) -> Iterator[RunningNode]:
    """Start ``vcledger-node run`` on a fresh port; yield once /healthz answers; always reap."""
    for attempt in range(2):
        port = free_port()
        set_port(network, port)
        url = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            started = time.perf_counter()
            process = subprocess.Popen([*node_command(), "run", "--config",
                                        str(network.config_path)],
                                       stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + timeout
            while not healthy(url):
                if process.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node not healthy after {timeout} s; see {log_path}")
                time.sleep(0.002)
            else:
                yield RunningNode(process, url, started, time.perf_counter() - started)
                return
            if attempt or "already in use" not in log_path.read_text(errors="replace"):
                raise RuntimeError(f"node exited with {process.returncode}; see {log_path}")
        finally:
            stop_process(process)


def memory_kib(pid: int) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of /proc/PID/status, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.startswith(("Vm", "Rss")):
            values[name] = int(rest.split()[0])
    return values


# -- the benchmark ------------------------------------------------------------------------

NAME = "node_scale"

SIZES = (100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
WORKLOAD_REQUESTS = 3_000
QUICK_WORKLOAD_REQUESTS = 300
GROWTH_BUDGET_MB = 50.0
RESTART_TARGET_S = 1.0


def ledger_of(events: int) -> Network:
    """The cached network of ``events`` events; a bigger one starts from a copy of a smaller."""
    directory = CACHE / f"node-ledger-{events}"
    if not (directory / "complete").exists():
        smaller = sorted(n for n in (*SIZES, *QUICK_SIZES) if n < events)
        if smaller and (CACHE / f"node-ledger-{smaller[-1]}" / "complete").exists():
            shutil.rmtree(directory, ignore_errors=True)
            shutil.copytree(CACHE / f"node-ledger-{smaller[-1]}", directory)
            (directory / "complete").unlink()
        network = write_network(directory)
        print(f"building a ledger of {events} events in {directory} (cached) ...",
              file=sys.stderr, flush=True)
        build_ledger(network, events)
        (directory / "complete").write_text(json.dumps({"events": events}))
    return write_network(directory)


async def _workload(url: str, events: int, requests: int, seed: int) -> None:
    """Random inclusion proofs, event look-ups and status proofs, 8 at a time."""
    rng = random.Random(seed)
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/healthz") as response:
            tree_size = (await response.json())["tree_size"]
        paths = []
        for i in range(requests):
            n = rng.randrange(events)
            if i % 3 == 0:
                paths.append(f"/v1/proof/inclusion?index={rng.randrange(tree_size)}"
                             f"&tree_size={tree_size}")
            elif i % 3 == 1:
                paths.append(f"/v1/status/{ISSUER.did}/{digest(n).hex()}")
            else:
                paths.append(f"/v1/entries/{rng.randrange(tree_size)}")
        slots = asyncio.Semaphore(8)

        async def get(path: str) -> None:
            async with slots, session.get(url + path) as response:
                assert response.status == 200, (path, response.status)
                await response.read()

        await asyncio.gather(*(get(p) for p in paths))


def _measure(events: int, requests: int, log: Path) -> tuple[dict[str, int], float]:
    network = ledger_of(events)
    with run_node(network, log) as node:
        asyncio.run(_workload(node.url, events, requests, seed=events))
        return memory_kib(node.process.pid), node.healthy_after


def _restart_time(network: Network, log: Path) -> float:
    with run_node(network, log) as node:
        return node.healthy_after


def _import_time() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import node.cli, node.api, node.service"],
                   check=True, cwd=ROOT)
    return time.perf_counter() - started


def _open_time(network: Network) -> float:
    """Seconds to open the store and the ledger (head, log and status-map checks)."""
    started = time.perf_counter()
    store = Store.open(network.config.data_dir, create=False)
    try:
        Ledger(store, network.genesis)
        return time.perf_counter() - started
    finally:
        store.close()


def run(quick: bool) -> list[Row]:
    small, large = QUICK_SIZES if quick else SIZES
    requests = QUICK_WORKLOAD_REQUESTS if quick else WORKLOAD_REQUESTS
    CACHE.mkdir(exist_ok=True)
    log = CACHE / "node_scale.log"
    small_memory, _ = _measure(small, requests, log)
    large_memory, _ = _measure(large, requests, log)
    mb = 1024.0
    small_rss, large_rss = small_memory["VmRSS"] / mb, large_memory["VmRSS"] / mb
    small_anon, large_anon = small_memory["RssAnon"] / mb, large_memory["RssAnon"] / mb

    large_network, small_network = ledger_of(large), ledger_of(small)
    restart_large = min(_restart_time(large_network, log) for _ in range(3))
    restart_small = min(_restart_time(small_network, log) for _ in range(3))
    imports = min(_import_time() for _ in range(3))
    open_large = min(_open_time(large_network) for _ in range(3))
    open_small = min(_open_time(small_network) for _ in range(3))
    return [
        Row(benchmark=(f"node RssAnon (heap) at {large} events, MB: {large_anon:.1f} vs "
                       f"{small_anon:.1f} at {small} (+{large_anon - small_anon:.1f})"),
            ours=large_anon, baseline_name=f"RssAnon at {small} + {GROWTH_BUDGET_MB:g} MB",
            baseline=small_anon + GROWTH_BUDGET_MB, target=1.0, quantity="MB"),
        Row(benchmark=(f"node VmRSS at {large} events, MB: {large_rss:.1f} vs {small_rss:.1f} "
                       f"at {small} (+{large_rss - small_rss:.1f}; LevelDB's mmapped tables)"),
            ours=large_rss, baseline_name=f"VmRSS at {small} + {GROWTH_BUDGET_MB:g} MB",
            baseline=small_rss + GROWTH_BUDGET_MB, quantity="MB"),
        Row(benchmark=f"node restart to /healthz, {large} events",
            ours=restart_large, baseline_name="the 1 s target", baseline=RESTART_TARGET_S,
            target=1.0),
        Row(benchmark=f"node restart to /healthz, {large} vs {small} events",
            ours=restart_large, baseline_name=f"restart at {small}", baseline=restart_small),
        Row(benchmark=f"node restart to /healthz, {large} events, vs importing the node",
            ours=restart_large, baseline_name="python -c 'import node.cli ...'",
            baseline=imports),
        Row(benchmark=f"Store + Ledger open, {large} vs {small} events",
            ours=open_large, baseline_name=f"open at {small}", baseline=open_small),
    ]
