"""Peer connections: persistent WebSockets carrying gossip frames between nodes.

Each node dials every peer URL of its ``node.toml`` (``{url}/v1/peer``) and
accepts connections from others; a connection starts with a ``hello`` that
must name the same network (origin and genesis hash), and every later frame
is decoded and its signatures verified by the receiver before use.  A peer
that sends something malformed or unverifiable is disconnected and logged;
outbound links reconnect with exponential backoff.

Frames are flooded: a frame seen for the first time is handled and forwarded
to every other peer, so any connected topology delivers everything.  A
bounded set of recent frame hashes stops loops, and a bounded send queue per
peer means a slow peer is dropped, never buffered without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from client.errors import LedgerError
from client.hashes import Hash
from node.errors import PeerProtocolError
from node.wire import (
    MAX_CONTROL_FRAME,
    CosignatureFrame,
    EventsFrame,
    Frame,
    Hello,
    ProposalFrame,
    Status,
    VoteFrame,
    decode_frame,
    encode_frame,
)

log = logging.getLogger("vcledger.peers")

SEND_QUEUE = 4096
HELLO_TIMEOUT = 5.0
HEARTBEAT = 10.0
MAX_INBOUND = 64
MAX_PENDING_HELLOS = 16
"""Inbound connections that have not said hello yet.  Each may make aiohttp buffer a frame
of up to ``max_frame`` bytes before its hello is read, so strangers that never say hello
must not open hundreds of them (100 such connections took 500 MB)."""
SEEN_FRAMES = 65_536
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0
YIELD_EVERY = 16
"""Frames read from one peer between two turns given to the rest of the node."""
GOSSIP_FRAME_EVENTS = 500
"""Most events :class:`EventGossip` puts in one frame (a quarter of what a frame may hold,
so a frame stays small next to the votes behind it on the same link)."""
GOSSIP_TICK = 0.005
"""Seconds an admitted event may wait for others to share its gossip frame."""

FrameHandler = Callable[["PeerConnection", Frame], Awaitable[bool]]
"""Handles a decoded frame from a peer; returns True when it was new (forward it)."""


@dataclass(eq=False)
class PeerConnection:
    label: str
    ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse
    height: int = 0
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE))
    closed: bool = False
    _closing: asyncio.Task[bool] | None = None

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            log.warning("peer %s is not keeping up; disconnecting it", self.label)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._closing = asyncio.ensure_future(self.ws.close())

    async def write_loop(self) -> None:
        try:
            while not self.closed:
                data = await self.queue.get()
                await self.ws.send_bytes(data)
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            self.close()


class EventGossip:
    """Sends admitted events to every peer in few, large events frames.

    Each client batch and each gossiped frame used to become its own frame to
    every peer: at batches of 25, ~40x more frames (each hashed, decoded and
    signature-checked as its own chunk by every receiver) than the events need.
    Events are queued here instead and sent when ``frame_events`` are waiting
    (at once, full frames only) or ``tick`` seconds after the first of them
    was queued, whichever comes first; one flush is pending at a time.  The
    queue never holds ``frame_events`` or more once :meth:`add` returns, so it
    is bounded without ever refusing or dropping an event: back-pressure is
    each peer's bounded send queue, as for every other frame.  Every event
    added is sent exactly once, in the order added.
    """

    def __init__(self, peers: PeerSet, *, tick: float = GOSSIP_TICK,
                 frame_events: int = GOSSIP_FRAME_EVENTS) -> None:
        if frame_events < 1 or tick < 0:
            raise ValueError("frame_events must be >= 1 and tick >= 0")
        self._peers = peers
        self._tick = tick
        self._frame_events = frame_events
        self._queue: list[bytes] = []
        self._flush_due: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, encoded_events: Iterable[bytes]) -> None:
        queue = self._queue
        queue.extend(encoded_events)
        cap = self._frame_events
        if len(queue) >= cap:
            full = len(queue) - len(queue) % cap
            self._send(queue[:full])
            del queue[:full]
        if not queue:
            self._cancel_flush()
        elif self._flush_due is None:
            self._flush_due = asyncio.get_running_loop().call_later(self._tick, self.flush)

    def flush(self) -> None:
        """Send every queued event now."""
        self._cancel_flush()
        queue, self._queue = self._queue, []
        self._send(queue)

    def _cancel_flush(self) -> None:
        if self._flush_due is not None:
            self._flush_due.cancel()
            self._flush_due = None

    def _send(self, events: list[bytes]) -> None:
        cap = self._frame_events
        for start in range(0, len(events), cap):
            self._peers.broadcast(EventsFrame(tuple(events[start:start + cap])))


class PeerSet:
    def __init__(
        self,
        *,
        origin: str,
        genesis_hash: Hash,
        peer_urls: Iterable[str],
        max_frame: int,
        handler: FrameHandler,
        hello_height: Callable[[], int],
        greeting: Callable[[PeerConnection], Iterable[bytes]],
    ) -> None:
        self.origin = origin
        self.genesis_hash = genesis_hash
        self.peer_urls = [url.rstrip("/") for url in peer_urls]
        self.max_frame = max_frame
        self.handler = handler
        self.hello_height = hello_height
        self.greeting = greeting
        self.nonce = os.urandom(16)
        self.connections: set[PeerConnection] = set()
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._pending_hellos = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None,
                                                                            connect=5))
        for url in self.peer_urls:
            self._tasks.append(asyncio.create_task(self._dial_forever(url),
                                                   name=f"peer-dial {url}"))

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for connection in list(self.connections):
            connection.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "PeerSet not started"
        return self._session

    # -- sending --------------------------------------------------------------------------

    def seen_before(self, data: bytes) -> bool:
        """Remember ``data``; True if it was already seen recently."""
        digest = hashlib.sha256(data).digest()
        if digest in self._seen:
            self._seen.move_to_end(digest)
            return True
        self._seen[digest] = None
        if len(self._seen) > SEEN_FRAMES:
            self._seen.popitem(last=False)
        return False

    def broadcast(self, frame: Frame | bytes, *, exclude: PeerConnection | None = None) -> None:
        data = frame if isinstance(frame, bytes) else encode_frame(frame)
        self.seen_before(data)
        for connection in list(self.connections):
            if connection is not exclude:
                connection.send(data)

    def max_peer_height(self) -> int:
        return max((c.height for c in self.connections), default=0)

    # -- connections ----------------------------------------------------------------------

    async def _dial_forever(self, url: str) -> None:
        backoff = BACKOFF_MIN
        while True:
            try:
                ws = await self.session.ws_connect(f"{url}/v1/peer", max_msg_size=self.max_frame,
                                                   heartbeat=HEARTBEAT, autoping=True)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug("cannot reach peer %s: %s", url, exc)
            else:
                backoff = BACKOFF_MIN
                await self._serve(ws, url)
            if self.stopping:
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def accept(self, request: web.Request) -> web.WebSocketResponse:
        """The ``/v1/peer`` WebSocket endpoint."""
        if len(self.connections) >= MAX_INBOUND or self._pending_hellos >= MAX_PENDING_HELLOS:
            raise web.HTTPServiceUnavailable(text="too many peer connections")
        ws = web.WebSocketResponse(max_msg_size=self.max_frame, heartbeat=HEARTBEAT)
        self._pending_hellos += 1
        pending = True

        def hello_done() -> None:
            nonlocal pending
            if pending:
                pending = False
                self._pending_hellos -= 1

        try:
            await ws.prepare(request)
            await self._serve(ws, f"{request.remote}", hello_done=hello_done)
        finally:
            hello_done()
        return ws

    async def _serve(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                     label: str, *, hello_done: Callable[[], None] | None = None) -> None:
        connection = PeerConnection(label, ws)
        writer: asyncio.Task[None] | None = None
        try:
            await ws.send_bytes(encode_frame(Hello(self.origin, self.genesis_hash, self.nonce,
                                                   self.hello_height())))
            try:
                hello = await self._read_hello(ws, label)
            finally:
                if hello_done is not None:
                    hello_done()
            if hello is None:
                return
            connection.height = hello.height
            self.connections.add(connection)
            writer = asyncio.create_task(connection.write_loop(), name=f"peer-write {label}")
            for data in self.greeting(connection):
                connection.send(data)
            log.info("connected to peer %s (height %d)", label, hello.height)
            await self._read_loop(connection)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            log.debug("peer %s connection error: %s", label, exc)
        finally:
            connection.closed = True
            self.connections.discard(connection)
            if writer is not None:
                writer.cancel()
            await ws.close()

    async def _read_hello(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                          label: str) -> Hello | None:
        try:
            message = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT)
        except TimeoutError:
            log.warning("peer %s sent no hello; disconnecting", label)
            return None
        if message.type != aiohttp.WSMsgType.BINARY:
            return None
        try:
            frame = decode_frame(message.data, max_size=MAX_CONTROL_FRAME)
        except PeerProtocolError as exc:
            log.warning("peer %s: %s; disconnecting", label, exc.diagnostics())
            return None
        if not isinstance(frame, Hello):
            log.warning("peer %s did not start with hello; disconnecting", label)
            return None
        if frame.origin != self.origin or frame.genesis_hash != self.genesis_hash:
            log.warning("peer %s belongs to network %r with another genesis; disconnecting",
                        label, frame.origin)
            return None
        if frame.node_nonce == self.nonce:
            return None  # dialled ourselves
        return frame

    async def _read_loop(self, connection: PeerConnection) -> None:
        received = 0
        async for message in connection.ws:
            received += 1
            if received % YIELD_EVERY == 0:
                # Frames already buffered are read without ever waiting, so a peer that
                # sends thousands at once would hold the event loop (the HTTP API,
                # timers, consensus, other peers) until the last one is handled.
                await asyncio.sleep(0)
            if message.type != aiohttp.WSMsgType.BINARY:
                if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    return
                log.warning("peer %s sent a non-binary frame; disconnecting", connection.label)
                return
            data: bytes = message.data
            if self.seen_before(data):
                continue
            try:
                frame = decode_frame(data, max_size=self.max_frame)
                if isinstance(frame, Hello):
                    raise PeerProtocolError("a second hello")
                is_new = await self.handler(connection, frame)
            except PeerProtocolError as exc:
                log.warning("peer %s broke the protocol: %s; disconnecting", connection.label,
                            exc.diagnostics())
                return
            except LedgerError as exc:
                log.warning("peer %s sent an unusable frame: %s", connection.label,
                            exc.diagnostics())
                continue
            if is_new and isinstance(frame, (ProposalFrame, VoteFrame, CosignatureFrame,
                                             EventsFrame)):
                self.broadcast(data, exclude=connection)
            if isinstance(frame, Status):
                connection.height = frame.height
