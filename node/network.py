"""Block production by Tendermint consensus among the genesis validators.

:class:`ConsensusProducer` drives :class:`node.consensus.ConsensusMachine`:
one asyncio task owns the machine and is the only writer of the ledger.
Everything reaches it through one queue — verified votes and proposals from
peers, timeouts, blocks fetched for catch-up — so the machine sees one input
at a time and the ledger changes one block at a time.

What the driver does for the machine:

* **Validity.**  A proposal's block is executed against the ledger with the
  proposer's rules (``prepare_block(drop_invalid=False)``); it is valid only
  if every event passes, the header is byte for byte the one this node
  computes, its time is not beyond the clock-skew bound, and the block id is
  the log root this node computes.  Anything else gets a nil prevote.
* **Write-ahead.**  Before a signed vote or proposal leaves the node, the
  machine's snapshot (which records every message it sent this height) is
  written to the ``W`` family with a synced write.  A restarted validator
  restores it and re-sends the same messages, never a different one.
* **Commit.**  On a decision the block is written with its commit certificate
  (the 2f+1 precommit signatures) in the block's one batch; then a validator
  cosigns the checkpoint and gossips the cosignature.
* **Catch-up.**  A node behind its peers fetches committed blocks over HTTP,
  checks each certificate, re-executes the block to check every root, commits,
  and rejoins consensus at the next height.
* **Pacing.**  A height starts when events are pending, when a peer's message
  for it arrives, or when ``empty_block_interval`` has passed, so an idle
  network seals an empty block only that often.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from client import encoding
from client.block import decode_header
from client.errors import LedgerError
from client.events import MAX_EVENT_SIZE, SignedEvent, decode_event
from client.hashes import Hash
from client.http import ResponseTooLarge, read_capped
from client.keys import KeyPair
from client.merkle import leaf_hash
from node.consensus import (
    Broadcast,
    ConsensusMachine,
    ConsensusMessageError,
    Decide,
    Effect,
    Evidence,
    Input,
    OwnBlock,
    Proposal,
    ProposalInput,
    RequestBlock,
    Resume,
    ScheduleTimeout,
    StartHeight,
    TimeoutConfig,
    TimeoutInput,
    Vote,
    VoteInput,
    VoteKind,
    proposer_of,
    weak_quorum_size,
)
from node.errors import PeerProtocolError, RuleViolation
from node.ledger import PreparedBlock
from node.peers import SEND_QUEUE, PeerConnection, PeerSet
from node.service import BlockProducer, NodeService, SingleValidatorProducer
from node.wire import (
    CosignatureFrame,
    EventsFrame,
    Frame,
    ProposalFrame,
    RawBlock,
    Status,
    VoteFrame,
    certificate_from_precommits,
    decode_proposal,
    decode_raw_block,
    decode_vote,
    encode_frame,
    max_frame_size,
    read_certificate_claim,
    sign_proposal,
    sign_vote,
    verify_certificate,
)

log = logging.getLogger("vcledger.consensus")

WAL_KEY = b"consensus"
WAL_BODY_PREFIX = b"body/"
MAX_PREPARED = 8
MAX_EARLY_PROPOSALS = 16
MAX_EARLY_COSIGNATURES = 256
MAX_EARLY_VOTES = 4096
MAX_HEIGHT_MESSAGES = SEND_QUEUE // 2
"""This height's messages kept for re-gossip: half a peer's send queue, so sending them
all at once (a greeting, a re-gossip) cannot by itself overflow the queue and cut the link."""
MAX_HEIGHT_MESSAGES_PER_SIGNER = 256
"""Of those, votes per validator: a correct one sends two a round, so this is 128
rounds; a Byzantine one's thousands of votes cannot crowd out the others'."""
MAX_HEIGHT_PROPOSALS_PER_SIGNER = 4
"""And proposals per validator (each may carry a whole block): a correct proposer
sends one in each of its rounds, and only recent ones are worth re-sending."""
REGOSSIP_INTERVAL = 1.0
GREETING_EVENTS = 2_000
"""Pending events a newly connected peer is sent (oldest first, 500 to a frame)."""
SYNC_POLL_INTERVAL = 0.5
RECENT_COSIGNED = 8
SYNC_FETCH_TIMEOUT = 30.0


class SyncSources:
    """The order in which catch-up asks peers for blocks: the last one that served first.

    Peers are tried in ``node.toml`` order at first.  One that serves a block
    moves to the front, one that fails (no answer within the time limit, an
    error, a block that does not check out) to the back: a peer that answers
    slowly or not at all costs a lagging node one time limit, not one per block.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self._order = list(dict.fromkeys(urls))

    def order(self) -> list[str]:
        return list(self._order)

    def served(self, url: str) -> None:
        self._order.remove(url)
        self._order.insert(0, url)

    def failed(self, url: str) -> None:
        self._order.remove(url)
        self._order.append(url)


@dataclass(frozen=True, slots=True)
class _ProposalArrived:
    proposal: Proposal
    frame: ProposalFrame
    data: bytes


@dataclass(frozen=True, slots=True)
class _VoteArrived:
    vote: Vote
    data: bytes


@dataclass(frozen=True, slots=True)
class _BuildBlock:
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class _Synced:
    block: RawBlock
    done: asyncio.Future[bool]


@dataclass(frozen=True, slots=True)
class _Wake:
    """Events arrived or the empty-block timer fired: maybe start the next height."""


_Item = TimeoutInput | _ProposalArrived | _VoteArrived | _BuildBlock | _Synced | _Wake


class ConsensusProducer:
    """A :class:`node.service.BlockProducer` for a network of several validators; an
    observer runs it too, following decisions and catching up without voting."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.ledger = service.ledger
        self.genesis = service.genesis
        self.origin = service.genesis.origin
        self.validators = service.genesis.validator_keys
        self.params = service.genesis.consensus
        is_validator = (service.config.role == "validator" and service.key is not None
                        and service.key.public_key in self.validators)
        self.key: KeyPair | None = service.key if is_validator else None
        self.timeouts = TimeoutConfig.from_milliseconds(
            self.params.timeout_propose_ms, self.params.timeout_prevote_ms,
            self.params.timeout_precommit_ms, self.params.timeout_delta_ms)
        self.machine = self._new_machine()
        self.inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self.prepared: OrderedDict[Hash, PreparedBlock] = OrderedDict()
        self.bodies: OrderedDict[Hash, tuple[bytes, tuple[bytes, ...]]] = OrderedDict()
        self.voted_blocks: set[Hash] = set()
        """Blocks this node proposed or voted for at this height: never evicted."""
        self.height_messages: OrderedDict[bytes, bytes] = OrderedDict()
        self._signer_messages: dict[tuple[bytes, bool], deque[bytes]] = {}
        """Digests in :attr:`height_messages`, oldest first, by (signer, is a proposal)."""
        self.early_proposals: list[_ProposalArrived] = []
        self.early_cosignatures: list[CosignatureFrame] = []
        self.early_votes: list[_VoteArrived] = []
        self.network_height = 0
        """The highest height f+1 validators sent verified consensus messages for."""
        self.validator_heights: dict[bytes, int] = {}
        """The highest height each validator sent a verified consensus message for."""
        self.persisted_bodies: set[Hash] = set()
        self.height_started = False
        self.last_block_at = time.monotonic()
        self._feed_queue: deque[Input] = deque()
        self._feeding = False
        self._decision: Decide | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_task: asyncio.Task[None] | None = None
        self.peers = PeerSet(
            origin=self.origin,
            genesis_hash=self.genesis.hash,
            peer_urls=service.config.peers,
            max_frame=max_frame_size(self.params.max_block_events),
            handler=self._on_frame,
            hello_height=lambda: self.ledger.head.height,
            greeting=self._greeting,
        )
        self._sync_sources = SyncSources(self.peers.peer_urls)
        service.peers = self.peers
        service.on_admitted = self._events_admitted

    def _new_machine(self) -> ConsensusMachine:
        return ConsensusMachine(own_id=None if self.key is None else self.key.public_key,
                                validators=self.validators, timeouts=self.timeouts)

    # -- BlockProducer --------------------------------------------------------------------

    def events_arrived(self) -> None:
        if not self.height_started:
            self.inbox.put_nowait(_Wake())

    def behind_peers(self) -> bool:
        return self.peers.max_peer_height() > self.ledger.head.height

    def commit_expected(self) -> bool:
        # Also while no peer is connected: this node cannot know what the others committed.
        return (self.height_started or self.network_height > self.ledger.head.height
                or not self.peers.connections)

    async def run(self) -> None:
        await self.peers.start()
        self._tasks.append(asyncio.create_task(self._regossip_loop(), name="regossip"))
        self._tasks.append(asyncio.create_task(self._sync_watch_loop(), name="sync-watch"))
        try:
            self._recover()
            while True:
                item = await self.inbox.get()
                try:
                    await self._process(item)
                    if self._decision is not None:
                        decision, self._decision = self._decision, None
                        await self._commit_decision(decision)
                except PeerProtocolError as exc:
                    log.warning("ignored a peer message: %s", exc.diagnostics())
        finally:
            for timer in self._timers:
                timer.cancel()
            for task in self._tasks:
                task.cancel()
            if self._sync_task is not None:
                self._sync_task.cancel()
            await self.peers.close()

    # -- start-up and heights -------------------------------------------------------------

    def _recover(self) -> None:
        """Resume the height the write-ahead log was in, or prepare to start the next one."""
        self.service.cosign_head()
        raw = self.service.store.get_wal(WAL_KEY)
        next_height = self.ledger.head.height + 1
        if raw is not None and self.key is not None:
            machine = ConsensusMachine.restore(raw, own_id=self.key.public_key,
                                               timeouts=self.timeouts)
            if machine.height == next_height:
                self.machine = machine
                self.height_started = True
                self._restore_bodies()
                log.info("resuming height %d round %d from the write-ahead log",
                         machine.height, machine.round)
                self._feed(Resume())
                return
        self._maybe_start_height()

    def _maybe_start_height(self, *, force: bool = False) -> None:
        if self.height_started:
            return
        empty_due = self.last_block_at + self.params.empty_block_interval_ms / 1000
        now = time.monotonic()
        if force or now >= empty_due or len(self.service.mempool) or self.ledger.head.height == 0:
            self.height_started = True
            self._feed(StartHeight(self.ledger.head.height + 1))
            height = self.ledger.head.height + 1
            ready = [p for p in self.early_proposals if p.proposal.height == height]
            self.early_proposals = [p for p in self.early_proposals if p.proposal.height > height]
            for early in ready:
                self.inbox.put_nowait(early)
        else:
            self._call_later(empty_due - now, _Wake())

    def _ensure_height(self, height: int) -> bool:
        """Start the height a peer's message is for if it is the next one; True if current."""
        if height == self.ledger.head.height + 1:
            self._maybe_start_height(force=True)
            return True
        return False

    # -- the queue ------------------------------------------------------------------------

    async def _process(self, item: _Item) -> None:
        if isinstance(item, _Wake):
            self._maybe_start_height()
        elif isinstance(item, _VoteArrived):
            self._on_vote(item)
        elif isinstance(item, _ProposalArrived):
            await self._on_proposal(item)
        elif isinstance(item, _BuildBlock):
            self._build_block(item)
        elif isinstance(item, _Synced):
            await self._on_synced(item)
        elif item.height == self.machine.height and self.height_started:
            self._feed(item)

    def _feed(self, item: Input) -> None:
        """Hand one input to the machine and carry out its effects, in order.

        A message this node broadcasts is fed back after the effects before it,
        through the same queue, so the machine sees its own votes like anyone else's.
        """
        self._feed_queue.append(item)
        if self._feeding:
            return
        self._feeding = True
        before = (self.machine.height, self.machine.round)
        try:
            while self._feed_queue:
                next_input = self._feed_queue.popleft()
                try:
                    effects = self.machine.handle(next_input, time.monotonic())
                except ConsensusMessageError as exc:
                    log.info("consensus ignored a message: %s", exc.diagnostics())
                    continue
                for effect in effects:
                    self._apply(effect)
            valid = self.machine.valid
            if valid is not None and self.key is not None:
                self._persist_body(valid[1])
        finally:
            self._feeding = False
        after = (self.machine.height, self.machine.round)
        if after != before and after[1] > 0:
            log.info("height %d: now in round %d", after[0], after[1])

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, Broadcast):
            self._broadcast(effect.message)
        elif isinstance(effect, ScheduleTimeout):
            self._call_later(effect.at - time.monotonic(),
                             TimeoutInput(effect.kind, effect.height, effect.round))
        elif isinstance(effect, RequestBlock):
            self._schedule_build(effect)
        elif isinstance(effect, Decide):
            self._decision = effect
        elif isinstance(effect, Evidence):
            self._record_evidence(effect)

    def _call_later(self, delay: float, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled() and t.when() > loop.time()]
        self._timers.append(loop.call_later(max(0.0, delay), self.inbox.put_nowait, item))

    # -- proposing ------------------------------------------------------------------------

    def _schedule_build(self, request: RequestBlock) -> None:
        """Let events gather for ``block_interval`` (unless a block is full), then build."""
        full = len(self.service.mempool) >= self.params.max_block_events
        delay = 0.0 if full else self.params.block_interval_ms / 1000
        self._call_later(delay, _BuildBlock(request.height, request.round))

    def _build_block(self, request: _BuildBlock) -> None:
        if (request.height, request.round) != (self.machine.height, self.machine.round):
            return
        assert self.key is not None
        head = self.ledger.head
        time_ms = self.service.now_ms()
        if head.header is not None:
            time_ms = max(time_ms, head.header.time_ms + 1)
        block = self.service.prepare_from_mempool(time_ms, self.key.public_key)
        self._keep(block)
        self._feed(OwnBlock(request.height, request.round, block.block_id))

    def _keep(self, block: PreparedBlock) -> None:
        self.prepared[block.block_id] = block
        self.bodies[block.block_id] = (block.header.encoded,
                                       tuple(e.encoded for e in block.events))
        # Oldest first, but never the new block nor one this node proposed or voted for.
        # A Byzantine proposer's extra valid blocks would otherwise push out the one
        # being decided, and a decision no honest node holds the block of halts the
        # network.  Pinning suffices: a decided round's polka and precommit quorum
        # share an honest validator, which voted for the block in both and keeps it.
        for cache in (self.prepared, self.bodies):
            unpinned = [b for b in cache
                        if b not in self.voted_blocks and b != block.block_id]
            for block_id in unpinned[:max(0, len(cache) - MAX_PREPARED)]:
                del cache[block_id]

    def _broadcast(self, message: Proposal | Vote) -> None:
        assert self.key is not None, "an observer never sends consensus messages"
        if message.block_id is not None:
            self.voted_blocks.add(message.block_id)  # kept until the height ends (_keep)
        frame: Frame
        if isinstance(message, Proposal):
            body = self.bodies.get(message.block_id)
            if body is None:
                log.error("no block body for own proposal %s; not sending it",
                          message.block_id.hex())
                return
            self._persist_body(message.block_id)
        # Write-ahead: the snapshot recording this message is durable before the
        # signed message can reach anyone.
        self.service.store.put_wal(WAL_KEY, self.machine.snapshot_bytes())
        if isinstance(message, Proposal):
            signed_proposal = sign_proposal(self.origin, message, self.key)
            header, events = self.bodies[message.block_id]
            frame = ProposalFrame(signed_proposal.signed, header, events)
            self._feed(ProposalInput(signed_proposal, True))
        else:
            signed_vote = sign_vote(self.origin, message, self.key)
            frame = VoteFrame(signed_vote.signed)
            self._feed(VoteInput(signed_vote))
        data = encode_frame(frame)
        self._remember(data, self.key.public_key, proposal=isinstance(message, Proposal))
        self.peers.broadcast(data)

    def _persist_body(self, block_id: Hash) -> None:
        """Keep a block body this validator may have to (re-)propose after a restart."""
        if block_id in self.persisted_bodies or block_id not in self.bodies:
            return
        header, events = self.bodies[block_id]
        self.service.store.put_wal(WAL_BODY_PREFIX + block_id,
                                   encoding.pack([header, list(events)]))
        self.persisted_bodies.add(block_id)

    def _restore_bodies(self) -> None:
        for key, value in self.service.store.iter_wal(WAL_BODY_PREFIX):
            header, events = encoding.unpack(value, max_size=self.peers.max_frame,
                                             what="stored block body")
            self.bodies[Hash(key[len(WAL_BODY_PREFIX):])] = (header, tuple(events))
            self.persisted_bodies.add(Hash(key[len(WAL_BODY_PREFIX):]))

    def _remember(self, data: bytes, signer: bytes, *, proposal: bool = False) -> None:
        digest = hashlib.sha256(data).digest()
        if digest in self.height_messages:
            return
        kept = self._signer_messages.setdefault((signer, proposal), deque())
        if len(kept) >= (MAX_HEIGHT_PROPOSALS_PER_SIGNER if proposal
                         else MAX_HEIGHT_MESSAGES_PER_SIGNER):
            self.height_messages.pop(kept.popleft(), None)
        kept.append(digest)
        self.height_messages[digest] = data
        while len(self.height_messages) > MAX_HEIGHT_MESSAGES:
            self.height_messages.popitem(last=False)

    # -- receiving ------------------------------------------------------------------------

    async def _on_frame(self, connection: PeerConnection, frame: Frame) -> bool:
        """Called by the peer layer for each new frame; True means forward it."""
        if isinstance(frame, VoteFrame):
            vote = self._verified(decode_vote, frame.signed_vote)
            assert isinstance(vote, Vote)
            self.inbox.put_nowait(_VoteArrived(vote, encode_frame(frame)))
            return True
        if isinstance(frame, ProposalFrame):
            proposal = self._verified(decode_proposal, frame.signed_proposal)
            assert isinstance(proposal, Proposal)
            if proposal.proposer != proposer_of(self.validators, proposal.height,
                                                proposal.round):
                # No correct validator sends this (the machine would refuse it): drop it
                # before its block is executed, kept or relayed.  Not a reason to cut
                # the link, which may be an honest node that relayed it.
                log.debug("dropped a proposal for height %d round %d from a validator "
                          "that is not its proposer", proposal.height, proposal.round)
                return False
            self.inbox.put_nowait(_ProposalArrived(proposal, frame, encode_frame(frame)))
            return True
        if isinstance(frame, EventsFrame):
            try:
                await self.service.submit(list(frame.events), from_peer=True)
            except LedgerError as exc:
                log.debug("gossiped events not taken: %s", exc.diagnostics())
            return False  # re-gossip happens through on_admitted, for new events only
        if isinstance(frame, CosignatureFrame):
            if frame.tree_size > self.ledger.head.tree_size:
                # A faster validator cosigned a block this node has not committed yet.
                if len(self.early_cosignatures) < MAX_EARLY_COSIGNATURES:
                    self.early_cosignatures.append(frame)
                return False
            return self.service.checkpoints.add(frame.tree_size, frame.line,
                                                now=int(self.service.clock()))
        if isinstance(frame, Status):
            connection.height = frame.height
            return False
        return False

    def _verified(self, decoder: object, data: bytes) -> Proposal | Vote:
        try:
            return decoder(data, self.origin, self.validators)  # type: ignore[operator, no-any-return]
        except PeerProtocolError:
            raise
        except LedgerError as exc:
            raise PeerProtocolError(f"unverifiable consensus message: {exc.diagnostics()}") \
                from exc

    def _on_vote(self, arrived: _VoteArrived) -> None:
        vote = arrived.vote
        self._saw_height(vote.voter, vote.height)
        next_height = self.ledger.head.height + 1
        if vote.height < next_height:
            return
        if vote.height > next_height + 1:
            # Kept, not dropped: the peer layer will not pass this frame on again.
            if len(self.early_votes) < MAX_EARLY_VOTES:
                self.early_votes.append(arrived)
            self._want_sync()
            return
        if vote.height == next_height:
            self._ensure_height(vote.height)
            self._remember(arrived.data, vote.voter)
        elif not self.height_started:
            self._maybe_start_height(force=True)  # the network has moved on to the next height
        self._feed(VoteInput(vote))

    def _saw_height(self, signer: bytes, height: int) -> None:
        """Raise :attr:`network_height` to the height f+1 validators have reached.

        At least one of them is correct, so the network really is there.  Taking
        any one validator's word would let a Byzantine one, with a single vote for
        a far height, make this node start every height at once and seal empty
        blocks back to back for ever.
        """
        if height <= self.validator_heights.get(signer, 0):
            return
        self.validator_heights[signer] = height
        weak = weak_quorum_size(len(self.validators))
        reached = sorted(self.validator_heights.values(), reverse=True)
        if len(reached) >= weak:
            self.network_height = max(self.network_height, reached[weak - 1])

    async def _on_proposal(self, arrived: _ProposalArrived) -> None:
        proposal = arrived.proposal
        self._saw_height(proposal.proposer, proposal.height)
        next_height = self.ledger.head.height + 1
        if proposal.height < next_height:
            return
        if proposal.height > next_height:
            if len(self.early_proposals) < MAX_EARLY_PROPOSALS:
                self.early_proposals.append(arrived)
            if proposal.height > next_height + 1:
                self._want_sync()
            return
        self._ensure_height(proposal.height)
        self._remember(arrived.data, proposal.proposer, proposal=True)
        valid = await self._validate(proposal, arrived.frame)
        if valid is not None and proposal.height == self.machine.height:
            self._feed(ProposalInput(proposal, valid))

    async def _validate(self, proposal: Proposal, frame: ProposalFrame) -> bool | None:
        """valid(v): execute the proposed block and compare everything with our own result.

        None, and the machine is not told, when the frame's leaves do not hash to the
        block id the proposal signs: such a body says nothing about block v, and the
        machine's first verdict on v stands for the whole height, so a Byzantine
        proposer sending one node a wrong body could make it refuse v for ever while
        the others lock on v (a halt).  The real body may still come (peers relay
        it); otherwise the propose timeout passes.  Hashed first: no check may judge
        v from a body that is not v.
        """
        if proposal.block_id in self.prepared:
            return True
        leaves = [*frame.events, frame.header]
        if self.ledger.log.stage_append(leaves, self.service.store.batch()).new_root \
                != proposal.block_id:
            log.info("proposal for height %d round %d: the body is not the block it signs",
                     proposal.height, proposal.round)
            return None
        try:
            header = decode_header(frame.header)
            if header.proposer != proposal.proposer or header.height != proposal.height:
                return False
            if header.time_ms > self.service.now_ms() + self.params.max_clock_skew_ms:
                return False
            if len(frame.events) > self.params.max_block_events:
                return False
            events = self._decode_events(frame.events)
            if not await self._signatures_ok(events):
                return False
            block = self.ledger.prepare_block(
                events, time_ms=header.time_ms, proposer=header.proposer, drop_invalid=False,
                signatures_checked={e.hash for e in events})
        except (RuleViolation, LedgerError) as exc:
            log.info("proposal for height %d round %d is invalid: %s", proposal.height,
                     proposal.round, exc.diagnostics())
            return False
        if block.header.encoded != frame.header or block.block_id != proposal.block_id:
            log.info("proposal for height %d round %d does not match the block this node "
                     "computes", proposal.height, proposal.round)
            return False
        self._keep(block)
        return True

    def _decode_events(self, encoded: tuple[bytes, ...]) -> list[SignedEvent]:
        """Decode a block's events, reusing the ones this node's mempool already holds
        (same bytes, same hash: decoded and signature-checked once)."""
        mempool = self.service.mempool
        events = []
        for data in encoded:
            pending = mempool.get(leaf_hash(data)) if len(data) <= MAX_EVENT_SIZE else None
            events.append(pending if pending is not None and pending.encoded == data
                          else decode_event(data))
        return events

    async def _signatures_ok(self, events: list[SignedEvent]) -> bool:
        known = self.service.mempool.hashes()
        unchecked = [e for e in events if e.hash not in known]
        return all(await self.service.signatures.check(unchecked)) if unchecked else True

    # -- committing -----------------------------------------------------------------------

    async def _commit_decision(self, decision: Decide) -> None:
        if decision.height != self.ledger.head.height + 1:
            return
        block = self.prepared.get(decision.block_id)
        if block is None:
            log.info("decided height %d without its block body; fetching it from peers",
                     decision.height)
            self._want_sync()
            return
        if decision.round > 0:
            log.info("height %d decided in round %d", decision.height, decision.round)
        certificate = certificate_from_precommits(decision.precommits, self.validators)
        await self.service.write_block(block, certificate.encode())
        self._after_commit()

    def _after_commit(self) -> None:
        self.service.cosign_head()
        if self.persisted_bodies:
            self.service.store.delete_wal_prefix(WAL_BODY_PREFIX)
            self.persisted_bodies.clear()
        self.prepared.clear()
        self.bodies.clear()
        self.voted_blocks.clear()
        self.height_messages.clear()
        self._signer_messages.clear()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.height_started = False
        self.last_block_at = time.monotonic()
        head = self.ledger.head
        self._apply_early_cosignatures()
        ready = [v for v in self.early_votes if v.vote.height <= head.height + 2]
        self.early_votes = [v for v in self.early_votes if v.vote.height > head.height + 2]
        for arrived in ready:
            self.inbox.put_nowait(arrived)
        # Peers already voting on the next height: join them now, not at the empty-block timer.
        self._maybe_start_height(force=self.network_height > head.height)
        self.peers.broadcast(Status(head.height, head.tree_size))
        for frame in self._cosignature_frames(head.tree_size):
            self.peers.broadcast(frame)

    def _apply_early_cosignatures(self) -> None:
        tree_size = self.ledger.head.tree_size
        ready = [f for f in self.early_cosignatures if f.tree_size <= tree_size]
        self.early_cosignatures = [f for f in self.early_cosignatures if f.tree_size > tree_size]
        for frame in ready:
            try:
                if self.service.checkpoints.add(frame.tree_size, frame.line,
                                                now=int(self.service.clock())):
                    self.peers.broadcast(frame)
            except LedgerError as exc:
                log.info("dropped a cosignature for tree size %d: %s", frame.tree_size,
                         exc.diagnostics())

    def _cosignature_frames(self, tree_size: int) -> list[bytes]:
        return cosignature_frames(self.service, tree_size)

    def _record_evidence(self, evidence: Evidence) -> None:
        first, second = evidence.first, evidence.second
        signer = first.proposer if isinstance(first, Proposal) else first.voter
        kind = "proposal" if isinstance(first, Proposal) else f"vote-{int(first.kind)}"
        key = encoding.pack([first.height, first.round, kind, signer])
        self.service.store.put_evidence(key, encoding.pack(
            [1, kind, first.height, first.round, signer, first.signed, second.signed]))
        log.warning("evidence: validator %s signed two different %s messages at height %d "
                    "round %d", signer.hex()[:16], kind, first.height, first.round)

    # -- catch-up -------------------------------------------------------------------------

    def _want_sync(self) -> None:
        if self._sync_task is None or self._sync_task.done():
            log.debug("catching up: peers at height %d, this node at %d",
                      self.peers.max_peer_height(), self.ledger.head.height)
            self._sync_task = asyncio.create_task(self._sync(), name="sync")

    async def _sync_watch_loop(self) -> None:
        while True:
            await asyncio.sleep(SYNC_POLL_INTERVAL)
            if self.peers.max_peer_height() > self.ledger.head.height:
                self._want_sync()

    async def _sync(self) -> None:
        """Fetch committed blocks from peers until none is ahead of this node."""
        failures = 0
        while failures < 2 * max(1, len(self.peers.peer_urls)):
            height = self.ledger.head.height + 1
            progressed = False
            for url in self._sync_sources.order():
                raw = await self._fetch_block(url, height)
                if raw is None:
                    self._sync_sources.failed(url)
                    continue
                done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self.inbox.put_nowait(_Synced(raw, done))
                log.debug("fetched block %d from %s; queued (%d items ahead)", height, url,
                          self.inbox.qsize())
                if await done:
                    self._sync_sources.served(url)
                    progressed = True
                    break
                self._sync_sources.failed(url)
            if not progressed:
                failures += 1
                if self.peers.max_peer_height() <= self.ledger.head.height:
                    return
                await asyncio.sleep(SYNC_POLL_INTERVAL)
            else:
                failures = 0
        # No peer could serve the next block, however high some claim to be.  Heights
        # in hello and status frames are unsigned: until a peer claims one anew, do
        # not believe it, or a lying peer keeps this node fetching (and telling
        # clients it is catching up) for ever.
        head_height = self.ledger.head.height
        for connection in self.peers.connections:
            if connection.height > head_height:
                log.info("peer %s claims height %d but no peer serves block %d; "
                         "not believed", connection.label, connection.height, head_height + 1)
                connection.height = head_height

    async def _fetch_block(self, url: str, height: int) -> RawBlock | None:
        log.debug("fetching block %d from %s", height, url)
        try:
            async with self.peers.session.get(
                f"{url}/v1/blocks/{height}/raw",
                timeout=aiohttp.ClientTimeout(total=SYNC_FETCH_TIMEOUT),
            ) as response:
                if response.status != 200:
                    log.debug("peer %s has no block %d (HTTP %d)", url, height, response.status)
                    return None
                data = await read_capped(response, self.peers.max_frame)
            return decode_raw_block(data, max_size=self.peers.max_frame)
        except ResponseTooLarge as exc:
            log.warning("peer %s served an oversized block %d: %s", url, height, exc)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("fetching block %d from %s failed: %s", height, url, exc)
        except PeerProtocolError as exc:
            log.warning("peer %s served an unusable block %d: %s", url, height,
                        exc.diagnostics())
        return None

    async def _on_synced(self, item: _Synced) -> None:
        log.debug("checking a fetched block")
        ok = False
        try:
            ok = await self._commit_synced(item.block)
        except LedgerError as exc:
            log.warning("a block fetched for catch-up was refused: %s", exc.diagnostics())
        finally:
            if not item.done.done():
                item.done.set_result(ok)

    async def _commit_synced(self, raw: RawBlock) -> bool:
        header = decode_header(raw.header)
        if header.height != self.ledger.head.height + 1:
            return header.height <= self.ledger.head.height
        if raw.certificate is None:
            raise PeerProtocolError(f"block {header.height} came without a commit certificate")
        # Cheap first: the certificate's signatures, for the block id it claims.
        claimed = read_certificate_claim(raw.certificate)
        verify_certificate(raw.certificate, self.origin, self.validators, height=header.height,
                           block_id=claimed)
        events = self._decode_events(raw.events)
        if not await self._signatures_ok(events):
            raise PeerProtocolError(f"block {header.height} holds an event with a bad signature")
        block = self.ledger.prepare_block(events, time_ms=header.time_ms,
                                          proposer=header.proposer, drop_invalid=False,
                                          signatures_checked={e.hash for e in events})
        if block.header.encoded != raw.header or block.block_id != claimed:
            raise PeerProtocolError(f"block {header.height} does not re-execute to the header "
                                    "and root its certificate signs")
        await self.service.write_block(block, raw.certificate)
        log.info("caught up to height %d from a peer", header.height)
        self._after_commit()
        return True

    # -- gossip helpers -------------------------------------------------------------------

    def _events_admitted(self, events: list[SignedEvent]) -> None:
        for start in range(0, len(events), 500):
            self.peers.broadcast(EventsFrame(tuple(e.encoded for e in events[start:start + 500])))
        if not self.height_started:
            self.inbox.put_nowait(_Wake())

    def _greeting(self, connection: PeerConnection) -> list[bytes]:
        # Pending events too: those admitted while this node had no peer were gossiped
        # to no one, and an observer never proposes them itself.
        pending = [e.encoded for e in self.service.mempool.peek(GREETING_EVENTS)]
        events = [encode_frame(EventsFrame(tuple(pending[start:start + 500])))
                  for start in range(0, len(pending), 500)]
        return head_frames(self.service) + list(self.height_messages.values()) + events

    async def _regossip_loop(self) -> None:
        """Re-send this height's messages when the height seems stuck: peers that missed
        one (a dropped link, a restart) get it; peers that have it drop it as seen.
        While blocks keep committing nothing is re-sent (proposals carry whole blocks)."""
        while True:
            await asyncio.sleep(REGOSSIP_INTERVAL)
            if time.monotonic() - self.last_block_at < REGOSSIP_INTERVAL:
                continue
            for data in list(self.height_messages.values()):
                for connection in list(self.peers.connections):
                    connection.send(data)


def cosignature_frames(service: NodeService, tree_size: int) -> list[bytes]:
    """The cosignatures this node holds for one checkpoint, as peer frames."""
    return [encode_frame(CosignatureFrame(tree_size, line.line.rstrip("\n")))
            for line in service.checkpoints.lines(tree_size)]


def head_frames(service: NodeService) -> list[bytes]:
    """What a peer is told on connecting: this node's head and its recent cosignatures."""
    ledger = service.ledger
    head = ledger.head
    frames = [encode_frame(Status(head.height, head.tree_size))]
    for height in range(head.height, max(0, head.height - RECENT_COSIGNED), -1):
        frames += cosignature_frames(service, ledger.header(height).tree_size)
    return frames


class ServedSingleValidator(SingleValidatorProducer):
    """The sole validator of a one-validator network, serving peers.

    Blocks are decided alone, as by :class:`SingleValidatorProducer`, but each
    is stored with a one-precommit commit certificate, and observers (and
    anyone else) can connect to ``/v1/peer``: they learn the head, fetch blocks
    with their certificates to follow the chain, and relay events submitted to
    them.
    """

    def __init__(self, service: NodeService) -> None:
        super().__init__(service)
        self.origin = service.genesis.origin
        self.peers = PeerSet(
            origin=self.origin,
            genesis_hash=service.genesis.hash,
            peer_urls=service.config.peers,
            max_frame=max_frame_size(service.genesis.consensus.max_block_events),
            handler=self._on_frame,
            hello_height=lambda: service.ledger.head.height,
            greeting=lambda connection: head_frames(service),
        )
        service.peers = self.peers

    async def run(self) -> None:
        await self.peers.start()
        try:
            await super().run()
        finally:
            await self.peers.close()

    def certificate(self, block: PreparedBlock) -> bytes | None:
        precommit = sign_vote(self.origin, Vote(VoteKind.PRECOMMIT, block.header.height, 0,
                                                block.block_id, self.key.public_key), self.key)
        return certificate_from_precommits([precommit],
                                           self.service.genesis.validator_keys).encode()

    def committed(self) -> None:
        for frame in head_frames(self.service)[:1] + cosignature_frames(
                self.service, self.service.ledger.head.tree_size):
            self.peers.broadcast(frame)

    async def _on_frame(self, connection: PeerConnection, frame: Frame) -> bool:
        if isinstance(frame, EventsFrame):
            try:
                await self.service.submit(list(frame.events), from_peer=True)
            except LedgerError as exc:
                log.debug("relayed events not taken: %s", exc.diagnostics())
        elif isinstance(frame, Status):
            connection.height = frame.height
        return False  # nothing is forwarded: this node is the whole network's consensus


def make_producer(service: NodeService) -> BlockProducer:
    """The sole validator of a one-validator network decides alone; consensus otherwise
    (also for observers, which follow the validators)."""
    if len(service.genesis.validators) == 1 and service.config.role == "validator":
        return ServedSingleValidator(service)
    return ConsensusProducer(service)
