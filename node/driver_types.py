"""What the consensus driver and its runner say to each other: the inputs the
runner feeds :class:`node.driver.ConsensusDriver`, and the actions it returns.

Each action that needs an answer names the input that carries it
(:class:`BuildBlock` -> :class:`BlockBuilt`, :class:`CheckProposal` ->
:class:`ProposalChecked`, :class:`Commit` -> :class:`Committed`).  ``P`` is the
runner's handle on an executed block; neither side looks inside it here.  Pure
data: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from client.hashes import Hash
from node.consensus_types import Decide, Evidence, Message, Proposal, TimeoutInput, Vote
from node.records import BlockBody

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Pacing:
    """The genesis file's block timing, in seconds and events."""

    block_interval: float
    empty_block_interval: float
    max_block_events: int

    def build_at(self, now: float, pending_events: int, pending_since: float | None) -> float:
        """When to build the next block: once the oldest pending event (admitted at
        ``pending_since``, on ``now``'s clock) has waited ``block_interval``, so a block is
        not a handful of events; at once if a block's worth is waiting.  ``pending_since``
        None (unknown) gives the events a whole ``block_interval`` from ``now``."""
        if pending_events >= self.max_block_events:
            return now
        if pending_since is None:
            return now + self.block_interval
        return max(now, pending_since + self.block_interval)


Signer: TypeAlias = Callable[[Message], Message]
"""Returns the message with its ``signed`` bytes filled in (Ed25519 in the node)."""


# ---------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class Recover:
    """Start-up: the committed height, and the write-ahead snapshot and bodies if any."""

    head_height: int
    snapshot: bytes | None
    bodies: tuple[tuple[Hash, BlockBody], ...] = ()


@dataclass(frozen=True, slots=True)
class Wake:
    """Events arrived or the empty-block timer fired: maybe start the next height."""


@dataclass(frozen=True, slots=True)
class ProposalArrived:
    """A proposal whose signature was verified, with the body its frame carried."""

    proposal: Proposal
    body: BlockBody
    data: bytes
    """The frame as received, re-sent by re-gossip."""


@dataclass(frozen=True, slots=True)
class VoteArrived:
    vote: Vote
    data: bytes


@dataclass(frozen=True, slots=True)
class BuildDue:
    """``block_interval`` has passed since this node was asked to propose."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class BlockBuilt(Generic[P]):
    """The runner's answer to :class:`BuildBlock`."""

    height: int
    round: int
    block_id: Hash
    body: BlockBody
    block: P


@dataclass(frozen=True, slots=True)
class ProposalChecked(Generic[P]):
    """The runner's answer to :class:`CheckProposal`: ``valid(v)``.

    ``valid`` is None when the body does not hash to the block id the proposal
    signs: such a body says nothing about the block, and the machine's first
    verdict on a block stands for the whole height, so it is not told.
    """

    proposal: Proposal
    body: BlockBody
    valid: bool | None
    block: P | None


@dataclass(frozen=True, slots=True)
class Committed:
    """A block was written (decided here or fetched by catch-up); ``height`` is the head."""

    height: int


@dataclass(frozen=True, slots=True)
class RegossipDue:
    """The runner's periodic tick (every :data:`node.driver.REGOSSIP_INTERVAL`)."""


DriverInput: TypeAlias = (Recover | Wake | ProposalArrived | VoteArrived | BuildDue
                          | BlockBuilt[P] | ProposalChecked[P] | Committed | RegossipDue
                          | TimeoutInput)


# ---------------------------------------------------------------------------
# Actions


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Handle ``input`` once the clock reaches ``at``."""

    at: float
    input: TimeoutInput | BuildDue | Wake


@dataclass(frozen=True, slots=True)
class CancelTimers:
    """Every timer set so far is void (a height ended)."""


@dataclass(frozen=True, slots=True)
class BuildBlock:
    """Build this node's block for (height, round) from the mempool; answer :class:`BlockBuilt`."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class CheckProposal:
    """Execute the proposal's body against the ledger; answer :class:`ProposalChecked`."""

    proposal: Proposal
    body: BlockBody


@dataclass(frozen=True, slots=True)
class PersistSnapshot:
    """Write the machine's snapshot durably; a signed message follows."""

    snapshot: bytes


@dataclass(frozen=True, slots=True)
class PersistBody:
    block_id: Hash
    body: BlockBody


@dataclass(frozen=True, slots=True)
class DeleteBodies:
    """The height ended: the persisted bodies are of no further use."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send a signed message to every peer; ``data`` is its frame."""

    message: Message
    data: bytes


@dataclass(frozen=True, slots=True)
class Regossip:
    """Send these frames to every peer again."""

    frames: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Commit(Generic[P]):
    """Write the decided block with the decision's precommits as its certificate;
    answer :class:`Committed`."""

    decision: Decide
    block: P


@dataclass(frozen=True, slots=True)
class RecordEvidence:
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class StartCatchUp:
    """Fetch committed blocks from peers; each one written is answered by :class:`Committed`."""


@dataclass(frozen=True, slots=True)
class Requeue:
    """Handle ``input`` again after what is queued now (held messages whose height came)."""

    input: ProposalArrived | VoteArrived


@dataclass(frozen=True, slots=True)
class AnnounceHead:
    """Tell peers the new head (a status frame and the head's cosignatures)."""


Action: TypeAlias = (SetTimer | CancelTimers | BuildBlock | CheckProposal | PersistSnapshot
                     | PersistBody | DeleteBodies | Send | Regossip | Commit[P] | RecordEvidence
                     | StartCatchUp | Requeue | AnnounceHead)
