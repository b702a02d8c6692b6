"""Vectors for what nodes send each other: signed votes and proposals, commit
certificates and peer frames (node/wire.py)."""

from __future__ import annotations

from typing import Any

from client.block import BlockHeader, validator_set_hash
from client.merkle import leaf_hash
from node.consensus_types import NIL_ROUND, Proposal, Vote, VoteKind
from node.wire import (
    CosignatureFrame,
    EventsFrame,
    Hello,
    ProposalFrame,
    RawBlock,
    Status,
    VoteFrame,
    certificate_from_precommits,
    encode_frame,
    proposal_sign_bytes,
    sign_proposal,
    sign_vote,
    vote_sign_bytes,
)
from tests.protocol_fixtures import CREATED, ORIGIN, fixed_key, sample_events

VALIDATORS = [fixed_key(f"validator {i}") for i in range(4)]
BLOCK_ID = leaf_hash(b"block id example")


def generate() -> dict[str, object]:
    keys = [v.public_key for v in VALIDATORS]
    votes = []
    for kind, block_id in ((VoteKind.PREVOTE, BLOCK_ID), (VoteKind.PRECOMMIT, BLOCK_ID),
                           (VoteKind.PREVOTE, None)):
        vote = sign_vote(ORIGIN, Vote(kind, 5, 1, block_id, keys[2]), VALIDATORS[2])
        votes.append({
            "kind": int(kind), "height": 5, "round": 1,
            "block_id": None if block_id is None else block_id.hex(),
            "voter": keys[2].hex(),
            "sign_bytes": vote_sign_bytes(ORIGIN, kind, 5, 1, block_id).hex(),
            "signed": vote.signed.hex(),
        })
    proposal = sign_proposal(ORIGIN, Proposal(5, 1, BLOCK_ID, NIL_ROUND, keys[1]), VALIDATORS[1])
    precommits = [sign_vote(ORIGIN, Vote(VoteKind.PRECOMMIT, 5, 1, BLOCK_ID, keys[i]),
                            VALIDATORS[i]) for i in (0, 1, 3)]
    certificate = certificate_from_precommits(precommits, keys)
    # A block body for the proposal and events frames and the raw block: two sample
    # events and the header leaf that closes them (structure only: BLOCK_ID stays a
    # placeholder rather than the log root these leaves would give).
    block_events = [event.encoded for event in sample_events()[:2]]
    header = BlockHeader(
        height=5, previous=leaf_hash(b"previous header"), time_ms=CREATED * 1000 + 500,
        proposer=keys[1], first_index=20, event_count=len(block_events),
        status_root=leaf_hash(b"status root"),
        validator_set_hash=validator_set_hash([(f"node{i}", k) for i, k in enumerate(keys)]),
    )
    frames: list[dict[str, Any]] = [
        {"type": "hello", "encoded": encode_frame(Hello(ORIGIN, leaf_hash(b"genesis"),
                                                         b"\x07" * 16, 4)).hex()},
        {"type": "status", "encoded": encode_frame(Status(4, 9)).hex()},
        {"type": "vote", "encoded": encode_frame(VoteFrame(precommits[0].signed)).hex()},
        {"type": "cosig", "encoded": encode_frame(CosignatureFrame(9, "— node0 AAAA")).hex()},
        {"type": "proposal", "encoded": encode_frame(ProposalFrame(
            proposal.signed, header.encoded, tuple(block_events))).hex()},
        {"type": "events", "encoded": encode_frame(EventsFrame(tuple(block_events))).hex()},
    ]
    raw_block = RawBlock(header.encoded, tuple(block_events), certificate.encode())
    return {"wire_messages.json": {
        "description": "Consensus messages.  Votes sign msgpack ['vcledger/vote/v1', origin, "
                       "kind (1 prevote, 2 precommit), height, round, block_id | nil]; "
                       "proposals sign ['vcledger/proposal/v1', origin, height, round, "
                       "block_id, valid_round | nil].  Signed forms are [1, kind, height, "
                       "round, block_id|nil, voter, signature] and [1, height, round, "
                       "block_id, valid_round|nil, proposer, signature].",
        "origin": ORIGIN,
        "key_derivation": "validator i seed = SHA-256('vcledger test key validator i')",
        "validators": [k.hex() for k in keys],
        "votes": votes,
        "proposal": {"height": 5, "round": 1, "block_id": BLOCK_ID.hex(), "valid_round": None,
                     "proposer": keys[1].hex(),
                     "sign_bytes": proposal_sign_bytes(ORIGIN, 5, 1, BLOCK_ID, NIL_ROUND).hex(),
                     "signed": proposal.signed.hex()},
        "certificate": {"height": 5, "round": 1, "block_id": BLOCK_ID.hex(),
                        "signers": [0, 1, 3], "encoded": certificate.encode().hex()},
        "frames": frames,
        "raw_block": {"header": header.encoded.hex(),
                      "events": [e.hex() for e in block_events],
                      "certificate": certificate.encode().hex(),
                      "encoded": raw_block.encode().hex()},
    }}
