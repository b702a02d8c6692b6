"""The consensus machine's message log of one round, and the bounds on what it keeps.

:class:`node.consensus_messages.HeightMessages` keeps one :class:`RoundLog` per
round of the current height.  The log counts votes as they are inserted, so every
upon-rule of :class:`node.consensus.ConsensusMachine` is a dictionary lookup;
what may be inserted (the bounds below, evidence of equivocation) is decided by
``HeightMessages``.  Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from client.hashes import Hash
from node.consensus_types import Proposal, ValidatorId, Vote, VoteKind

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



class RoundLog:
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
