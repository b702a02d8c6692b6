"""Vectors for the consensus driver's records on disk (node/records.py): the stored block
body and the evidence record, byte for byte as nodes write them."""

from __future__ import annotations

from client.merkle import leaf_hash
from node.consensus_types import Vote, VoteKind
from node.records import BlockBody, EvidenceRecord
from node.wire import sign_vote
from tests.protocol_fixtures import ORIGIN, fixed_key, sample_events


def generate() -> dict[str, object]:
    events = tuple(e.encoded for e in sample_events()[:2])
    body = BlockBody(b"example header leaf", events)
    signer = fixed_key("validator 3")
    first = sign_vote(ORIGIN, Vote(VoteKind.PREVOTE, 7, 2, leaf_hash(b"block a"),
                                   signer.public_key), signer)
    second = sign_vote(ORIGIN, Vote(VoteKind.PREVOTE, 7, 2, None, signer.public_key), signer)
    evidence = EvidenceRecord("vote-1", 7, 2, signer.public_key, first.signed, second.signed)
    return {"node_records.json": {
        "description": "Node records (docs/protocol.md §14.7). A stored block body "
                       "is [header leaf, [event leaf, ...]] under W key 'body/' + block id. "
                       "An evidence record is [1, kind, height, round, signer, first signed "
                       "message, second signed message] under X key [height, round, kind, "
                       "signer]; kind is 'proposal', 'vote-1' (prevote) or 'vote-2' "
                       "(precommit).",
        "block_body": {"header": body.header.hex(), "events": [e.hex() for e in body.events],
                       "encoded": body.encode().hex()},
        "evidence": {"kind": evidence.kind, "height": evidence.height,
                     "round": evidence.round, "signer": evidence.signer.hex(),
                     "first": evidence.first.hex(), "second": evidence.second.hex(),
                     "key": evidence.key().hex(), "encoded": evidence.encode().hex()},
    }}
