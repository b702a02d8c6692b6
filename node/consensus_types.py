"""The vocabulary of the consensus machine: validator sets, signed messages, the
machine's inputs and effects, and its timeout parameters.

:mod:`node.consensus` holds the machine that speaks it, :mod:`node.consensus_snapshot`
its write-ahead snapshot, :mod:`node.wire` the signed bytes of each message.  Pure:
no I/O, no clock.  The checks here are the cheap ones the machine runs before it
looks at a message's height or sender: shapes and ranges, never signatures.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

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

MAX_ROUND: Final = 2**31 - 1
"""Rounds are bounded so a forged huge round cannot overflow a peer's encoder."""


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
    """Re-announce after :meth:`node.consensus.ConsensusMachine.restore`:
    re-broadcast every message sent in this height and re-arm the propose step.
    Harmless at any other time."""


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



def _check_round(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ROUND:
        raise ConsensusMessageError(f"{what} must be an integer in 0..{MAX_ROUND}")


def _check_height(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise ConsensusMessageError(f"{what} must be an integer in 0..2^64-1")


def check_vote_shape(vote: Vote) -> None:
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


def check_proposal_shape(proposal: Proposal) -> None:
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
