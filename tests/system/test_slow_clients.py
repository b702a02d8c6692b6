"""Slow clients and many connections: a few bad sockets cannot stall the node.

The node bounds what a client can hold (node.connlimits.ConnectionGuard, driven by
``[api] max_connections`` and ``request_timeout_s``): a deadline for a complete
request head, a time limit per request including the write of its answer, a
408 for a body slower than ``request_timeout_s``, recycling of idle keep-alive
connections, and a connection limit at which a newcomer evicts a connection
that has waited longest outside a request (or is answered 503).

The attacks, each against a node with small limits so the test is quick:
slowloris sockets (a request line, then one header byte at a time), bodies
trickled slower than the limit, a client that pipelines requests and never
reads the answers, idle keep-alive connections, and more connections than
the limit.  Meanwhile a well-behaved client must get ``/healthz`` and commits
within a bounded time, and every abusive socket must be dropped within the
configured limits.  The in-process tests run the node in a thread
(test_hostile_api.LiveNode); one slow test does it all at once to a real
``vcledger-node`` process.

The attackers pace their bytes with ``Event.wait``: slowness is the attack.
"""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.keys import KeyPair
from node import connlimits
from node.api import EVENT_CONTENT_TYPE
from node.connlimits import LINGER_S
from tests.nodeutil import FAST_CONSENSUS, TestIssuer, running_nodes, wait_until, write_network
from tests.system.test_hostile_api import (
    GOVERNANCE,
    LiveNode,
    Reply,
    exchange,
    node_error_records,
    request_bytes,
)

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


# -- slow sockets ----------------------------------------------------------------------------------


@dataclass(eq=False)
class SlowClient:
    """A socket that sends ``pending`` one byte per tick, then ``forever`` over and over."""

    sock: socket.socket
    opened: float
    pending: bytes
    forever: bytes = b""
    closed: float | None = None
    answered: float | None = None
    how: str = ""
    response: bytes = b""
    sent: int = 0

    @property
    def lifetime(self) -> float | None:
        return None if self.closed is None else self.closed - self.opened

    @property
    def answered_after(self) -> float | None:
        return None if self.answered is None else self.answered - self.opened


@dataclass
class Trickle:
    """Slow clients, driven by one thread: a byte per ``interval`` each, and a note of
    when (and how) the node dropped each one."""

    port: int
    interval: float = 0.1
    clients: list[SlowClient] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def open(self, first: bytes, pending: bytes = b"", forever: bytes = b"") -> SlowClient:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(first)
        sock.setblocking(False)  # a timeout socket would wait in recv despite MSG_DONTWAIT
        client = SlowClient(sock, time.monotonic(), pending, forever)
        self.clients.append(client)
        return client

    def start(self) -> Trickle:
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for client in list(self.clients):
                if client.closed is None:
                    self._tick(client)

    def _tick(self, client: SlowClient) -> None:
        try:
            data = client.sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        except OSError as exc:
            self._closed(client, f"reset ({type(exc).__name__})")
            return
        else:
            if not data:
                self._closed(client, "closed")
                return
            if client.answered is None:
                client.answered = time.monotonic()
            client.response += data
        source = client.pending or client.forever
        if not source:
            return
        byte = source[client.sent % len(source)] if not client.pending else source[0]
        try:
            client.sock.send(bytes([byte]))
        except OSError as exc:
            self._closed(client, f"reset ({type(exc).__name__})")
            return
        if client.pending:
            client.pending = client.pending[1:]
        else:
            client.sent += 1

    @staticmethod
    def _closed(client: SlowClient, how: str) -> None:
        client.closed = time.monotonic()
        client.how = how

    def open_count(self) -> int:
        return sum(1 for client in self.clients if client.closed is None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for client in self.clients:
            client.sock.close()


@contextlib.contextmanager
def trickle(port: int, interval: float = 0.1) -> Iterator[Trickle]:
    slow = Trickle(port, interval)
    try:
        yield slow
    finally:
        slow.stop()


def timed_get(port: int, path: str = "/healthz", timeout: float = 10.0) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = exchange(port, request_bytes("GET", path), timeout=timeout)
    return reply, time.monotonic() - started


def refusal_json(reply: Reply) -> dict[str, Any]:
    assert reply.status == 503 and reply.content_type.startswith("application/json"), reply
    document: dict[str, Any] = json.loads(reply.body)
    assert document["error"]["code"] == "too_many_connections", document
    return document


def guard_stats(node: LiveNode) -> Counter[str]:
    async def read() -> Counter[str]:
        return Counter(node.guard.stats)

    return node.run(read())


@pytest.fixture
def node_errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    return node_error_records(caplog)


@contextlib.contextmanager
def small_node(directory: Path, **settings: object) -> Iterator[LiveNode]:
    node = LiveNode.single(directory, {"max_connections": 8, "request_timeout_s": 2,
                                       "max_wait_s": 1, **settings})
    try:
        node.commit(node.issuer.register(GOVERNANCE).encoded)
        yield node
    finally:
        node.stop()


# -- slowloris ---------------------------------------------------------------------------------


def test_a_slowloris_socket_is_dropped_at_its_head_deadline(
        tmp_path: Path, node_errors: Callable[[], list[str]]) -> None:
    with small_node(tmp_path / "net") as node, trickle(node.port) as slow:
        client = slow.open(HEALTHZ, forever=b"X-Slow: 1\r\n")
        slow.start()
        wait_until(lambda: client.closed is not None, timeout=10, what="the slowloris dropped")
        assert client.lifetime is not None and 1.9 <= client.lifetime <= 4.0, client.lifetime
        assert client.response == b"", client  # dropped without an answer
        assert guard_stats(node)["expired_waiting"] == 1
        node.assert_still_serving()
    assert node_errors() == []


def test_slowloris_sockets_cannot_lock_out_well_behaved_clients(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node_errors: Callable[[], list[str]],
        record_figure: Callable[..., None]) -> None:
    monkeypatch.setattr(connlimits, "EVICTABLE_AFTER_S", 0.3)
    with small_node(tmp_path / "net", request_timeout_s=10) as node, \
            trickle(node.port) as slow:
        attackers = [slow.open(HEALTHZ, forever=b"X-Slow: 1\r\n") for _ in range(8)]
        slow.start()
        wait_until(lambda: time.monotonic() - attackers[-1].opened > 0.3, timeout=5,
                   what="the slowloris sockets to age past EVICTABLE_AFTER_S")
        latencies = []
        for _ in range(12):
            reply, elapsed = timed_get(node.port)
            assert reply.status == 200, reply
            latencies.append(elapsed)
        node.assert_still_serving()
        # One eviction made room; each well-behaved request then freed its slot again.
        stats = guard_stats(node)
        assert stats["evicted"] >= 1 and stats["refused"] == 0, stats
        assert max(latencies) < 2.0, latencies
        wait_until(lambda: slow.open_count() == 8 - stats["evicted"], timeout=5,
                   what="the evicted slowloris sockets to see it")
        assert all(a.response == b"" for a in attackers if a.closed is not None)
        record_figure("healthz_latency_s", round(max(latencies), 3), slowloris_sockets=8,
                      max_connections=8, evicted=stats["evicted"])
    assert node_errors() == []


# -- slow bodies and a full house --------------------------------------------------------------


def test_slow_bodies_get_408_and_a_full_house_answers_503(
        tmp_path: Path, node_errors: Callable[[], list[str]],
        record_figure: Callable[..., None]) -> None:
    head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    with small_node(tmp_path / "net") as node, trickle(node.port, interval=0.2) as slow:
        bodies = [slow.open(head, forever=b" ") for _ in range(8)]
        slow.start()
        # Every slot is in a request: a newcomer is refused at once, in JSON, not parked.
        wait_until(lambda: guard_stats(node)["accepted"] >= 9, timeout=5,
                   what="the slow bodies to be accepted")
        reply, elapsed = timed_get(node.port)
        refusal_json(reply)
        assert elapsed < 2.0, elapsed
        # After request_timeout_s (2 s) each slow body is answered 408, and closed once
        # aiohttp has lingered LINGER_S reading what the client still sends.
        wait_until(lambda: all(b.closed is not None for b in bodies), timeout=10,
                   what="the slow bodies answered and closed")
        for body in bodies:
            assert body.response.startswith(b"HTTP/1.1 408 "), body.response[:100]
            assert b'"code": "timeout"' in body.response
            assert body.answered_after is not None and 1.9 <= body.answered_after <= 4.0, body
            assert body.lifetime is not None and body.lifetime <= 2 + LINGER_S + 1.5, body
        # ...and the well-behaved get in again.
        node.assert_still_serving()
        record_figure("slow_body_lifetime_s", round(max(b.lifetime or 0 for b in bodies), 2),
                      answered_after_s=round(max(b.answered_after or 0 for b in bodies), 2),
                      slow_bodies=8, request_timeout_s=2, refused=guard_stats(node)["refused"])
    assert node_errors() == []


# -- a client that never reads -----------------------------------------------------------------


def test_a_client_that_never_reads_is_dropped(
        tmp_path: Path, node_errors: Callable[[], list[str]],
        record_figure: Callable[..., None]) -> None:
    """It pipelines requests for more answers than the sockets can buffer and reads none:
    the node's writes stall, and the request limit (2 * request_timeout_s + max_wait_s
    = 3 s) resets the connection, while others are served as usual."""
    with small_node(tmp_path / "net", request_timeout_s=1, max_wait_s=1) as node:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", node.port))
        sock.setblocking(False)
        pipelined = b"GET /v1/blocks/1 HTTP/1.1\r\nHost: x\r\n\r\n" * 40_000
        opened = time.monotonic()
        sent = 0
        reset_at: float | None = None
        latencies = []
        try:
            while reset_at is None and time.monotonic() - opened < 15:
                try:
                    if sent < len(pipelined):
                        with contextlib.suppress(BlockingIOError):
                            sent += sock.send(pipelined[sent:sent + 65536])
                except ConnectionResetError:
                    reset_at = time.monotonic()
                    break
                # Reading would show the reset only after the unread answers: ask the socket.
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET:
                    reset_at = time.monotonic()
                    break
                reply, elapsed = timed_get(node.port)
                assert reply.status == 200, reply
                latencies.append(elapsed)
        finally:
            sock.close()
        assert reset_at is not None, "the node kept a client that never reads"
        lifetime = reset_at - opened
        assert 2.5 <= lifetime <= 7.0, lifetime
        assert max(latencies) < 2.0, max(latencies)
        assert guard_stats(node)["expired_busy"] == 1
        node.assert_still_serving()
        record_figure("never_reading_client_reset_after_s", round(lifetime, 2),
                      request_limit_s=3, healthz_max_latency_s=round(max(latencies), 3),
                      healthz_requests=len(latencies), pipelined_bytes_sent=sent)
    assert node_errors() == []


# -- idle keep-alive connections and more connections than the limit -----------------------------


def test_idle_keep_alive_connections_are_recycled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        node_errors: Callable[[], list[str]]) -> None:
    monkeypatch.setattr(connlimits, "EVICTABLE_AFTER_S", 0.3)
    monkeypatch.setattr(connlimits, "KEEPALIVE_S", 1.0)
    with small_node(tmp_path / "net") as node, trickle(node.port) as idle:
        keepers = [idle.open(HEALTHZ + b"\r\n") for _ in range(8)]  # keep-alive by default
        idle.start()
        wait_until(lambda: all(k.response.startswith(b"HTTP/1.1 200") for k in keepers),
                   timeout=5, what="the keep-alive requests answered")
        wait_until(lambda: time.monotonic() - keepers[-1].opened > 0.4, timeout=5,
                   what="the idle connections to age")
        reply, _ = timed_get(node.port)
        assert reply.status == 200, reply  # it took the oldest idle connection's slot
        wait_until(lambda: idle.open_count() == 0, timeout=5,
                   what="idle keep-alive connections closed after KEEPALIVE_S")
        assert all((k.lifetime or 0) < 3.0 for k in keepers), [k.lifetime for k in keepers]
        stats = guard_stats(node)
        assert stats["evicted"] >= 1 and stats["expired_waiting"] >= 1, stats
    assert node_errors() == []


def test_more_connections_than_the_limit(tmp_path: Path, node_errors: Callable[[], list[str]],
                                         record_figure: Callable[..., None]) -> None:
    count = 48
    with small_node(tmp_path / "net") as node:
        results: list[Reply | None] = [None] * count
        barrier = threading.Barrier(count)

        def client(i: int) -> None:
            barrier.wait(5)
            results[i] = exchange(node.port, request_bytes("GET", "/healthz"), timeout=10)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        statuses = [None if r is None else r.status for r in results]
        assert all(s in (200, 503) for s in statuses), statuses
        for reply in results:
            assert reply is not None
            if reply.status == 503:
                refusal_json(reply)
        assert statuses.count(200) >= 8, statuses
        node.assert_still_serving()
        record_figure("connections", count, max_connections=8, ok=statuses.count(200),
                      refused=statuses.count(503))
    assert node_errors() == []


# -- all at once, on a real node process --------------------------------------------------------


@pytest.mark.slow
def test_a_real_node_under_slow_clients(tmp_path: Path, long_mode: bool,
                                        record_figure: Callable[..., None]) -> None:
    scale = 4 if long_mode else 1
    limit = 24 * scale
    network = write_network(tmp_path / "net", consensus=FAST_CONSENSUS, governance=GOVERNANCE,
                            settings={"max_connections": limit, "request_timeout_s": 2,
                                      "max_wait_s": 2})
    issuer = TestIssuer(KeyPair.generate(), network.genesis.origin)
    post = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    with running_nodes([network.nodes[0].config], tmp_path) as (node,), \
            trickle(node.port, interval=0.2) as slow:
        reply = exchange(node.port, request_bytes(
            "POST", "/v1/events?wait=commit", issuer.register(network.governance).encoded,
            content_type=EVENT_CONTENT_TYPE), timeout=15)
        assert reply.status == 200, reply
        slowloris = [slow.open(HEALTHZ, forever=b"X-Slow: 1\r\n") for _ in range(10 * scale)]
        bodies = [slow.open(post, forever=b" ") for _ in range(8 * scale)]
        keepers = [slow.open(HEALTHZ + b"\r\n") for _ in range(8 * scale)]
        slow.start()
        started = time.monotonic()
        pause = threading.Event()  # never set: Event.wait paces the retries
        waits: list[float] = []
        refused = commits = 0
        while time.monotonic() - started < 8:
            wanted = time.monotonic()
            while True:  # a well-behaved client retries a 503 after a pause
                reply, _ = timed_get(node.port)
                if reply.status == 200:
                    break
                refusal_json(reply)
                refused += 1
                assert time.monotonic() - wanted < 4.0, "no /healthz for 4 s"
                pause.wait(0.1)
            waits.append(time.monotonic() - wanted)
            if len(waits) % 5 == 0:
                reply = exchange(node.port, request_bytes(
                    "POST", "/v1/events?wait=commit", issuer.issue(f"slow {len(waits)}").encoded,
                    content_type=EVENT_CONTENT_TYPE), timeout=15)
                if reply.status == 503:
                    refusal_json(reply)
                else:
                    assert reply.status == 200 and json.loads(reply.body)["status"] == "committed"
                    commits += 1
        wait_until(lambda: all(c.closed is not None for c in slowloris + bodies), timeout=10,
                   what="every slowloris and slow body dropped")
        lifetimes = {"slowloris": max(c.lifetime or 0 for c in slowloris),
                     "slow_body": max(c.lifetime or 0 for c in bodies)}
        # Head deadline 2 s (or evicted sooner); body limit 2 s, a 408, LINGER_S, closed.
        assert lifetimes["slowloris"] <= 3.5, lifetimes
        assert lifetimes["slow_body"] <= 2 + LINGER_S + 2, lifetimes
        assert all(b.response.startswith(b"HTTP/1.1 408 ") for b in bodies)
        assert commits >= 3 and max(waits) < 4.0
        assert "Traceback" not in node.log_text()
        record_figure("slow_clients", len(slowloris) + len(bodies) + len(keepers),
                      max_connections=limit, healthz_requests=len(waits),
                      healthz_worst_wait_s=round(max(waits), 3), refused=refused,
                      commits=commits, **{f"{k}_max_lifetime_s": round(v, 2)
                                          for k, v in lifetimes.items()})
