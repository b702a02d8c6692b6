"""Shared helpers for tests that run nodes: network files, signed events, node processes.

* :func:`write_network` writes the files of a network of ``count`` nodes with
  :mod:`node.setup` (the same writers ``vcledger-node init`` uses): one
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

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
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
from client.trust import format_trust
from node.config import Genesis, NodeConfig, load_genesis, load_node_config
from node.setup import NodeFiles, genesis_toml, node_toml

ROOT = Path(__file__).resolve().parent.parent
TEST_ORIGIN = "vcledger.example/test"
GENESIS_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

#: Block timing that keeps tests fast: blocks 20 ms after the first pending event.
FAST_CONSENSUS = {"block_interval_ms": 20, "empty_block_interval_ms": 2000}

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
    assert count == 1, f"node.toml written by node.setup has no single {name!r} line"
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
) -> NetworkFiles:
    """Write a network of ``count`` validators under ``directory``/node0, node1, ...

    ``settings`` overrides node.toml lines by name (``max_events``,
    ``max_body_bytes``, ``max_wait_s``, ...) in every node.  Keys are fresh
    unless given.  Every file is loaded back through the node's own loaders.
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
        peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i]
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
            self.kill()
            raise AssertionError(f"node did not stop within {timeout} s after SIGTERM:\n"
                                 + self.log_text()[-3000:]) from None


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
