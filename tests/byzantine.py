"""A Byzantine validator for the tests: never part of the shipped node.

:class:`ByzantineValidator` holds a real validator key of a test network,
so every message it signs verifies, and uses it to break the protocol on
purpose.  It is not a node: it runs no consensus, keeps no mempool and
serves nothing.  What it has:

* **Links.**  WebSocket connections to the honest nodes' ``/v1/peer``
  endpoints, opened with a correct ``hello``; it sends whatever bytes a
  test asks for and records every frame the honest nodes send it (their
  own votes among them), so a test can read how they voted.
* **A ledger of its own.**  It follows the chain by fetching each committed
  block (``/v1/blocks/{h}/raw``), checking its certificate and re-executing
  it with :class:`node.ledger.Ledger` in a temporary directory.  That lets it
  build *realistic* blocks for the next height — the right parent, log
  root and status root — and then change exactly one thing.
* **Signing helpers** for proposals and votes, including forged ones (a
  vote claiming another validator, signed with this key).
* **A listening address that serves nothing.**  Honest nodes list this
  validator among their peers, so they dial it and, when they believe they
  are behind, ask it for blocks.  :meth:`ByzantineValidator.serve` answers
  every request 404 and counts them: a catch-up loop that never ends shows
  up as block requests that never stop.

The links live on an asyncio loop in a background thread so that they keep
reading while a test waits with plain blocking calls; every call into the
loop has a timeout, and :meth:`ByzantineValidator.close` cancels and joins
everything.  Random choices come from one seeded :class:`random.Random`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from client import encoding
from client.block import BlockHeader, decode_header
from client.events import SignedEvent, decode_event
from client.hashes import Hash
from client.keys import KeyPair
from node.config import Genesis
from node.consensus_types import NIL_ROUND, Proposal, Vote, VoteKind, proposer_of
from node.ledger import Ledger
from node.store import Store
from node.wire import (
    WIRE_VERSION,
    Hello,
    ProposalFrame,
    Status,
    VoteFrame,
    decode_frame,
    decode_proposal,
    decode_raw_block,
    decode_vote,
    encode_frame,
    max_frame_size,
    read_certificate_claim,
    sign_proposal,
    sign_vote,
    verify_certificate,
    vote_sign_bytes,
)
from tests.nodeutil import http_get

T = TypeVar("T")

RECEIVED_FRAMES = 50_000
"""Frames kept from the honest nodes (oldest dropped): enough for any one test."""


@dataclass(eq=False)
class Link:
    """One WebSocket to an honest node's ``/v1/peer``, after the hello exchange."""

    url: str
    ws: aiohttp.ClientWebSocketResponse
    their_hello: Hello
    reader: asyncio.Task[None] | None = None
    closed_at: float | None = None
    """Monotonic time the honest node closed the link (None while open)."""

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


@dataclass(frozen=True)
class CraftedBlock:
    """A block body for height ``height``: the header leaf, the event leaves and the
    log root they produce on top of the current head (the block id)."""

    height: int
    header: bytes
    events: tuple[bytes, ...]
    block_id: Hash


@dataclass
class ByzantineValidator:
    """A faulty validator holding ``key``, which must be one of ``genesis``'s validators."""

    genesis: Genesis
    key: KeyPair
    honest_urls: list[str]
    data_dir: Path
    seed: int
    links: dict[str, Link] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)
    """Messages sent, by kind (for the report's figures)."""
    received: deque[tuple[str, bytes]] = field(
        default_factory=lambda: deque(maxlen=RECEIVED_FRAMES))

    def __post_init__(self) -> None:
        assert self.key.public_key in self.genesis.validator_keys
        self.origin = self.genesis.origin
        self.validators = self.genesis.validator_keys
        self.rng = random.Random(self.seed)
        self.store = Store.open(self.data_dir, create=True)
        self.ledger = Ledger(self.store, self.genesis)
        self.roots: dict[int, Hash] = {}
        """Block id (log root) of every height this validator followed."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="byzantine",
                                        daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.requests: Counter[str] = Counter()
        """Requests honest nodes made to :meth:`serve`'s address, by first path segments."""

    # -- the background loop ------------------------------------------------------------

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        """Run ``coroutine`` on the links' loop and wait for it, at most ``timeout`` s."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AssertionError(f"Byzantine validator: call timed out after {timeout} s") \
                from None

    def close(self) -> None:
        """Close every link, stop the loop and its thread, close the database."""
        if self._loop.is_running():
            with contextlib.suppress(AssertionError):
                self.call(self._close_links(), timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        if not self.store.closed:
            self.store.close()

    async def _close_links(self) -> None:
        for link in list(self.links.values()):
            await self._drop(link)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _drop(self, link: Link) -> None:
        if link.reader is not None:
            link.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.reader
        await link.ws.close()

    # -- the address honest nodes dial ---------------------------------------------------

    def serve(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (this validator's address in the honest nodes' peer
        lists), answer every request 404 and count it in :attr:`requests`."""

        async def anything(request: web.Request) -> web.Response:
            parts = request.path.split("/")
            # /v1/blocks/17/raw -> "/v1/blocks/*/raw": count catch-up fetches together.
            self.requests["/".join("*" if p.isdigit() else p for p in parts)] += 1
            return web.Response(status=404, text="a Byzantine validator serves nothing")

        async def start() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", anything)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, host, port).start()

        self.call(start())

    def block_requests(self) -> int:
        """Catch-up block fetches the honest nodes sent to this validator so far."""
        return self.requests["/v1/blocks/*/raw"]

    # -- links ------------------------------------------------------------------------------

    def connect(self, url: str) -> Link:
        """(Re)open the link to ``url``: a correct hello, then a reader that records frames."""
        return self.call(self._connect(url))

    def connect_all(self) -> None:
        for url in self.honest_urls:
            link = self.links.get(url)
            if link is None or link.closed:
                self.connect(url)

    async def _connect(self, url: str) -> Link:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=5))
        old = self.links.pop(url, None)
        if old is not None:
            await self._drop(old)
        ws = await self._session.ws_connect(f"{url}/v1/peer", max_msg_size=0, autoping=True)
        await ws.send_bytes(encode_frame(Hello(self.origin, self.genesis.hash, os.urandom(16),
                                               self.ledger.head.height)))
        first = await asyncio.wait_for(ws.receive(), 10)
        assert first.type == aiohttp.WSMsgType.BINARY, first
        hello = decode_frame(first.data, max_size=64 * 1024)
        assert isinstance(hello, Hello)
        # The node counts the link as a peer before it greets it (status first):
        # once the greeting starts, /healthz includes this link.
        greeting = await asyncio.wait_for(ws.receive(), 10)
        assert greeting.type == aiohttp.WSMsgType.BINARY, greeting
        self.received.append((url, greeting.data))
        link = Link(url, ws, hello)
        link.reader = asyncio.ensure_future(self._read(link))
        self.links[url] = link
        return link

    def greet_with(self, url: str, first: bytes | None, timeout: float) -> float | None:
        """Open a bare WebSocket to ``url``, send ``first`` (nothing if None) where the
        hello belongs, and return how many seconds the honest node took to close it
        (None if it was still open after ``timeout``)."""

        async def go() -> float | None:
            if self._session is None:
                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=None, connect=5))
            started = time.monotonic()
            async with self._session.ws_connect(f"{url}/v1/peer", max_msg_size=0) as ws:
                if first is not None:
                    await ws.send_bytes(first)
                    self.sent["bad hello"] += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        async for _ in ws:
                            pass  # their hello, then nothing until they close
                        return time.monotonic() - started
            return None

        return self.call(go(), timeout=timeout + 15)

    async def _read(self, link: Link) -> None:
        try:
            async for message in link.ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    self.received.append((link.url, message.data))
        finally:
            link.closed_at = time.monotonic()

    def send(self, url: str, *frames: bytes, kind: str = "frame") -> None:
        """Send ``frames`` to one honest node, in order."""
        self.call(self._send(self.links[url], frames, kind))

    def send_all(self, *frames: bytes, kind: str = "frame") -> None:
        for url in self.honest_urls:
            self.send(url, *frames, kind=kind)

    def send_plan(self, plan: Sequence[tuple[str, bytes]], kind: str = "frame") -> None:
        """Send each ``(url, frame)`` in order, back to back in one go on the loop (so
        that no node's answer can come in between)."""

        async def go() -> None:
            for url, data in plan:
                await self._send(self.links[url], [data], kind)

        self.call(go())

    async def _send(self, link: Link, frames: Iterable[bytes], kind: str) -> None:
        for data in frames:
            if link.closed:
                return
            try:
                await link.ws.send_bytes(data)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return  # the honest node hung up: that is what some tests want
            self.sent[kind] += 1

    def send_raw(self, url: str, payload: bytes | str, kind: str) -> None:
        """Send one WebSocket message as is: text for a ``str``, binary otherwise."""

        async def go() -> None:
            link = self.links[url]
            if isinstance(payload, str):
                await link.ws.send_str(payload)
            else:
                await link.ws.send_bytes(payload)
            self.sent[kind] += 1

        self.call(go())

    def flood(self, frames: Sequence[bytes], *, seconds: float, kind: str) -> int:
        """Send ``frames`` round-robin over every open link, as fast as the links take
        them, for ``seconds``; return how many were sent."""

        async def go() -> int:
            deadline = time.monotonic() + seconds
            sent = 0
            links = [link for link in self.links.values() if not link.closed]
            while time.monotonic() < deadline and links:
                for link in links:
                    if link.closed:
                        continue
                    try:
                        await link.ws.send_bytes(frames[sent % len(frames)])
                    except (ConnectionError, RuntimeError, aiohttp.ClientError):
                        continue
                    sent += 1
                links = [link for link in links if not link.closed]
            self.sent[kind] += sent
            return sent

        return self.call(go(), timeout=seconds + 30)

    def wait_closed(self, url: str, timeout: float) -> bool:
        """Whether the honest node at ``url`` closes our link within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.links[url].closed:
                return True
            time.sleep(0.02)
        return False

    # -- what the honest nodes said -------------------------------------------------------

    def votes(self, height: int, round: int, kind: VoteKind) -> dict[bytes, set[Hash | None]]:
        """Verified votes of (height, round, kind) received so far, by voter."""
        result: dict[bytes, set[Hash | None]] = {}
        for _, data in list(self.received):
            if data[2:7] != b"\xa4vote":  # [1, "vote", ...]: skip other frames cheaply
                continue
            frame = decode_frame(data, max_size=1024)
            assert isinstance(frame, VoteFrame)
            vote = decode_vote(frame.signed_vote, self.origin, self.validators)
            if (vote.height, vote.round, vote.kind) == (height, round, kind):
                result.setdefault(vote.voter, set()).add(vote.block_id)
        return result

    def honest_votes(self, height: int, round: int, kind: VoteKind,
                     timeout: float) -> dict[bytes, set[Hash | None]]:
        """Wait until every honest validator's vote of the slot arrived; return them."""
        honest = {k for k in self.validators if k != self.key.public_key}
        deadline = time.monotonic() + timeout
        while True:
            seen = {k: v for k, v in self.votes(height, round, kind).items() if k in honest}
            if set(seen) == honest or time.monotonic() >= deadline:
                return seen
            time.sleep(0.02)

    def proposals(self, height: int) -> list[Proposal]:
        result = []
        for _, data in list(self.received):
            if data[2:11] != b"\xa8proposal":  # [1, "proposal", ...]
                continue
            frame = decode_frame(data, max_size=max_frame_size(
                self.genesis.consensus.max_block_events))
            assert isinstance(frame, ProposalFrame)
            proposal = decode_proposal(frame.signed_proposal, self.origin, self.validators)
            if proposal.height == height:
                result.append(proposal)
        return result

    # -- following the chain ---------------------------------------------------------------

    def follow(self) -> int:
        """Fetch, check and apply every block the honest nodes have committed; the height."""
        while True:
            height = self.ledger.head.height + 1
            for url in self.honest_urls:
                try:
                    status, body = http_get(f"{url}/v1/blocks/{height}/raw")
                except OSError:  # busy or restarting: ask the next one
                    continue
                if status == 200:
                    self._apply(height, body)
                    break
            else:
                return self.ledger.head.height

    def _apply(self, height: int, body: bytes) -> None:
        raw = decode_raw_block(body, max_size=max_frame_size(
            self.genesis.consensus.max_block_events))
        assert raw.certificate is not None
        claimed = read_certificate_claim(raw.certificate)
        verify_certificate(raw.certificate, self.origin, self.validators, height=height,
                           block_id=claimed)
        header = decode_header(raw.header)
        events = [decode_event(e) for e in raw.events]
        block = self.ledger.prepare_block(events, time_ms=header.time_ms,
                                          proposer=header.proposer, drop_invalid=False,
                                          signatures_checked={e.hash for e in events})
        assert block.header.encoded == raw.header and block.block_id == claimed
        self.ledger.commit(block, raw.certificate)
        self.roots[height] = block.block_id

    def proposer(self, height: int, round: int = 0) -> bytes:
        return proposer_of(self.validators, height, round)

    def is_my_turn(self, height: int, round: int = 0) -> bool:
        return self.proposer(height, round) == self.key.public_key

    # -- building blocks -------------------------------------------------------------------

    def block_time_ms(self) -> int:
        header = self.ledger.head.header
        now = int(time.time() * 1000)
        return now if header is None else max(now, header.time_ms + 1)

    def build_block(self, events: Sequence[SignedEvent] = (), *, execute: bool = True,
                    at_ms: int | None = None, **header_changes: Any) -> CraftedBlock:
        """The next block with ``events``, proposed by this validator.

        With ``execute`` the events go through the ledger rules as an honest
        proposer's would (signatures are taken as checked, so an event with a
        bad signature passes).  Without, the header is the one the block would
        carry if the events were accepted and changed no status: for events the
        rules refuse (a replay, another issuer's revocation).  ``header_changes``
        then replace header fields; the block id is always the log root of
        exactly these leaves, so the body is consistent with the id it is sent
        under and the only defect is the one asked for.
        """
        head = self.ledger.head
        time_ms = self.block_time_ms() if at_ms is None else at_ms
        if execute:
            header = self.ledger.prepare_block(
                events, time_ms=time_ms, proposer=self.key.public_key, drop_invalid=False,
                signatures_checked={e.hash for e in events}).header
        else:
            header = BlockHeader(
                height=head.height + 1,
                previous=self.genesis.hash if head.header is None else head.header.hash,
                time_ms=time_ms, proposer=self.key.public_key, first_index=head.tree_size,
                event_count=len(events), status_root=head.status_root,
                validator_set_hash=self.genesis.validator_set_hash)
        header = dataclasses.replace(header, **header_changes)
        leaves = [e.encoded for e in events] + [header.encoded]
        block_id = self.ledger.log.stage_append(leaves, self.store.batch()).new_root
        return CraftedBlock(head.height + 1, header.encoded, tuple(e.encoded for e in events),
                            block_id)

    # -- signing ----------------------------------------------------------------------------

    def proposal_frame(self, block: CraftedBlock, *, round: int = 0,
                       block_id: Hash | None = None, height: int | None = None) -> bytes:
        """A proposal for ``block``, signed by this validator; ``block_id`` / ``height``
        sign something else than the body."""
        proposal = sign_proposal(self.origin, Proposal(
            block.height if height is None else height, round,
            block.block_id if block_id is None else block_id, NIL_ROUND, self.key.public_key),
            self.key)
        return encode_frame(ProposalFrame(proposal.signed, block.header, block.events))

    def vote_frame(self, kind: VoteKind, height: int, round: int, block_id: Hash | None, *,
                   signer: KeyPair | None = None, claimed_voter: bytes | None = None) -> bytes:
        """A vote signed by ``signer`` (this validator by default) naming
        ``claimed_voter`` (the signer by default): a forgery when they differ."""
        signer = signer or self.key
        voter = signer.public_key if claimed_voter is None else claimed_voter
        if voter == signer.public_key:
            signed = sign_vote(self.origin, Vote(kind, height, round, block_id, voter),
                               signer).signed
        else:
            signature = signer.sign(vote_sign_bytes(self.origin, kind, height, round, block_id))
            signed = encoding.pack([WIRE_VERSION, int(kind), height, round, block_id, voter,
                                    signature])
        return encode_frame(VoteFrame(signed))

    def status_frame(self, height: int, tree_size: int) -> bytes:
        return encode_frame(Status(height, tree_size))

    def random_hash(self) -> Hash:
        return Hash(self.rng.randbytes(32))
