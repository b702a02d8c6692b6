"""node/peers.py EventGossip: admitted events reach every peer in few frames, each exactly once.

The peers are real :class:`node.peers.PeerConnection` objects whose socket is
never used: a broadcast frame lands in each connection's send queue, which the
test drains and decodes as the peer would.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, cast

import pytest

from client.hashes import Hash
from node.peers import EventGossip, PeerConnection, PeerSet
from node.wire import EventsFrame, decode_frame


def _peer_set(connections: int) -> PeerSet:
    async def no_handler(connection: PeerConnection, frame: Any) -> bool:
        return False

    peers = PeerSet(origin="test", genesis_hash=Hash(b"\x00" * 32), peer_urls=(),
                    max_frame=1 << 20, handler=no_handler, hello_height=lambda: 0,
                    greeting=lambda connection: ())
    for i in range(connections):
        peers.connections.add(PeerConnection(f"peer{i}", cast(Any, None)))
    return peers


def _frames_sent(connection: PeerConnection) -> list[tuple[bytes, ...]]:
    frames = []
    while not connection.queue.empty():
        frame = decode_frame(connection.queue.get_nowait(), max_size=1 << 20)
        assert isinstance(frame, EventsFrame)
        frames.append(frame.events)
    return frames


async def _until_sent(gossip: EventGossip, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(gossip):
        assert time.monotonic() < deadline, "the gossip queue was never flushed"
        await asyncio.sleep(0.001)


def _event(batch: int, i: int) -> bytes:
    return f"event {batch:04d}/{i:02d}".encode()


async def test_a_burst_of_small_batches_goes_out_in_fewer_frames_each_event_once() -> None:
    peers = _peer_set(3)
    gossip = EventGossip(peers, tick=0.005, frame_events=500)
    batches = [[_event(b, i) for i in range(25)] for b in range(40)]
    for batch in batches:  # one burst, as many client requests answered in one loop turn
        gossip.add(batch)
    await _until_sent(gossip)
    sent_in_order = [e for batch in batches for e in batch]
    for connection in peers.connections:
        frames = _frames_sent(connection)
        assert len(frames) < len(batches)
        assert [e for frame in frames for e in frame] == sent_in_order
        assert all(len(frame) <= 500 for frame in frames)


@pytest.mark.parametrize("seed", range(5))
async def test_tick_and_cap_racing_lose_and_repeat_nothing(seed: int) -> None:
    """Batches arrive while a flush is due and cross the cap mid-batch; some land right as
    the tick fires.  Every peer still gets every event once, in order, in bounded frames."""
    rng = random.Random(seed)
    peers = _peer_set(2)
    cap = 60
    gossip = EventGossip(peers, tick=0.002, frame_events=cap)
    added: list[bytes] = []
    for b in range(300):
        batch = [_event(b, i) for i in range(rng.choice((1, 7, 25, 59, 60, 61, 130)))]
        gossip.add(batch)
        added += batch
        assert len(gossip) < cap, "the queue must stay below one frame"
        pause = rng.random()
        if pause < 0.3:
            await asyncio.sleep(0)
        elif pause < 0.4:
            await asyncio.sleep(0.002)  # about the tick: flushes interleave with adds
    await _until_sent(gossip)
    for connection in peers.connections:
        frames = _frames_sent(connection)
        assert [e for frame in frames for e in frame] == added
        assert all(0 < len(frame) <= cap for frame in frames)
        assert len(frames) < 300


async def test_flush_sends_what_is_queued_at_once_and_cancels_the_tick() -> None:
    peers = _peer_set(1)
    gossip = EventGossip(peers, tick=60.0, frame_events=500)
    gossip.add([b"a", b"b"])
    (connection,) = peers.connections
    assert connection.queue.empty()  # waiting for the tick (a minute here)
    gossip.flush()
    assert _frames_sent(connection) == [(b"a", b"b")]
    gossip.flush()  # nothing queued: nothing sent, no empty frame
    assert connection.queue.empty()


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="frame_events"):
        EventGossip(_peer_set(0), frame_events=0)
