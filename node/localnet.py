"""``vcledger-node localnet``: a whole network on one machine, to try vcledger out.

Every validator of a real network runs on its own host (docs/operations.md,
"Deploying a network"); this command instead puts N validators on 127.0.0.1
so a newcomer, a demo or a benchmark has a live network in seconds, with no
files to write by hand.  ``scripts/localnet`` runs it from a checkout.

Creates (once; ``--fresh`` starts over) keys, a shared genesis file, one
folder per node with its ``node.toml`` and data, ``trust.json``, a governance
key, an issuer key and sample credentials; starts one ``vcledger-node``
process per node; waits until every node answers ``/healthz`` and the network
has committed a block; writes ``localnet.json``; prints what to do next; and
runs until Ctrl-C or SIGTERM, which stops every node cleanly.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from client.credentials import digest
from client.keys import KeyPair, read_key_file, write_key_file
from client.trust import format_trust
from node.config import load_genesis, load_node_config
from node.errors import NodeError
from node.provision import genesis_toml, node_toml

ORIGIN = "vcledger.local/localnet"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SAMPLE_CREDENTIALS = 20


class LocalnetError(NodeError):
    """The local network cannot start: ports taken, a node died, a bad option."""

    code = "localnet_failed"
    exit_code = 1


@dataclass
class NodeProcess:
    index: int
    url: str
    directory: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(count: int, attempts: int = 100) -> int:
    """A base port P such that P .. P+count-1 are free on 127.0.0.1 now (for ``--base-port``).

    Starts from ports the OS hands out, so concurrent callers rarely collide;
    another process may still take one before the nodes bind it.
    """
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count <= 65535 and all(_free(base + i) for i in range(count)):
            return base
    raise LocalnetError(f"found no {count} consecutive free ports on 127.0.0.1")


SAMPLE_ISSUER_ID = "https://university.example/issuers/1"
"""The identifier the sample credentials name their issuer by, as real ones do; the printed
``issuer register`` command gives it to the issuer's did:key."""


def sample_credential(number: int) -> dict[str, object]:
    """A W3C Verifiable Credentials 2.0 style diploma (never sent to the ledger)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "DiplomaCredential"],
        "id": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
        "issuer": {"id": SAMPLE_ISSUER_ID, "name": "Example University"},
        "validFrom": "2026-06-30T00:00:00Z",
        "credentialSubject": {
            "id": f"did:example:student{number:04d}",
            "name": f"Student {number:04d}",
            "achievement": {"type": "Achievement", "name": "BSc Computer Science"},
        },
    }


def create(directory: Path, nodes: int, base_port: int) -> None:
    """Write every file of a new network into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    governance = KeyPair.generate()
    issuer = KeyPair.generate()
    validators = [KeyPair.generate() for _ in range(nodes)]
    names = [f"{ORIGIN}/node{i}" for i in range(nodes)]
    genesis_text = genesis_toml(
        ORIGIN, list(zip(names, [v.public_key for v in validators], strict=True)),
        [("governance", governance.did)], genesis_time=dt.datetime.now(dt.UTC),
        consensus={"block_interval_ms": 100, "empty_block_interval_ms": 5000,
                   "timeout_propose_ms": 1000, "timeout_prevote_ms": 500,
                   "timeout_precommit_ms": 500, "timeout_delta_ms": 500})
    (directory / "genesis.toml").write_text(genesis_text)
    genesis = load_genesis(directory / "genesis.toml")
    write_key_file(directory / "governance.key", governance.seed)
    write_key_file(directory / "issuer.key", issuer.seed)
    urls = [f"http://127.0.0.1:{base_port + i}" for i in range(nodes)]
    for i, key in enumerate(validators):
        node_dir = directory / f"node{i}"
        node_dir.mkdir()
        write_key_file(node_dir / "validator.key", key.seed)
        (node_dir / "node.toml").write_text(node_toml(
            role="validator", key="validator.key", listen=f"127.0.0.1:{base_port + i}",
            peers=[u for j, u in enumerate(urls) if j != i], genesis="../genesis.toml",
            signature_workers=1))
        load_node_config(node_dir / "node.toml")
    (directory / "trust.json").write_text(format_trust(genesis.trust()))
    samples = directory / "sample-credentials"
    samples.mkdir()
    for number in range(1, SAMPLE_CREDENTIALS + 1):
        (samples / f"credential-{number:04d}.json").write_text(
            json.dumps(sample_credential(number), indent=2) + "\n")


def existing_nodes(directory: Path) -> list[Path]:
    return sorted(directory.glob("node[0-9]*/node.toml"),
                  key=lambda p: int(p.parent.name.removeprefix("node")))


def _get_json(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = json.loads(response.read())
            return data if isinstance(data, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def start(nodes: list[NodeProcess], python: str) -> None:
    for node in nodes:
        log = node.log.open("ab")
        node.process = subprocess.Popen(
            [python, "-m", "node.cli", "run", "--config", str(node.directory / "node.toml")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()


def wait_ready(nodes: list[NodeProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(range(len(nodes)))
    while pending:
        for node in nodes:
            assert node.process is not None
            if node.process.poll() is not None:
                raise LocalnetError(f"node{node.index} exited with code "
                                    f"{node.process.returncode}; see {node.log}")
        for i in sorted(pending):
            health = _get_json(f"{nodes[i].url}/healthz")
            height = health.get("height") if health else None
            if isinstance(height, int) and height >= 1:
                pending.discard(i)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"node{i}" for i in sorted(pending))
            raise LocalnetError(f"{names} did not commit a block within {timeout:.0f} s; "
                                f"see the logs in {nodes[0].log.parent}")
        time.sleep(0.2)


def stop(nodes: list[NodeProcess]) -> None:
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for node in nodes:
        if node.process is None:
            continue
        try:
            node.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()


def _shell_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def next_steps(directory: Path, nodes: list[NodeProcess]) -> str:
    issuer = read_key_file(directory / "issuer.key")
    first = directory / "sample-credentials" / "credential-0001.json"
    receipt = directory / "receipts" / f"{digest(first.read_bytes()).hex()}.json"
    d = _shell_path(directory)
    url0, url1 = nodes[0].url, nodes[min(1, len(nodes) - 1)].url
    url2 = nodes[min(2, len(nodes) - 1)].url
    return "\n".join([
        "Next, in another terminal (source .venv/bin/activate first):",
        "  # 1. governance admits an issuer",
        f"  vcledger issuer register --node {url0} --admin-key {d}/governance.key \\",
        f"      --issuer {issuer.did} --name 'Example University' --id {SAMPLE_ISSUER_ID}",
        "  # 2. the issuer anchors a batch of credentials (receipts land in receipts/)",
        f"  vcledger anchor {d}/sample-credentials --key {d}/issuer.key --node {url1} \\",
        f"      --receipts {d}/receipts",
        "  # 3. bundle one credential and verify it offline with only the trust file",
        f"  vcledger bundle {_shell_path(first)} --receipt {_shell_path(receipt)} \\",
        f"      --node {url2} --trust {d}/trust.json --out {d}/credential-0001.bundle",
        f"  vcledger verify {d}/credential-0001.bundle --trust {d}/trust.json \\",
        f"      --credential {_shell_path(first)}",
    ])


def run(directory: Path, nodes_wanted: int | None, base_port: int, fresh: bool,
        ready_timeout: float) -> int:
    if fresh and directory.exists():
        shutil.rmtree(directory)
    configs = existing_nodes(directory) if (directory / "genesis.toml").exists() else []
    if not configs:
        count = nodes_wanted or 4
        if not 1 <= count <= 32:
            raise LocalnetError("--nodes must be between 1 and 32")
        busy = [base_port + i for i in range(count) if not _free(base_port + i)]
        if busy:
            raise LocalnetError(f"ports {busy} are in use; pass --base-port or stop what uses them")
        create(directory, count, base_port)
        configs = existing_nodes(directory)
    elif nodes_wanted is not None and nodes_wanted != len(configs):
        raise LocalnetError(f"{directory} holds a {len(configs)}-node network; pass --fresh to "
                            f"create a {nodes_wanted}-node one")
    nodes = []
    for i, config_path in enumerate(configs):
        config = load_node_config(config_path)
        if not _free(config.port):
            raise LocalnetError(f"port {config.port} of node{i} is in use (is a localnet already "
                                "running?)")
        nodes.append(NodeProcess(i, f"http://{config.host}:{config.port}", config_path.parent,
                                 directory / f"node{i}.log"))
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start(nodes, sys.executable)
    try:
        wait_ready(nodes, ready_timeout)
        description = {
            "nodes": [{"url": n.url, "pid": n.process.pid if n.process else None,
                       "data_dir": str(n.directory / "data"), "log": str(n.log)} for n in nodes],
            "trust": str(directory / "trust.json"),
            "governance_key": str(directory / "governance.key"),
        }
        (directory / "localnet.json").write_text(json.dumps(description, indent=2) + "\n")
        print(f"vcledger localnet: {len(nodes)} nodes up, network {ORIGIN!r}")
        for node in nodes:
            print(f"  node{node.index}  {node.url}   log {_shell_path(node.log)}")
        print(f"  trust file  {_shell_path(directory / 'trust.json')}")
        print()
        print(next_steps(directory, nodes))
        print()
        print("Ctrl-C stops every node.", flush=True)
        reported: set[int] = set()
        while not stopping:
            for node in nodes:
                assert node.process is not None
                if node.process.poll() is not None and node.index not in reported:
                    # A BFT network outlives a minority of its nodes: say so, keep going.
                    reported.add(node.index)
                    print(f"node{node.index} exited with code {node.process.returncode} "
                          f"(see {_shell_path(node.log)}); the others keep running. Restart it "
                          f"with: .venv/bin/vcledger-node run --config "
                          f"{_shell_path(node.directory / 'node.toml')}", flush=True)
            time.sleep(0.5)
    finally:
        stop(nodes)
    print("stopped every node")
    return 0
