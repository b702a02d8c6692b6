"""The consensus machine's write-ahead snapshot: one encoder, one checked decoder.

A restarted validator must not forget what it signed.  :class:`ConsensusSnapshot`
is that memory; :func:`encode_snapshot` makes the bytes the driver writes to its
write-ahead log before a signed message leaves, and :func:`decode_snapshot`
reads them back, checking every field (docs/protocol.md §14.8, vectors in
tests/vectors/).  :meth:`node.consensus.ConsensusMachine.restore` builds a
machine from the result.  Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

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
from client.hashes import Hash
from node.consensus_types import (
    MAX_ROUND,
    MAX_VALIDATOR_ID_SIZE,
    MAX_VALIDATORS,
    NIL_ROUND,
    Proposal,
    Step,
    ValidatorId,
    Validators,
    Vote,
    VoteKind,
    check_validators,
)

SNAPSHOT_VERSION: Final = 1
MAX_SNAPSHOT_SIZE: Final = 4 * 1024 * 1024
"""Bytes of a snapshot restore accepts: about 40 000 rounds of own messages."""


@dataclass(frozen=True, slots=True)
class ConsensusSnapshot:
    """What a restarted validator must not forget about the height it is in.

    ``sent_proposals`` are in increasing round order and ``sent_votes`` in
    increasing (round, kind) order: the order that makes the encoding canonical.
    Received messages are not part of it: peers gossip them again.
    """

    own_id: ValidatorId | None
    validators: Validators
    height: int
    round: int
    step: Step
    locked: tuple[int, Hash] | None
    valid: tuple[int, Hash] | None
    sent_proposals: tuple[Proposal, ...]
    sent_votes: tuple[Vote, ...]


def snapshot_fields(snapshot: ConsensusSnapshot) -> list[Packable]:
    """The snapshot as a canonical msgpack array::

        [1, own_id | nil, [validator_id, ...], height, round, step,
         [locked_round, locked_value] | nil, [valid_round, valid_value] | nil,
         [[round, block_id, valid_round], ...],      # proposals sent, by round
         [[round, kind, block_id | nil], ...]]       # votes sent, by (round, kind)
    """
    return [
        SNAPSHOT_VERSION,
        snapshot.own_id,
        list(snapshot.validators),
        snapshot.height,
        snapshot.round,
        int(snapshot.step),
        list(snapshot.locked) if snapshot.locked else None,
        list(snapshot.valid) if snapshot.valid else None,
        [[p.round, p.block_id, p.valid_round] for p in snapshot.sent_proposals],
        [[v.round, int(v.kind), v.block_id] for v in snapshot.sent_votes],
    ]


def encode_snapshot(snapshot: ConsensusSnapshot) -> bytes:
    data = pack(snapshot_fields(snapshot))
    assert len(data) <= MAX_SNAPSHOT_SIZE, "snapshot outgrew MAX_SNAPSHOT_SIZE"
    return data


def decode_snapshot(data: bytes, *, own_id: ValidatorId | None) -> ConsensusSnapshot:
    """Parse :func:`encode_snapshot`'s bytes, written by validator ``own_id``.

    Raises :class:`InvalidEncoding` if ``data`` is not a well-formed snapshot,
    and :class:`UsageError` if it belongs to another validator.
    """
    what = "consensus snapshot"
    fields = expect_array(unpack(data, max_size=MAX_SNAPSHOT_SIZE, what=what), what, 10)
    (version, snap_own, snap_validators, raw_height, raw_round, raw_step, locked, valid,
     proposals, votes) = fields
    expect_uint(version, "snapshot version", minimum=SNAPSHOT_VERSION,
                maximum=SNAPSHOT_VERSION)
    if snap_own is not None:
        expect_bytes(snap_own, "snapshot validator id", max_size=MAX_VALIDATOR_ID_SIZE)
    if snap_own != own_id:
        raise UsageError("this consensus snapshot was written by another validator")
    raw_validators = expect_array(snap_validators, "snapshot validators",
                                  max_len=MAX_VALIDATORS)
    members = [expect_bytes(v, "snapshot validator", max_size=MAX_VALIDATOR_ID_SIZE)
               for v in raw_validators]
    try:
        validators = check_validators(members)
    except UsageError as exc:
        fail(what, exc.diagnostics())
    height = expect_uint(raw_height, "snapshot height")
    round = expect_uint(raw_round, "snapshot round", maximum=MAX_ROUND)
    step = Step(expect_uint(raw_step, "snapshot step", maximum=max(Step)))
    locked_value = _parse_round_value(locked, "snapshot locked value", round)
    valid_value = _parse_round_value(valid, "snapshot valid value", round)
    if own_id is None and (proposals or votes):
        fail(what, "a follower cannot have sent messages")
    sent_proposals: list[Proposal] = []
    for item in expect_array(proposals, "snapshot proposals"):
        p_round, block_id, valid_round = expect_array(item, "snapshot proposal", 3)
        p_round = expect_uint(p_round, "snapshot proposal round", maximum=round)
        if sent_proposals and p_round <= sent_proposals[-1].round:
            fail(what, "proposals must be in increasing round order")
        assert own_id is not None
        sent_proposals.append(Proposal(
            height, p_round, expect_hash(block_id, "snapshot proposal block id"),
            expect_uint(valid_round, "snapshot valid round", minimum=NIL_ROUND,
                        maximum=max(p_round - 1, NIL_ROUND)),
            own_id,
        ))
    sent_votes: list[Vote] = []
    previous: tuple[int, int] | None = None
    for item in expect_array(votes, "snapshot votes"):
        v_round, kind, block_id = expect_array(item, "snapshot vote", 3)
        key = (expect_uint(v_round, "snapshot vote round", maximum=round),
               expect_uint(kind, "snapshot vote kind", minimum=min(VoteKind),
                           maximum=max(VoteKind)))
        if previous is not None and key <= previous:
            fail(what, "votes must be in increasing (round, kind) order")
        previous = key
        assert own_id is not None
        sent_votes.append(Vote(
            VoteKind(key[1]), height, key[0],
            None if block_id is None else expect_hash(block_id, "snapshot vote block id"),
            own_id,
        ))
    return ConsensusSnapshot(own_id, validators, height, round, step, locked_value,
                             valid_value, tuple(sent_proposals), tuple(sent_votes))


def _parse_round_value(value: Any, what: str, max_round: int) -> tuple[int, Hash] | None:
    if value is None:
        return None
    round, block_id = expect_array(value, what, 2)
    return expect_uint(round, f"{what} round", maximum=max_round), expect_hash(block_id, what)
