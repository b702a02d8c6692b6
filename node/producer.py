"""Block production for a network of several validators: the asyncio runner of the driver.

:class:`ConsensusProducer` owns one :class:`node.driver.ConsensusDriver` and is
the only writer of the ledger.  Everything reaches it through one queue —
verified votes and proposals from peers, timers, blocks fetched by catch-up —
so the driver sees one input at a time and the ledger changes one block at a
time.  The policy (when to propose, which blocks to keep, when to re-gossip or
catch up) is the driver's; this module only carries out its actions:

* **Validity.**  A proposal's block is executed against the ledger
  (:meth:`node.ledger.Ledger.recheck_block`); it is valid only if every event
  passes, the header is byte for byte the one this node computes, its time is
  not beyond the clock-skew bound, and the block id is the log root this node
  computes.  Anything else gets a nil prevote.
* **Write-ahead.**  Snapshots and block bodies go to the ``W`` family with a
  synced write before the signed message leaves.
* **Commit.**  A decided block is written with its commit certificate (the
  2f+1 precommit signatures) in the block's one batch; then a validator
  cosigns the checkpoint and gossips the cosignature.
* **Catch-up.**  Blocks fetched by :class:`node.catchup.CatchUp` have their
  certificate checked, are re-executed and committed here, in queue order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from client.block import decode_header
from client.errors import LedgerError
from client.events import MAX_EVENT_SIZE, SignedEvent, decode_event
from client.hashes import Hash
from client.keys import KeyPair
from client.merkle import leaf_hash
from node.catchup import CatchUp
from node.consensus_types import (
    Message,
    Proposal,
    TimeoutConfig,
    TimeoutInput,
    Vote,
    VoteKind,
    proposer_of,
)
from node.driver import MAX_HEIGHT_MESSAGES, REGOSSIP_INTERVAL, ConsensusDriver
from node.driver_types import (
    Action,
    AnnounceHead,
    BlockBuilt,
    BuildBlock,
    CancelTimers,
    CheckProposal,
    Commit,
    Committed,
    DeleteBodies,
    DriverInput,
    Pacing,
    PersistBody,
    PersistSnapshot,
    ProposalArrived,
    ProposalChecked,
    RecordEvidence,
    Recover,
    Regossip,
    RegossipDue,
    Requeue,
    Send,
    SetTimer,
    StartCatchUp,
    VoteArrived,
    Wake,
)
from node.errors import PeerProtocolError, RuleViolation
from node.ledger import PreparedBlock
from node.peers import GOSSIP_FRAME_EVENTS, SEND_QUEUE, EventGossip, PeerConnection, PeerSet
from node.records import BlockBody, EvidenceRecord
from node.service import NodeService
from node.single_validator import SingleValidatorProducer
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
    decode_vote,
    encode_frame,
    read_certificate_claim,
    sign_proposal,
    sign_vote,
    verify_certificate,
)

log = logging.getLogger("vcledger.consensus")

WAL_KEY = b"consensus"
WAL_BODY_PREFIX = b"body/"
MAX_EARLY_COSIGNATURES = 256
GREETING_EVENTS = 2_000
"""Pending events a newly connected peer is sent (oldest first, 500 to a frame)."""
RECENT_COSIGNED = 8

assert MAX_HEIGHT_MESSAGES == SEND_QUEUE // 2, "re-gossip must fit half a peer's send queue"


@dataclass(frozen=True, slots=True)
class _Synced:
    block: RawBlock
    done: asyncio.Future[bool]


_Item = DriverInput[PreparedBlock] | _Synced


class ConsensusProducer:
    """A :class:`node.service.BlockProducer` for a network of several validators; an
    observer runs it too, following decisions and catching up without voting."""

    def __init__(self, service: NodeService, peers: PeerSet, *, evidence_held: int = 0) -> None:
        """``peers`` is built by :func:`node.assembly.make_producer`, its frame handler and
        greeting forwarding to this producer's :meth:`on_frame` and :meth:`greeting`."""
        self.service = service
        self.ledger = service.ledger
        self.round_changes = 0
        """Rounds entered above round 0 since the node started (each one a lost round)."""
        self.evidence_records = evidence_held
        """Evidence records in the store: those held at start plus each one recorded."""
        genesis = service.genesis
        self.origin = genesis.origin
        self.validators = genesis.validator_keys
        self.params = genesis.consensus
        is_validator = (service.config.role == "validator" and service.key is not None
                        and service.key.public_key in self.validators)
        self.key: KeyPair | None = service.key if is_validator else None
        self.driver: ConsensusDriver[PreparedBlock] = ConsensusDriver(
            own_id=None if self.key is None else self.key.public_key,
            validators=self.validators,
            timeouts=TimeoutConfig.from_milliseconds(
                self.params.timeout_propose_ms, self.params.timeout_prevote_ms,
                self.params.timeout_precommit_ms, self.params.timeout_delta_ms),
            pacing=Pacing(self.params.block_interval_ms / 1000,
                          self.params.empty_block_interval_ms / 1000,
                          self.params.max_block_events),
            signer=None if self.key is None else self._sign)
        self.inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self.early_cosignatures: list[CosignatureFrame] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._peers = peers
        self.event_gossip = EventGossip(peers)
        self.catch_up = CatchUp(self._peers, lambda: self.ledger.head.height, self._commit_fetched)

    def _sign(self, message: Message) -> Message:
        assert self.key is not None
        if isinstance(message, Proposal):
            return sign_proposal(self.origin, message, self.key)
        return sign_vote(self.origin, message, self.key)

    # -- BlockProducer --------------------------------------------------------------------

    @property
    def peers(self) -> PeerSet:
        return self._peers

    def events_admitted(self, events: list[SignedEvent]) -> None:
        self.event_gossip.add(e.encoded for e in events)
        if not self.driver.height_started:
            self.inbox.put_nowait(Wake())

    def behind_peers(self) -> bool:
        return self.catch_up.behind_peers()

    def consensus_position(self) -> tuple[int, int]:
        """``(height, round)`` the driver is deciding.  Between heights (an idle network
        starts one only every empty-block interval) that is the next height, round 0: the
        one it will decide, so the gauge never reads "unknown" on a healthy node."""
        if not self.driver.height_started:
            return self.service.ledger.head.height + 1, 0
        return self.driver.machine.height, self.driver.machine.round

    def commit_expected(self) -> bool:
        # Also while no peer is connected: this node cannot know what the others committed.
        return self.driver.commit_expected() or not self._peers.connections

    async def run(self) -> None:
        await self._peers.start()
        self._tasks.append(asyncio.create_task(self._regossip_loop(), name="regossip"))
        self._tasks.append(asyncio.create_task(self.catch_up.watch(), name="sync-watch"))
        try:
            self.service.cosign_head()  # in case the node stopped between commit and cosigning
            store = self.service.store
            bodies = tuple((Hash(key[len(WAL_BODY_PREFIX):]),
                            BlockBody.decode(value, max_size=self._peers.max_frame))
                           for key, value in store.iter_wal(WAL_BODY_PREFIX))
            recover = Recover(self.ledger.head.height, store.get_wal(WAL_KEY), bodies)
            await self._drive(recover)
            if self.driver.height_started and recover.snapshot is not None:
                log.info("resumed height %d round %d from the write-ahead log",
                         self.driver.machine.height, self.driver.machine.round)
            while True:
                item = await self.inbox.get()
                try:
                    if isinstance(item, _Synced):
                        await self._on_synced(item)
                    else:
                        await self._drive(item)
                except PeerProtocolError as exc:
                    log.warning("ignored a peer message: %s", exc.diagnostics())
        finally:
            for timer in self._timers:
                timer.cancel()
            for task in self._tasks:
                task.cancel()
            self.catch_up.stop()
            self.event_gossip.flush()  # to the peers' send queues, before they close
            await self._peers.close()

    # -- carrying out the driver's actions -----------------------------------------------

    async def _drive(self, item: DriverInput[PreparedBlock]) -> None:
        """Hand one input to the driver and carry out its actions, in order; an action
        answered at once (a built or checked block, a commit) is handed back at once."""
        before = (self.driver.machine.height, self.driver.machine.round)
        actions = self.driver.handle(item, time.monotonic(),
                                     pending_events=len(self.service.mempool),
                                     pending_since=self.service.oldest_pending_admitted_at())
        for refused in self.driver.ignored:
            log.info("consensus ignored a message: %s", refused.diagnostics())
        after = (self.driver.machine.height, self.driver.machine.round)
        if after != before and after[1] > 0:
            self.round_changes += 1
            log.info("height %d: now in round %d", after[0], after[1])
        for action in actions:
            answer = await self._carry_out(action)
            if answer is not None:
                await self._drive(answer)

    async def _carry_out(self, action: Action[PreparedBlock]) -> DriverInput[PreparedBlock] | None:
        store = self.service.store
        if isinstance(action, SetTimer):
            self._call_later(action.at - time.monotonic(), action.input)
        elif isinstance(action, CancelTimers):
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        elif isinstance(action, Send):
            self._peers.broadcast(action.data)
        elif isinstance(action, PersistSnapshot):
            store.put_wal(WAL_KEY, action.snapshot)
        elif isinstance(action, PersistBody):
            store.put_wal(WAL_BODY_PREFIX + action.block_id, action.body.encode())
        elif isinstance(action, DeleteBodies):
            store.delete_wal_prefix(WAL_BODY_PREFIX)
        elif isinstance(action, BuildBlock):
            assert self.key is not None
            block = self.service.prepare_from_mempool(self.key.public_key)
            return BlockBuilt(action.height, action.round, block.block_id, _body_of(block), block)
        elif isinstance(action, CheckProposal):
            valid, checked = await self._check(action.proposal, action.body)
            return ProposalChecked(action.proposal, action.body, valid, checked)
        elif isinstance(action, Commit):
            decision = action.decision
            if decision.round > 0:
                log.info("height %d decided in round %d", decision.height, decision.round)
            certificate = certificate_from_precommits(decision.precommits, self.validators)
            await self.service.write_block(action.block, certificate.encode())
            return self._committed()
        elif isinstance(action, RecordEvidence):
            self._record_evidence(action)
        elif isinstance(action, StartCatchUp):
            self.catch_up.want()
        elif isinstance(action, Requeue):
            self.inbox.put_nowait(action.input)
        elif isinstance(action, Regossip):
            for data in action.frames:
                for connection in list(self._peers.connections):
                    connection.send(data)
        elif isinstance(action, AnnounceHead):
            head = self.ledger.head
            self._peers.broadcast(Status(head.height, head.tree_size))
            for frame in cosignature_frames(self.service, head.tree_size):
                self._peers.broadcast(frame)
        return None

    def _call_later(self, delay: float, item: TimeoutInput | DriverInput[PreparedBlock]) -> None:
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled() and t.when() > loop.time()]
        self._timers.append(loop.call_later(max(0.0, delay), self.inbox.put_nowait, item))

    def _committed(self) -> Committed:
        """What every commit is followed by, before the driver hears of it."""
        self.service.cosign_head()
        self._apply_early_cosignatures()
        return Committed(self.ledger.head.height)

    # -- checking blocks ------------------------------------------------------------------

    async def _check(self, proposal: Proposal, body: BlockBody
                     ) -> tuple[bool | None, PreparedBlock | None]:
        """valid(v) for a proposal whose block this node does not hold (see the driver's
        :class:`node.driver.ProposalChecked` for what None means).  Hashed first: no
        check may judge v from a body that is not v."""
        if not self.ledger.is_block_body(body.header, body.events, proposal.block_id):
            log.info("proposal for height %d round %d: the body is not the block it signs",
                     proposal.height, proposal.round)
            return None, None
        try:
            header = decode_header(body.header)
            if header.proposer != proposal.proposer or header.height != proposal.height:
                return False, None
            if header.time_ms > self.service.now_ms() + self.params.max_clock_skew_ms:
                return False, None
            if len(body.events) > self.params.max_block_events:
                return False, None
            events = self._decode_events(body.events)
            if not await self._signatures_ok(events):
                return False, None
            block = self.ledger.recheck_block(body.header, events, proposal.block_id)
        except (RuleViolation, LedgerError) as exc:
            log.info("proposal for height %d round %d is invalid: %s", proposal.height,
                     proposal.round, exc.diagnostics())
            return False, None
        return True, block

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

    # -- catch-up -------------------------------------------------------------------------

    async def _commit_fetched(self, raw: RawBlock) -> bool:
        """Queue a fetched block behind the inputs before it; True once it is written."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(_Synced(raw, done))
        return await done

    async def _on_synced(self, item: _Synced) -> None:
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
        try:
            block = self.ledger.recheck_block(raw.header, events, claimed)
        except RuleViolation as exc:
            raise PeerProtocolError(f"block {header.height} with a valid certificate does not "
                                    f"re-execute: {exc.diagnostics()}") from exc
        await self.service.write_block(block, raw.certificate)
        log.info("caught up to height %d from a peer", header.height)
        await self._drive(self._committed())
        return True

    # -- peers ----------------------------------------------------------------------------

    async def on_frame(self, connection: PeerConnection, frame: Frame) -> bool:
        """Called by the peer layer for each new frame; True means forward it."""
        if isinstance(frame, VoteFrame):
            vote = self._verified(decode_vote, frame.signed_vote)
            assert isinstance(vote, Vote)
            self.inbox.put_nowait(VoteArrived(vote, encode_frame(frame)))
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
            self.inbox.put_nowait(ProposalArrived(proposal, BlockBody(frame.header, frame.events),
                                                  encode_frame(frame)))
            return True
        if isinstance(frame, EventsFrame):
            try:
                await self.service.submit(list(frame.events), from_peer=True)
            except LedgerError as exc:
                log.debug("gossiped events not taken: %s", exc.diagnostics())
            return False  # re-gossip happens through events_admitted, for new events only
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

    def _verified(self, decoder: object, data: bytes) -> Proposal | Vote:
        try:
            return decoder(data, self.origin, self.validators)  # type: ignore[operator, no-any-return]
        except PeerProtocolError:
            raise
        except LedgerError as exc:
            raise PeerProtocolError(f"unverifiable consensus message: {exc.diagnostics()}") \
                from exc

    def _apply_early_cosignatures(self) -> None:
        tree_size = self.ledger.head.tree_size
        ready = [f for f in self.early_cosignatures if f.tree_size <= tree_size]
        self.early_cosignatures = [f for f in self.early_cosignatures if f.tree_size > tree_size]
        for frame in ready:
            try:
                if self.service.checkpoints.add(frame.tree_size, frame.line,
                                                now=int(self.service.clock())):
                    self._peers.broadcast(frame)
            except LedgerError as exc:
                log.info("dropped a cosignature for tree size %d: %s", frame.tree_size,
                         exc.diagnostics())

    def _record_evidence(self, action: RecordEvidence) -> None:
        first, second = action.evidence.first, action.evidence.second
        signer = first.proposer if isinstance(first, Proposal) else first.voter
        kind = "proposal" if isinstance(first, Proposal) else f"vote-{int(first.kind)}"
        record = EvidenceRecord(kind, first.height, first.round, signer, first.signed,
                                second.signed)
        self.service.store.put_evidence(record.key(), record.encode())
        self.evidence_records += 1
        log.warning("evidence: validator %s signed two different %s messages at height %d "
                    "round %d", signer.hex()[:16], kind, first.height, first.round)

    def greeting(self, connection: PeerConnection) -> list[bytes]:
        """The frames a newly connected peer is sent first."""
        # Pending events too: those admitted while this node had no peer were gossiped
        # to no one, and an observer never proposes them itself.
        pending = [e.encoded for e in self.service.mempool.peek(GREETING_EVENTS)]
        events = [encode_frame(EventsFrame(tuple(pending[start:start + GOSSIP_FRAME_EVENTS])))
                  for start in range(0, len(pending), GOSSIP_FRAME_EVENTS)]
        return head_frames(self.service) + self.driver.messages_for_greeting() + events

    async def _regossip_loop(self) -> None:
        """Ask the driver every interval whether this height's messages are due again:
        peers that missed one (a dropped link, a restart) get it; peers that have it
        drop it as seen."""
        while True:
            await asyncio.sleep(REGOSSIP_INTERVAL)
            self.inbox.put_nowait(RegossipDue())


def _body_of(block: PreparedBlock) -> BlockBody:
    return BlockBody(block.header.encoded, tuple(e.encoded for e in block.events))


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

    def __init__(self, service: NodeService, peers: PeerSet) -> None:
        """``peers`` as for :class:`ConsensusProducer`."""
        super().__init__(service)
        self.origin = service.genesis.origin
        self._peers = peers

    @property
    def peers(self) -> PeerSet:
        return self._peers

    async def run(self) -> None:
        await self._peers.start()
        try:
            await super().run()
        finally:
            await self._peers.close()

    def certificate(self, block: PreparedBlock) -> bytes | None:
        precommit = sign_vote(self.origin, Vote(VoteKind.PRECOMMIT, block.header.height, 0,
                                                block.block_id, self.key.public_key), self.key)
        return certificate_from_precommits([precommit],
                                           self.service.genesis.validator_keys).encode()

    def committed(self) -> None:
        for frame in head_frames(self.service)[:1] + cosignature_frames(
                self.service, self.service.ledger.head.tree_size):
            self._peers.broadcast(frame)

    def greeting(self, connection: PeerConnection) -> list[bytes]:
        return head_frames(self.service)

    async def on_frame(self, connection: PeerConnection, frame: Frame) -> bool:
        if isinstance(frame, EventsFrame):
            try:
                await self.service.submit(list(frame.events), from_peer=True)
            except LedgerError as exc:
                log.debug("relayed events not taken: %s", exc.diagnostics())
        elif isinstance(frame, Status):
            connection.height = frame.height
        return False  # nothing is forwarded: this node is the whole network's consensus
