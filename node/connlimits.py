"""Connection limits for the public HTTP API: what slow or abusive clients can hold.

aiohttp itself has no deadline for a request head and no connection limit;
:class:`ConnectionGuard` adds both, :class:`GuardedSite` is the TCP site that
puts every connection through it, and :func:`connection_middleware` tells it
when a request starts and ends.  Requests aiohttp cannot parse, and
connections refused at the limit, get the API's JSON error body, which is
why :func:`error_response` lives here: this layer answers before any handler
runs, and :mod:`node.api` (the handlers) builds on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.config import ApiSettings

__all__ = [
    "EVICTABLE_AFTER_S", "GUARD_KEY", "HTTP_ERROR_CODES", "KEEPALIVE_S", "LINGER_S",
    "REFUSAL_LINGER_S", "ConnectionGuard", "GuardedSite", "Handler", "connection_middleware",
    "error_response",
]

log = logging.getLogger("vcledger.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    """The API's one error shape: ``{"error": {"code", "message"}}`` with ``status``."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status,
                             headers=headers)


HTTP_ERROR_CODES = {
    400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "timeout",
    411: "length_required", 413: "payload_too_large", 415: "unsupported_media_type",
    431: "headers_too_large",
}

"""The error code of each HTTP status the API answers with itself."""


KEEPALIVE_S = 15.0
"""An idle keep-alive connection is closed after this long (sooner when slots run out)."""

LINGER_S = 2.0
"""After answering a request whose body it did not read (413, 408), aiohttp reads and
discards the rest for this long, so the client sees the answer rather than a reset;
then it closes.  (aiohttp's default, 10 s, is a long time for a trickling client.)"""

EVICTABLE_AFTER_S = 1.0
"""At the connection limit, only a connection that has waited this long outside a request
is evicted for a newcomer: a client whose request is on its way is not reset."""

REFUSAL_LINGER_S = 0.5
"""How long a refused connection may take to read its 503 before it is closed."""

# The body error_response would write (aiohttp's json_response is json.dumps), built once:
# a refused connection gets no aiohttp handler.
_REFUSAL_BODY = json.dumps({"error": {
    "code": "too_many_connections",
    "message": "the node has too many open connections; retry in a moment"}}).encode()
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8"
            b"\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "
            + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY)


@dataclass(eq=False)
class _Connection:
    handler: web.RequestHandler
    transport: asyncio.Transport | None = None
    busy: bool = False
    since: float = 0.0
    """When it last started waiting outside a request (event loop time)."""
    timer: asyncio.TimerHandle | None = None


class ConnectionGuard:
    """What slow or abusive HTTP clients can hold is bounded (aiohttp itself has no
    deadline for a request head, and no connection limit).

    * At most ``max_connections`` connections are open.  At the limit a new
      connection evicts the connection that has waited longest outside a
      request, if that is over :data:`EVICTABLE_AFTER_S` (an idle keep-alive,
      or one still sending its request head: a slowloris); otherwise the
      newcomer is answered ``503 too_many_connections`` and closed, unparsed.
    * A connection must deliver a complete request head within
      ``request_timeout_s`` of connecting, and the next one within
      :data:`KEEPALIVE_S` of its previous response.
    * A request, from its head to its last response byte, may take
      ``2 * request_timeout_s + max_wait_s``: the error middleware answers 503
      after ``request_timeout_s + max_wait_s``, a body slower than
      ``request_timeout_s`` is 408, and the rest is for writing the answer to a
      client that does not read it.
    * Requests to ``unbounded_paths`` are exempt while they last: that is the
      peer WebSocket, which the peer layer bounds (hello timeout, heartbeat, at
      most ``MAX_INBOUND`` peers).

    A connection past its deadline, or evicted, is reset, not closed: closing
    waits for unsent data, which a client that never reads would hold forever.
    """

    def __init__(self, settings: ApiSettings, *, unbounded_paths: Collection[str] = ()) -> None:
        """``unbounded_paths``: requests to these paths have no time limit (the peer
        WebSocket, which the peer layer bounds itself)."""
        self.max_connections = settings.max_connections
        self.head_timeout = settings.request_timeout_s
        self.request_limit = 2 * settings.request_timeout_s + settings.max_wait_s
        self.stats: Counter[str] = Counter()
        self._by_handler: dict[web.RequestHandler, _Connection] = {}
        self._waiting: OrderedDict[_Connection, None] = OrderedDict()
        self.lingering_refusals = 0
        self.unbounded_paths = frozenset(unbounded_paths)

    @property
    def open_connections(self) -> int:
        return len(self._by_handler)

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """The factory for ``loop.create_server``: one guarded aiohttp handler per connection."""

        def accept() -> asyncio.BaseProtocol:
            if len(self._by_handler) >= self.max_connections and not self._evict_one():
                return self._refuse()
            # As aiohttp's Server.__call__ builds its handler, with its handler settings.
            handler = _JsonErrorsHandler(server, loop=asyncio.get_running_loop(),
                                         **getattr(server, "_kwargs", {}))
            connection = _Connection(handler)
            self._by_handler[handler] = connection
            self.stats["accepted"] += 1
            self._wait(connection, self.head_timeout)
            return _GuardedProtocol(self, connection)

        return accept

    # Called by connection_middleware around every request.

    def request_started(self, handler: web.RequestHandler, *, bounded: bool) -> None:
        connection = self._by_handler.get(handler)
        if connection is not None:
            connection.busy = True
            self._waiting.pop(connection, None)
            self._arm(connection, self.request_limit if bounded else None)

    def request_finished(self, handler: web.RequestHandler) -> None:
        connection = self._by_handler.get(handler)
        if connection is not None:
            self._wait(connection, KEEPALIVE_S)

    # Internals.

    def _wait(self, connection: _Connection, timeout: float) -> None:
        connection.busy = False
        connection.since = asyncio.get_running_loop().time()
        self._waiting[connection] = None
        self._waiting.move_to_end(connection)
        self._arm(connection, timeout)

    def _arm(self, connection: _Connection, timeout: float | None) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
        connection.timer = None if timeout is None else asyncio.get_running_loop().call_later(
            timeout, self._expire, connection)

    def _expire(self, connection: _Connection) -> None:
        self.stats["expired_busy" if connection.busy else "expired_waiting"] += 1
        self._drop(connection)

    def _evict_one(self) -> bool:
        oldest = next(iter(self._waiting), None)
        if oldest is None or (asyncio.get_running_loop().time() - oldest.since
                              < EVICTABLE_AFTER_S):
            return False
        self.stats["evicted"] += 1
        self._drop(oldest)
        return True

    def _drop(self, connection: _Connection) -> None:
        transport = connection.transport
        self.forget(connection)
        if transport is not None:
            # A reset, not a close: the kernel would otherwise keep trying to deliver
            # unsent data to a client that never reads, long after we let go.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()

    def forget(self, connection: _Connection) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None
        self._waiting.pop(connection, None)
        self._by_handler.pop(connection.handler, None)

    def _refuse(self) -> asyncio.BaseProtocol:
        self.stats["refused"] += 1
        refused = self.stats["refused"]
        if refused & (refused - 1) == 0:  # 1, 2, 4, 8, ...: never a log line per refusal
            log.warning("refused %d connection(s) so far: all %d slots are taken by "
                        "requests or by connections too young to evict", refused,
                        self.max_connections)
        return _Refusal(self)


class _GuardedProtocol(asyncio.Protocol):
    """Passes a connection's events to aiohttp's handler and tells the guard when it ends."""

    def __init__(self, guard: ConnectionGuard, connection: _Connection) -> None:
        self._guard = guard
        self._connection = connection
        self._handler = connection.handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._connection.transport = transport
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.forget(self._connection)
        self._handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        self._handler.eof_received()
        return None  # aiohttp's answer too: the transport closes itself

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()


class _Refusal(asyncio.Protocol):
    """A connection over the limit: 503, then closed once read (or after a moment)."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSAL)
        # Linger briefly so the request the client already sent is read: closing a
        # socket with unread data resets it, and the client would not see the 503.
        # Only a bounded number linger; beyond that they are closed at once.
        if self._guard.lingering_refusals >= self._guard.max_connections:
            transport.close()
            return
        self._guard.lingering_refusals += 1
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._guard.lingering_refusals -= 1


class _JsonErrorsHandler(web.RequestHandler):
    """aiohttp's connection handler, except that requests it cannot parse (a bad
    request line, oversized headers, broken chunking) get the API's JSON error and
    one debug line, where aiohttp answers in text and logs a traceback each: a
    flood of garbage would flood the log."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; no error can be sent")
        reason = " ".join(str(message or getattr(exc, "message", None) or exc or "").split())
        log.debug("HTTP %d for %s: %s", status, request.remote, reason)
        response = error_response(status, HTTP_ERROR_CODES.get(status, "http_error"),
                                  f"malformed HTTP request: {reason[:200] or status}")
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # Only client trouble reaches here (the middleware catches everything else):
        # a body whose encoding breaks while aiohttp discards it, a reset socket.
        log.debug("%s: %r", args[0] if args else "connection error", kwargs.get("exc_info"))


GUARD_KEY: web.AppKey[ConnectionGuard] = web.AppKey("guard", ConnectionGuard)


@web.middleware
async def connection_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tells the guard when a request starts and when its response has been written
    (aiohttp runs each request in a task of its own that ends after the write)."""
    guard = request.app[GUARD_KEY]
    protocol = request.protocol
    guard.request_started(protocol, bounded=request.path not in guard.unbounded_paths)
    task = asyncio.current_task()
    if task is not None:
        task.add_done_callback(lambda _: guard.request_finished(protocol))
    return await handler(request)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass through the app's :class:`ConnectionGuard`."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(self, runner: web.AppRunner, host: str, port: int, *,
                 backlog: int = 128) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = runner.app[GUARD_KEY]

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (useful after binding port 0)."""
        if self._server is not None:
            sockets = getattr(self._server, "sockets", None) or ()
            for sock in sockets:
                return int(sock.getsockname()[1])
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.protocol_factory(server), self._host, self._port,
            backlog=self._backlog, reuse_address=True)
