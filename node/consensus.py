"""The Tendermint consensus algorithm as a pure, deterministic state machine.

This module is Algorithm 1 of Buchman, Kwon, Milosevic, "The latest gossip on
BFT consensus" (arXiv:1807.04938v3, 2018), one height at a time.  Comments cite
its line numbers as ``[L22]`` and so on.  The machine does no I/O and never
reads a clock: a driver (one asyncio task in the node, a simulated network in
the tests) feeds it :data:`Input` values with the current time and carries out
the :data:`Effect` values it returns::

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
* Messages further than :data:`ROUND_WINDOW` rounds ahead are not stored.
  Instead the machine remembers, per validator, the highest such round; once
  f+1 validators are known to be at round ``R`` or higher it starts round
  ``R``.  That extends [L55] ("f+1 messages of round R") with the same
  justification: at least one correct validator has reached round ``R``.
* An equivocating validator's votes: its first vote of a (round, kind) is
  what counts toward "2f+1 of any value" ([L34], [L47]) and [L55]; a
  different vote of the same slot is evidence, and it *also* counts toward
  its own value, because the paper's message log holds both messages.
  Counting the first only would let one double-voting validator show a proof
  of lock to some correct validators and hide it from others, which can halt
  the height for ever (tests/node/test_consensus.py shows the case).  Safety is
  unaffected: two values with 2f+1 votes in one round need f+1 equivocators.
* Memory is bounded per height: :data:`MAX_VOTES_PER_SLOT` votes per
  (round, kind, validator) plus votes for nil or proposed blocks,
  :data:`MAX_PROPOSALS_PER_ROUND` distinct proposals per round, rounds up to
  the current one plus :data:`ROUND_WINDOW`, and for height + 1 only votes of
  rounds ``0..ROUND_WINDOW``.  Proposals for height + 1 are not kept: their
  validity depends on the block of this height, so the driver holds them and
  feeds them after :class:`StartHeight`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from client.encoding import (
    Packable,
    expect_array,
    expect_bytes,
    expect_hash,
    expect_uint,
    fail,
    pack,
    unpack,
)
from client.errors import UsageError
from client.hashes import HASH_SIZE, Hash
from node.errors import PeerProtocolError

ValidatorId: TypeAlias = bytes
"""A validator's identity: in practice its 32-byte Ed25519 public key."""

Validators: TypeAlias = tuple[ValidatorId, ...]
"""The ordered validator set of a height; every validator has voting power 1."""

NIL_ROUND: Final = -1
"""``-1`` of the paper: no round (an unset ``validRound``, a proposal without POL)."""

MAX_VALIDATORS: Final = 1000
MAX_VALIDATOR_ID_SIZE: Final = 64

ROUND_WINDOW: Final = 16
"""Messages of rounds up to ``round + ROUND_WINDOW`` are stored; later ones only
move the per-validator high-water mark used for round skipping."""

MAX_PROPOSALS_PER_ROUND: Final = 4
"""Distinct proposals kept per round.  One is all a correct proposer sends; the
rest exist so a decision is still possible when an equivocating proposer's
second proposal is the one that gathers the votes."""

MAX_VOTES_PER_SLOT: Final = 3
"""Distinct votes kept per (round, kind, validator) in arrival order; beyond it
only votes for nil or for a block a stored proposal names are kept."""

MAX_ROUND: Final = 2**31 - 1
"""Rounds are bounded so a forged huge round cannot overflow a peer's encoder."""

SNAPSHOT_VERSION: Final = 1
MAX_SNAPSHOT_SIZE: Final = 4 * 1024 * 1024
"""Bytes of a snapshot restore accepts: about 40 000 rounds of own messages."""


class ConsensusMessageError(PeerProtocolError):
    """A verified message that no correct validator could have sent.

    Raised for a proposal from a validator that is not the proposer of its
    round, a vote from a non-validator, a negative or huge round, a
    ``valid_round`` not below the proposal's round, or a malformed block id.
    The driver should count it against the peer that relayed it.
    """

    code = "bad_consensus_message"


class Step(enum.IntEnum):
    """``step_p`` [L4]; ordered, because [L36] tests ``step >= prevote``."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


class VoteKind(enum.IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


class TimeoutKind(enum.IntEnum):
    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


@dataclass(frozen=True, slots=True)
class Proposal:
    """``<PROPOSAL, h, r, id(v), vr>`` signed by ``proposer``.

    ``signed`` is the driver's opaque signed encoding; it does not take part in
    equality, so two messages are the same message when their contents are.
    """

    height: int
    round: int
    block_id: Hash
    valid_round: int
    proposer: ValidatorId
    signed: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Vote:
    """``<PREVOTE|PRECOMMIT, h, r, id(v) or nil>`` signed by ``voter``."""

    kind: VoteKind
    height: int
    round: int
    block_id: Hash | None
    voter: ValidatorId
    signed: bytes = field(default=b"", compare=False, repr=False)


Message: TypeAlias = Proposal | Vote


# ---------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class StartHeight:
    """Start ``height`` at round 0 [L10, L54].

    Precondition: ``height`` is above the current height (any amount above,
    after catch-up by sync).  ``validators`` replaces the validator set from
    this height on; ``None`` keeps it.
    """

    height: int
    validators: Validators | None = None


@dataclass(frozen=True, slots=True)
class ProposalInput:
    """A received proposal whose signature the driver verified, and ``valid(v)``."""

    proposal: Proposal
    valid: bool


@dataclass(frozen=True, slots=True)
class VoteInput:
    """A received vote whose signature the driver verified."""

    vote: Vote


@dataclass(frozen=True, slots=True)
class TimeoutInput:
    """A timeout scheduled by :class:`ScheduleTimeout` has expired."""

    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class OwnBlock:
    """The driver's answer to :class:`RequestBlock`: ``getValue()`` [L18]."""

    height: int
    round: int
    block_id: Hash


@dataclass(frozen=True, slots=True)
class Resume:
    """Re-announce after :meth:`ConsensusMachine.restore`: re-broadcast every
    message sent in this height and re-arm the propose step.  Harmless at any
    other time."""


Input: TypeAlias = StartHeight | ProposalInput | VoteInput | TimeoutInput | OwnBlock | Resume


# ---------------------------------------------------------------------------
# Effects


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Sign ``message``, log it (synced) with the snapshot, send it to all peers
    and feed it back to this machine."""

    message: Message


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Feed ``TimeoutInput(kind, height, round)`` once the clock reaches ``at``."""

    kind: TimeoutKind
    height: int
    round: int
    at: float


@dataclass(frozen=True, slots=True)
class RequestBlock:
    """Build a valid block for (height, round) and answer with :class:`OwnBlock`."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Decide:
    """``decision_p[h] = v`` [L51].

    ``precommits`` are at least 2f+1 precommits for ``block_id`` in ``round``,
    in validator-set order: the commit certificate to store with the block.
    """

    height: int
    round: int
    block_id: Hash
    precommits: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """``first`` and ``second`` are two different messages of one kind that one
    validator signed for the same (height, round): proof of equivocation."""

    first: Message
    second: Message


Effect: TypeAlias = Broadcast | ScheduleTimeout | RequestBlock | Decide | Evidence


# ---------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """``timeoutX(r) = initTimeoutX + r * timeoutDelta`` (paper, section 3), in seconds.

    The timeouts grow with the round so that, after GST, some round is long
    enough for every correct validator to hear every other one.
    """

    propose: float = 1.0
    prevote: float = 0.5
    precommit: float = 0.5
    delta: float = 0.5

    def __post_init__(self) -> None:
        if min(self.propose, self.prevote, self.precommit) <= 0 or self.delta < 0:
            raise UsageError("timeouts must be positive and the delta not negative")

    @classmethod
    def from_milliseconds(
        cls, propose_ms: int, prevote_ms: int, precommit_ms: int, delta_ms: int
    ) -> TimeoutConfig:
        """From the genesis file's ``consensus`` section."""
        return cls(propose_ms / 1000, prevote_ms / 1000, precommit_ms / 1000, delta_ms / 1000)

    def duration(self, kind: TimeoutKind, round: int) -> float:
        base = {
            TimeoutKind.PROPOSE: self.propose,
            TimeoutKind.PREVOTE: self.prevote,
            TimeoutKind.PRECOMMIT: self.precommit,
        }[kind]
        return base + round * self.delta


def quorum_size(n: int) -> int:
    """2f+1 for ``n`` validators of equal power: more than two thirds."""
    return 2 * n // 3 + 1


def weak_quorum_size(n: int) -> int:
    """f+1 for ``n`` validators: enough to include at least one correct one."""
    return n // 3 + 1


def proposer_of(validators: Validators, height: int, round: int) -> ValidatorId:
    """``proposer(h, r)``: round robin over the validator set."""
    return validators[(height + round) % len(validators)]


def check_validators(validators: Sequence[bytes]) -> Validators:
    """Return ``validators`` as a tuple, or raise :class:`UsageError` if empty,
    too large, or holding duplicates or empty / oversized ids."""
    result = tuple(validators)
    if not 1 <= len(result) <= MAX_VALIDATORS:
        raise UsageError(f"a validator set has 1..{MAX_VALIDATORS} members, got {len(result)}")
    for member in result:
        if not isinstance(member, bytes) or not 1 <= len(member) <= MAX_VALIDATOR_ID_SIZE:
            raise UsageError(f"validator ids are 1..{MAX_VALIDATOR_ID_SIZE} bytes")
    if len(set(result)) != len(result):
        raise UsageError("validator ids must be distinct")
    return result


# ---------------------------------------------------------------------------
# Message log of one round


class _RoundLog:
    """The message log of one round.

    ``votes[kind][voter]`` maps block id (None = nil) to that validator's vote
    for it; more than one entry means the validator equivocated.
    """

    __slots__ = ("proposals", "senders", "tallies", "votes")

    def __init__(self) -> None:
        self.votes: dict[VoteKind, dict[ValidatorId, dict[Hash | None, Vote]]] = {
            VoteKind.PREVOTE: {}, VoteKind.PRECOMMIT: {},
        }
        # Votes per block id (None = nil), kept up to date on insert so every
        # upon-rule is a dictionary lookup.
        self.tallies: dict[VoteKind, dict[Hash | None, int]] = {
            VoteKind.PREVOTE: {}, VoteKind.PRECOMMIT: {},
        }
        self.proposals: dict[tuple[Hash, int], Proposal] = {}
        self.senders: set[ValidatorId] = set()

    def count(self, kind: VoteKind, block_id: Hash | None) -> int:
        return self.tallies[kind].get(block_id, 0)

    def total(self, kind: VoteKind) -> int:
        """Distinct validators with a vote of ``kind``: "2f+1 of any value"."""
        return len(self.votes[kind])

    def add_vote(self, vote: Vote) -> None:
        self.votes[vote.kind].setdefault(vote.voter, {})[vote.block_id] = vote
        tally = self.tallies[vote.kind]
        tally[vote.block_id] = tally.get(vote.block_id, 0) + 1
        self.senders.add(vote.voter)

    def votes_for(self, kind: VoteKind, block_id: Hash | None) -> Iterable[Vote]:
        for slot in self.votes[kind].values():
            vote = slot.get(block_id)
            if vote is not None:
                yield vote


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
        # Votes for height + 1 that arrived early, up to MAX_VOTES_PER_SLOT
        # distinct ones per (kind, round, voter), as in the round log.
        self._next_height_votes: dict[
            tuple[VoteKind, int, ValidatorId], dict[Hash | None, Vote]
        ] = {}
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
        this_height = sum(
            len(log.proposals) + sum(len(slot) for kind in log.votes.values()
                                     for slot in kind.values())
            for log in self._rounds.values()
        )
        return this_height + sum(len(slot) for slot in self._next_height_votes.values())

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
        self._rounds: dict[int, _RoundLog] = {}
        self._validity: dict[Hash, bool] = {}  # also: the blocks proposals name
        self._sent_proposals: dict[int, Proposal] = {}
        self._sent_votes: dict[tuple[int, VoteKind], Vote] = {}
        self._reported: set[tuple[int, int, ValidatorId]] = set()
        self._far_rounds: dict[ValidatorId, int] = {}
        self._far_changed = False
        self._dirty_rounds: set[int] = set()
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
        early = self._next_height_votes if event.height == self._height + 1 else {}
        self._next_height_votes = {}
        if validators is not None:
            self._set_validators(validators)
        self._height = event.height
        self._started = True
        self._reset_height()
        self._start_round(0)
        for slot in early.values():
            for vote in slot.values():
                # The set may have changed; early votes of former members just go.
                if vote.voter in self._index:
                    self._store_vote(vote)

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

    def _on_vote(self, vote: Vote) -> None:
        # Cheap shape checks first, then height, then membership.
        _check_vote_shape(vote)
        if not self._started or vote.height != self._height:
            if self._started and vote.height == self._height + 1:
                self._buffer_next_height(vote)
            return
        if vote.voter not in self._index:
            raise ConsensusMessageError(
                f"vote at height {vote.height} from {vote.voter.hex()}, not a validator"
            )
        if vote.round > self._round + ROUND_WINDOW:
            self._note_far_round(vote.voter, vote.round)
            return
        self._store_vote(vote)

    def _store_vote(self, vote: Vote) -> None:
        log = self._round_log(vote.round)
        slot = log.votes[vote.kind].get(vote.voter)
        if slot is not None:
            if vote.block_id in slot:
                return  # the same vote again
            self._report(int(vote.kind), vote.round, vote.voter, next(iter(slot.values())), vote)
            # Bounded, but never drop a vote a rule can use: nil, or a block
            # some stored proposal names (see the module docstring).
            if (
                len(slot) >= MAX_VOTES_PER_SLOT
                and vote.block_id is not None
                and vote.block_id not in self._validity
            ):
                return
        log.add_vote(vote)
        self._dirty_rounds.add(vote.round)

    def _buffer_next_height(self, vote: Vote) -> None:
        # Without this a validator that is a little slow would miss the early
        # votes of the next height and need extra rounds there.
        if vote.round <= ROUND_WINDOW and vote.voter in self._index:
            slot = self._next_height_votes.setdefault((vote.kind, vote.round, vote.voter), {})
            if len(slot) < MAX_VOTES_PER_SLOT:
                slot.setdefault(vote.block_id, vote)

    def _on_proposal(self, proposal: Proposal, valid: bool) -> None:
        _check_proposal_shape(proposal)
        if not self._started or proposal.height != self._height:
            return  # the driver holds next-height proposals (see module docstring)
        expected = proposer_of(self._validators, proposal.height, proposal.round)
        if proposal.proposer != expected:
            raise ConsensusMessageError(
                f"proposal for height {proposal.height} round {proposal.round} from "
                f"{proposal.proposer.hex()}, but the proposer is {expected.hex()}"
            )
        if proposal.round > self._round + ROUND_WINDOW:
            self._note_far_round(proposal.proposer, proposal.round)
            return
        log = self._round_log(proposal.round)
        key = (proposal.block_id, proposal.valid_round)
        if key in log.proposals:
            return
        if log.proposals:
            first = next(iter(log.proposals.values()))
            self._report(0, proposal.round, proposal.proposer, first, proposal)
            if len(log.proposals) >= MAX_PROPOSALS_PER_ROUND:
                return
        log.proposals[key] = proposal
        log.senders.add(proposal.proposer)
        # valid(v) is a function of the block and this height's state, so
        # the first verdict stands for every proposal of the same block.
        self._validity.setdefault(proposal.block_id, valid)
        self._dirty_rounds.add(proposal.round)

    def _round_log(self, round: int) -> _RoundLog:
        log = self._rounds.get(round)
        if log is None:
            log = self._rounds[round] = _RoundLog()
        return log

    def _note_far_round(self, sender: ValidatorId, round: int) -> None:
        if round > self._far_rounds.get(sender, -1):
            self._far_rounds[sender] = round
            self._far_changed = True

    def _report(
        self, kind: int, round: int, sender: ValidatorId, first: Message, second: Message
    ) -> None:
        """Emit :class:`Evidence` once per (kind, round, sender)."""
        key = (kind, round, sender)
        if key not in self._reported:
            self._reported.add(key)
            self._out.append(Evidence(first, second))

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
        dirty = sorted(self._dirty_rounds)
        self._dirty_rounds.clear()
        # [L49] needs a proposal or a precommit of round r, so only rounds
        # that received one since the last pass can have become decidable.
        for round in dirty:
            if self._try_decide(round):
                return
        self._try_skip_round(dirty)
        for _ in range(8 * (len(self._rounds) + 4)):
            if not self._try_current_round_rules():
                return
        raise AssertionError("upon-rules did not settle")

    def _try_decide(self, round: int) -> bool:
        """[L49-L51]: the proposal of ``round`` and 2f+1 precommits for it, valid."""
        log = self._rounds.get(round)
        if log is None:
            return False
        for proposal in log.proposals.values():
            v = proposal.block_id
            if log.count(VoteKind.PRECOMMIT, v) >= self._quorum and self._validity[v]:
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
             and len(self._rounds[r].senders) >= self._weak_quorum),
            default=self._round,
        )
        if self._far_changed:
            self._far_changed = False
            highest = sorted(self._far_rounds.values(), reverse=True)
            if len(highest) >= self._weak_quorum:
                target = max(target, highest[self._weak_quorum - 1])
        if target > self._round:
            self._start_round(target)

    def _try_current_round_rules(self) -> bool:
        """The rules about round_p, in line order; True if one fired."""
        log = self._rounds.get(self._round)
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
                if self._validity[v] and log.count(VoteKind.PREVOTE, v) >= quorum:
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
            accept = self._validity[v] and (locked_round == NIL_ROUND or locked_value == v)
        else:
            pol = self._rounds.get(vr)
            if pol is None or pol.count(VoteKind.PREVOTE, v) < self._quorum:
                return False  # no proof of lock yet: wait for it or the timeout
            accept = self._validity[v] and (locked_round <= vr or locked_value == v)
        self._send_vote(VoteKind.PREVOTE, v if accept else None)
        self._step = Step.PREVOTE
        return True

    # -- crash safety ------------------------------------------------------------

    def snapshot(self) -> list[Packable]:
        """What a restarted validator must not forget, as a canonical msgpack array::

            [1, own_id | nil, [validator_id, ...], height, round, step,
             [locked_round, locked_value] | nil, [valid_round, valid_value] | nil,
             [[round, block_id, valid_round], ...],      # proposals sent, by round
             [[round, kind, block_id | nil], ...]]       # votes sent, by (round, kind)

        Received messages are not part of it: peers gossip them again.
        Precondition: the machine has started.
        """
        if not self._started:
            raise UsageError("a machine that has not started has nothing to snapshot")
        return [
            SNAPSHOT_VERSION,
            self._own_id,
            list(self._validators),
            self._height,
            self._round,
            int(self._step),
            list(self._locked) if self._locked else None,
            list(self._valid) if self._valid else None,
            [[p.round, p.block_id, p.valid_round]
             for _, p in sorted(self._sent_proposals.items())],
            [[v.round, int(v.kind), v.block_id] for _, v in sorted(self._sent_votes.items())],
        ]

    def snapshot_bytes(self) -> bytes:
        data = pack(self.snapshot())
        assert len(data) <= MAX_SNAPSHOT_SIZE, "snapshot outgrew MAX_SNAPSHOT_SIZE"
        return data

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
        what = "consensus snapshot"
        fields = expect_array(unpack(data, max_size=MAX_SNAPSHOT_SIZE, what=what), what, 10)
        (version, snap_own, snap_validators, height, round, step, locked, valid,
         proposals, votes) = fields
        expect_uint(version, "snapshot version", minimum=SNAPSHOT_VERSION,
                    maximum=SNAPSHOT_VERSION)
        if snap_own is not None:
            expect_bytes(snap_own, "snapshot validator id", max_size=MAX_VALIDATOR_ID_SIZE)
        if snap_own != own_id:
            raise UsageError("this consensus snapshot was written by another validator")
        raw_validators = expect_array(snap_validators, "snapshot validators",
                                      max_len=MAX_VALIDATORS)
        validators = [expect_bytes(v, "snapshot validator", max_size=MAX_VALIDATOR_ID_SIZE)
                      for v in raw_validators]
        try:
            machine = cls(own_id=own_id, validators=validators, timeouts=timeouts)
        except UsageError as exc:
            fail(what, exc.diagnostics())
        machine._started = True
        machine._height = expect_uint(height, "snapshot height")
        machine._round = expect_uint(round, "snapshot round", maximum=MAX_ROUND)
        machine._step = Step(expect_uint(step, "snapshot step", maximum=max(Step)))
        machine._locked = _parse_round_value(locked, "snapshot locked value", machine._round)
        machine._valid = _parse_round_value(valid, "snapshot valid value", machine._round)
        if own_id is None and (proposals or votes):
            fail(what, "a follower cannot have sent messages")
        for item in expect_array(proposals, "snapshot proposals"):
            p_round, block_id, valid_round = expect_array(item, "snapshot proposal", 3)
            p_round = expect_uint(p_round, "snapshot proposal round", maximum=machine._round)
            if machine._sent_proposals and p_round <= max(machine._sent_proposals):
                fail(what, "proposals must be in increasing round order")
            assert own_id is not None
            machine._sent_proposals[p_round] = Proposal(
                machine._height, p_round, expect_hash(block_id, "snapshot proposal block id"),
                expect_uint(valid_round, "snapshot valid round", minimum=NIL_ROUND,
                            maximum=max(p_round - 1, NIL_ROUND)),
                own_id,
            )
        previous: tuple[int, int] | None = None
        for item in expect_array(votes, "snapshot votes"):
            v_round, kind, block_id = expect_array(item, "snapshot vote", 3)
            key = (expect_uint(v_round, "snapshot vote round", maximum=machine._round),
                   expect_uint(kind, "snapshot vote kind", minimum=min(VoteKind),
                               maximum=max(VoteKind)))
            if previous is not None and key <= previous:
                fail(what, "votes must be in increasing (round, kind) order")
            previous = key
            assert own_id is not None
            vote_kind = VoteKind(key[1])
            machine._sent_votes[(key[0], vote_kind)] = Vote(
                vote_kind, machine._height, key[0],
                None if block_id is None else expect_hash(block_id, "snapshot vote block id"),
                own_id,
            )
        return machine


def _parse_round_value(value: Any, what: str, max_round: int) -> tuple[int, Hash] | None:
    if value is None:
        return None
    round, block_id = expect_array(value, what, 2)
    return expect_uint(round, f"{what} round", maximum=max_round), expect_hash(block_id, what)


def _check_round(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ROUND:
        raise ConsensusMessageError(f"{what} must be an integer in 0..{MAX_ROUND}")


def _check_height(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise ConsensusMessageError(f"{what} must be an integer in 0..2^64-1")


def _check_vote_shape(vote: Vote) -> None:
    if not isinstance(vote.kind, VoteKind):
        raise ConsensusMessageError(f"vote kind must be prevote or precommit, got {vote.kind!r}")
    _check_height(vote.height, "vote height")
    _check_round(vote.round, "vote round")
    if vote.block_id is not None and (
        not isinstance(vote.block_id, bytes) or len(vote.block_id) != HASH_SIZE
    ):
        raise ConsensusMessageError(f"a vote's block id is nil or {HASH_SIZE} bytes")
    if not isinstance(vote.voter, bytes) or not vote.voter:
        raise ConsensusMessageError("a vote names its voter")


def _check_proposal_shape(proposal: Proposal) -> None:
    _check_height(proposal.height, "proposal height")
    _check_round(proposal.round, "proposal round")
    if not isinstance(proposal.block_id, bytes) or len(proposal.block_id) != HASH_SIZE:
        raise ConsensusMessageError(f"a proposal's block id is {HASH_SIZE} bytes")
    vr = proposal.valid_round
    # [L28] only considers vr < round_p; a proof of lock from the proposal's
    # own round or a later one cannot exist when it is sent.
    if isinstance(vr, bool) or not isinstance(vr, int) or not NIL_ROUND <= vr < proposal.round:
        raise ConsensusMessageError(
            f"a proposal's valid round is -1 or below its round {proposal.round}, got {vr!r}"
        )
    if not isinstance(proposal.proposer, bytes) or not proposal.proposer:
        raise ConsensusMessageError("a proposal names its proposer")
