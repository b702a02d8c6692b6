"""Real ``vcledger-node`` processes on 127.0.0.1: init, run, verify, stop, crash, restart.

Everything a node serves is checked with the client's verifiers under the
trust file the network's setup wrote.  The crash test kills the node with
SIGKILL at random moments while writers stream events with ``?wait=commit``,
and then checks the promise the API makes: an acknowledged event is durable,
at the index it was acknowledged with, in a log consistent with every
checkpoint anyone saw.

The example configs in configs/ are loaded through the node's own loaders
here too (fast, no process).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import random
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from client.checkpoint import Checkpoint, verify_checkpoint
from client.events import SignedEvent
from client.hashes import Hash
from client.keys import KeyPair, read_key_file
from client.merkle import leaf_hash, verify_consistency, verify_inclusion
from client.smt import SmtProof, verify_membership
from client.status import credential_status_key
from client.trust import Trust, load_trust
from node.config import (
    ApiSettings,
    ConsensusParams,
    Genesis,
    MempoolSettings,
    NodeConfig,
    load_genesis,
    load_node_config,
)
from node.errors import ConfigError
from tests.nodeutil import (
    FAST_CONSENSUS,
    ROOT,
    NodeProcess,
    TestIssuer,
    node_command,
    running_nodes,
    write_network,
)

EVENT_TYPE = {"Content-Type": "application/vnd.vcledger.event"}


# -- the example configs (fast) ------------------------------------------------------------


def test_example_configs_load_and_show_every_field() -> None:
    genesis = load_genesis(ROOT / "configs" / "genesis.example.toml")
    config = load_node_config(ROOT / "configs" / "node.example.toml")
    assert genesis.quorum == 3 and len(genesis.validators) == 4
    assert config.genesis == ROOT / "configs" / "genesis.toml"  # relative to the file
    # Every setting the models know is shown (and explained) in the examples.
    genesis_text = tomllib.loads((ROOT / "configs" / "genesis.example.toml").read_text())
    node_text = tomllib.loads((ROOT / "configs" / "node.example.toml").read_text())
    assert set(genesis_text) == set(Genesis.model_fields)
    assert set(genesis_text["consensus"]) == set(ConsensusParams.model_fields)
    assert set(node_text) == set(NodeConfig.model_fields)
    assert set(node_text["mempool"]) == set(MempoolSettings.model_fields)
    assert set(node_text["api"]) == set(ApiSettings.model_fields)
    # The values shown are the defaults, as the comments say.
    assert genesis.consensus == ConsensusParams()
    assert config.mempool == MempoolSettings() and config.api == ApiSettings()


@pytest.mark.parametrize(("line", "replacement", "named"), [
    ("max_events = 50000", "max_events = 0", "mempool.max_events"),
    ('listen = "127.0.0.1:7700"', 'listen = "127.0.0.1:\u0667\u0667"', "listen"),
    ('role = "validator"', 'role = "leader"', "role"),
    ("max_wait_s = 30", "max_wait_s = 30\nmax_weight = 1", "api.max_weight"),
])
def test_bad_node_toml_field_is_named(tmp_path: Path, line: str, replacement: str,
                                      named: str) -> None:
    text = (ROOT / "configs" / "node.example.toml").read_text()
    assert line in text
    bad = tmp_path / "node.toml"
    bad.write_text(text.replace(line, replacement))
    with pytest.raises(ConfigError, match=rf"node\.toml: {named}"):
        load_node_config(bad)


# -- helpers -------------------------------------------------------------------------------


def vcledger_node(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*node_command(), *args], capture_output=True, text=True,
                          timeout=30, check=False, cwd=ROOT)


async def post_event(session: aiohttp.ClientSession, url: str, event: SignedEvent,
                     query: str = "?wait=commit&timeout=10") -> tuple[int, Any]:
    async with session.post(f"{url}/v1/events{query}", data=event.encoded,
                            headers=EVENT_TYPE) as response:
        return response.status, await response.json()


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def get_checkpoint(session: aiohttp.ClientSession, url: str, trust: Trust,
                         tree_size: int | None = None) -> Checkpoint:
    query = "" if tree_size is None else f"?tree_size={tree_size}"
    async with session.get(f"{url}/v1/checkpoint{query}") as response:
        assert response.status == 200, await response.text()
        text = await response.text()
    verified = verify_checkpoint(text, trust.origin, trust.verifiers(), trust.threshold,
                                 now=int(time.time()) + 60)
    return verified.checkpoint


def hashes(hex_list: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hex_list]


# -- init + run ----------------------------------------------------------------------------


@pytest.mark.slow
async def test_init_run_submit_verify_and_stop(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    from tests.nodeutil import free_port
    made = vcledger_node("init", "--dir", str(directory), "--listen",
                         f"127.0.0.1:{free_port()}")
    assert made.returncode == 0, made.stderr
    assert "vcledger-node run --config" in made.stdout
    trust = load_trust(directory / "trust.json")
    governance = read_key_file(directory / "governance.key")
    issuer = TestIssuer(KeyPair.generate(), origin=trust.origin)

    with running_nodes([directory / "node.toml"], tmp_path) as (node,):
        async with aiohttp.ClientSession() as session:
            status, registered = await post_event(session, node.url,
                                                  issuer.register(governance))
            assert status == 200, registered
            first = await get_checkpoint(session, node.url, trust)
            event = issuer.issue("diploma")
            status, committed = await post_event(session, node.url, event)
            assert status == 200, committed
            assert committed["event_hash"] == event.hash.hex()
            index, height = committed["index"], committed["height"]
            assert height > registered["height"]

            # The checkpoint that holds the event, cosigned under trust.json's policy.
            block = await get_json(session, f"{node.url}/v1/blocks/{height}")
            assert event.hash.hex() in block["event_hashes"]
            checkpoint = await get_checkpoint(session, node.url, trust, block["tree_size"])
            inclusion = await get_json(session, f"{node.url}/v1/proof/inclusion?index={index}"
                                       f"&tree_size={checkpoint.tree_size}")
            verify_inclusion(event.hash, index, checkpoint.tree_size,
                             hashes(inclusion["proof"]), checkpoint.root)
            consistency = await get_json(
                session, f"{node.url}/v1/proof/consistency?old_size={first.tree_size}"
                f"&tree_size={checkpoint.tree_size}")
            verify_consistency(first.tree_size, checkpoint.tree_size, first.root,
                               checkpoint.root, hashes(consistency["proof"]))
            # The credential's status, proven against that checkpoint's header.
            status_doc = await get_json(
                session, f"{node.url}/v1/status/{issuer.did}/{event.payload.digest.hex()}"  # type: ignore[union-attr]
                f"?tree_size={checkpoint.tree_size}")
            header_hash = leaf_hash(base64.b64decode(status_doc["header"]))
            header_proof = await get_json(
                session, f"{node.url}/v1/proof/inclusion?index={checkpoint.tree_size - 1}"
                f"&tree_size={checkpoint.tree_size}")
            verify_inclusion(header_hash, checkpoint.tree_size - 1, checkpoint.tree_size,
                             hashes(header_proof["proof"]), checkpoint.root)
            verify_membership(bytes.fromhex(status_doc["status_root"]),
                              credential_status_key(issuer.did, event.payload.digest),  # type: ignore[union-attr]
                              base64.b64decode(status_doc["value"]),
                              SmtProof.decode(bytes.fromhex(status_doc["proof"])))
            assert status_doc["record"]["issued"] == {"index": index, "height": height}

        assert node.terminate() == 0
        log = node.log_text()
        assert "stopped cleanly" in log and "Traceback" not in log


@pytest.mark.slow
def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    assert vcledger_node("init", "--dir", str(directory)).returncode == 0
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    again = vcledger_node("init", "--dir", str(directory))
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr and "Traceback" not in again.stderr
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


@pytest.mark.slow
def test_run_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    net = write_network(tmp_path / "net")
    os.chmod(net.nodes[0].key, 0o644)
    result = vcledger_node("run", "--config", str(net.nodes[0].config))
    assert result.returncode != 0
    assert "vcledger-node: error:" in result.stderr
    assert "chmod 600" in result.stderr and str(net.nodes[0].key) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (net.nodes[0].directory / "data").exists()  # refused before touching data


@pytest.mark.slow
def test_run_names_the_bad_field(tmp_path: Path) -> None:
    net = write_network(tmp_path / "net")
    config = net.nodes[0].config
    config.write_text(config.read_text().replace("max_body_bytes = 4194304",
                                                 "max_body_bytes = 12"))
    result = vcledger_node("run", "--config", str(config))
    assert result.returncode == 2
    assert "api.max_body_bytes" in result.stderr and "Traceback" not in result.stderr


# -- crashes -------------------------------------------------------------------------------


@dataclass
class Stream:
    """Writers' shared record: what the node acknowledged, and every checkpoint seen."""

    url: str
    issuer: TestIssuer
    trust: Trust
    acknowledged: dict[Hash, tuple[int, int]] = field(default_factory=dict)
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    labels: itertools.count[int] = field(default_factory=itertools.count)

    async def writer(self, session: aiohttp.ClientSession) -> None:
        """Submit one event at a time with ?wait=commit until the node goes away."""
        while True:
            event = self.issuer.issue(f"stream {next(self.labels)}")
            try:
                status, body = await post_event(session, self.url, event)
            except (TimeoutError, aiohttp.ClientError):
                return  # killed: this event may or may not have been committed
            if status == 200:
                self.acknowledged[event.hash] = (body["index"], body["height"])
            elif status != 202:
                self.failures.append(f"submit answered {status}: {body}")
                return

    async def watcher(self, session: aiohttp.ClientSession) -> None:
        """Fetch and verify the newest checkpoint, again and again."""
        while True:
            try:
                async with session.get(f"{self.url}/v1/checkpoint") as response:
                    text = await response.text()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                return
            if status == 404:
                continue  # just restarted, not cosigned yet
            if status != 200:
                self.failures.append(f"checkpoint answered {status}: {text}")
                return
            checkpoint = verify_checkpoint(text, self.trust.origin, self.trust.verifiers(),
                                           self.trust.threshold).checkpoint
            seen = self.checkpoints.setdefault(checkpoint.tree_size, checkpoint)
            if seen != checkpoint:
                self.failures.append(f"two checkpoints of size {checkpoint.tree_size}")


async def wait_for_acks(stream: Stream, count: int, tasks: list[asyncio.Task[None]]) -> None:
    deadline = time.monotonic() + 20
    while len(stream.acknowledged) < count:
        assert not stream.failures, stream.failures
        assert not all(t.done() for t in tasks[:-1]), "every writer stopped"
        assert time.monotonic() < deadline, "no progress: the node stopped committing"
        await asyncio.sleep(0.005)


@pytest.mark.slow
async def test_kill_9_never_loses_an_acknowledged_event(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("VCLEDGER_CRASH_SEED", "20260101")))
    kills = int(os.environ.get("VCLEDGER_CRASH_KILLS", "5"))
    net = write_network(tmp_path / "net", consensus=FAST_CONSENSUS)
    trust = load_trust(net.trust)
    node = NodeProcess(net.nodes[0].config, tmp_path / "node.log")
    stream = Stream(node.url, TestIssuer(KeyPair.generate()), trust)
    try:
        await asyncio.to_thread(node.start_healthy)
        stream.url = node.url
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            status, body = await post_event(session, node.url,
                                            stream.issuer.register(net.governance))
            assert status == 200, body
            for round_ in range(kills):
                if round_:
                    await asyncio.to_thread(node.start_healthy)
                tasks = [asyncio.create_task(stream.writer(session)) for _ in range(6)]
                tasks.append(asyncio.create_task(stream.watcher(session)))
                # A random moment: after some acknowledgements, plus up to 50 ms.
                await wait_for_acks(stream, len(stream.acknowledged) + rng.randint(5, 60),
                                    tasks)
                kill_at = time.monotonic() + rng.uniform(0, 0.05)
                while time.monotonic() < kill_at:
                    await asyncio.sleep(0.001)
                node.kill()
                await asyncio.wait_for(asyncio.gather(*tasks), 20)
                assert not stream.failures, stream.failures

            await asyncio.to_thread(node.start_healthy)
            await check_everything_survived(session, stream)
        assert node.terminate() == 0
        assert node.log_text().count("stopped cleanly") == 1
    finally:
        node.kill()


async def check_everything_survived(session: aiohttp.ClientSession, stream: Stream) -> None:
    url = stream.url
    assert len(stream.acknowledged) >= 25 and len(stream.checkpoints) >= 5
    final = await get_checkpoint(session, url, stream.trust)
    for event_hash, (index, height) in stream.acknowledged.items():
        found = await get_json(session, f"{url}/v1/events/{event_hash.hex()}")
        assert (found["status"], found["index"], found["height"]) == ("committed", index, height)
        async with session.get(f"{url}/v1/entries/{index}") as response:
            assert response.status == 200
            assert leaf_hash(await response.read()) == event_hash
        proof = await get_json(session, f"{url}/v1/proof/inclusion?index={index}"
                               f"&tree_size={final.tree_size}")
        verify_inclusion(event_hash, index, final.tree_size, hashes(proof["proof"]), final.root)
    for old in stream.checkpoints.values():
        proof = await get_json(session, f"{url}/v1/proof/consistency?old_size={old.tree_size}"
                               f"&tree_size={final.tree_size}")
        verify_consistency(old.tree_size, final.tree_size, old.root, final.root,
                           hashes(proof["proof"]))
        # The node still serves that exact checkpoint.
        assert await get_checkpoint(session, url, stream.trust, old.tree_size) == old


@pytest.mark.slow
async def test_sigterm_during_a_stream_finishes_cleanly(tmp_path: Path) -> None:
    net = write_network(tmp_path / "net", consensus=FAST_CONSENSUS)
    trust = load_trust(net.trust)
    with running_nodes([net.nodes[0].config], tmp_path) as (node,):
        stream = Stream(node.url, TestIssuer(KeyPair.generate()), trust)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            status, body = await post_event(session, node.url,
                                            stream.issuer.register(net.governance))
            assert status == 200, body
            tasks = [asyncio.create_task(stream.writer(session)) for _ in range(6)]
            tasks.append(asyncio.create_task(stream.watcher(session)))
            await wait_for_acks(stream, 30, tasks)
            started = time.monotonic()
            assert await asyncio.to_thread(node.terminate) == 0
            assert time.monotonic() - started < 10
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
            assert not stream.failures, stream.failures
            log = node.log_text()
            assert "stopped cleanly" in log and "Traceback" not in log

            await asyncio.to_thread(node.start_healthy)
            for event_hash, (index, height) in stream.acknowledged.items():
                found = await get_json(session, f"{node.url}/v1/events/{event_hash.hex()}")
                assert (found["index"], found["height"]) == (index, height)
