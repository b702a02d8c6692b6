"""The proposals and votes the consensus machine has received for one height.

:class:`node.consensus.ConsensusMachine` keeps one :class:`HeightMessages` per
height: the paper's message log ([L53] empties it when a height starts), split
into one :class:`node.consensus_log.RoundLog` per round, plus what the upon-rules
need besides the log: each proposed block's validity verdict, the rounds that
received something since the rules last ran, and how far ahead of the window
each validator is known to be.  This module decides what is stored and what is
evidence; the machine decides what the stored messages mean.  Pure: no I/O, no
clock.

The bounds and the deviations from the paper that live here (each also in
docs/protocol.md, "Consensus"):

* Messages further than :data:`ROUND_WINDOW` rounds ahead of ``round_p`` are
  not stored.  Instead the log remembers, per validator, the highest such
  round; the machine starts round ``R`` once f+1 validators are known to be at
  ``R`` or higher (:meth:`HeightMessages.take_far_round_reached_by`).  That
  extends [L55] ("f+1 messages of round R") with the same justification: at
  least one correct validator has reached round ``R``.
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
  ``round_p`` plus :data:`ROUND_WINDOW`, and for height + 1 only votes of
  rounds ``0..ROUND_WINDOW``.  Proposals for height + 1 are not kept: their
  validity depends on the block of this height, so the driver holds them and
  feeds them after :class:`node.consensus_types.StartHeight`.
"""

from __future__ import annotations

from client.hashes import Hash
from node.consensus_log import (
    MAX_PROPOSALS_PER_ROUND,
    MAX_VOTES_PER_SLOT,
    ROUND_WINDOW,
    RoundLog,
)
from node.consensus_types import (
    ConsensusMessageError,
    Evidence,
    Message,
    Proposal,
    ValidatorId,
    Validators,
    Vote,
    VoteKind,
    proposer_of,
)


class HeightMessages:
    """The message log of one height, and early votes for the next one.

    ``validators`` is the set of this height; every message given to it has
    passed its shape check (:func:`node.consensus_types.check_vote_shape`,
    :func:`~node.consensus_types.check_proposal_shape`) and its signature check.
    ``round_p`` arguments are the machine's current round, which never goes back.
    """

    __slots__ = ("_dirty_rounds", "_far_changed", "_far_rounds", "_members",
                 "_next_height_votes", "_reported", "_rounds", "_validators", "_validity",
                 "height")

    def __init__(self, height: int, validators: Validators) -> None:
        self.height = height
        self._validators = validators
        self._members = frozenset(validators)
        self._rounds: dict[int, RoundLog] = {}
        self._validity: dict[Hash, bool] = {}  # also: the blocks proposals name
        self._reported: set[tuple[int, int, ValidatorId]] = set()
        self._far_rounds: dict[ValidatorId, int] = {}
        self._far_changed = False
        self._dirty_rounds: set[int] = set()
        # Votes for height + 1 that arrived early, up to MAX_VOTES_PER_SLOT
        # distinct ones per (kind, round, voter), as in the round log.
        self._next_height_votes: dict[
            tuple[VoteKind, int, ValidatorId], dict[Hash | None, Vote]
        ] = {}

    # -- intake ------------------------------------------------------------------

    def add_vote(self, vote: Vote, round_p: int) -> Evidence | None:
        """Store ``vote`` if it is for this height and the window, or buffer it for
        the next height; the :class:`Evidence` if it contradicts a stored vote.

        Raises :class:`ConsensusMessageError` (nothing changed) if the voter is
        not a validator of this height.
        """
        if vote.height != self.height:
            if vote.height == self.height + 1:
                self._buffer_next_height(vote)
            return None
        if vote.voter not in self._members:
            raise ConsensusMessageError(
                f"vote at height {vote.height} from {vote.voter.hex()}, not a validator"
            )
        if vote.round > round_p + ROUND_WINDOW:
            self._note_far_round(vote.voter, vote.round)
            return None
        return self._store_vote(vote)

    def add_proposal(self, proposal: Proposal, valid: bool, round_p: int) -> Evidence | None:
        """Store ``proposal`` and the driver's verdict ``valid`` on its block; the
        :class:`Evidence` if its proposer already proposed something else this round.

        Proposals for other heights are ignored (the driver holds next-height
        ones).  Raises :class:`ConsensusMessageError` (nothing changed) if the
        sender is not the proposer of the proposal's round.
        """
        if proposal.height != self.height:
            return None
        expected = proposer_of(self._validators, proposal.height, proposal.round)
        if proposal.proposer != expected:
            raise ConsensusMessageError(
                f"proposal for height {proposal.height} round {proposal.round} from "
                f"{proposal.proposer.hex()}, but the proposer is {expected.hex()}"
            )
        if proposal.round > round_p + ROUND_WINDOW:
            self._note_far_round(proposal.proposer, proposal.round)
            return None
        log = self._round_log(proposal.round)
        key = (proposal.block_id, proposal.valid_round)
        if key in log.proposals:
            return None
        evidence = None
        if log.proposals:
            first = next(iter(log.proposals.values()))
            evidence = self._report(0, proposal.round, proposal.proposer, first, proposal)
            if len(log.proposals) >= MAX_PROPOSALS_PER_ROUND:
                return evidence
        log.proposals[key] = proposal
        log.senders.add(proposal.proposer)
        # valid(v) is a function of the block and this height's state, so
        # the first verdict stands for every proposal of the same block.
        self._validity.setdefault(proposal.block_id, valid)
        self._dirty_rounds.add(proposal.round)
        return evidence

    def adopt_early_votes(self, previous: HeightMessages) -> list[Evidence]:
        """Store the votes ``previous`` (the log of height - 1) buffered for this
        height, in arrival order; the evidence they show, in the same order.

        The validator set may have changed: early votes of former members just go.
        """
        assert previous.height + 1 == self.height
        found: list[Evidence] = []
        for slot in previous._next_height_votes.values():
            for vote in slot.values():
                if vote.voter in self._members:
                    evidence = self._store_vote(vote)
                    if evidence is not None:
                        found.append(evidence)
        return found

    def _store_vote(self, vote: Vote) -> Evidence | None:
        log = self._round_log(vote.round)
        slot = log.votes[vote.kind].get(vote.voter)
        evidence = None
        if slot is not None:
            if vote.block_id in slot:
                return None  # the same vote again
            evidence = self._report(
                int(vote.kind), vote.round, vote.voter, next(iter(slot.values())), vote
            )
            # Bounded, but never drop a vote a rule can use: nil, or a block
            # some stored proposal names (see the module docstring).
            if (
                len(slot) >= MAX_VOTES_PER_SLOT
                and vote.block_id is not None
                and vote.block_id not in self._validity
            ):
                return evidence
        log.add_vote(vote)
        self._dirty_rounds.add(vote.round)
        return evidence

    def _buffer_next_height(self, vote: Vote) -> None:
        # Without this a validator that is a little slow would miss the early
        # votes of the next height and need extra rounds there.
        if vote.round <= ROUND_WINDOW and vote.voter in self._members:
            slot = self._next_height_votes.setdefault((vote.kind, vote.round, vote.voter), {})
            if len(slot) < MAX_VOTES_PER_SLOT:
                slot.setdefault(vote.block_id, vote)

    def _round_log(self, round: int) -> RoundLog:
        log = self._rounds.get(round)
        if log is None:
            log = self._rounds[round] = RoundLog()
        return log

    def _note_far_round(self, sender: ValidatorId, round: int) -> None:
        if round > self._far_rounds.get(sender, -1):
            self._far_rounds[sender] = round
            self._far_changed = True

    def _report(
        self, kind: int, round: int, sender: ValidatorId, first: Message, second: Message
    ) -> Evidence | None:
        """:class:`Evidence` once per (kind, round, sender), then ``None``."""
        key = (kind, round, sender)
        if key in self._reported:
            return None
        self._reported.add(key)
        return Evidence(first, second)

    # -- what the upon-rules read -------------------------------------------------

    def round_log(self, round: int) -> RoundLog | None:
        """The log of ``round``, or ``None`` if nothing of it was stored."""
        return self._rounds.get(round)

    @property
    def round_count(self) -> int:
        """Rounds with a log (it bounds how often the current round's rules fire)."""
        return len(self._rounds)

    def sender_count(self, round: int) -> int:
        """Validators with a stored message of ``round`` (what [L55] counts)."""
        log = self._rounds.get(round)
        return 0 if log is None else len(log.senders)

    def is_valid(self, block_id: Hash) -> bool:
        """``valid(v)`` for a block some stored proposal names (precondition)."""
        return self._validity[block_id]

    def take_dirty_rounds(self) -> list[int]:
        """Rounds that stored a message since the last call, ascending."""
        dirty = sorted(self._dirty_rounds)
        self._dirty_rounds.clear()
        return dirty

    def take_far_round_reached_by(self, senders: int) -> int | None:
        """The highest round beyond the window that at least ``senders`` validators
        are known to have reached, or ``None`` if there is none or nothing changed
        since the last call."""
        if not self._far_changed:
            return None
        self._far_changed = False
        highest = sorted(self._far_rounds.values(), reverse=True)
        return highest[senders - 1] if len(highest) >= senders else None

    @property
    def stored_message_count(self) -> int:
        """Proposals and votes held for this height and the next (a memory gauge)."""
        this_height = sum(
            len(log.proposals) + sum(len(slot) for kind in log.votes.values()
                                     for slot in kind.values())
            for log in self._rounds.values()
        )
        return this_height + sum(len(slot) for slot in self._next_height_votes.values())
