"""The running node: the ledger, the mempool, submissions and their waiters.

One asyncio task — the block producer — is the only writer of the ledger.
Block production is a replaceable part (:class:`BlockProducer`): this module
ships the single-validator producer; consensus plugs in the same way.  The
HTTP API (:mod:`node.api`) and peers call :class:`NodeService` methods.

The service builds none of its parts: :func:`node.assembly.assemble_node` opens
the store and hands it, the ledger, mempool, checkpoints, signature checker and
metrics to the constructor.  The service owns them from then on (:meth:`close`
closes the store and the checker's workers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from client.errors import LedgerError
from client.events import MAX_EVENT_SIZE, SignedEvent, decode_event
from client.hashes import Hash
from client.keys import KeyPair
from client.merkle import leaf_hash
from node.config import Genesis, NodeConfig
from node.cosignatures import Checkpoints
from node.errors import ConfigError, MempoolFull, NodeBehind, RuleViolation
from node.ledger import Head, Ledger, PreparedBlock
from node.logs import log_admitted, log_block_committed, log_rejected
from node.mempool import Mempool
from node.metrics import NodeMetrics
from node.peers import PeerSet
from node.signatures import SignatureChecker
from node.store import Store

log = logging.getLogger("vcledger.node")

MAX_REMEMBERED_REJECTIONS = 10_000
COMMIT_GRACE = 2.0
"""Seconds a submission that fails a state-dependent rule waits for an imminent block."""
STATELESS_RULES = frozenset({"duplicate_event", "bad_signature", "key_mismatch",
                             "not_governance", "created_in_future"})
"""Rule violations no newer block can cure: rejected at once."""


@dataclass(frozen=True, slots=True)
class Committed:
    event_hash: Hash
    index: int
    height: int


@dataclass(frozen=True, slots=True)
class Rejected:
    event_hash: Hash | None
    error: LedgerError


@dataclass(frozen=True, slots=True)
class Pending:
    event_hash: Hash


Outcome = Committed | Rejected
SubmitResult = Committed | Rejected | Pending


class BlockProducer(Protocol):
    """Decides the next block and writes it through :meth:`NodeService.write_block`."""

    @property
    def peers(self) -> PeerSet | None:
        """The peer connections (served at ``/v1/peer``), if this producer has any."""
        ...

    async def run(self) -> None: ...

    def events_admitted(self, events: list[SignedEvent]) -> None:
        """New events entered the mempool (gossip them; maybe start a block)."""
        ...

    def commit_expected(self) -> bool:
        """Whether a block that other nodes may already hold is about to be committed."""
        ...

    def behind_peers(self) -> bool:
        """Whether peers have committed blocks this node has not (it is catching up)."""
        ...


class NodeService:
    def __init__(
        self,
        config: NodeConfig,
        genesis: Genesis,
        key: KeyPair | None,
        *,
        store: Store,
        ledger: Ledger,
        mempool: Mempool,
        checkpoints: Checkpoints,
        signatures: SignatureChecker,
        metrics: NodeMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.genesis = genesis
        self.key = key
        self.clock = clock
        self.store = store
        self.ledger = ledger
        self.checkpoints = checkpoints
        self.mempool = mempool
        self.metrics = metrics
        self.signatures = signatures
        self.validator_name = None if key is None else genesis.validator_name(key.public_key)
        # None wakes a waiter without an outcome: production stopped, nothing will commit.
        self._waiters: dict[Hash, list[asyncio.Future[Outcome | None]]] = {}
        self._producing = True
        self._admitted_at: dict[Hash, float] = {}
        self._rejections: OrderedDict[Hash, Rejected] = OrderedDict()
        self._producer: BlockProducer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._producer_task: asyncio.Task[None] | None = None
        self.block_committed = asyncio.Condition()
        self._update_gauges()

    # -- lifecycle -----------------------------------------------------------------------

    def check_role(self) -> None:
        """A validator's key must be one of the genesis validators."""
        if self.config.role == "validator" and (self.key is None or self.validator_name is None):
            raise ConfigError("this node's key is not a validator key in the genesis file; "
                              "use role = \"observer\" to follow the network without voting")

    async def start(self, producer: BlockProducer | None) -> None:
        self.check_role()
        self._producer = producer
        if self._producer is not None:
            self._producer_task = asyncio.create_task(self._run_producer(self._producer),
                                                      name="block-producer")
            self._tasks.append(self._producer_task)
        self._tasks.append(asyncio.create_task(self.signatures.warm_up(), name="warm-up"))

    async def _run_producer(self, producer: BlockProducer) -> None:
        try:
            await producer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("block production stopped on an unexpected error")
            raise

    @property
    def peers(self) -> PeerSet | None:
        """The producer's peer connections (for the /v1/peer endpoint), if any."""
        return None if self._producer is None else self._producer.peers

    @property
    def producer_task(self) -> asyncio.Task[None] | None:
        return self._producer_task

    async def stop_producer(self) -> None:
        """Stop block production and peer connections; an in-flight commit completes first."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # already logged by _run_producer
                pass
        self._tasks.clear()
        # Answer every ?wait=commit now (still pending) rather than hold the HTTP
        # server's shutdown until each wait times out.
        self._producing = False
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        """Stop producing and close the database (after the HTTP server has stopped)."""
        await self.stop_producer()
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._waiters.clear()
        self.signatures.close()
        self.store.close()

    # -- submissions ---------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def submit(self, encoded_events: list[bytes], *,
                     from_peer: bool = False) -> list[SubmitResult]:
        """Admit events to the mempool: decode, check the rules, verify signatures.

        Cheap checks first; signatures (the expensive part) only for events
        that would otherwise be accepted.  Each event gets its own result.

        ``from_peer`` marks events gossiped by another node.  They pass the
        same rules against this node's committed state, and one that fails any
        rule is dropped at once rather than waiting for a block that might cure
        it: the answer goes to no client, and the node the client used keeps the
        event.  Otherwise a peer could fill the pool with validly signed events
        that no block will ever take (an unregistered issuer's, say), and
        honest events would wait behind them for minutes.  Their signatures are
        checked too, because a block's events taken from the mempool are not
        verified again.
        """
        results: list[SubmitResult | None] = [None] * len(encoded_events)
        to_check: list[tuple[int, SignedEvent]] = []
        retry: list[tuple[int, SignedEvent]] = []
        seen: set[Hash] = set()
        now_ms = self.now_ms()
        for i, data in enumerate(encoded_events):
            # Gossip brings every event from several peers: recognise a pending one by
            # its hash before paying for decoding it (which then need not hash it again).
            known: Hash | None = None
            if isinstance(data, bytes) and len(data) <= MAX_EVENT_SIZE:
                known = leaf_hash(data)
                if known in self.mempool or known in seen:
                    results[i] = Pending(known)
                    continue
            try:
                event = decode_event(data, event_hash=known)
            except LedgerError as exc:
                if known is None and isinstance(data, bytes):
                    known = leaf_hash(data)  # for the log line of an oversized event
                results[i] = self._reject(exc, event_hash=known, from_peer=from_peer)
                continue
            position = self.ledger.event_position(event.hash)
            if position is not None:
                results[i] = Committed(event.hash, position.index, position.height)
                continue
            if event.hash in self.mempool or event.hash in seen:
                results[i] = Pending(event.hash)
                continue
            try:
                self.ledger.admit(event, now_ms, signature_checked=True)
            except RuleViolation as exc:
                if exc.code in STATELESS_RULES or from_peer:
                    results[i] = self._reject(exc, event=event, from_peer=from_peer)
                else:
                    retry.append((i, event))
                continue
            seen.add(event.hash)
            to_check.append((i, event))
        if retry:
            for i, event, outcome in await self._admit_after_catching_up(retry):
                if isinstance(outcome, LedgerError):
                    results[i] = self._reject(outcome, event=event, from_peer=from_peer)
                elif event.hash not in seen and event.hash not in self.mempool:
                    seen.add(event.hash)
                    to_check.append((i, event))
                else:
                    results[i] = Pending(event.hash)
        if to_check and not self.mempool.has_room(len(to_check)):
            raise MempoolFull(
                f"the mempool cannot take {len(to_check)} more events "
                f"({len(self.mempool)} of {self.mempool.max_events} pending); retry shortly",
                retry_after=1,
            )
        verdicts = await self.signatures.check([event for _, event in to_check])
        # Other submissions may have filled the pool during the check: refuse the
        # whole batch again rather than admit part of it and then raise.
        if not self.mempool.has_room(sum(verdicts)):
            raise MempoolFull(f"the mempool cannot take {sum(verdicts)} more events "
                              f"({len(self.mempool)} of {self.mempool.max_events} pending); "
                              "retry shortly", retry_after=1)
        admitted: list[SignedEvent] = []
        admitted_at = time.monotonic()
        for (i, event), ok in zip(to_check, verdicts, strict=True):
            if not ok:
                results[i] = self._reject(RuleViolation(
                    "bad_signature",
                    f"{event.kind.value} event {event.hash.hex()}: signature does not verify for "
                    f"network {self.genesis.origin!r}"), event=event, from_peer=from_peer)
                continue
            position = self.ledger.event_position(event.hash)
            if position is not None:
                results[i] = Committed(event.hash, position.index, position.height)
                continue
            if self.mempool.add(event):
                admitted.append(event)
                self._admitted_at[event.hash] = admitted_at
            results[i] = Pending(event.hash)
        if admitted:
            log_admitted(log, admitted, from_peer=from_peer)
            self.metrics.events_accepted.inc(len(admitted))
            self.metrics.mempool_size.set(len(self.mempool))
            if self._producer is not None:
                self._producer.events_admitted(admitted)
        final = [r for r in results if r is not None]
        assert len(final) == len(results)
        return final

    async def _admit_after_catching_up(
        self, events: list[tuple[int, SignedEvent]]
    ) -> list[tuple[int, SignedEvent, LedgerError | None]]:
        """Judge events that failed a state-dependent rule once more, after the blocks
        this node is about to commit.

        A client told "committed" by node A may send its next event to node B a
        moment before B has that block; B must not call the event invalid.  While
        a commit is expected, wait for it (up to :data:`COMMIT_GRACE` in all) and
        re-check; a node still behind its peers then answers "catching up"
        (503, retry) rather than a rule violation it cannot be sure of.
        """
        deadline = time.monotonic() + COMMIT_GRACE
        pending = list(events)
        outcomes: list[tuple[int, SignedEvent, LedgerError | None]] = []
        while True:
            still: list[tuple[int, SignedEvent, RuleViolation]] = []
            now_ms = self.now_ms()
            for i, event in pending:
                try:
                    self.ledger.admit(event, now_ms, signature_checked=True)
                except RuleViolation as exc:
                    still.append((i, event, exc))
                else:
                    outcomes.append((i, event, None))
            expected = self._producer is not None and self._producer.commit_expected()
            remaining = deadline - time.monotonic()
            if not still or not expected or remaining <= 0:
                behind = self._producer is not None and self._producer.behind_peers()
                for i, event, violation in still:
                    outcomes.append((i, event, NodeBehind(
                        f"this node is catching up with the network (height "
                        f"{self.ledger.head.height}); retry shortly or ask another node")
                        if behind else violation))
                return outcomes
            pending = [(i, event) for i, event, _ in still]
            await self.next_commit(remaining)

    async def next_commit(self, timeout: float) -> bool:
        """Wait until the next block is committed; False on timeout."""
        async with self.block_committed:
            try:
                await asyncio.wait_for(self.block_committed.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def oldest_pending_admitted_at(self) -> float | None:
        """When (``time.monotonic()``) the oldest event still in the mempool was admitted."""
        oldest = self.mempool.peek(1)
        return self._admitted_at.get(oldest[0].hash) if oldest else None

    def _reject(self, error: LedgerError, *, event: SignedEvent | None = None,
                event_hash: Hash | None = None, from_peer: bool = False,
                at_block: bool = False) -> Rejected:
        """Count, log and describe one refused event: ``event`` if it could be decoded,
        else the hash of its bytes (``event_hash``) for the log line only: the answer names
        no hash for bytes that are not an event."""
        self.metrics.events_rejected.labels(reason=error.code).inc()
        log_rejected(log, error, event=event, event_hash=event_hash, from_peer=from_peer,
                     at_block=at_block)
        return Rejected(None if event is None else event.hash, error)

    async def wait_for(self, event_hash: Hash, timeout: float) -> Outcome | None:
        """Wait until the event is committed or dropped at block building; None on timeout."""
        (outcome,) = await self.wait_for_all([event_hash], timeout)
        return outcome

    async def wait_for_all(self, event_hashes: Sequence[Hash], timeout: float
                           ) -> list[Outcome | None]:
        """:meth:`wait_for` for each event, sharing one deadline: a batch costs one timer
        and one wait, not a task, a timer and a shielded future per event."""
        outcomes: list[Outcome | None] = [None] * len(event_hashes)
        waiting: list[tuple[int, Hash, asyncio.Future[Outcome | None]]] = []
        loop = asyncio.get_running_loop()
        for i, event_hash in enumerate(event_hashes):
            position = self.ledger.event_position(event_hash)
            if position is not None:
                outcomes[i] = Committed(event_hash, position.index, position.height)
            elif event_hash in self._rejections:
                outcomes[i] = self._rejections[event_hash]
            elif event_hash in self.mempool and self._producing:
                future: asyncio.Future[Outcome | None] = loop.create_future()
                self._waiters.setdefault(event_hash, []).append(future)
                waiting.append((i, event_hash, future))
        if not waiting:
            return outcomes
        try:
            await asyncio.wait([future for _, _, future in waiting], timeout=timeout)
        finally:
            for i, event_hash, future in waiting:
                if future.done() and not future.cancelled():
                    outcomes[i] = future.result()
                else:
                    future.cancel()
                waiters = self._waiters.get(event_hash)
                if waiters is not None:
                    if future in waiters:
                        waiters.remove(future)
                    if not waiters:
                        del self._waiters[event_hash]
        return outcomes

    # -- block writing (called by the producer only) --------------------------------------

    def prepare_from_mempool(self, proposer: bytes) -> PreparedBlock:
        """The next block from the oldest pending events, timed now (after its parent)."""
        events = self.mempool.peek(self.genesis.consensus.max_block_events)
        time_ms = self.ledger.next_block_time_ms(self.now_ms())
        return self.ledger.prepare_block(events, time_ms=time_ms, proposer=proposer,
                                         drop_invalid=True,
                                         # Every pooled event's signature was checked on
                                         # admission; name the block's, not the whole pool's.
                                         signatures_checked={e.hash for e in events})

    async def write_block(self, block: PreparedBlock, certificate: bytes | None = None) -> Head:
        """Durably commit a prepared block, then settle its events' waiters."""
        started = time.monotonic()
        head = self.ledger.seal(block, certificate)
        # The synced write runs off the event loop.  A shutdown arriving meanwhile
        # waits for it: a block is either entirely written and adopted, or not.
        log.debug("writing block %d", block.header.height)
        write = asyncio.ensure_future(asyncio.to_thread(block.batch.commit))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            await write
            self.ledger.adopt(block, head)
            raise
        self.ledger.adopt(block, head)
        # Per block, not per event, wherever it can be: a block holds thousands.
        committed = [event.hash for event in block.events]
        self.mempool.remove(committed)
        if block.rejected:
            self.mempool.remove([event.hash for event, _ in block.rejected])
        now = time.monotonic()
        if self._waiters:
            first_index, height = block.header.first_index, block.header.height
            for offset, event_hash in enumerate(committed):
                if event_hash in self._waiters:
                    self._settle(event_hash, Committed(event_hash, first_index + offset, height))
        # A submission's events share one admission time, so a block's latencies take a
        # few distinct values: one observation of each, with its count.
        admitted_at = self._admitted_at
        admission_counts = Counter(
            admitted_at.pop(event_hash, None) for event_hash in committed)
        for admitted, count in admission_counts.items():
            if admitted is not None:
                self.metrics.commit_latency.observe(now - admitted, count)
        for event, violation in block.rejected:
            self._admitted_at.pop(event.hash, None)
            rejection = self._reject(violation, event=event, at_block=True)
            self._rejections[event.hash] = rejection
            while len(self._rejections) > MAX_REMEMBERED_REJECTIONS:
                self._rejections.popitem(last=False)
            self._settle(event.hash, rejection)
        self.metrics.events_committed.inc(len(block.events))
        self.metrics.block_seconds.observe(now - started)
        self._update_gauges()
        log_block_committed(log, height=head.height, first_index=block.header.first_index,
                            events=block.events, dropped=len(block.rejected),
                            tree_size=head.tree_size, elapsed_s=now - started)
        async with self.block_committed:
            self.block_committed.notify_all()
        return head

    def _settle(self, event_hash: Hash, outcome: Outcome) -> None:
        for future in self._waiters.pop(event_hash, []):
            if not future.done():
                future.set_result(outcome)

    def _update_gauges(self) -> None:
        self.metrics.block_height.set(self.ledger.head.height)
        self.metrics.tree_size.set(self.ledger.head.tree_size)
        self.metrics.mempool_size.set(len(self.mempool))

    def cosign_head(self) -> None:
        """Add this validator's cosignature to the head checkpoint (if not there yet)."""
        if self.key is None or self.validator_name is None or self.ledger.head.height == 0:
            return
        self.checkpoints.cosign_head(self.validator_name, self.key, int(self.clock()))

