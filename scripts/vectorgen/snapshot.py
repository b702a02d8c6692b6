"""Vectors for the consensus snapshot a validator writes to its write-ahead log
(node/consensus_snapshot.py via ``ConsensusMachine.snapshot_bytes``/``restore``;
docs/protocol.md §14.8)."""

from __future__ import annotations

from typing import Any

from client.encoding import Packable, pack
from client.errors import InvalidEncoding, UsageError
from client.merkle import leaf_hash
from node.consensus import ConsensusMachine
from tests.protocol_fixtures import fixed_key

VALIDATORS = [fixed_key(f"validator {i}").public_key for i in range(4)]
OWN = VALIDATORS[1]
BLOCK_ID = leaf_hash(b"block id example")
OTHER_BLOCK_ID = leaf_hash(b"other block id example")


def _fields(*, own: bytes | None = OWN, height: int = 7, round: int = 2, step: int = 2,
            locked: list[Packable] | None = None, valid: list[Packable] | None = None,
            proposals: list[Packable] | None = None,
            votes: list[Packable] | None = None) -> list[Packable]:
    return [1, own, list(VALIDATORS), height, round, step, locked, valid,
            proposals or [], votes or []]


LOCKED = _fields(
    locked=[1, BLOCK_ID], valid=[1, BLOCK_ID],
    proposals=[[2, BLOCK_ID, 1]],
    votes=[[0, 1, None], [0, 2, None], [1, 1, BLOCK_ID], [1, 2, BLOCK_ID],
           [2, 1, BLOCK_ID], [2, 2, BLOCK_ID]],
)

VALID: list[tuple[str, str, list[Packable]]] = [
    ("validator_new_height", "a validator that has just started height 7: round 0, propose",
     _fields(round=0, step=0)),
    ("validator_locked", "locked and valid on a block in round 1, proposed it again in "
     "round 2 with valid round 1, voted nil in round 0 and for it since", LOCKED),
    ("follower", "a non-validator node: no own id, nothing sent",
     _fields(own=None, height=3, round=1, step=0)),
]

INVALID: list[tuple[str, str, bytes | None, bytes]] = [
    ("unknown_version", "version 2", OWN, pack([2, *LOCKED[1:]])),
    ("nine_fields", "the votes field is missing", OWN, pack(LOCKED[:9])),
    ("another_validator", "restored by validator 2: a snapshot is its writer's alone",
     VALIDATORS[2], pack(LOCKED)),
    ("no_such_step", "step 3", OWN, pack([*LOCKED[:5], 3, *LOCKED[6:]])),
    ("locked_after_round", "locked round 3 above the round 2", OWN,
     pack([*LOCKED[:6], [3, BLOCK_ID], *LOCKED[7:]])),
    ("votes_out_of_order", "votes not in increasing (round, kind) order", OWN,
     pack([*LOCKED[:9], list(reversed(LOCKED[9]))])),  # type: ignore[arg-type]
    ("vote_in_future_round", "a vote in round 5, above the round 2", OWN,
     pack([*LOCKED[:9], [[5, 1, BLOCK_ID]]])),
    ("valid_round_not_below_round", "a proposal whose valid round is its own round", OWN,
     pack([*LOCKED[:8], [[2, BLOCK_ID, 2]], LOCKED[9]])),
    ("follower_with_votes", "no own id but a vote sent", None,
     pack(_fields(own=None, votes=[[0, 1, None]]))),
    ("short_block_id", "a 31-byte block id in a vote", OWN,
     pack([*LOCKED[:9], [[0, 1, OTHER_BLOCK_ID[:31]]]])),
    ("non_canonical_height", "the height 7 as a uint16 (cd 00 07), not a fixint", OWN,
     b"\x9a" + b"".join(pack(f) for f in LOCKED[:3]) + b"\xcd\x00\x07"
     + b"".join(pack(f) for f in LOCKED[4:])),
    ("trailing_byte", "one byte after the array", OWN, pack(LOCKED) + b"\x00"),
]


def _error_of(data: bytes, own: bytes | None) -> str:
    try:
        ConsensusMachine.restore(data, own_id=own)
    except (InvalidEncoding, UsageError) as exc:
        return type(exc).__name__
    raise AssertionError("an invalid snapshot vector restored")


def generate() -> dict[str, object]:
    valid: list[dict[str, Any]] = []
    for name, description, fields in VALID:
        data = pack(fields)
        own = fields[1]
        assert own is None or isinstance(own, bytes)
        restored = ConsensusMachine.restore(data, own_id=own)
        assert restored.snapshot_bytes() == data, f"{name} does not re-encode to itself"
        valid.append({
            "name": name, "description": description,
            "own_id": None if own is None else own.hex(),
            "height": restored.height, "round": restored.round, "step": int(restored.step),
            "encoded": data.hex(),
        })
    invalid = [{"name": name, "description": description,
                "own_id": None if own is None else own.hex(),
                "error": _error_of(data, own), "encoded": data.hex()}
               for name, description, own, data in INVALID]
    return {"consensus_snapshot.json": {
        "description": "A validator's consensus snapshot (write-ahead log): canonical "
                       "msgpack [1, own_id | nil, [validator_id, ...], height, round, step "
                       "(0 propose, 1 prevote, 2 precommit), [locked_round, locked_value] | "
                       "nil, [valid_round, valid_value] | nil, [[round, block_id, "
                       "valid_round], ...], [[round, kind (1 prevote, 2 precommit), "
                       "block_id | nil], ...]].  A valid vector restores as own_id and "
                       "re-encodes to the same bytes; an invalid one is refused with "
                       "'error' (InvalidEncoding: damaged or impossible; UsageError: "
                       "written by another validator).",
        "key_derivation": "validator i seed = SHA-256('vcledger test key validator i')",
        "validators": [v.hex() for v in VALIDATORS],
        "valid": valid,
        "invalid": invalid,
    }}
