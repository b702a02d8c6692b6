"""Unit tests of the consensus state machine, one upon-rule of Algorithm 1 at a time.

Line numbers [Lnn] are those of Algorithm 1 in Buchman, Kwon, Milosevic,
"The latest gossip on BFT consensus" (arXiv:1807.04938v3).  The machine under
test is validator IDS[0] of four (f = 1, 2f+1 = 3, f+1 = 2) at height 1, so
the proposer of round r is IDS[(1 + r) % 4] and IDS[0] proposes in round 3.
"""

from __future__ import annotations

import hashlib

import pytest

from client.encoding import Packable, pack, unpack
from client.errors import InvalidEncoding, UsageError
from client.hashes import Hash
from node.consensus import ConsensusMachine
from node.consensus_log import MAX_PROPOSALS_PER_ROUND, MAX_VOTES_PER_SLOT, ROUND_WINDOW
from node.consensus_types import (
    NIL_ROUND,
    Broadcast,
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
    Step,
    TimeoutConfig,
    TimeoutInput,
    TimeoutKind,
    Vote,
    VoteInput,
    VoteKind,
    proposer_of,
    quorum_size,
    weak_quorum_size,
)
from node.errors import PeerProtocolError

IDS = tuple(bytes([i + 1]) * 32 for i in range(7))
FOUR = IDS[:4]
ME = IDS[0]
TIMEOUTS = TimeoutConfig(propose=1.0, prevote=0.5, precommit=0.5, delta=0.25)
PREVOTE, PRECOMMIT = VoteKind.PREVOTE, VoteKind.PRECOMMIT


def block(name: str) -> Hash:
    return Hash(hashlib.sha256(name.encode()).digest())


V, W, X = block("v"), block("w"), block("x")


def proposer(round: int, height: int = 1) -> bytes:
    return FOUR[(height + round) % 4]


class Harness:
    """Drives one machine; ``now`` only moves when a test moves it."""

    def __init__(self, own: bytes | None = ME, validators: tuple[bytes, ...] = FOUR,
                 height: int = 1) -> None:
        self.machine = ConsensusMachine(own_id=own, validators=validators, timeouts=TIMEOUTS)
        self.now = 0.0
        self.start_effects = self.feed(StartHeight(height))

    def feed(self, event: Input) -> list[Effect]:
        return self.machine.handle(event, self.now)

    def proposal(self, round: int, block_id: Hash, valid_round: int = NIL_ROUND,
                 valid: bool = True, height: int = 1) -> list[Effect]:
        return self.feed(ProposalInput(
            Proposal(height, round, block_id, valid_round, proposer(round, height)), valid))

    def vote(self, kind: VoteKind, round: int, block_id: Hash | None, *voters: bytes,
             height: int = 1) -> list[Effect]:
        effects: list[Effect] = []
        for voter in voters:
            effects += self.feed(VoteInput(Vote(kind, height, round, block_id, voter)))
        return effects

    def loop_back(self, effects: list[Effect]) -> list[Effect]:
        """What a driver does with Broadcast: feed the message back in."""
        more: list[Effect] = []
        for effect in effects:
            if isinstance(effect, Broadcast):
                msg = effect.message
                more += self.feed(ProposalInput(msg, True) if isinstance(msg, Proposal)
                                  else VoteInput(msg))
        return more


def broadcasts(effects: list[Effect]) -> list[object]:
    return [e.message for e in effects if isinstance(e, Broadcast)]


def my_vote(kind: VoteKind, round: int, block_id: Hash | None, height: int = 1) -> Vote:
    return Vote(kind, height, round, block_id, ME)


def timeouts(effects: list[Effect]) -> list[ScheduleTimeout]:
    return [e for e in effects if isinstance(e, ScheduleTimeout)]


def to_round(h: Harness, round: int) -> None:
    """Move to ``round`` the paper's way: timeouts (precommit nil in between)."""
    while h.machine.round < round:
        r = h.machine.round
        h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, r))
        h.feed(TimeoutInput(TimeoutKind.PREVOTE, 1, r))
        h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, r))


# -- thresholds and the proposer -----------------------------------------------


@pytest.mark.parametrize("n", range(1, 60))
def test_thresholds_have_the_properties_the_proofs_use(n: int) -> None:
    f = (n - 1) // 3  # the most faulty validators n tolerates
    q, weak = quorum_size(n), weak_quorum_size(n)
    assert 2 * q - n >= f + 1      # two quorums share a correct validator (safety)
    assert q <= n - f              # the correct ones alone are a quorum (liveness)
    assert weak >= f + 1           # f+1 includes a correct validator
    assert weak <= n - f
    if n % 3 == 1:
        assert (q, weak) == (2 * f + 1, f + 1)


def test_proposer_is_round_robin_over_height_plus_round() -> None:
    assert [proposer_of(FOUR, 1, r) for r in range(5)] == [
        FOUR[1], FOUR[2], FOUR[3], FOUR[0], FOUR[1]]
    assert proposer_of(FOUR, 2, 0) == proposer_of(FOUR, 1, 1)


# -- StartRound and getValue() [L11-L21] ------------------------------------------


def test_a_non_proposer_schedules_timeout_propose() -> None:
    h = Harness()
    assert h.start_effects == [ScheduleTimeout(TimeoutKind.PROPOSE, 1, 0, 1.0)]
    assert (h.machine.height, h.machine.round, h.machine.step) == (1, 0, Step.PROPOSE)


def test_the_proposer_asks_for_a_block_and_proposes_it() -> None:
    h = Harness(own=FOUR[1])  # proposer of (1, 0)
    assert RequestBlock(1, 0) in h.start_effects
    assert h.feed(OwnBlock(1, 1, V)) == []          # stale: another round
    effects = h.feed(OwnBlock(1, 0, V))
    assert broadcasts(effects) == [Proposal(1, 0, V, NIL_ROUND, FOUR[1])]
    assert h.feed(OwnBlock(1, 0, W)) == []          # never a second proposal
    # Its own proposal comes back through the driver and it prevotes [L22].
    assert broadcasts(h.loop_back(effects)) == [Vote(PREVOTE, 1, 0, V, FOUR[1])]


def test_a_block_that_comes_after_the_propose_timeout_is_ignored() -> None:
    h = Harness(own=FOUR[1])
    effects = h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    assert broadcasts(effects) == [Vote(PREVOTE, 1, 0, None, FOUR[1])]
    assert h.feed(OwnBlock(1, 0, V)) == []


def test_a_proposer_with_a_valid_value_proposes_it_with_its_round() -> None:
    # IDS[0] proposes in round 3; give it validValue = (1, V) first [L36-L43].
    h = Harness()
    to_round(h, 1)
    h.proposal(1, V)
    h.vote(PREVOTE, 1, V, FOUR[1], FOUR[2], FOUR[3])
    assert h.machine.valid == (1, V)
    to_round(h, 2)
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 2))
    h.feed(TimeoutInput(TimeoutKind.PREVOTE, 1, 2))
    effects = h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, 2))
    assert effects == [Broadcast(Proposal(1, 3, V, 1, ME))]   # no RequestBlock


# -- [L22-L27] proposal without a proof of lock ---------------------------------


def test_l22_prevotes_a_valid_proposal_when_unlocked() -> None:
    h = Harness()
    assert broadcasts(h.proposal(0, V)) == [my_vote(PREVOTE, 0, V)]
    assert h.machine.step == Step.PREVOTE


def test_l22_prevotes_nil_for_an_invalid_proposal() -> None:
    h = Harness()
    assert broadcasts(h.proposal(0, V, valid=False)) == [my_vote(PREVOTE, 0, None)]


def test_l22_fires_once_even_for_a_second_proposal() -> None:
    h = Harness()
    h.proposal(0, V)
    effects = h.proposal(0, W)
    assert broadcasts(effects) == []
    assert [type(e) for e in effects] == [Evidence]


def test_l22_needs_step_propose() -> None:
    h = Harness()
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))   # prevoted nil already
    assert broadcasts(h.proposal(0, V)) == []


def lock_on(h: Harness, value: Hash, round: int) -> None:
    """Lock ``value`` in ``round`` [L36-L41]."""
    to_round(h, round)
    h.proposal(round, value)
    h.vote(PREVOTE, round, value, FOUR[1], FOUR[2], FOUR[3])
    assert h.machine.locked == (round, value)


def test_l22_a_locked_validator_prevotes_only_its_locked_value() -> None:
    h = Harness()
    lock_on(h, V, 0)
    h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, 0))
    assert broadcasts(h.proposal(1, W)) == [my_vote(PREVOTE, 1, None)]
    h.feed(TimeoutInput(TimeoutKind.PREVOTE, 1, 1))
    h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, 1))
    assert broadcasts(h.proposal(2, V)) == [my_vote(PREVOTE, 2, V)]


# -- [L28-L33] proposal with a proof of lock from round vr -------------------------


def test_l28_waits_for_the_proof_of_lock_then_prevotes() -> None:
    h = Harness()
    to_round(h, 1)
    assert broadcasts(h.proposal(1, V, valid_round=0)) == []
    assert broadcasts(h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2])) == []
    assert broadcasts(h.vote(PREVOTE, 0, V, FOUR[3])) == [my_vote(PREVOTE, 1, V)]


def test_l28_a_newer_proof_of_lock_unlocks() -> None:
    h = Harness()
    lock_on(h, W, 0)
    to_round(h, 2)
    h.vote(PREVOTE, 1, V, FOUR[1], FOUR[2], FOUR[3])   # POL for V in round 1 >= lockedRound
    assert broadcasts(h.proposal(2, V, valid_round=1)) == [my_vote(PREVOTE, 2, V)]


def test_l28_an_older_proof_of_lock_does_not_unlock() -> None:
    h = Harness()
    to_round(h, 1)
    lock_on(h, W, 1)
    to_round(h, 2)
    h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])   # POL for V in round 0 < lockedRound 1
    assert broadcasts(h.proposal(2, V, valid_round=0)) == [my_vote(PREVOTE, 2, None)]


def test_l28_an_invalid_value_gets_nil_despite_its_proof_of_lock() -> None:
    h = Harness()
    to_round(h, 1)
    h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])
    assert broadcasts(h.proposal(1, V, valid_round=0, valid=False)) == [
        my_vote(PREVOTE, 1, None)]


# -- [L34-L35] 2f+1 prevotes of any value ----------------------------------------


def test_l34_schedules_timeout_prevote_once() -> None:
    h = Harness()
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    h.now = 7.0
    assert timeouts(h.vote(PREVOTE, 0, V, FOUR[1])) == []
    assert timeouts(h.vote(PREVOTE, 0, None, FOUR[2])) == []
    assert timeouts(h.vote(PREVOTE, 0, W, FOUR[3])) == [
        ScheduleTimeout(TimeoutKind.PREVOTE, 1, 0, 7.5)]
    assert timeouts(h.vote(PREVOTE, 0, None, ME)) == []


def test_l34_needs_step_prevote() -> None:
    h = Harness()
    assert timeouts(h.vote(PREVOTE, 0, W, FOUR[1], FOUR[2], FOUR[3])) == []


# -- [L36-L43] proposal and 2f+1 prevotes for it -----------------------------------


def test_l36_locks_and_precommits_at_step_prevote() -> None:
    h = Harness()
    h.proposal(0, V)
    effects = h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])
    assert broadcasts(effects) == [my_vote(PRECOMMIT, 0, V)]
    assert h.machine.locked == h.machine.valid == (0, V)
    assert h.machine.step == Step.PRECOMMIT


def test_l36_after_precommitting_nil_only_sets_the_valid_value() -> None:
    h = Harness()
    h.proposal(0, V)
    h.feed(TimeoutInput(TimeoutKind.PREVOTE, 1, 0))  # step prevote -> precommit nil
    assert h.machine.step == Step.PRECOMMIT
    assert broadcasts(h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])) == []
    assert h.machine.valid == (0, V) and h.machine.locked is None


def test_l36_needs_a_valid_value() -> None:
    h = Harness()
    h.proposal(0, V, valid=False)
    assert broadcasts(h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])) == []
    assert h.machine.locked is None and h.machine.valid is None


def test_l36_needs_the_proposal() -> None:
    h = Harness()
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    assert broadcasts(h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])) == []
    assert broadcasts(h.proposal(0, V)) == [my_vote(PRECOMMIT, 0, V)]


# -- [L44-L46] 2f+1 nil prevotes ---------------------------------------------------


def test_l44_precommits_nil_on_2f_plus_1_nil_prevotes() -> None:
    h = Harness()
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    assert broadcasts(h.vote(PREVOTE, 0, None, FOUR[1], FOUR[2])) == []
    assert broadcasts(h.vote(PREVOTE, 0, None, FOUR[3])) == [my_vote(PRECOMMIT, 0, None)]
    assert h.machine.step == Step.PRECOMMIT


# -- [L47-L48] 2f+1 precommits of any value -------------------------------------------


def test_l47_schedules_timeout_precommit_once_at_any_step() -> None:
    h = Harness()
    h.now = 2.0
    assert timeouts(h.vote(PRECOMMIT, 0, None, FOUR[1], FOUR[2])) == []
    assert timeouts(h.vote(PRECOMMIT, 0, V, FOUR[3])) == [
        ScheduleTimeout(TimeoutKind.PRECOMMIT, 1, 0, 2.5)]
    assert timeouts(h.vote(PRECOMMIT, 0, None, ME)) == []
    assert h.machine.step == Step.PROPOSE


# -- [L49-L54] decide --------------------------------------------------------------------


def test_l49_decides_with_the_commit_certificate_in_validator_order() -> None:
    h = Harness()
    h.proposal(0, V)
    effects = h.vote(PRECOMMIT, 0, V, FOUR[3], FOUR[1], FOUR[2])
    decide = [e for e in effects if isinstance(e, Decide)]
    assert decide == [Decide(1, 0, V, tuple(
        Vote(PRECOMMIT, 1, 0, V, voter) for voter in (FOUR[1], FOUR[2], FOUR[3])))]
    assert h.machine.decision == decide[0]
    assert h.vote(PRECOMMIT, 0, V, ME) == []   # decided: nothing more this height


def test_l49_decides_an_earlier_round_while_in_a_later_one() -> None:
    h = Harness()
    h.proposal(0, V)
    to_round(h, 2)
    effects = h.vote(PRECOMMIT, 0, V, FOUR[1], FOUR[2], FOUR[3])
    assert any(isinstance(e, Decide) and (e.round, e.block_id) == (0, V) for e in effects)


def test_l49_waits_for_the_proposal() -> None:
    h = Harness()
    assert not any(isinstance(e, Decide) for e in h.vote(PRECOMMIT, 0, V, *FOUR[1:]))
    assert any(isinstance(e, Decide) for e in h.proposal(0, V))


def test_l49_never_decides_an_invalid_value() -> None:
    h = Harness()
    h.proposal(0, V, valid=False)
    assert not any(isinstance(e, Decide) for e in h.vote(PRECOMMIT, 0, V, *FOUR))
    assert h.machine.decision is None


def test_nil_precommits_never_decide() -> None:
    h = Harness()
    h.proposal(0, V)
    assert not any(isinstance(e, Decide) for e in h.vote(PRECOMMIT, 0, None, *FOUR))


# -- [L55-L56] round skip -------------------------------------------------------------


def test_l55_f_plus_1_messages_of_a_later_round_start_it() -> None:
    h = Harness()
    assert h.vote(PREVOTE, 5, W, FOUR[1]) == []
    assert h.vote(PRECOMMIT, 5, None, FOUR[1]) == []      # same sender: still f
    effects = h.vote(PRECOMMIT, 5, None, FOUR[2])
    assert h.machine.round == 5 and h.machine.step == Step.PROPOSE
    assert timeouts(effects) == [ScheduleTimeout(TimeoutKind.PROPOSE, 1, 5, 1.0 + 5 * 0.25)]


def test_l55_a_proposal_counts_as_a_message() -> None:
    h = Harness()
    h.proposal(4, W)
    h.vote(PREVOTE, 4, None, FOUR[3])
    assert h.machine.round == 4
    # The stored proposal of round 4 then triggers [L22] at once.
    assert h.machine.step == Step.PREVOTE


def test_l55_ignores_earlier_rounds() -> None:
    h = Harness()
    to_round(h, 3)
    h.vote(PREVOTE, 1, W, FOUR[1], FOUR[2], FOUR[3])
    assert h.machine.round == 3


def test_far_rounds_need_f_plus_1_validators_too() -> None:
    far = ROUND_WINDOW + 100
    h = Harness()
    h.vote(PREVOTE, far + 50, W, FOUR[1])
    assert h.machine.round == 0
    h.vote(PRECOMMIT, far, None, FOUR[2])
    # Two validators at rounds >= far: a correct one is at least there.
    assert h.machine.round == far
    assert h.machine.stored_message_count == 0


# -- timeouts [L57-L67] --------------------------------------------------------------


def test_timeout_propose_prevotes_nil_in_its_round_only() -> None:
    h = Harness()
    assert h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 1)) == []
    assert h.feed(TimeoutInput(TimeoutKind.PROPOSE, 2, 0)) == []
    assert broadcasts(h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))) == [
        my_vote(PREVOTE, 0, None)]
    assert h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0)) == []  # step moved on


def test_timeout_prevote_precommits_nil_at_step_prevote_only() -> None:
    h = Harness()
    assert h.feed(TimeoutInput(TimeoutKind.PREVOTE, 1, 0)) == []   # still step propose
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    assert broadcasts(h.feed(TimeoutInput(TimeoutKind.PREVOTE, 1, 0))) == [
        my_vote(PRECOMMIT, 0, None)]


def test_timeout_precommit_starts_the_next_round_from_any_step() -> None:
    h = Harness()
    assert h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, 1)) == []
    h.now = 10.0
    effects = h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, 0))
    assert (h.machine.round, h.machine.step) == (1, Step.PROPOSE)
    assert effects == [ScheduleTimeout(TimeoutKind.PROPOSE, 1, 1, 10.0 + 1.25)]


def test_timeouts_grow_linearly_with_the_round() -> None:
    durations = {kind: [TIMEOUTS.duration(kind, r) for r in range(6)] for kind in TimeoutKind}
    for kind, base in ((TimeoutKind.PROPOSE, 1.0), (TimeoutKind.PREVOTE, 0.5),
                       (TimeoutKind.PRECOMMIT, 0.5)):
        assert durations[kind] == [base + 0.25 * r for r in range(6)]
    # And the machine uses them: each new round's propose timeout is longer.
    h = Harness()
    scheduled = []
    for r in range(4):
        effects = h.feed(TimeoutInput(TimeoutKind.PRECOMMIT, 1, r))
        scheduled += [t.at - h.now for t in timeouts(effects)]
    assert scheduled == [1.25, 1.5, 1.75, 2.0]


def test_timeouts_from_the_genesis_milliseconds() -> None:
    config = TimeoutConfig.from_milliseconds(3000, 1000, 1000, 500)
    assert config.duration(TimeoutKind.PROPOSE, 2) == 4.0
    with pytest.raises(UsageError):
        TimeoutConfig(propose=0.0)


# -- evidence and equivocation ----------------------------------------------------------


def test_a_double_vote_is_evidence_once_and_the_same_vote_twice_is_not() -> None:
    h = Harness()
    first = Vote(PREVOTE, 1, 0, V, FOUR[2])
    second = Vote(PREVOTE, 1, 0, W, FOUR[2], signed=b"sig")
    assert h.feed(VoteInput(first)) == []
    assert h.feed(VoteInput(Vote(PREVOTE, 1, 0, V, FOUR[2], signed=b"again"))) == []
    effects = h.feed(VoteInput(second))
    assert effects == [Evidence(first, second)]
    evidence = effects[0]
    assert isinstance(evidence, Evidence) and evidence.second.signed == b"sig"
    assert h.feed(VoteInput(Vote(PREVOTE, 1, 0, None, FOUR[2]))) == []
    # A prevote and a precommit of the same round are not a conflict.
    assert h.feed(VoteInput(Vote(PRECOMMIT, 1, 0, W, FOUR[2]))) == []


def test_two_proposals_for_one_round_are_evidence() -> None:
    h = Harness()
    h.proposal(0, V)
    effects = h.proposal(0, V, valid_round=NIL_ROUND)   # the same proposal again
    assert effects == []
    effects = h.proposal(0, W)
    assert effects == [Evidence(Proposal(1, 0, V, NIL_ROUND, proposer(0)),
                                Proposal(1, 0, W, NIL_ROUND, proposer(0)))]


def test_a_conflicting_vote_still_counts_for_its_value() -> None:
    """A double voter must not hide a proof of lock: the paper's log has both votes.

    FOUR[3] prevoted nil to us and V to others; with FOUR[1], FOUR[2] that makes
    2f+1 for V, which the others saw and locked on.  Counting only the first
    vote would keep us from ever accepting V again, and the locked validators
    from accepting anything else: the height would never end.
    """
    h = Harness()
    h.proposal(0, V)
    h.vote(PREVOTE, 0, None, FOUR[3])
    h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2])
    effects = h.vote(PREVOTE, 0, V, FOUR[3])
    assert [type(e) for e in effects] == [Evidence, Broadcast]
    assert broadcasts(effects) == [my_vote(PRECOMMIT, 0, V)]


def test_a_double_voter_counts_once_toward_any_value_quorums() -> None:
    h = Harness()
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    h.vote(PREVOTE, 0, V, FOUR[1])
    h.vote(PREVOTE, 0, W, FOUR[1])
    assert timeouts(h.vote(PREVOTE, 0, X, FOUR[2])) == []   # 2 validators, not 3
    h.vote(PRECOMMIT, 3, V, FOUR[1])
    h.vote(PRECOMMIT, 3, W, FOUR[1])
    assert h.machine.round == 0   # one validator, however many votes: not f+1


# -- memory bounds ---------------------------------------------------------------------------


def test_a_flooding_validator_cannot_grow_memory() -> None:
    h = Harness()
    for i in range(200):
        h.vote(PREVOTE, 1, block(f"junk{i}"), FOUR[1])
        h.vote(PREVOTE, ROUND_WINDOW + 1 + i, block(f"far{i}"), FOUR[1])
        h.vote(PREVOTE, i % (ROUND_WINDOW + 1), block(f"next{i}"), FOUR[1], height=2)
        h.vote(PREVOTE, 0, block(f"later{i}"), FOUR[1], height=3)
    assert h.machine.stored_message_count == MAX_VOTES_PER_SLOT * (1 + ROUND_WINDOW + 1)
    for i in range(20):
        h.proposal(1, block(f"p{i}"))
    assert h.machine.stored_message_count == (
        MAX_VOTES_PER_SLOT * (ROUND_WINDOW + 2) + MAX_PROPOSALS_PER_ROUND)


def test_votes_for_proposed_blocks_are_kept_beyond_the_slot_cap() -> None:
    h = Harness()
    for i in range(MAX_VOTES_PER_SLOT):
        h.vote(PREVOTE, 0, block(f"junk{i}"), FOUR[3])
    h.proposal(0, V)
    h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2])
    assert broadcasts(h.vote(PREVOTE, 0, V, FOUR[3])) == [my_vote(PRECOMMIT, 0, V)]


# -- untrusted messages ------------------------------------------------------------------------


@pytest.mark.parametrize("message", [
    Proposal(1, 0, V, NIL_ROUND, FOUR[2]),             # not the proposer of (1, 0)
    Proposal(1, 1, V, 1, FOUR[2]),                     # valid round not below round
    Proposal(1, 1, V, -2, FOUR[2]),
    Proposal(1, -1, V, NIL_ROUND, FOUR[0]),
    Proposal(1, 0, Hash(b"short"), NIL_ROUND, FOUR[1]),
    Vote(PREVOTE, 1, 0, V, b"\x99" * 32),              # not a validator
    Vote(PREVOTE, 1, -1, V, FOUR[1]),
    Vote(PREVOTE, 1, 0, Hash(b"\x00" * 31), FOUR[1]),
    Vote(PREVOTE, -1, 0, V, FOUR[1]),
], ids=repr)
def test_messages_no_correct_validator_sends_are_rejected(message: Proposal | Vote) -> None:
    h = Harness()
    event: Input = ProposalInput(message, True) if isinstance(message, Proposal) \
        else VoteInput(message)
    before = h.machine.snapshot_bytes()
    with pytest.raises(ConsensusMessageError) as info:
        h.feed(event)
    assert isinstance(info.value, PeerProtocolError)
    assert info.value.diagnostics()
    assert h.machine.snapshot_bytes() == before and h.machine.stored_message_count == 0


def test_other_heights_are_ignored_and_the_next_one_is_buffered() -> None:
    h = Harness()
    h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3], height=2)
    h.vote(PREVOTE, 0, V, FOUR[1], height=3)
    h.vote(PREVOTE, 0, V, FOUR[1], height=0)
    assert h.proposal(0, V, height=2) == []             # the driver holds it
    assert h.machine.stored_message_count == 3
    effects = h.feed(StartHeight(2))
    assert h.machine.height == 2 and h.machine.round == 0
    # The buffered prevotes now count: with the proposal, [L22] then [L36].
    assert broadcasts(effects) == []
    assert broadcasts(h.proposal(0, V, height=2)) == [
        my_vote(PREVOTE, 0, V, height=2), my_vote(PRECOMMIT, 0, V, height=2)]


def test_early_double_votes_are_evidence_once_the_next_height_starts() -> None:
    h = Harness()
    first, second = Vote(PREVOTE, 2, 0, V, FOUR[1]), Vote(PREVOTE, 2, 0, W, FOUR[1])
    assert h.feed(VoteInput(first)) == [] and h.feed(VoteInput(second)) == []
    effects = h.feed(StartHeight(2))
    # After what starting the height does (the proposer of (2, 0) is not us).
    assert effects == [ScheduleTimeout(TimeoutKind.PROPOSE, 2, 0, TIMEOUTS.propose),
                       Evidence(first, second)]


def test_start_height_can_jump_ahead_and_never_goes_back() -> None:
    h = Harness()
    h.vote(PREVOTE, 0, V, FOUR[1], height=2)
    h.feed(StartHeight(7))
    assert (h.machine.height, h.machine.round, h.machine.locked) == (7, 0, None)
    assert h.machine.stored_message_count == 0       # next-height buffer was for 2
    for height in (7, 3):
        with pytest.raises(UsageError):
            h.feed(StartHeight(height))


def test_start_height_can_change_the_validator_set() -> None:
    h = Harness()
    seven = IDS[:7]
    h.feed(StartHeight(2, validators=seven))
    assert h.machine.validators == seven
    # 2f+1 of 7 is 5: four nil prevotes are not enough, five are.
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 2, 0))
    assert broadcasts(h.vote(PREVOTE, 0, None, *seven[1:5], height=2)) == []
    assert broadcasts(h.vote(PREVOTE, 0, None, seven[5], height=2)) == [
        my_vote(PRECOMMIT, 0, None, height=2)]


def test_a_follower_decides_but_never_signs() -> None:
    for own in (None, b"\x42" * 32):
        h = Harness(own=own)
        h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
        effects = h.proposal(0, V) + h.vote(PREVOTE, 0, V, *FOUR[1:])
        effects += h.vote(PRECOMMIT, 0, V, *FOUR[1:])
        assert broadcasts(effects) == []
        assert h.machine.decision is not None and h.machine.decision.block_id == V


def test_usage_errors() -> None:
    fresh = ConsensusMachine(own_id=ME, validators=FOUR)
    with pytest.raises(UsageError):
        fresh.handle(Resume(), 0.0)
    with pytest.raises(UsageError):
        fresh.snapshot()
    assert fresh.handle(VoteInput(Vote(PREVOTE, 1, 0, V, FOUR[1])), 0.0) == []
    for bad in ((), (ME, ME), (b"",), (b"\x01" * 65,)):
        with pytest.raises(UsageError):
            ConsensusMachine(own_id=ME, validators=bad)
    h = Harness()
    with pytest.raises(UsageError):
        h.feed(StartHeight(2, validators=(ME, ME)))
    assert h.machine.height == 1
    with pytest.raises(UsageError):
        h.machine.handle("vote", 0.0)  # type: ignore[arg-type]


def test_the_machine_is_deterministic() -> None:
    def run() -> list[Effect]:
        h = Harness()
        effects = h.proposal(0, V) + h.vote(PREVOTE, 0, W, FOUR[3])
        effects += h.vote(PREVOTE, 0, V, FOUR[1], FOUR[2], FOUR[3])
        effects += h.vote(PRECOMMIT, 0, V, *FOUR[1:])
        return effects
    assert run() == run()


# -- crash safety -----------------------------------------------------------------------------


def test_snapshot_layout_matches_the_documented_array() -> None:
    h = Harness()
    lock_on(h, V, 0)
    expected: list[Packable] = [
        1, ME, list(FOUR), 1, 0, int(Step.PRECOMMIT),
        [0, V], [0, V],
        [],
        [[0, 1, V], [0, 2, V]],
    ]
    assert h.machine.snapshot() == expected
    assert h.machine.snapshot_bytes() == pack(expected)
    assert unpack(h.machine.snapshot_bytes(), max_size=4096, what="snapshot") == expected


def test_restore_round_trips() -> None:
    h = Harness(own=FOUR[1])
    h.feed(OwnBlock(1, 0, V))
    h.feed(TimeoutInput(TimeoutKind.PROPOSE, 1, 0))
    data = h.machine.snapshot_bytes()
    restored = ConsensusMachine.restore(data, own_id=FOUR[1], timeouts=TIMEOUTS)
    assert restored.snapshot_bytes() == data
    assert (restored.height, restored.round, restored.step) == (1, 0, Step.PREVOTE)


def test_restore_refuses_another_validators_snapshot_and_damaged_bytes() -> None:
    h = Harness()
    lock_on(h, V, 0)
    data = h.machine.snapshot_bytes()
    with pytest.raises(UsageError):
        ConsensusMachine.restore(data, own_id=FOUR[1])
    for cut in range(len(data)):
        with pytest.raises(InvalidEncoding):
            ConsensusMachine.restore(data[:cut], own_id=ME)
    fields = unpack(data, max_size=4096, what="snapshot")
    for broken in (
        [2, *fields[1:]],                                       # unknown version
        [*fields[:9], list(reversed(fields[9]))],               # votes out of order
        [*fields[:9], [[5, 1, V]]],                             # vote in a future round
        [*fields[:4], 0, 3, *fields[6:]],                       # no such step
        [*fields[:6], [3, V], *fields[7:]],                     # locked after its round
        [*fields[:8], [[0, V, 0]], fields[9]],                  # valid round not below round
    ):
        with pytest.raises(InvalidEncoding):
            ConsensusMachine.restore(pack(broken), own_id=ME)


def test_after_restore_the_same_votes_are_sent_again_and_no_others() -> None:
    h = Harness()
    h.proposal(0, V)                       # prevote V
    data = h.machine.snapshot_bytes()
    restored = ConsensusMachine.restore(data, own_id=ME, timeouts=TIMEOUTS)
    effects = restored.handle(Resume(), 5.0)
    assert effects == [Broadcast(my_vote(PREVOTE, 0, V))]  # step prevote: no timer
    # A conflicting proposal and the timeout of the propose step change nothing.
    assert broadcasts(restored.handle(ProposalInput(
        Proposal(1, 0, W, NIL_ROUND, proposer(0)), True), 5.0)) == []
    assert restored.handle(TimeoutInput(TimeoutKind.PROPOSE, 1, 0), 5.0) == []


def test_a_stale_snapshot_still_never_yields_a_conflicting_vote() -> None:
    """Defence in depth: even if the persisted step lags the persisted votes,
    the machine re-sends the vote it recorded rather than signing another."""
    h = Harness()
    h.proposal(0, V)
    fields = unpack(h.machine.snapshot_bytes(), max_size=4096, what="snapshot")
    fields[5] = int(Step.PROPOSE)
    restored = ConsensusMachine.restore(pack(fields), own_id=ME, timeouts=TIMEOUTS)
    effects = restored.handle(Resume(), 0.0)
    assert effects == [Broadcast(my_vote(PREVOTE, 0, V)),
                       ScheduleTimeout(TimeoutKind.PROPOSE, 1, 0, 1.0)]
    effects = restored.handle(ProposalInput(Proposal(1, 0, W, NIL_ROUND, proposer(0)), True),
                              0.0)
    assert broadcasts(effects) == [my_vote(PREVOTE, 0, V)]


def test_a_restarted_proposer_proposes_the_same_block_again() -> None:
    h = Harness(own=FOUR[1])
    h.feed(OwnBlock(1, 0, V))
    restored = ConsensusMachine.restore(h.machine.snapshot_bytes(), own_id=FOUR[1])
    effects = restored.handle(Resume(), 0.0)
    assert effects == [Broadcast(Proposal(1, 0, V, NIL_ROUND, FOUR[1]))]
    assert not any(isinstance(e, RequestBlock) for e in effects)


def test_a_proposer_that_had_not_proposed_asks_again_after_restore() -> None:
    h = Harness(own=FOUR[1])
    restored = ConsensusMachine.restore(h.machine.snapshot_bytes(), own_id=FOUR[1])
    assert RequestBlock(1, 0) in restored.handle(Resume(), 0.0)


def test_a_decision_is_reached_again_after_restore() -> None:
    h = Harness()
    h.proposal(0, V)
    h.vote(PRECOMMIT, 0, V, *FOUR[1:])
    assert h.machine.decision is not None
    restored = ConsensusMachine.restore(h.machine.snapshot_bytes(), own_id=ME)
    assert restored.decision is None
    restored.handle(Resume(), 0.0)
    restored.handle(ProposalInput(Proposal(1, 0, V, NIL_ROUND, proposer(0)), True), 0.0)
    effects: list[Effect] = []
    for voter in FOUR[1:]:
        effects += restored.handle(VoteInput(Vote(PRECOMMIT, 1, 0, V, voter)), 0.0)
    assert [e.block_id for e in effects if isinstance(e, Decide)] == [V]
