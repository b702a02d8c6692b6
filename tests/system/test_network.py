"""A real 4-validator network on 127.0.0.1: consensus, faults, catch-up, observers, localnet.

Every node is a ``vcledger-node run`` process; every wait is a polled condition
with a deadline; every process is killed and reaped whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from client import encoding
from client.checkpoint import verify_checkpoint
from client.errors import VerificationError
from client.keys import KeyPair
from client.merkle import verify_inclusion
from client.note import format_note, parse_note
from client.trust import load_trust
from node.localnet import free_port_block
from node.provision import node_toml
from tests.nodeutil import (
    FAST_NETWORK_CONSENSUS,
    ROOT,
    NetworkFiles,
    NodeProcess,
    TestIssuer,
    event_status,
    head_of,
    heads_agree,
    http_get,
    post_event,
    running_nodes,
    wait_until,
    write_network,
)

pytestmark = pytest.mark.slow

CONSENSUS = FAST_NETWORK_CONSENSUS


def heads(nodes: list[NodeProcess]) -> list[tuple[int, str] | None]:
    return [head_of(node.url) for node in nodes]


def agree(nodes: list[NodeProcess]) -> bool:
    return heads_agree([node.url for node in nodes])


def connected(nodes: list[NodeProcess], validators: int = 4) -> bool:
    """Every node talks to at least every other validator (directly or not)."""
    healths = [node.health() for node in nodes]
    return all(h is not None and (h["peers"] or 0) >= validators - 1 for h in healths)


def verified_checkpoint(node: NodeProcess, network: NetworkFiles) -> Any:
    trust = load_trust(network.trust)
    status, body = http_get(f"{node.url}/v1/checkpoint?min_cosignatures={trust.threshold}")
    assert status == 200, body
    return verify_checkpoint(body.decode(), trust.origin, trust.verifiers(), trust.threshold)


@pytest.fixture
def network(tmp_path: Path) -> NetworkFiles:
    return write_network(tmp_path / "net", 4, consensus=CONSENSUS)


def test_events_submitted_to_any_node_commit_everywhere(network: NetworkFiles,
                                                        tmp_path: Path) -> None:
    issuer = TestIssuer(KeyPair.generate(), network.genesis.origin)
    with running_nodes([n.config for n in network.nodes], tmp_path) as nodes:
        wait_until(lambda: connected(nodes), timeout=20, what="a fully connected network")
        status, body = post_event(nodes[3], issuer.register(network.governance).encoded)
        assert status == 200 and body["status"] == "committed", body
        acknowledged = []
        for i in range(12):
            event = issuer.issue(i)
            status, body = post_event(nodes[i % 4], event.encoded)
            assert status == 200 and body["status"] == "committed", body
            acknowledged.append((event.hash.hex(), body["index"]))
        wait_until(lambda: agree(nodes), timeout=20, what="all nodes at one head")
        checkpoint = verified_checkpoint(nodes[2], network).checkpoint
        for event_hash, index in acknowledged:
            for node in nodes:
                assert event_status(node.url, event_hash) == "committed"
            status, body = http_get(f"{nodes[1].url}/v1/proof/inclusion?index={index}"
                                    f"&tree_size={checkpoint.tree_size}")
            proof = json.loads(body)
            verify_inclusion(bytes.fromhex(event_hash), index, checkpoint.tree_size,
                             [bytes.fromhex(h) for h in proof["proof"]], checkpoint.root)
        status, body = http_get(f"{nodes[0].url}/v1/blocks/latest")
        assert json.loads(body)["certificate"] is not None  # decided blocks carry 2f+1 precommits
        status, body = http_get(f"{nodes[0].url}/v1/evidence")
        assert json.loads(body)["evidence"] == []


def test_survives_one_fault_halts_safely_at_two_and_recovers(network: NetworkFiles,
                                                             tmp_path: Path) -> None:
    issuer = TestIssuer(KeyPair.generate(), network.genesis.origin)
    with running_nodes([n.config for n in network.nodes], tmp_path) as nodes:
        wait_until(lambda: connected(nodes), timeout=20, what="a fully connected network")
        assert post_event(nodes[0], issuer.register(network.governance).encoded)[0] == 200
        nodes[2].kill()
        for i in range(6):  # every proposer slot, including the dead node's, comes round
            status, body = post_event(nodes[i % 2], issuer.issue(f"one down {i}").encoded)
            assert status == 200 and body["status"] == "committed", body

        nodes[3].kill()
        live = [nodes[0], nodes[1]]
        wait_until(lambda: agree(live), timeout=10, what="the two live nodes agree")
        before = heads(live)
        stuck = issuer.issue("stuck")
        status, body = post_event(nodes[0], stuck.encoded, wait=2.0)
        assert status == 202 and body["status"] == "pending", body
        assert heads(live) == before  # two of four cannot commit, and nothing forked

        nodes[2].start()
        nodes[2].wait_healthy()
        wait_until(lambda: event_status(nodes[0].url, stuck.hash.hex()) == "committed", timeout=30,
                   what="the stuck event commits once three validators are up")
        nodes[3].start()
        nodes[3].wait_healthy()
        wait_until(lambda: agree(nodes), timeout=30, what="the restarted node catches up")
        roots = {verified_checkpoint(node, network).checkpoint.root for node in nodes}
        assert len(roots) <= 2  # a node may be one checkpoint ahead while cosigning
        wait_until(lambda: len({verified_checkpoint(n, network).checkpoint for n in nodes}) == 1,
                   timeout=20, what="every node serves the same cosigned checkpoint")
        assert event_status(nodes[3].url, stuck.hash.hex()) == "committed"


def test_checkpoint_needs_the_threshold_of_cosignatures(network: NetworkFiles,
                                                        tmp_path: Path) -> None:
    trust = load_trust(network.trust)
    with running_nodes([n.config for n in network.nodes], tmp_path) as nodes:
        wait_until(lambda: http_get(f"{nodes[0].url}/v1/checkpoint?min_cosignatures=4")[0] == 200,
                   timeout=20, what="a checkpoint cosigned by all four validators")
        note = http_get(f"{nodes[0].url}/v1/checkpoint?min_cosignatures=4")[1].decode()
    parsed = parse_note(note)
    assert len(parsed.signatures) == 4
    full = verify_checkpoint(note, trust.origin, trust.verifiers(), trust.threshold)
    assert len(full.cosigners) == 4
    enough = format_note(parsed.body, parsed.signatures[:trust.threshold])
    verify_checkpoint(enough, trust.origin, trust.verifiers(), trust.threshold)
    too_few = format_note(parsed.body, parsed.signatures[:trust.threshold - 1])
    with pytest.raises(VerificationError):
        verify_checkpoint(too_few, trust.origin, trust.verifiers(), trust.threshold)


def test_observer_follows_and_serves_verifiable_proofs(network: NetworkFiles,
                                                       tmp_path: Path) -> None:
    issuer = TestIssuer(KeyPair.generate(), network.genesis.origin)
    observer_dir = network.directory / "observer"
    observer_dir.mkdir()
    (observer_dir / "genesis.toml").write_text(
        (network.nodes[0].directory / "genesis.toml").read_text())
    from tests.nodeutil import free_port

    peers = [f"http://{n.listen}" for n in network.nodes]
    (observer_dir / "node.toml").write_text(node_toml(
        role="observer", key=None, listen=f"127.0.0.1:{free_port()}", peers=peers))
    configs = [n.config for n in network.nodes] + [observer_dir / "node.toml"]
    with running_nodes(configs, tmp_path) as nodes:
        wait_until(lambda: connected(nodes), timeout=20, what="a fully connected network")
        observer = nodes[4]
        assert post_event(observer, issuer.register(network.governance).encoded)[0] == 200
        event = issuer.issue("via observer")
        status, body = post_event(observer, event.encoded)  # reaches the proposer by gossip
        assert status == 200 and body["status"] == "committed", body
        wait_until(lambda: agree(nodes), timeout=20, what="the observer at the validators' head")
        checkpoint = verified_checkpoint(observer, network).checkpoint
        proof = json.loads(http_get(f"{observer.url}/v1/proof/inclusion?index={body['index']}"
                                    f"&tree_size={checkpoint.tree_size}")[1])
        verify_inclusion(event.hash, body["index"], checkpoint.tree_size,
                         [bytes.fromhex(h) for h in proof["proof"]], checkpoint.root)
        assert observer.health() is not None and observer.health()["role"] == "observer"  # type: ignore[index]


class Localnet:
    """``scripts/localnet`` as a subprocess, its output collected by a reader thread."""

    def __init__(self, directory: Path, base_port: int) -> None:
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "localnet"), "--dir", str(directory),
             "--base-port", str(base_port), "--nodes", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, marker: str, timeout: float) -> str:
        wait_until(lambda: marker in self.output() or self.process.poll() is not None,
                   timeout=timeout, what=f"localnet to print {marker!r}", interval=0.05)
        assert marker in self.output(), f"localnet exited {self.process.returncode}:\n" \
            + self.output()
        return self.output()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.reader.join(timeout=5)


def test_localnet_script_starts_reuses_and_stops_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "localnet"
    base = free_port_block(4)
    for attempt in ("create", "reuse"):
        localnet = Localnet(directory, base)
        try:
            output = localnet.wait_for("Ctrl-C stops every node.", timeout=90)
            assert "4 nodes up" in output, output
            assert "vcledger issuer register" in output and "vcledger verify" in output
            described = json.loads((directory / "localnet.json").read_text())
            assert [n["url"] for n in described["nodes"]] == [
                f"http://127.0.0.1:{base + i}" for i in range(4)]
            assert Path(described["trust"]).exists() and Path(described["governance_key"]).exists()
            for node in described["nodes"]:
                status, body = http_get(node["url"] + "/healthz")
                assert status == 200 and json.loads(body)["height"] >= 1, (attempt, body)
            localnet.process.send_signal(signal.SIGTERM)
            rest = localnet.wait_for("stopped every node", timeout=30)
            assert localnet.process.wait(timeout=30) == 0, rest
            for node in described["nodes"]:
                with pytest.raises(OSError):
                    os.kill(node["pid"], 0)  # every node process is gone
        finally:
            localnet.kill()


def test_a_node_catches_up_across_blocks_larger_than_one_read(network: NetworkFiles,
                                                              tmp_path: Path) -> None:
    """Regression: catch-up once read only the first chunk of a large block's body."""
    issuer = TestIssuer(KeyPair.generate(), network.genesis.origin)
    with running_nodes([n.config for n in network.nodes], tmp_path) as nodes:
        wait_until(lambda: connected(nodes), timeout=20, what="a fully connected network")
        assert post_event(nodes[0], issuer.register(network.governance).encoded)[0] == 200
        nodes[3].kill()
        events = [issuer.issue(f"bulk {i}") for i in range(2000)]
        request = urllib.request.Request(
            nodes[0].url + "/v1/events/batch?wait=commit",
            data=encoding.pack([e.encoded for e in events]),
            headers={"Content-Type": "application/vnd.vcledger.events"})
        with urllib.request.urlopen(request, timeout=60) as response:
            results = json.loads(response.read())["results"]
        assert {r["status"] for r in results} == {"committed"}
        heights = {r["height"] for r in results}
        biggest = max(len(http_get(f"{nodes[0].url}/v1/blocks/{h}/raw")[1]) for h in heights)
        # Blocks may split the batch, but one holds at least half: many network reads.
        assert biggest > 128 * 1024
        nodes[3].start()
        nodes[3].wait_healthy()
        wait_until(lambda: agree(nodes), timeout=60, what="the restarted node to catch up")
        assert event_status(nodes[3].url, events[-1].hash.hex()) == "committed"


def test_observer_follows_a_one_validator_network(tmp_path: Path) -> None:
    single = write_network(tmp_path / "single", 1, consensus=CONSENSUS)
    issuer = TestIssuer(KeyPair.generate(), single.genesis.origin)
    observer_dir = single.directory / "observer"
    observer_dir.mkdir()
    (observer_dir / "genesis.toml").write_text(
        (single.nodes[0].directory / "genesis.toml").read_text())
    from tests.nodeutil import free_port

    (observer_dir / "node.toml").write_text(node_toml(
        role="observer", key=None, listen=f"127.0.0.1:{free_port()}",
        peers=[f"http://{single.nodes[0].listen}"]))
    with running_nodes([single.nodes[0].config, observer_dir / "node.toml"], tmp_path) as nodes:
        validator, observer = nodes
        wait_until(lambda: (observer.health() or {}).get("peers"), timeout=20,
                   what="the observer connected to the validator")
        assert post_event(observer, issuer.register(single.governance).encoded)[0] == 200
        event = issuer.issue("relayed by the observer")
        status, body = post_event(observer, event.encoded)
        assert status == 200 and body["status"] == "committed", body
        wait_until(lambda: agree(nodes), timeout=20, what="the observer at the validator's head")
        checkpoint = verified_checkpoint(observer, single).checkpoint
        proof = json.loads(http_get(f"{observer.url}/v1/proof/inclusion?index={body['index']}"
                                    f"&tree_size={checkpoint.tree_size}")[1])
        verify_inclusion(event.hash, body["index"], checkpoint.tree_size,
                         [bytes.fromhex(h) for h in proof["proof"]], checkpoint.root)
        block = json.loads(http_get(f"{validator.url}/v1/blocks/{body['height']}")[1])
        assert block["certificate"] is not None  # a one-vote commit certificate
