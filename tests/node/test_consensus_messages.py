"""Unit tests of one height's message log (node/consensus_messages.py) on its own.

tests/node/test_consensus.py covers the log through the machine; these pin down
what the machine relies on and cannot see directly: rejected messages change
nothing, dirty rounds and far-round marks are reported once, and early votes
cross to the next height with their evidence and without former members.
Four validators: f = 1, f+1 = 2; the proposer of (h, r) is FOUR[(h + r) % 4].
"""

from __future__ import annotations

import hashlib

import pytest

from client.hashes import Hash
from node.consensus_log import MAX_VOTES_PER_SLOT, ROUND_WINDOW
from node.consensus_messages import HeightMessages
from node.consensus_types import (
    NIL_ROUND,
    ConsensusMessageError,
    Evidence,
    Proposal,
    Vote,
    VoteKind,
)

FOUR = tuple(bytes([i + 1]) * 32 for i in range(4))
PREVOTE, PRECOMMIT = VoteKind.PREVOTE, VoteKind.PRECOMMIT
V = Hash(hashlib.sha256(b"v").digest())
W = Hash(hashlib.sha256(b"w").digest())


def test_rejected_messages_leave_the_log_as_it_was() -> None:
    log = HeightMessages(1, FOUR)
    with pytest.raises(ConsensusMessageError, match="not a validator"):
        log.add_vote(Vote(PREVOTE, 1, 0, V, b"\x99" * 32), round_p=0)
    with pytest.raises(ConsensusMessageError, match="but the proposer is"):
        log.add_proposal(Proposal(1, 0, V, NIL_ROUND, FOUR[2]), True, round_p=0)
    assert log.stored_message_count == 0
    assert log.take_dirty_rounds() == []
    assert log.round_log(0) is None and log.round_count == 0


def test_dirty_rounds_are_those_that_stored_something_since_the_last_look() -> None:
    log = HeightMessages(1, FOUR)
    log.add_vote(Vote(PREVOTE, 1, 3, V, FOUR[1]), round_p=0)
    log.add_proposal(Proposal(1, 0, V, NIL_ROUND, FOUR[1]), True, round_p=0)
    log.add_vote(Vote(PRECOMMIT, 1, 0, V, FOUR[2]), round_p=0)
    assert log.take_dirty_rounds() == [0, 3]
    assert log.take_dirty_rounds() == []
    # The same vote again, and one beyond the window, store nothing.
    log.add_vote(Vote(PREVOTE, 1, 3, V, FOUR[1]), round_p=0)
    log.add_vote(Vote(PREVOTE, 1, ROUND_WINDOW + 1, V, FOUR[1]), round_p=0)
    assert log.take_dirty_rounds() == []
    assert log.sender_count(0) == 2 and log.sender_count(3) == 1 and log.sender_count(5) == 0
    assert log.is_valid(V)


def test_the_far_round_mark_needs_enough_validators_and_reports_changes_once() -> None:
    log = HeightMessages(1, FOUR)
    far = ROUND_WINDOW + 1
    assert log.take_far_round_reached_by(2) is None
    log.add_vote(Vote(PREVOTE, 1, far + 9, V, FOUR[1]), round_p=0)
    assert log.take_far_round_reached_by(2) is None      # one validator is not f+1
    log.add_proposal(Proposal(1, far + 6, V, NIL_ROUND, FOUR[0]), True, round_p=0)
    assert log.take_far_round_reached_by(2) == far + 6   # both are at far + 6 or beyond
    assert log.take_far_round_reached_by(2) is None      # nothing new since
    log.add_vote(Vote(PREVOTE, 1, far + 2, V, FOUR[1]), round_p=0)
    assert log.take_far_round_reached_by(2) is None      # below FOUR[1]'s mark: no change
    # The window moves with round_p: the same round is stored once round_p is near.
    log.add_vote(Vote(PREVOTE, 1, far + 9, V, FOUR[2]), round_p=10)
    assert log.take_far_round_reached_by(2) is None
    assert log.take_dirty_rounds() == [far + 9]


def test_early_votes_cross_with_their_evidence_and_without_former_members() -> None:
    log = HeightMessages(1, FOUR)
    first = Vote(PREVOTE, 2, 0, V, FOUR[1])
    second = Vote(PREVOTE, 2, 0, W, FOUR[1])
    for vote in (first, second, Vote(PREVOTE, 2, 0, V, FOUR[3]),
                 Vote(PREVOTE, 2, ROUND_WINDOW + 1, V, FOUR[2]),   # too far to buffer
                 Vote(PREVOTE, 3, 0, V, FOUR[2])):                 # two heights ahead
        assert log.add_vote(vote, round_p=0) is None
    assert log.stored_message_count == 3 and log.take_dirty_rounds() == []

    next_log = HeightMessages(2, FOUR[:3])   # FOUR[3] left the set
    assert next_log.adopt_early_votes(log) == [Evidence(first, second)]
    round_0 = next_log.round_log(0)
    assert round_0 is not None
    assert (round_0.count(PREVOTE, V), round_0.count(PREVOTE, W)) == (1, 1)
    assert next_log.stored_message_count == 2
    assert next_log.take_dirty_rounds() == [0]


def test_early_votes_are_capped_per_slot() -> None:
    log = HeightMessages(1, FOUR)
    for i in range(MAX_VOTES_PER_SLOT + 5):
        block = Hash(hashlib.sha256(b"%d" % i).digest())
        log.add_vote(Vote(PRECOMMIT, 2, 1, block, FOUR[2]), round_p=0)
    assert log.stored_message_count == MAX_VOTES_PER_SLOT
