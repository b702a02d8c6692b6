"""Hostile input against the peer protocol (the ``/v1/peer`` WebSocket).

Anyone can open ``/v1/peer``: the network name and genesis hash a hello needs
are public.  A two-validator network runs in this process (two
:class:`test_hostile_api.LiveNode` threads, connected over real sockets), and
a stranger connects to node0 and sends: no hello, a text frame, a hello for
another network or with node0's own nonce, a valid hello followed by garbage
(random bytes, mutated frames of every type, frames with random fields,
a second hello), frames over the size caps, and more peers than allowed.

Every time: node0 drops or ignores the stranger, never logs an unexpected
error, keeps its link to node1, and the network still commits.  The frame
decoder alone is fuzzed too: :class:`node.errors.PeerProtocolError` for
anything it refuses, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.hashes import Hash
from client.keys import KeyPair
from node import peers
from node.errors import PeerProtocolError
from node.wire import (
    MAX_CONTROL_FRAME,
    CosignatureFrame,
    EventsFrame,
    Hello,
    ProposalFrame,
    Status,
    VoteFrame,
    decode_frame,
    encode_frame,
    max_frame_size,
)
from tests.nodeutil import FAST_CONSENSUS, running_nodes, wait_until, write_network
from tests.system.test_hostile_api import (
    GOVERNANCE,
    SETTINGS,
    LiveNode,
    node_error_records,
    vm_rss_kib,
)
from tests.system.test_hostile_decoders import PACKABLE, fuzz_settings, mutated

MAX_BLOCK_EVENTS = 10
MAX_FRAME = max_frame_size(MAX_BLOCK_EVENTS)


class Network:
    """node0 (under attack) and node1 (honest), connected to each other."""

    def __init__(self, directory: Path, settings: dict[str, object] | None = None) -> None:
        files = write_network(directory, 2, governance=GOVERNANCE,
                              consensus={**FAST_CONSENSUS, "max_block_events": MAX_BLOCK_EVENTS},
                              settings={**SETTINGS, **(settings or {})})
        self.nodes: list[LiveNode] = []
        try:
            for index in range(2):
                self.nodes.append(LiveNode(files, index))
            wait_until(self.linked, timeout=20, what="node0 and node1 connected")
        except BaseException:
            self.stop()
            raise
        self.target = self.nodes[0]
        genesis = files.genesis
        self.hello = encode_frame(Hello(genesis.origin, genesis.hash, os.urandom(16), 0))
        self.origin = genesis.origin
        self.genesis_hash = genesis.hash

    def peer_count(self, node: LiveNode) -> int:
        async def count() -> int:
            assert node.service.peers is not None
            return len(node.service.peers.connections)

        return node.run(count())

    def linked(self) -> bool:
        """Each node dialled the other and accepted the other's call: two links each."""
        return all(self.peer_count(node) == 2 for node in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def node_errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    return node_error_records(caplog)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    net = Network(tmp_path / "net")
    try:
        target = net.target
        target.commit(target.issuer.register(GOVERNANCE).encoded)
        yield net
    finally:
        net.stop()


async def _session_with(url: str, frames: list[bytes | str], *, listen: float = 0.3,
                        max_msg_size: int = 64 * 1024 * 1024) -> str:
    """Connect to ``url``, send ``frames`` (str as text frames), then read until the node
    closes the connection or ``listen`` seconds pass; returns what happened."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, max_msg_size=max_msg_size, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            return f"refused {exc.status}"
        try:
            for frame in frames:
                if isinstance(frame, str):
                    await ws.send_str(frame)
                else:
                    await ws.send_bytes(frame)
        except ConnectionError:
            return "closed while sending"
        deadline = time.monotonic() + listen
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await ws.close()
                return "open"
            try:
                message = await ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return f"closed {ws.close_code}"


def send(net: Network, frames: list[bytes | str], *, listen: float = 0.3) -> str:
    url = f"http://127.0.0.1:{net.target.port}/v1/peer"
    return net.target.run(_session_with(url, frames, listen=listen), timeout=60)


def assert_network_fine(net: Network, node_errors: Callable[[], list[str]]) -> None:
    assert node_errors() == []
    wait_until(net.linked, timeout=10, what="node0 back to its two links with node1 alone")
    net.target.assert_still_serving()


# -- the peer endpoint's regression -------------------------------------------------------------


def test_a_peer_connection_outlives_the_request_time_limit(
        tmp_path: Path, node_errors: Callable[[], list[str]]) -> None:
    """Regression: the error middleware's request time limit (request_timeout_s +
    max_wait_s) also covered /v1/peer, so every inbound peer link was cut after 60 s
    by default (here 1 s) and the peer had to dial again."""
    net = Network(tmp_path / "net", {"request_timeout_s": 0.5, "max_wait_s": 0.5})
    try:
        outcome = send(net, [net.hello], listen=3.0)
        assert outcome == "open", outcome
        assert net.linked()
        assert node_errors() == []
    finally:
        net.stop()


# -- handshakes ------------------------------------------------------------------------------


def hello(origin: str, genesis_hash: Hash, nonce: bytes | None = None) -> bytes:
    return encode_frame(Hello(origin, genesis_hash, nonce or os.urandom(16), 0))


def test_hostile_handshakes(network: Network, monkeypatch: pytest.MonkeyPatch,
                            node_errors: Callable[[], list[str]],
                            record_figure: Callable[..., None]) -> None:
    monkeypatch.setattr(peers, "HELLO_TIMEOUT", 0.5)
    genesis_hash, origin = network.genesis_hash, network.origin
    own_nonce = network.target.service.peers.nonce  # type: ignore[union-attr]
    cases: dict[str, list[bytes | str]] = {
        "no hello": [],
        "a text frame": ["hello"],
        "junk instead of hello": [b"\x00\x01\x02"],
        "status before hello": [encode_frame(Status(1, 2))],
        "another network": [hello("elsewhere/net", genesis_hash)],
        "another genesis": [hello(origin, Hash(bytes(32)))],
        "node0's own nonce": [hello(origin, genesis_hash, own_nonce)],
        "a hello over the control cap": [hello(origin, genesis_hash) + b"\x00" * MAX_CONTROL_FRAME],
        "a frame over the frame cap": [b"\x00" * (MAX_FRAME + 1)],
        "a valid hello, then a second": [network.hello, network.hello],
        "a valid hello, then text": [network.hello, "text"],
        "a valid hello, then a frame over the cap": [network.hello, b"\x93" * (MAX_FRAME + 10)],
    }
    outcomes = {}
    for name, frames in cases.items():
        outcomes[name] = send(network, frames, listen=2.0)
        assert outcomes[name].startswith("closed"), (name, outcomes[name])
    record_figure("inputs_tried", len(cases), edge="peer: handshakes", outcomes=outcomes)
    assert_network_fine(network, node_errors)


def test_more_peers_than_allowed(network: Network, monkeypatch: pytest.MonkeyPatch,
                                 node_errors: Callable[[], list[str]]) -> None:
    monkeypatch.setattr(peers, "MAX_INBOUND", 4)
    url = f"http://127.0.0.1:{network.target.port}/v1/peer"

    async def crowd() -> list[str]:
        sessions = [aiohttp.ClientSession() for _ in range(4)]
        sockets: list[Any] = []
        outcomes = []
        try:
            for session in sessions:
                try:
                    ws = await session.ws_connect(url)
                except aiohttp.WSServerHandshakeError as exc:
                    outcomes.append(f"refused {exc.status}")
                    continue
                hello = Hello(network.origin, network.genesis_hash, os.urandom(16), 0)
                await ws.send_bytes(encode_frame(hello))
                await ws.receive(timeout=5)  # node0's own hello
                sockets.append(ws)
                outcomes.append("open")
                await asyncio.sleep(0)
        finally:
            for ws in sockets:
                await ws.close()
            for session in sessions:
                await session.close()
        return outcomes

    # The cap counts every peer link: node0's two links with node1 hold two of the four.
    outcomes = network.target.run(crowd())
    assert outcomes == ["open", "open", "refused 503", "refused 503"], outcomes
    assert_network_fine(network, node_errors)


def test_strangers_that_never_say_hello_are_capped(network: Network,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  node_errors: Callable[[], list[str]]) -> None:
    """Regression (with the process test below): connections that never said hello were
    not counted, and each could make the node buffer a max_frame-sized frame."""
    monkeypatch.setattr(peers, "MAX_PENDING_HELLOS", 3)
    monkeypatch.setattr(peers, "HELLO_TIMEOUT", 1.0)
    url = f"http://127.0.0.1:{network.target.port}/v1/peer"

    async def strangers() -> tuple[list[str], str]:
        async with aiohttp.ClientSession() as session:
            outcomes, sockets = [], []
            for _ in range(5):
                try:
                    sockets.append(await session.ws_connect(url))
                    outcomes.append("open")
                except aiohttp.WSServerHandshakeError as exc:
                    outcomes.append(f"refused {exc.status}")
            for ws in sockets:  # each is dropped at the hello timeout...
                while (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.BINARY:
                    pass
            try:  # ...and then there is room again
                ws = await session.ws_connect(url)
                await ws.close()
                later = "open"
            except aiohttp.WSServerHandshakeError as exc:
                later = f"refused {exc.status}"
            return outcomes, later

    outcomes, later = network.target.run(strangers())
    assert outcomes == ["open"] * 3 + ["refused 503"] * 2, outcomes
    assert later == "open"
    assert_network_fine(network, node_errors)


STRANGERS = 60


@pytest.mark.slow
def test_memory_stays_bounded_under_strangers_with_big_frames(
        tmp_path: Path, record_figure: Callable[..., None]) -> None:
    """Sixty strangers at once each send a frame just under the cap instead of a hello
    (the default max_block_events: 8 MB frames).  Before MAX_PENDING_HELLOS the node
    buffered them all (about 5 MB of memory each, never given back)."""
    files = write_network(tmp_path / "net", 2, consensus=FAST_CONSENSUS)
    size = max_frame_size(files.genesis.consensus.max_block_events) - 64
    frame = os.urandom(64) * (size // 64)
    with running_nodes([files.nodes[0].config], tmp_path) as (node,):
        assert node.process is not None
        before = vm_rss_kib(node.process.pid)

        async def flood() -> tuple[Counter[str], int]:
            outcomes: Counter[str] = Counter()
            peak = 0
            async with aiohttp.ClientSession() as session:
                async def one() -> None:
                    try:
                        ws = await session.ws_connect(f"{node.url}/v1/peer", max_msg_size=0)
                    except aiohttp.WSServerHandshakeError as exc:
                        outcomes[f"refused {exc.status}"] += 1
                        return
                    outcomes["open"] += 1
                    with contextlib.suppress(ConnectionError):
                        await ws.send_bytes(frame)
                    with contextlib.suppress(TimeoutError):
                        await ws.receive(timeout=2)
                    await ws.close()

                await asyncio.gather(*(one() for _ in range(STRANGERS)))
                peak = max(peak, vm_rss_kib(node.process.pid))  # type: ignore[union-attr]
            return outcomes, peak

        outcomes, peak = asyncio.run(flood())
        after = vm_rss_kib(node.process.pid)
        record_figure("rss_kib", {"before": before, "peak": peak, "after": after,
                                  "growth": after - before},
                      strangers=STRANGERS, frame_bytes=size, outcomes=dict(outcomes))
        assert outcomes["refused 503"] > 0, outcomes
        assert after - before < 200 * 1024, (before, peak, after)
        assert node.health() is not None
        assert "Traceback" not in node.log_text()


# -- garbage after a valid hello ---------------------------------------------------------------


def _valid_frames(origin: str, genesis_hash: Hash) -> list[bytes]:
    stranger = KeyPair.from_seed(b"\x09" * 32)
    vote = msgpack.packb([1, 1, 2, 0, b"\x01" * 32, stranger.public_key, b"\x02" * 64])
    proposal = msgpack.packb([1, 2, 0, b"\x03" * 32, None, stranger.public_key, b"\x04" * 64])
    return [
        encode_frame(Status(5, 9)),
        encode_frame(VoteFrame(vote)),
        encode_frame(ProposalFrame(proposal, b"\x05" * 100, (b"\x06" * 50,))),
        encode_frame(EventsFrame((b"\x07" * 60, b"\x08"))),
        encode_frame(CosignatureFrame(3, "\u2014 node1 AAAA")),
        hello(origin, genesis_hash),
    ]


def frames(origin: str, genesis_hash: Hash) -> st.SearchStrategy[bytes]:
    valid = _valid_frames(origin, genesis_hash)
    kinds = st.sampled_from(["hello", "status", "proposal", "vote", "events", "cosig", "other"])
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from(valid).flatmap(mutated),
        st.tuples(kinds, st.lists(PACKABLE, max_size=5)).map(
            lambda kind_fields: msgpack.packb([1, kind_fields[0], *kind_fields[1]],
                                              use_bin_type=True)),
        st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)).map(
            lambda sizes: encode_frame(Status(*sizes))),
        st.text(max_size=600).map(lambda line: encode_frame(CosignatureFrame(1, line))),
    )


def test_garbage_after_a_valid_hello(network: Network, long_mode: bool,
                                     node_errors: Callable[[], list[str]],
                                     record_figure: Callable[..., None]) -> None:
    outcomes: Counter[str] = Counter()

    @fuzz_settings(long_mode, bounded=60, long=2000)
    @given(st.lists(frames(network.origin, network.genesis_hash), min_size=1, max_size=3))
    def check(garbage: list[bytes]) -> None:
        outcome = send(network, [network.hello, *garbage], listen=0.15)
        outcomes[outcome.split(" ")[0]] += 1

    check()
    record_figure("inputs_tried", sum(outcomes.values()), edge="peer: frames after hello",
                  outcomes=dict(outcomes))
    assert outcomes["closed"] > 0  # protocol breaches do disconnect
    assert_network_fine(network, node_errors)


# -- the frame decoder alone ------------------------------------------------------------------


def test_frame_decoder(long_mode: bool, record_figure: Callable[..., None]) -> None:
    origin, genesis_hash = "vcledger.example/test", Hash(bytes(range(32)))
    tried: Counter[str] = Counter()

    @fuzz_settings(long_mode, bounded=400, long=20_000)
    @given(frames(origin, genesis_hash))
    def check(data: bytes) -> None:
        tried["decode_frame"] += 1
        try:
            frame = decode_frame(data, max_size=MAX_FRAME)
        except PeerProtocolError as exc:
            assert exc.diagnostics().strip()
            tried["refused"] += 1
            return
        # Accepted: it is the one encoding of what it decoded to.
        assert encode_frame(frame) == data

    check()
    record_figure("inputs_tried", tried["decode_frame"], edge="wire.decode_frame",
                  refused=tried["refused"])
