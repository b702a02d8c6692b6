"""A small TCP proxy for fault tests: one listening port per directed link, switchable.

Every node's ``peers`` URL for another node points at the proxy of that
directed link (node ``i`` -> node ``j``), so the test decides what happens to
the bytes of every connection ``i`` opens to ``j`` — the peer WebSocket it
dials and the HTTP requests of catch-up — in both directions of that
connection.  (Node ``j`` dials ``i`` through the link ``j`` -> ``i``: to
separate two nodes completely, set both links.)

A link is in one of four modes, switched from the test thread with
:meth:`TcpProxy.set`:

* ``PASS``: bytes flow;
* ``CUT``: every open connection is reset, and new ones are accepted and reset
  at once, so the dialer sees a refused or broken connection right away;
* ``DROP``: connections are accepted and kept open, but every byte in either
  direction is read and thrown away — a black hole the peers can only notice
  by their own timeouts.  A TCP stream never has holes, so when a dropped link
  is switched back, the connections that lost bytes are reset rather than
  resumed with garbage in the middle;
* ``DELAY``: like ``PASS`` with ``delay`` seconds added in each direction (a
  request and its answer take twice that), order kept.

Buffers are bounded: each direction of a connection holds at most
:data:`MAX_BUFFERED_CHUNKS` chunks of up to :data:`CHUNK` bytes in flight;
beyond that the proxy stops reading, and TCP back-pressure reaches the sender.

The proxy listens on 127.0.0.1 (or a given address), on ports the OS picks, runs its own
asyncio loop in a daemon thread, and :meth:`TcpProxy.close` stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

CHUNK = 16 * 1024
MAX_BUFFERED_CHUNKS = 64
"""Per direction and connection: at most 1 MiB in flight inside the proxy."""
COMMAND_TIMEOUT = 10.0

T = TypeVar("T")


class Mode(enum.Enum):
    PASS = "pass"
    CUT = "cut"
    DROP = "drop"
    DELAY = "delay"


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    lost_bytes: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        """Reset both sides at once, like a broken network."""
        for writer in (self.client, self.upstream):
            _abort(writer)
        for task in self.tasks:
            task.cancel()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (zero linger), so the other end sees "connection reset"."""
    transport = writer.transport
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass(eq=False)
class Link:
    """One directed link: ``listen_port`` on 127.0.0.1 forwards to ``target_port``."""

    name: str
    target_port: int
    listen_port: int = 0
    listen_host: str = "127.0.0.1"
    target_host: str = "127.0.0.1"
    mode: Mode = Mode.PASS
    delay: float = 0.0
    connections: set[_Connection] = field(default_factory=set)
    accepted: int = 0
    """Connections accepted over the proxy's life (for the test's own checks)."""
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.listen_port}"

    def is_cut(self) -> bool:
        return self.mode is Mode.CUT

    def latency(self) -> float:
        return self.delay if self.mode is Mode.DELAY else 0.0


class TcpProxy:
    """Many switchable links served by one background asyncio loop."""

    def __init__(self) -> None:
        self.links: dict[str, Link] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcpproxy",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    # -- the test thread's interface ---------------------------------------------------

    def add_link(self, name: str, target_port: int, *, listen_host: str = "127.0.0.1",
                 target_host: str = "127.0.0.1") -> Link:
        """Listen on a fresh OS-picked port of ``listen_host`` that forwards to
        ``target_host:target_port`` (other hosts: the multi-host test's namespaces)."""
        assert name not in self.links, f"link {name} exists"
        link = Link(name, target_port, listen_host=listen_host, target_host=target_host)
        self._call(self._listen(link))
        self.links[name] = link
        return link

    def retarget(self, name: str, target_port: int) -> None:
        """Forward link ``name``'s new connections to ``target_port`` (listen first, pick
        the target's port afterwards, and the OS cannot give both the same port)."""
        self._call(self._retarget(self.links[name], target_port))

    def set(self, name: str, mode: Mode, delay: float = 0.0) -> None:
        """Switch link ``name``; when this returns, the new mode is in force
        (with ``CUT`` every open connection of the link is already reset)."""
        assert delay >= 0.0
        self._call(self._switch(self.links[name], mode, delay))

    def set_all(self, mode: Mode, delay: float = 0.0) -> None:
        for name in self.links:
            self.set(name, mode, delay)

    def open_connections(self, name: str) -> int:
        return len(self.links[name].connections)

    def close(self) -> None:
        """Stop listening, reset every connection, stop the loop and join its thread."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=COMMAND_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert not self._closed, "proxy is closed"
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=COMMAND_TIMEOUT)

    # -- inside the loop -----------------------------------------------------------------

    async def _listen(self, link: Link) -> None:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._accept(link, reader, writer)

        link.server = await asyncio.start_server(on_connect, link.listen_host, 0,
                                                 limit=CHUNK, backlog=128)
        link.listen_port = link.server.sockets[0].getsockname()[1]

    @staticmethod
    async def _retarget(link: Link, target_port: int) -> None:
        link.target_port = target_port

    async def _switch(self, link: Link, mode: Mode, delay: float) -> None:
        previous = link.mode
        link.mode, link.delay = mode, delay
        if mode is Mode.CUT:
            for connection in list(link.connections):
                connection.reset()
            link.connections.clear()
        elif previous is Mode.DROP and mode is not Mode.DROP:
            for connection in [c for c in link.connections if c.lost_bytes]:
                connection.reset()
                link.connections.discard(connection)

    async def _accept(self, link: Link, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        link.accepted += 1
        if link.mode is Mode.CUT:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(link.target_host,
                                                                 link.target_port, limit=CHUNK)
        except OSError:
            _abort(writer)  # the node behind the link is down: refuse, like it would
            return
        connection = _Connection(writer, up_writer)
        if link.is_cut():  # cut while we were connecting upstream
            connection.reset()
            return
        link.connections.add(connection)
        connection.tasks = [
            asyncio.create_task(self._pipe(link, connection, reader, up_writer)),
            asyncio.create_task(self._pipe(link, connection, up_reader, writer)),
        ]
        try:
            await asyncio.gather(*connection.tasks, return_exceptions=True)
        finally:
            link.connections.discard(connection)
            for side in (writer, up_writer):  # both directions ended: a graceful close
                side.close()

    async def _pipe(self, link: Link, connection: _Connection, source: asyncio.StreamReader,
                    sink: asyncio.StreamWriter) -> None:
        """Copy one direction of a connection through a bounded queue.

        One task reads, another delivers each chunk when its time has come, so
        latency does not stop reading.  End of stream is passed on as a
        half-close once everything before it is delivered; an error on either
        side resets the whole connection, as a broken TCP connection would.
        """
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(MAX_BUFFERED_CHUNKS)
        tasks = {asyncio.create_task(self._read(link, connection, source, queue)),
                 asyncio.create_task(self._deliver(queue, sink))}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            if any(not t.cancelled() and t.exception() is not None for t in done):
                connection.reset()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    async def _read(link: Link, connection: _Connection, source: asyncio.StreamReader,
                    queue: asyncio.Queue[tuple[float, bytes] | None]) -> None:
        while True:
            data = await source.read(CHUNK)
            if not data:
                await queue.put(None)
                return
            if link.mode is Mode.DROP:
                connection.lost_bytes = True
                continue
            if link.mode is Mode.CUT:
                raise ConnectionResetError("link cut")
            await queue.put((time.monotonic() + link.latency(), data))

    @staticmethod
    async def _deliver(queue: asyncio.Queue[tuple[float, bytes] | None],
                       sink: asyncio.StreamWriter) -> None:
        while True:
            item = await queue.get()
            if item is None:
                if sink.can_write_eof() and not sink.transport.is_closing():
                    sink.write_eof()
                return
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sink.write(data)
            await sink.drain()

    async def _shutdown(self) -> None:
        for link in self.links.values():
            if link.server is not None:
                link.server.close()
            for connection in list(link.connections):
                connection.reset()
            link.connections.clear()
        for link in self.links.values():
            if link.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.server.wait_closed(), 2.0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
