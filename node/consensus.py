"""The Tendermint consensus algorithm as a pure, deterministic state machine.

This module is Algorithm 1 of Buchman, Kwon, Milosevic, "The latest gossip on
BFT consensus" (arXiv:1807.04938v3, 2018), one height at a time.  Comments cite
its line numbers as ``[L22]`` and so on.  The machine does no I/O and never
reads a clock: a driver (one asyncio task in the node, a simulated network in
the tests) feeds it :data:`Input` values with the current time and carries out
the :data:`Effect` values it returns (both in :mod:`node.consensus_types`; the
round's message log is :mod:`node.consensus_log`, the write-ahead snapshot's
format :mod:`node.consensus_snapshot`, and what it stores of the messages it
receives :mod:`node.consensus_messages`)::

    effects = machine.handle(VoteInput(untrusted_vote), now)

What the driver owes the machine, and why:

* **Authenticity.**  Every :class:`Proposal` and :class:`Vote` it feeds has
  had its signature verified against ``proposer`` / ``voter``.  The machine
  keeps the opaque ``signed`` bytes (for evidence and commit certificates)
  but never interprets them.
* **Validity.**  ``valid(v)`` of the paper is the driver's verdict on the
  proposed block under the ledger rules, given with the proposal as
  :class:`ProposalInput`.  Values are 32-byte block ids, ``id(v)`` of the paper.
* **Write-ahead.**  On :class:`Broadcast` the driver signs the message, writes
  it and :meth:`ConsensusMachine.snapshot_bytes` to its write-ahead log with
  one synced write, and only then sends it and loops it back in as an input
  (the machine counts its own votes like anyone else's).  After a crash,
  :meth:`ConsensusMachine.restore` and a :class:`Resume` input bring back a
  machine that never signs a conflicting vote.
* **getValue().**  When this validator must propose and has no ``validValue``
  the machine asks with :class:`RequestBlock`; the driver answers with
  :class:`OwnBlock` (possibly much later; stale answers are ignored).
* **Heights.**  After :class:`Decide` the driver commits the block and feeds
  :class:`StartHeight` for the next height, or for any later one it reached by
  fetching committed blocks from peers (catch-up by sync).

Where the paper is silent or the machine deviates on purpose (each also in
docs/protocol.md, "Consensus"):

* A proposer still waiting for its own block schedules ``timeoutPropose``
  like everyone else, so a slow block builder costs one nil prevote instead of
  a stuck validator (the paper's ``getValue()`` is instantaneous).
* ``Decide`` does not start the next height by itself (the paper's
  [L52-L54]): the block must be committed to storage first.
* What is stored of the messages received, and how much: an equivocating
  validator's second vote counts toward its own value, rounds far ahead only
  move a per-validator mark that can still skip rounds ([L55] extended), and
  memory is bounded per height.  :mod:`node.consensus_messages` says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from client.encoding import Packable
from client.errors import UsageError
from client.hashes import HASH_SIZE, Hash
from node.consensus_messages import HeightMessages
from node.consensus_snapshot import (
    ConsensusSnapshot,
    decode_snapshot,
    encode_snapshot,
    snapshot_fields,
)
from node.consensus_types import (
    NIL_ROUND,
    Broadcast,
    Decide,
    Effect,
    Input,
    OwnBlock,
    Proposal,
    ProposalInput,
    RequestBlock,
    Resume,
    ScheduleTimeout,
    StartHeight,
    Step,
    TimeoutConfig,
    TimeoutInput,
    TimeoutKind,
    ValidatorId,
    Validators,
    Vote,
    VoteInput,
    VoteKind,
    check_proposal_shape,
    check_validators,
    check_vote_shape,
    proposer_of,
    quorum_size,
    weak_quorum_size,
)

# ---------------------------------------------------------------------------
# The machine


class ConsensusMachine:
    """One validator's (or a non-voting follower's) Tendermint state machine.

    ``own_id`` is this node's validator id, or ``None`` for a follower that
    tracks decisions but never proposes or votes.  The machine does nothing
    until :class:`StartHeight` (or :meth:`restore` and :class:`Resume`).
    Not thread-safe: one writer owns it.
    """

    def __init__(
        self,
        *,
        own_id: ValidatorId | None,
        validators: Sequence[bytes],
        timeouts: TimeoutConfig | None = None,
    ) -> None:
        self._own_id = own_id
        self._timeouts = timeouts or TimeoutConfig()
        self._set_validators(check_validators(validators))
        self._started = False
        self._height = 0
        self._now = 0.0
        self._out: list[Effect] = []
        self._reset_height()

    # -- read-only view (metrics, tests) -------------------------------------

    @property
    def started(self) -> bool:
        return self._started

    @property
    def height(self) -> int:
        return self._height

    @property
    def round(self) -> int:
        return self._round

    @property
    def step(self) -> Step:
        return self._step

    @property
    def locked(self) -> tuple[int, Hash] | None:
        """``(lockedRound, lockedValue)``, or ``None`` while ``lockedRound = -1``."""
        return self._locked

    @property
    def valid(self) -> tuple[int, Hash] | None:
        """``(validRound, validValue)``, or ``None`` while ``validRound = -1``."""
        return self._valid

    @property
    def decision(self) -> Decide | None:
        return self._decision

    @property
    def validators(self) -> Validators:
        return self._validators

    @property
    def stored_message_count(self) -> int:
        """Proposals and votes held for this height and the next (a memory gauge)."""
        return self._messages.stored_message_count

    # -- the one entry point --------------------------------------------------

    def handle(self, event: Input, now: float) -> list[Effect]:
        """Apply one input at time ``now`` and return what the driver must do, in order.

        Raises :class:`ConsensusMessageError` for a message no correct
        validator could send (the state is unchanged), and
        :class:`UsageError` for an impossible request by the driver.
        """
        self._now = now
        self._out = []
        if isinstance(event, VoteInput):
            self._on_vote(event.vote)
        elif isinstance(event, ProposalInput):
            self._on_proposal(event.proposal, event.valid)
        elif isinstance(event, TimeoutInput):
            self._on_timeout(event)
        elif isinstance(event, OwnBlock):
            self._on_own_block(event)
        elif isinstance(event, StartHeight):
            self._on_start_height(event)
        elif isinstance(event, Resume):
            self._on_resume()
        else:
            raise UsageError(f"not a consensus input: {type(event).__name__}")
        if self._started:
            self._run_rules()
        out, self._out = self._out, []
        return out

    # -- height and round -----------------------------------------------------

    def _set_validators(self, validators: Validators) -> None:
        self._validators = validators
        self._index = {member: i for i, member in enumerate(validators)}
        self._quorum = quorum_size(len(validators))
        self._weak_quorum = weak_quorum_size(len(validators))
        self._is_validator = self._own_id is not None and self._own_id in self._index

    def _reset_height(self) -> None:
        """The initial values of [L2-L9], and an empty message log [L53]."""
        self._round = 0
        self._step = Step.PROPOSE
        self._locked: tuple[int, Hash] | None = None
        self._valid: tuple[int, Hash] | None = None
        self._decision: Decide | None = None
        self._messages = HeightMessages(self._height, self._validators)
        self._sent_proposals: dict[int, Proposal] = {}
        self._sent_votes: dict[tuple[int, VoteKind], Vote] = {}
        self._reset_round_flags()

    def _reset_round_flags(self) -> None:
        # The "for the first time" guards of [L34], [L36] and [L47]; each
        # concerns round_p only, and rounds never go back.
        self._prevote_timeout_armed = False
        self._polka_seen = False
        self._precommit_timeout_armed = False
        self._awaiting_block = False

    def _on_start_height(self, event: StartHeight) -> None:
        if self._started and event.height <= self._height:
            raise UsageError(
                f"cannot start height {event.height}: already at height {self._height}"
            )
        if not 0 <= event.height < 2**64:
            raise UsageError(f"height {event.height} is outside 0..2^64-1")
        validators = None if event.validators is None else check_validators(event.validators)
        previous = self._messages
        if validators is not None:
            self._set_validators(validators)
        self._height = event.height
        self._started = True
        self._reset_height()
        self._start_round(0)
        if previous.height + 1 == event.height:
            self._out.extend(self._messages.adopt_early_votes(previous))

    def _start_round(self, round: int) -> None:
        """``StartRound(round)`` [L11-L21]."""
        self._round = round
        self._step = Step.PROPOSE
        self._reset_round_flags()
        if self._is_validator and proposer_of(self._validators, self._height, round) == (
            self._own_id
        ):
            self._propose_or_request()
        else:
            self._schedule(TimeoutKind.PROPOSE)

    def _propose_or_request(self) -> None:
        """[L15-L19] for the proposer of round_p."""
        sent = self._sent_proposals.get(self._round)
        if sent is not None:
            # Restarted in a round it already proposed in: never a second value.
            self._out.append(Broadcast(sent))
        elif self._valid is not None:
            valid_round, valid_value = self._valid
            self._broadcast_proposal(valid_value, valid_round)
        else:
            self._awaiting_block = True
            self._out.append(RequestBlock(self._height, self._round))
            # Not in the paper, where getValue() returns at once: if the
            # driver's block never comes, this validator still moves on.
            self._schedule(TimeoutKind.PROPOSE)

    def _on_own_block(self, event: OwnBlock) -> None:
        if not (
            self._started
            and self._awaiting_block
            and event.height == self._height
            and event.round == self._round
            and self._step == Step.PROPOSE
        ):
            return  # stale: the round moved on before the block was built
        if len(event.block_id) != HASH_SIZE:
            raise UsageError(f"a block id is {HASH_SIZE} bytes, got {len(event.block_id)}")
        self._awaiting_block = False
        if self._valid is not None:
            self._broadcast_proposal(self._valid[1], self._valid[0])
        else:
            self._broadcast_proposal(event.block_id, NIL_ROUND)

    def _on_resume(self) -> None:
        if not self._started:
            raise UsageError("Resume needs a started or restored machine")
        for round in sorted(self._sent_proposals):
            self._out.append(Broadcast(self._sent_proposals[round]))
        for key in sorted(self._sent_votes):
            self._out.append(Broadcast(self._sent_votes[key]))
        if self._decision is None and self._step == Step.PROPOSE:
            is_proposer = self._is_validator and (
                proposer_of(self._validators, self._height, self._round) == self._own_id
            )
            if is_proposer and self._round not in self._sent_proposals:
                self._propose_or_request()
            elif not is_proposer:
                self._schedule(TimeoutKind.PROPOSE)

    # -- timeouts [L57-L67] ----------------------------------------------------

    def _schedule(self, kind: TimeoutKind) -> None:
        at = self._now + self._timeouts.duration(kind, self._round)
        self._out.append(ScheduleTimeout(kind, self._height, self._round, at))

    def _on_timeout(self, event: TimeoutInput) -> None:
        if not (
            self._started
            and self._decision is None
            and event.height == self._height
            and event.round == self._round
        ):
            return
        if event.kind == TimeoutKind.PROPOSE and self._step == Step.PROPOSE:
            self._send_vote(VoteKind.PREVOTE, None)  # [L57-L60]
            self._step = Step.PREVOTE
        elif event.kind == TimeoutKind.PREVOTE and self._step == Step.PREVOTE:
            self._send_vote(VoteKind.PRECOMMIT, None)  # [L61-L64]
            self._step = Step.PRECOMMIT
        elif event.kind == TimeoutKind.PRECOMMIT:
            self._start_round(self._round + 1)  # [L65-L67]

    # -- receiving messages ---------------------------------------------------

    # Cheap shape checks first, even before the machine has started; then the
    # height's message log checks the height, the sender and the round window.

    def _on_vote(self, vote: Vote) -> None:
        check_vote_shape(vote)
        if self._started:
            evidence = self._messages.add_vote(vote, self._round)
            if evidence is not None:
                self._out.append(evidence)

    def _on_proposal(self, proposal: Proposal, valid: bool) -> None:
        check_proposal_shape(proposal)
        if self._started:
            evidence = self._messages.add_proposal(proposal, valid, self._round)
            if evidence is not None:
                self._out.append(evidence)

    # -- sending ---------------------------------------------------------------

    def _broadcast_proposal(self, block_id: Hash, valid_round: int) -> None:
        assert self._own_id is not None and self._round not in self._sent_proposals
        proposal = Proposal(self._height, self._round, block_id, valid_round, self._own_id)
        self._sent_proposals[self._round] = proposal
        self._out.append(Broadcast(proposal))

    def _send_vote(self, kind: VoteKind, block_id: Hash | None) -> None:
        """Broadcast a vote of round_p, or the one already sent for it.

        Re-sending the recorded vote instead of a new one is what makes a
        restart from a snapshot safe even if the rules would now pick another
        value: a validator never signs two votes for one (height, round, kind).
        """
        if not self._is_validator:
            return
        assert self._own_id is not None
        key = (self._round, kind)
        vote = self._sent_votes.get(key)
        if vote is None:
            vote = Vote(kind, self._height, self._round, block_id, self._own_id)
            self._sent_votes[key] = vote
        self._out.append(Broadcast(vote))

    # -- the upon rules ----------------------------------------------------------

    def _run_rules(self) -> None:
        """Fire enabled upon-rules until none is; each firing is atomic.

        The paper lets any enabled rule go first; this order (decide, skip
        round, then the current round's rules in line order) is one fixed choice
        so the machine is deterministic.  Every firing moves (round, step) or
        sets a first-time guard, so the loop ends.
        """
        if self._decision is not None:
            return
        dirty = self._messages.take_dirty_rounds()
        # [L49] needs a proposal or a precommit of round r, so only rounds
        # that received one since the last pass can have become decidable.
        for round in dirty:
            if self._try_decide(round):
                return
        self._try_skip_round(dirty)
        for _ in range(8 * (self._messages.round_count + 4)):
            if not self._try_current_round_rules():
                return
        raise AssertionError("upon-rules did not settle")

    def _try_decide(self, round: int) -> bool:
        """[L49-L51]: the proposal of ``round`` and 2f+1 precommits for it, valid."""
        log = self._messages.round_log(round)
        if log is None:
            return False
        for proposal in log.proposals.values():
            v = proposal.block_id
            if log.count(VoteKind.PRECOMMIT, v) >= self._quorum and self._messages.is_valid(v):
                commit = tuple(
                    sorted(log.votes_for(VoteKind.PRECOMMIT, v),
                           key=lambda c: self._index[c.voter])
                )
                self._decision = Decide(self._height, round, v, commit)
                self._out.append(self._decision)
                return True
        return False

    def _try_skip_round(self, dirty: Iterable[int]) -> None:
        """[L55-L56]: f+1 senders of messages in a round above round_p."""
        target = max(
            (r for r in dirty if r > self._round
             and self._messages.sender_count(r) >= self._weak_quorum),
            default=self._round,
        )
        far = self._messages.take_far_round_reached_by(self._weak_quorum)
        if far is not None:
            target = max(target, far)
        if target > self._round:
            self._start_round(target)

    def _try_current_round_rules(self) -> bool:
        """The rules about round_p, in line order; True if one fired."""
        log = self._messages.round_log(self._round)
        if log is None:
            return False
        quorum = self._quorum
        if self._step == Step.PROPOSE:
            for proposal in log.proposals.values():
                if self._try_prevote_on(proposal):
                    return True
        if (
            self._step == Step.PREVOTE
            and not self._prevote_timeout_armed
            and log.total(VoteKind.PREVOTE) >= quorum
        ):
            self._prevote_timeout_armed = True  # [L34-L35]
            self._schedule(TimeoutKind.PREVOTE)
            return True
        if self._step >= Step.PREVOTE and not self._polka_seen:
            for proposal in log.proposals.values():
                v = proposal.block_id
                if self._messages.is_valid(v) and log.count(VoteKind.PREVOTE, v) >= quorum:
                    self._polka_seen = True  # [L36-L43]
                    if self._step == Step.PREVOTE:
                        self._locked = (self._round, v)
                        self._send_vote(VoteKind.PRECOMMIT, v)
                        self._step = Step.PRECOMMIT
                    self._valid = (self._round, v)
                    return True
        if self._step == Step.PREVOTE and log.count(VoteKind.PREVOTE, None) >= quorum:
            self._send_vote(VoteKind.PRECOMMIT, None)  # [L44-L46]
            self._step = Step.PRECOMMIT
            return True
        if not self._precommit_timeout_armed and log.total(VoteKind.PRECOMMIT) >= quorum:
            self._precommit_timeout_armed = True  # [L47-L48]
            self._schedule(TimeoutKind.PRECOMMIT)
            return True
        return False

    def _try_prevote_on(self, proposal: Proposal) -> bool:
        """[L22-L27] for ``vr = -1`` and [L28-L33] for ``0 <= vr < round_p``."""
        v = proposal.block_id
        vr = proposal.valid_round
        locked_round, locked_value = self._locked if self._locked else (NIL_ROUND, None)
        if vr == NIL_ROUND:
            accept = self._messages.is_valid(v) and (locked_round == NIL_ROUND or locked_value == v)
        else:
            pol = self._messages.round_log(vr)
            if pol is None or pol.count(VoteKind.PREVOTE, v) < self._quorum:
                return False  # no proof of lock yet: wait for it or the timeout
            accept = self._messages.is_valid(v) and (locked_round <= vr or locked_value == v)
        self._send_vote(VoteKind.PREVOTE, v if accept else None)
        self._step = Step.PREVOTE
        return True

    # -- crash safety ------------------------------------------------------------

    def snapshot(self) -> list[Packable]:
        """What a restarted validator must not forget, as the canonical msgpack array
        of :func:`node.consensus_snapshot.snapshot_fields`.

        Received messages are not part of it: peers gossip them again.
        Precondition: the machine has started.
        """
        return snapshot_fields(self._capture())

    def snapshot_bytes(self) -> bytes:
        return encode_snapshot(self._capture())

    def _capture(self) -> ConsensusSnapshot:
        if not self._started:
            raise UsageError("a machine that has not started has nothing to snapshot")
        return ConsensusSnapshot(
            self._own_id, self._validators, self._height, self._round, self._step,
            self._locked, self._valid,
            tuple(p for _, p in sorted(self._sent_proposals.items())),
            tuple(v for _, v in sorted(self._sent_votes.items())),
        )

    @classmethod
    def restore(
        cls,
        data: bytes,
        *,
        own_id: ValidatorId | None,
        timeouts: TimeoutConfig | None = None,
    ) -> ConsensusMachine:
        """Rebuild a machine from :meth:`snapshot_bytes`; feed :class:`Resume` next.

        Raises :class:`InvalidEncoding` if ``data`` is not a well-formed
        snapshot, and :class:`UsageError` if it belongs to another validator.
        A decision is not restored: the driver either committed the block
        (and feeds :class:`StartHeight` for the next height instead of
        :class:`Resume`) or the machine decides again from re-gossiped precommits.
        """
        snapshot = decode_snapshot(data, own_id=own_id)
        machine = cls(own_id=own_id, validators=snapshot.validators, timeouts=timeouts)
        machine._started = True
        machine._height = snapshot.height
        machine._messages = HeightMessages(snapshot.height, machine._validators)
        machine._round = snapshot.round
        machine._step = snapshot.step
        machine._locked = snapshot.locked
        machine._valid = snapshot.valid
        machine._sent_proposals = {p.round: p for p in snapshot.sent_proposals}
        machine._sent_votes = {(v.round, v.kind): v for v in snapshot.sent_votes}
        return machine
