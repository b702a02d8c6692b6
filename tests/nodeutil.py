"""Shared helpers for tests that run nodes: network files, signed events, node processes.

* :func:`write_network` writes the files of a network of ``count`` nodes with
  :mod:`node.provision` (the same writers ``vcledger-node init`` uses): one
  ``genesis.toml`` shared by every node, a ``node.toml`` and validator key per
  node, the governance key and ``trust.json``.  Limits can be made small for
  tests (block interval, mempool size, body size).
* :class:`NodeProcess` runs ``vcledger-node run`` as a subprocess with its
  output appended to a log file; :func:`running_nodes` starts N of them, waits
  for every ``/healthz`` with a bounded deadline and always kills and reaps
  them, whatever the test did.
* Event factories: a governance-registered issuer and its credential events,
  signed with fixed keys so failures are reproducible.

Ports are picked by the OS (bind port 0, read it, close).  Another process can
take the port between our close and the node's bind; a node that fails to
start with "address already in use" is restarted once on a fresh port when it
is alone (a network's peers name each other's ports, so a network gets no retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import http.client
import http.server
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from client.events import CredentialIssue, IssuerRegister, Payload, SignedEvent, sign_event
from client.hashes import Hash
from client.keys import KeyPair, write_key_file
from client.merkle import leaf_hash
from client.trust import format_trust
from node.assembly import AssembledNode, ProducerFactory, assemble_node
from node.config import Genesis, NodeConfig, load_genesis, load_node_config
from node.provision import NodeFiles, genesis_toml, node_toml
from node.single_validator import SingleValidatorProducer

ROOT = Path(__file__).resolve().parent.parent
TEST_ORIGIN = "vcledger.example/test"
GENESIS_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

#: Block timing that keeps tests fast: blocks 20 ms after the first pending event.
FAST_CONSENSUS = {"block_interval_ms": 20, "empty_block_interval_ms": 2000}
#: And round timeouts short enough that a lost round costs a multi-node test little.
FAST_NETWORK_CONSENSUS = {**FAST_CONSENSUS, "timeout_propose_ms": 500, "timeout_prevote_ms": 250,
                          "timeout_precommit_ms": 250, "timeout_delta_ms": 250}

T = TypeVar("T")


def fixed_key(label: str) -> KeyPair:
    """A key derived from ``label``: reproducible across runs."""
    return KeyPair.from_seed(hashlib.sha256(b"vcledger node test key " + label.encode()).digest())


def digest(label: str | int) -> Hash:
    return Hash(hashlib.sha256(f"credential {label}".encode()).digest())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (see the module note on races)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], T], *, timeout: float, what: str,
               interval: float = 0.01) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkFiles:
    """What :func:`write_network` wrote."""

    directory: Path
    genesis: Genesis
    governance: KeyPair
    trust: Path
    nodes: list[NodeFiles]
    validator_keys: list[KeyPair] = field(repr=False)

    def config(self, i: int = 0) -> NodeConfig:
        return load_node_config(self.nodes[i].config)


def _replace_setting(text: str, name: str, value: object) -> str:
    rendered = json.dumps(value) if isinstance(value, str) else str(value)
    new, count = re.subn(rf"(?m)^{re.escape(name)} = .*$", f"{name} = {rendered}", text)
    assert count == 1, f"node.toml written by node.provision has no single {name!r} line"
    return new


def set_listen(config_path: Path, port: int) -> None:
    """Point an existing node.toml at ``127.0.0.1:port``."""
    config_path.write_text(_replace_setting(config_path.read_text(), "listen",
                                            f"127.0.0.1:{port}"))


def write_network(
    directory: Path,
    count: int = 1,
    *,
    origin: str = TEST_ORIGIN,
    consensus: dict[str, int] | None = None,
    ports: Sequence[int] | None = None,
    settings: dict[str, object] | None = None,
    validator_keys: Sequence[KeyPair] | None = None,
    governance: KeyPair | None = None,
    peer_url: Callable[[int, int], str] | None = None,
) -> NetworkFiles:
    """Write a network of ``count`` validators under ``directory``/node0, node1, ...

    ``settings`` overrides node.toml lines by name (``max_events``,
    ``max_body_bytes``, ``max_wait_s``, ...) in every node.  Keys are fresh
    unless given.  ``peer_url(i, j)``, if given, is the URL node ``i`` uses to
    reach node ``j`` (a test proxy, say); by default node ``j``'s own address.
    Every file is loaded back through the node's own loaders.
    """
    ports = list(ports) if ports is not None else [free_port() for _ in range(count)]
    assert len(ports) == count
    keys = list(validator_keys) if validator_keys is not None else [
        KeyPair.generate() for _ in range(count)]
    governance = governance or KeyPair.generate()
    names = [f"node{i}" for i in range(count)]
    text = genesis_toml(origin, [(n, k.public_key) for n, k in zip(names, keys, strict=True)],
                        [("governance", governance.did)], genesis_time=GENESIS_TIME,
                        consensus=consensus)
    directory.mkdir(parents=True, exist_ok=True)
    nodes: list[NodeFiles] = []
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        node_dir = directory / name
        node_dir.mkdir()
        (node_dir / "genesis.toml").write_text(text)
        write_key_file(node_dir / "validator.key", key.seed)
        peers = [f"http://127.0.0.1:{p}" if peer_url is None else peer_url(i, j)
                 for j, p in enumerate(ports) if j != i]
        config = node_toml(role="validator", key="validator.key",
                           listen=f"127.0.0.1:{ports[i]}", peers=peers)
        for setting, value in (settings or {}).items():
            config = _replace_setting(config, setting, value)
        (node_dir / "node.toml").write_text(config)
        load_node_config(node_dir / "node.toml")
        nodes.append(NodeFiles(name, node_dir, f"127.0.0.1:{ports[i]}", node_dir / "node.toml",
                               node_dir / "validator.key"))
    genesis = load_genesis(nodes[0].directory / "genesis.toml")
    write_key_file(directory / "governance.key", governance.seed)
    trust = directory / "trust.json"
    trust.write_text(format_trust(genesis.trust()))
    return NetworkFiles(directory, genesis, governance, trust, nodes, keys)


# -- events --------------------------------------------------------------------------------


@dataclass
class TestIssuer:
    """An issuer key with helpers to sign its events for one network."""

    __test__ = False  # not a pytest test class

    key: KeyPair
    origin: str = TEST_ORIGIN
    name: str = "Test University"

    @property
    def did(self) -> str:
        return self.key.did

    def sign(self, payload: Payload, created: int | None = None) -> SignedEvent:
        return sign_event(payload, origin=self.origin, key=self.key,
                          created=int(time.time()) if created is None else created)

    def register(self, governance: KeyPair, created: int | None = None) -> SignedEvent:
        return sign_event(IssuerRegister(self.did, self.name, self.key.public_key),
                          origin=self.origin, key=governance,
                          created=int(time.time()) if created is None else created)

    def issue(self, label: str | int, created: int | None = None) -> SignedEvent:
        return self.sign(CredentialIssue(self.did, digest(label)), created)


# -- processes -----------------------------------------------------------------------------


def node_command() -> list[str]:
    """``vcledger-node`` of this interpreter's environment."""
    script = Path(sys.executable).parent / "vcledger-node"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "node.cli"]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``; ``(status, body)`` also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class NodeProcess:
    """One ``vcledger-node run`` subprocess; output is appended to ``log_path``."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def port(self) -> int:
        return load_node_config(self.config).port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*node_command(), "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> dict[str, Any] | None:
        """``/healthz`` as JSON, or None when the node does not answer (yet)."""
        try:
            status, body = http_get(self.url + "/healthz", timeout=1.0)
        except OSError:
            return None
        if status != 200:
            return None
        document: dict[str, Any] = json.loads(body)
        return document

    def wait_healthy(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until ``/healthz`` answers; raise (with the log's tail) if the process dies."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise NodeExited(self.process.returncode, self.log_text()[-3000:])
            health = self.health()
            if health is not None:
                return health
            if time.monotonic() >= deadline:
                raise AssertionError(f"node {self.config} not healthy after {timeout} s:\n"
                                     + self.log_text()[-3000:])
            time.sleep(0.02)

    def start_healthy(self, *, retry_port: bool = True, timeout: float = 20.0) -> dict[str, Any]:
        """Start and wait for ``/healthz``; once, move to a fresh port if ours was taken."""
        self.start()
        try:
            return self.wait_healthy(timeout)
        except NodeExited as exc:
            if not (retry_port and "already in use" in exc.log_tail):
                raise
        set_listen(self.config, free_port())
        self.start()
        return self.wait_healthy(timeout)

    def kill(self) -> None:
        """SIGKILL and reap (no-op when not running)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for the exit, return the exit code (kills after ``timeout``)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # faulthandler answers SIGUSR1 with every thread's stack even when the event
            # loop is blocked: the log then says where the node was stuck.
            self.process.send_signal(signal.SIGUSR1)
            # faulthandler writes the main thread ("Current thread") last: wait for it,
            # or the kill cuts the one stack that says where the event loop is stuck.
            with contextlib.suppress(AssertionError):
                wait_until(lambda: "Current thread" in self.log_text(), timeout=5,
                           what="the node's thread dump", interval=0.1)
            self.kill()
            text = self.log_text()
            dump = text.find("(most recent call first)")
            tail = text[max(0, dump - 1500):] if dump >= 0 else text[-6000:]
            raise AssertionError(f"node did not stop within {timeout} s after SIGTERM:\n"
                                 + tail[-12000:]) from None


class NodeExited(AssertionError):
    """The node process ended while we waited for it to become healthy."""

    def __init__(self, returncode: int, log_tail: str) -> None:
        super().__init__(f"node exited with {returncode} before answering /healthz:\n{log_tail}")
        self.returncode = returncode
        self.log_tail = log_tail


@contextlib.contextmanager
def running_nodes(configs: Sequence[Path], log_dir: Path, *,
                  timeout: float = 20.0) -> Iterator[list[NodeProcess]]:
    """Start one node per config, wait until each answers ``/healthz``; always kill and reap.

    A single node whose port was taken is moved to a fresh port once; with
    several nodes the ports are in each other's peer lists, so there is no retry.
    """
    nodes = [NodeProcess(config, log_dir / f"node{i}.log") for i, config in enumerate(configs)]
    try:
        if len(nodes) == 1:
            nodes[0].start_healthy(timeout=timeout)
        else:
            for node in nodes:
                node.start()
            for node in nodes:
                node.wait_healthy(timeout)
        yield nodes
    finally:
        for node in nodes:
            node.kill()


# -- a network under load, and what the fault tests check ---------------------------------


@dataclass(frozen=True)
class Ack:
    """A node's answer "committed": its promise that the event stays at ``index``/``height``."""

    event_hash: str
    index: int
    height: int
    node: int


def post_event_to(url: str, data: bytes, *, wait: float | None = None,
                  timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """POST one event to the node at ``url`` (``?wait=commit`` when ``wait`` is given).

    Returns ``(status, JSON body)`` also for 4xx/5xx; a connection that fails
    or breaks raises :class:`OSError` or :class:`http.client.HTTPException`.
    """
    query = "" if wait is None else f"?wait=commit&timeout={wait:g}"
    request = urllib.request.Request(url + "/v1/events" + query, data=data,
                                     headers={"Content-Type": "application/vnd.vcledger.event"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def post_event(node: NodeProcess, data: bytes, *, wait: float | None = 20.0
               ) -> tuple[int, dict[str, Any]]:
    """:func:`post_event_to` a node process, with a socket limit beyond the wait."""
    return post_event_to(node.url, data, wait=wait, timeout=(wait or 5) + 10)


def event_status(url: str, event_hash: str) -> str | None:
    """The ``status`` ``/v1/events/{hash}`` reports, or None when the node does not know it."""
    status, body = get_json(f"{url}/v1/events/{event_hash}")
    return body.get("status") if status == 200 else None


def get_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    status, body = http_get(url, timeout)
    return status, json.loads(body) if body else None


class Load:
    """Writer threads that post fresh signed events to random nodes with ``?wait=commit``.

    Every "committed" answer is kept as an :class:`Ack`; an event that gets
    no answer (node killed, link cut) or "pending" is posted again, to another
    random node, up to ``attempts`` times (submitting is idempotent).  After
    some acknowledgements a writer also fetches the node's newest checkpoint
    with ``min_cosignatures=threshold`` and keeps its text.  Writer ``k``
    draws from ``random.Random(f"{seed}/{k}")``, so the same seed sends the
    same events to the same nodes in the same order (timing aside).
    """

    def __init__(self, urls: Sequence[str], issuer: TestIssuer, *, seed: int | str,
                 writers: int = 3, wait: float = 10.0, attempts: int = 8,
                 threshold: int = 1, checkpoint_share: float = 0.3) -> None:
        self.urls = list(urls)
        self.issuer = issuer
        self.seed = seed
        self.wait = wait
        self.attempts = attempts
        self.threshold = threshold
        self.checkpoint_share = checkpoint_share
        self.acks: list[Ack] = []
        self.checkpoints: list[tuple[int, str]] = []
        self.unexpected: list[str] = []
        self.unacknowledged: list[str] = []
        self.connection_failures = 0
        self.pending_answers = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(k,), daemon=True,
                                          name=f"load-{k}") for k in range(writers)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop the writers and wait for the requests in flight (bounded by ``wait``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.wait + 20)
            assert not thread.is_alive(), "a load writer did not stop"

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ack_count(self) -> int:
        return len(self.acks)

    def _write(self, k: int) -> None:
        rng = random.Random(f"{self.seed}/{k}")
        for n in itertools.count():
            if self._stop.is_set():
                return
            event = self.issuer.issue(f"load {self.seed}/{k}/{n}")
            acked = False
            for attempt in range(self.attempts):
                if self._stop.is_set():
                    break
                node = rng.randrange(len(self.urls))
                try:
                    status, body = post_event_to(self.urls[node], event.encoded,
                                                 wait=self.wait, timeout=self.wait + 15)
                except (OSError, http.client.HTTPException):
                    with self._lock:
                        self.connection_failures += 1
                    self._stop.wait(0.05 * attempt)  # back off from a node that is down
                    continue
                if status == 200 and body.get("status") == "committed":
                    self.acks.append(Ack(body["event_hash"], body["index"], body["height"], node))
                    acked = True
                    break
                if status in (202, 503):  # pending (no quorum in time), catching up, busy
                    with self._lock:
                        self.pending_answers += 1
                    continue
                self.unexpected.append(f"node {node} answered {status}: {body}")
                break
            if not acked:
                self.unacknowledged.append(event.hash.hex())
                continue
            if rng.random() < self.checkpoint_share:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    status, text = http_get(f"{self.urls[node]}/v1/checkpoint"
                                            f"?min_cosignatures={self.threshold}")
                    if status == 200:
                        self.checkpoints.append((node, text.decode()))


def head_of(url: str) -> tuple[int, str] | None:
    """``(height, log_root)`` from ``/healthz``, or None when the node does not answer."""
    try:
        status, health = get_json(url + "/healthz", timeout=2.0)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    return (health["height"], health["log_root"]) if status == 200 else None


def heads_agree(urls: Sequence[str]) -> bool:
    seen = [head_of(url) for url in urls]
    return None not in seen and len(set(seen)) == 1


def assert_same_chain(urls: Sequence[str]) -> list[list[dict[str, Any]]]:
    """Every node holds the same block at every height up to the lowest head.

    Compares each block's header hash (the header names the previous one and
    carries the status root) and the block id its certificate signs (the log
    root after the block).  Certificates themselves may differ between nodes
    (any 2f+1 precommits decide).  Returns each node's blocks 1..H, in ``urls`` order.
    """
    heights = []
    for url in urls:
        status, block = get_json(url + "/v1/blocks/latest")
        assert status == 200, (url, block)
        heights.append(block["height"])
    chains: list[list[dict[str, Any]]] = []
    for url in urls:
        chain = []
        for height in range(1, min(heights) + 1):
            status, block = get_json(f"{url}/v1/blocks/{height}")
            assert status == 200, (url, height, block)
            chain.append(block)
        chains.append(chain)
    for height in range(1, min(heights) + 1):
        first = chains[0][height - 1]
        for url, chain in zip(urls[1:], chains[1:], strict=True):
            block = chain[height - 1]
            assert block["header"]["hash"] == first["header"]["hash"], (
                f"fork at height {height}: {urls[0]} has {first['header']}, "
                f"{url} has {block['header']}")
            assert block["tree_size"] == first["tree_size"]
            assert block["event_hashes"] == first["event_hashes"]
    return chains


def assert_acknowledged_present(urls: Sequence[str], acks: Sequence[Ack],
                                blocks: Sequence[dict[str, Any]]) -> int:
    """Every acknowledged event is in every node's log at the index and height it was
    promised (``/v1/events/{hash}``, ``/v1/entries/{index}``, the block's event list).
    Returns how many events were found so."""
    found = 0
    for ack in acks:
        block = blocks[ack.height - 1]
        offset = ack.index - block["header"]["first_index"]
        assert 0 <= offset < len(block["event_hashes"]), (ack, block["header"])
        assert block["event_hashes"][offset] == ack.event_hash, ack
        for url in urls:
            status, event = get_json(f"{url}/v1/events/{ack.event_hash}")
            assert status == 200 and event["status"] == "committed", (url, ack, event)
            assert (event["index"], event["height"]) == (ack.index, ack.height), (url, ack, event)
            status, leaf = http_get(f"{url}/v1/entries/{ack.index}")
            assert status == 200 and leaf_hash(leaf).hex() == ack.event_hash, (url, ack)
        found += 1
    return found


def evidence_at(url: str) -> list[Any]:
    status, body = get_json(url + "/v1/evidence?limit=1000")
    assert status == 200, body
    evidence: list[Any] = body["evidence"]
    return evidence


def fault_seed(what: str) -> int:
    """The seed of a randomised fault test: ``$VCLEDGER_SEED`` if set (to replay a
    failure), else a fresh one.  Printed, so a failing run's output names it."""
    text = os.environ.get("VCLEDGER_SEED")
    seed = int(text) if text else random.SystemRandom().randrange(2**32)
    print(f"{what}: seed {seed} (replay with VCLEDGER_SEED={seed})")
    return seed


def share_cores(network: NetworkFiles) -> NetworkFiles:
    """Give every node of ``network`` ``signature_workers = 1`` (verify in the node's own
    process), as scripts/localnet does: several nodes share a machine's few cores."""
    for files in network.nodes:
        text = files.config.read_text()
        assert "signature_workers" not in text
        # A top-level key: it must come before the first [table].
        text = text.replace("\n[mempool]", "signature_workers = 1\n\n[mempool]", 1)
        files.config.write_text(text)
        assert load_node_config(files.config).signature_workers == 1
    return network


class ManualProducer(SingleValidatorProducer):
    """The single-validator producer, except that the test seals every block."""

    async def run(self) -> None:
        await asyncio.Event().wait()


def assemble_in_process(network: NetworkFiles, index: int = 0, *,
                        producer: ProducerFactory = ManualProducer,
                        signature_workers: int = 1,
                        clock: Callable[[], float] = time.time) -> AssembledNode:
    """Node ``index`` of ``network`` assembled in this process, as ``vcledger-node run``
    assembles it, by default with a :class:`ManualProducer` and its signature checks in
    this process (``signature_workers = 1``)."""
    config = load_node_config(network.nodes[index].config)
    return assemble_node(config, load_genesis(config.genesis), network.validator_keys[index],
                         signature_workers=signature_workers, producer=producer, clock=clock)


async def submit_pending(service: Any, events: Sequence[SignedEvent]) -> None:
    """Submit ``events`` to an in-process node and assert the mempool took every one."""
    results = await service.submit([e.encoded for e in events])
    assert all(type(r).__name__ == "Pending" for r in results), results


async def seal_block(service: Any) -> Any:
    """Seal the mempool into one block now and cosign it, as the single-validator
    producer would (for tests that drive a ManualProducer node by hand)."""
    assert service.key is not None
    block = service.prepare_from_mempool(service.key.public_key)
    new_head = await service.write_block(block)
    service.cosign_head()
    return new_head


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 and an OS-picked port for the ``with`` block; yields
    the base URL.  The server and its thread are always stopped and joined."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
