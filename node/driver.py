"""The consensus driver's policy as a pure state machine: ``handle(input, now) -> actions``.

:class:`node.consensus.ConsensusMachine` is Tendermint for one height; this
module is everything around it that decides *what the node does* — and
nothing that does it.  Like the machine (and h11) it performs no I/O and never
reads a clock: the runner (:mod:`node.producer` in the node, a simulated
network in tests/node/test_consensus_sim.py) feeds it
:data:`DriverInput` values with the time and carries out the :data:`Action`
values it returns, in order; both are defined in :mod:`node.driver_types`.

What the driver decides:

* **Pacing.**  A height starts when events are pending, when a peer's message
  for it arrives, or when ``empty_block_interval`` has passed since the last
  block, so an idle network seals an empty block only that often.  A proposer
  lets events gather until the oldest pending one has waited ``block_interval``
  (at once if it already has, or if a block's worth is waiting): under load the
  events that arrived while the previous block was being decided have waited
  long enough, and waiting again at each height would add a whole
  ``block_interval`` to every block's latency.
* **Validity requests.**  A proposal whose block this node does not hold is
  handed out as :class:`CheckProposal`; the runner executes it against the
  ledger and answers with :class:`ProposalChecked`.  Proposals for the next
  height wait until it starts; votes further ahead wait for catch-up.
* **Pinning.**  At most :data:`MAX_PREPARED` executed blocks are kept, oldest
  first out, but never one this node proposed or voted for this height: a
  decided round's polka and precommit quorum share an honest validator, which
  voted for the block in both and keeps it.
* **Write-ahead.**  Before a signed message leaves, the machine's snapshot is
  persisted (:class:`PersistSnapshot`), and the body of a block this validator
  proposes or holds as ``validValue`` too (:class:`PersistBody`), so a
  restarted validator re-sends the same messages, never different ones.
* **Re-gossip.**  This height's messages (its own and those it took), bounded
  per signer, are re-sent when no block committed for :data:`REGOSSIP_INTERVAL`.
* **Catch-up.**  Votes two heights ahead, or a decision whose block this node
  does not hold, ask for :class:`StartCatchUp`.  ``network_height`` — the height
  f+1 validators sent messages for — is believed, never one validator's word.

``P`` is the runner's handle on an executed block (a
:class:`node.ledger.PreparedBlock` in the node): the driver keeps and evicts
these but never looks inside one.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from typing import Generic, TypeVar

from client.hashes import Hash
from node.consensus import ConsensusMachine
from node.consensus_types import (
    Broadcast,
    ConsensusMessageError,
    Decide,
    Effect,
    Input,
    Message,
    OwnBlock,
    Proposal,
    ProposalInput,
    RequestBlock,
    Resume,
    ScheduleTimeout,
    StartHeight,
    TimeoutConfig,
    TimeoutInput,
    VoteInput,
    weak_quorum_size,
)
from node.driver_types import (
    Action,
    AnnounceHead,
    BlockBuilt,
    BuildBlock,
    BuildDue,
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
    Signer,
    StartCatchUp,
    VoteArrived,
    Wake,
)
from node.records import BlockBody
from node.wire import ProposalFrame, VoteFrame, encode_frame

P = TypeVar("P")

MAX_PREPARED = 8
MAX_EARLY_PROPOSALS = 16
MAX_EARLY_VOTES = 4096
MAX_HEIGHT_MESSAGES = 2048
"""This height's messages kept for re-gossip: half a peer's send queue
(:data:`node.peers.SEND_QUEUE`), so sending them all at once (a greeting, a
re-gossip) cannot by itself overflow the queue and cut the link."""
MAX_HEIGHT_MESSAGES_PER_SIGNER = 256
"""Of those, votes per validator: a correct one sends two a round, so this is 128
rounds; a Byzantine one's thousands of votes cannot crowd out the others'."""
MAX_HEIGHT_PROPOSALS_PER_SIGNER = 4
"""And proposals per validator (each may carry a whole block): a correct proposer
sends one in each of its rounds, and only recent ones are worth re-sending."""
REGOSSIP_INTERVAL = 1.0


class ConsensusDriver(Generic[P]):
    """One node's driver.  ``signer`` is None for an observer, which never sends."""

    def __init__(self, *, own_id: bytes | None, validators: tuple[bytes, ...],
                 timeouts: TimeoutConfig, pacing: Pacing, signer: Signer | None) -> None:
        assert (own_id is None) == (signer is None), "a validator signs; an observer does not"
        self.own_id = own_id
        self.validators = validators
        self.timeouts = timeouts
        self.pacing = pacing
        self.signer = signer
        self.machine = self._new_machine()
        self.head_height = 0
        self.prepared: OrderedDict[Hash, P] = OrderedDict()
        self.bodies: OrderedDict[Hash, BlockBody] = OrderedDict()
        self.voted_blocks: set[Hash] = set()
        """Blocks this node proposed or voted for at this height: never evicted."""
        self.height_messages: OrderedDict[bytes, bytes] = OrderedDict()
        self._signer_messages: dict[tuple[bytes, bool], deque[bytes]] = {}
        """Digests in :attr:`height_messages`, oldest first, by (signer, is a proposal)."""
        self.early_proposals: list[ProposalArrived] = []
        self.early_votes: list[VoteArrived] = []
        self.network_height = 0
        """The highest height f+1 validators sent verified consensus messages for."""
        self.validator_heights: dict[bytes, int] = {}
        self.persisted_bodies: set[Hash] = set()
        self.height_started = False
        self.last_block_at = 0.0
        self._now = 0.0
        self._pending_events = 0
        self._pending_since: float | None = None
        self._actions: list[Action[P]] = []
        self._feed_queue: deque[Input] = deque()
        self._feeding = False
        self._decision: Decide | None = None
        self.ignored: list[ConsensusMessageError] = []
        """Messages the machine refused during the last :meth:`handle` (for the log)."""

    def _new_machine(self) -> ConsensusMachine:
        return ConsensusMachine(own_id=self.own_id, validators=self.validators,
                                timeouts=self.timeouts)

    # -- queries ---------------------------------------------------------------------------

    def commit_expected(self) -> bool:
        """Whether a block other nodes may already hold is about to be committed here."""
        return self.height_started or self.network_height > self.head_height

    def messages_for_greeting(self) -> list[bytes]:
        return list(self.height_messages.values())

    # -- the one entry point ---------------------------------------------------------------

    def handle(self, item: DriverInput[P], now: float, *, pending_events: int,
               pending_since: float | None = None) -> list[Action[P]]:
        """Take one input at time ``now``; ``pending_events`` is the mempool's size and
        ``pending_since`` when its oldest event was admitted (on ``now``'s clock; None if
        unknown, and then the events are given a whole ``block_interval`` from now)."""
        self._now = now
        self._pending_events = pending_events
        self._pending_since = pending_since if pending_events else None
        self._actions = []
        self.ignored = []
        if isinstance(item, Recover):
            self._recover(item)
        elif isinstance(item, Wake):
            self._maybe_start_height()
        elif isinstance(item, VoteArrived):
            self._on_vote(item)
        elif isinstance(item, ProposalArrived):
            self._on_proposal(item)
        elif isinstance(item, ProposalChecked):
            self._on_checked(item)
        elif isinstance(item, BuildDue):
            if (item.height, item.round) == (self.machine.height, self.machine.round):
                self._actions.append(BuildBlock(item.height, item.round))
        elif isinstance(item, BlockBuilt):
            self._keep(item.block_id, item.body, item.block)
            self._feed(OwnBlock(item.height, item.round, item.block_id))
        elif isinstance(item, Committed):
            self._after_commit(item.height)
        elif isinstance(item, RegossipDue):
            if now - self.last_block_at >= REGOSSIP_INTERVAL and self.height_messages:
                self._actions.append(Regossip(tuple(self.height_messages.values())))
        elif item.height == self.machine.height and self.height_started:
            self._feed(item)
        if self._decision is not None:
            decision, self._decision = self._decision, None
            self._decide(decision)
        actions, self._actions = self._actions, []
        return actions

    # -- heights ---------------------------------------------------------------------------

    def _recover(self, item: Recover) -> None:
        self.head_height = item.head_height
        self.last_block_at = self._now
        if item.snapshot is not None and self.own_id is not None:
            machine = ConsensusMachine.restore(item.snapshot, own_id=self.own_id,
                                               timeouts=self.timeouts)
            if machine.height == self.head_height + 1:
                self.machine = machine
                self.height_started = True
                for block_id, body in item.bodies:
                    self.bodies[block_id] = body
                    self.persisted_bodies.add(block_id)
                self._feed(Resume())
                return
        self._maybe_start_height()

    def _maybe_start_height(self, *, force: bool = False) -> None:
        if self.height_started:
            return
        empty_due = self.last_block_at + self.pacing.empty_block_interval
        if force or self._now >= empty_due or self._pending_events or self.head_height == 0:
            self.height_started = True
            height = self.head_height + 1
            self._feed(StartHeight(height))
            ready = [p for p in self.early_proposals if p.proposal.height == height]
            self.early_proposals = [p for p in self.early_proposals if p.proposal.height > height]
            self._actions.extend(Requeue(early) for early in ready)
        else:
            self._actions.append(SetTimer(empty_due, Wake()))

    def _after_commit(self, height: int) -> None:
        if self.persisted_bodies:
            self._actions.append(DeleteBodies())
            self.persisted_bodies.clear()
        self.prepared.clear()
        self.bodies.clear()
        self.voted_blocks.clear()
        self.height_messages.clear()
        self._signer_messages.clear()
        self._actions.append(CancelTimers())
        self.height_started = False
        self.last_block_at = self._now
        self.head_height = height
        ready = [v for v in self.early_votes if v.vote.height <= height + 2]
        self.early_votes = [v for v in self.early_votes if v.vote.height > height + 2]
        self._actions.extend(Requeue(arrived) for arrived in ready)
        # Peers already voting on the next height: join them now, not at the empty-block timer.
        self._maybe_start_height(force=self.network_height > height)
        self._actions.append(AnnounceHead())

    # -- the machine -----------------------------------------------------------------------

    def _feed(self, item: Input) -> None:
        """Hand one input to the machine and turn its effects into actions, in order.

        A message this node broadcasts is fed back after the effects before it,
        so the machine sees its own votes like anyone else's.
        """
        self._feed_queue.append(item)
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._feed_queue:
                next_input = self._feed_queue.popleft()
                try:
                    effects = self.machine.handle(next_input, self._now)
                except ConsensusMessageError as exc:
                    self.ignored.append(exc)
                    continue
                for effect in effects:
                    self._apply(effect)
            valid = self.machine.valid
            if valid is not None and self.own_id is not None:
                self._persist_body(valid[1])
        finally:
            self._feeding = False

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, Broadcast):
            self._broadcast(effect.message)
        elif isinstance(effect, ScheduleTimeout):
            self._actions.append(SetTimer(effect.at, TimeoutInput(effect.kind, effect.height,
                                                                  effect.round)))
        elif isinstance(effect, RequestBlock):
            self._actions.append(SetTimer(self._build_at(), BuildDue(effect.height,
                                                                     effect.round)))
        elif isinstance(effect, Decide):
            self._decision = effect
        else:
            self._actions.append(RecordEvidence(effect))

    def _build_at(self) -> float:
        return self.pacing.build_at(self._now, self._pending_events, self._pending_since)

    def _broadcast(self, message: Message) -> None:
        assert self.signer is not None and self.own_id is not None, \
            "an observer never sends consensus messages"
        if message.block_id is not None:
            self.voted_blocks.add(message.block_id)  # kept until the height ends
        if isinstance(message, Proposal):
            body = self.bodies.get(message.block_id)
            if body is None:
                # The machine only proposes a block the driver handed it; after a
                # restart that lost the body it cannot send the proposal (peers time out).
                return
            self._persist_body(message.block_id)
        # Write-ahead: the snapshot recording this message is durable before the
        # signed message can reach anyone.
        self._actions.append(PersistSnapshot(self.machine.snapshot_bytes()))
        signed = self.signer(message)
        if isinstance(signed, Proposal):
            assert body is not None
            data = encode_frame(ProposalFrame(signed.signed, body.header, body.events))
            self._feed(ProposalInput(signed, True))
        else:
            data = encode_frame(VoteFrame(signed.signed))
            self._feed(VoteInput(signed))
        self._remember(data, self.own_id, proposal=isinstance(signed, Proposal))
        self._actions.append(Send(signed, data))

    def _persist_body(self, block_id: Hash) -> None:
        """Keep a block body this validator may have to (re-)propose after a restart."""
        if block_id in self.persisted_bodies or block_id not in self.bodies:
            return
        self._actions.append(PersistBody(block_id, self.bodies[block_id]))
        self.persisted_bodies.add(block_id)

    def _decide(self, decision: Decide) -> None:
        if decision.height != self.head_height + 1:
            return
        block = self.prepared.get(decision.block_id)
        if block is None:
            self._actions.append(StartCatchUp())  # decided without the block: fetch it
            return
        self._actions.append(Commit(decision, block))

    # -- blocks ----------------------------------------------------------------------------

    def _keep(self, block_id: Hash, body: BlockBody, block: P) -> None:
        self.prepared[block_id] = block
        self.bodies[block_id] = body
        # Oldest first, but never the new block nor one this node proposed or voted for.
        # A Byzantine proposer's extra valid blocks would otherwise push out the one
        # being decided, and a decision no honest node holds the block of halts the
        # network.
        for cache in (self.prepared, self.bodies):
            unpinned = [b for b in cache if b not in self.voted_blocks and b != block_id]
            for evicted in unpinned[:max(0, len(cache) - MAX_PREPARED)]:
                del cache[evicted]

    # -- messages from peers ---------------------------------------------------------------

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

    def _on_vote(self, arrived: VoteArrived) -> None:
        vote = arrived.vote
        self._saw_height(vote.voter, vote.height)
        next_height = self.head_height + 1
        if vote.height < next_height:
            return
        if vote.height > next_height + 1:
            # Kept, not dropped: the peer layer will not pass this frame on again.
            if len(self.early_votes) < MAX_EARLY_VOTES:
                self.early_votes.append(arrived)
            self._actions.append(StartCatchUp())
            return
        if vote.height == next_height:
            self._maybe_start_height(force=True)  # a peer is at it
            self._remember(arrived.data, vote.voter)
        elif not self.height_started:
            self._maybe_start_height(force=True)  # the network has moved on to the next height
        self._feed(VoteInput(vote))

    def _on_proposal(self, arrived: ProposalArrived) -> None:
        proposal = arrived.proposal
        self._saw_height(proposal.proposer, proposal.height)
        next_height = self.head_height + 1
        if proposal.height < next_height:
            return
        if proposal.height > next_height:
            if len(self.early_proposals) < MAX_EARLY_PROPOSALS:
                self.early_proposals.append(arrived)
            if proposal.height > next_height + 1:
                self._actions.append(StartCatchUp())
            return
        self._maybe_start_height(force=True)
        self._remember(arrived.data, proposal.proposer, proposal=True)
        if proposal.block_id in self.prepared:
            self._feed(ProposalInput(proposal, True))
        else:
            self._actions.append(CheckProposal(proposal, arrived.body))

    def _on_checked(self, checked: ProposalChecked[P]) -> None:
        proposal = checked.proposal
        if checked.valid is None or proposal.height != self.machine.height:
            return
        if checked.valid:
            assert checked.block is not None
            self._keep(proposal.block_id, checked.body, checked.block)
        self._feed(ProposalInput(proposal, checked.valid))
