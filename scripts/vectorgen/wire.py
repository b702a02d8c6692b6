"""Vectors for what nodes send each other: signed votes and proposals, commit
certificates and peer frames (node/wire.py)."""

from __future__ import annotations

from typing import Any

from protocol_fixtures import ORIGIN, fixed_key

from client.merkle import leaf_hash
from node.consensus import NIL_ROUND, Proposal, Vote, VoteKind
from node.wire import (
    CosignatureFrame,
    Hello,
    Status,
    VoteFrame,
    certificate_from_precommits,
    encode_frame,
    proposal_sign_bytes,
    sign_proposal,
    sign_vote,
    vote_sign_bytes,
)

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
    frames: list[dict[str, Any]] = [
        {"type": "hello", "encoded": encode_frame(Hello(ORIGIN, leaf_hash(b"genesis"),
                                                         b"\x07" * 16, 4)).hex()},
        {"type": "status", "encoded": encode_frame(Status(4, 9)).hex()},
        {"type": "vote", "encoded": encode_frame(VoteFrame(precommits[0].signed)).hex()},
        {"type": "cosig", "encoded": encode_frame(CosignatureFrame(9, "— node0 AAAA")).hex()},
    ]
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
    }}
