"""Block headers, and telling the two kinds of log leaves apart.

The log holds every accepted event and, as the last leaf of each block, that
block's header.  Because each header names the hash of the previous one, the
log *is* the hash chain, and one inclusion proof of the newest header ties its
status root to the checkpoint.  A header is one canonical msgpack array::

    [1, "block.header", height, previous, time_ms, proposer, first_index,
     event_count, status_root, validator_set_hash]

``previous`` is the leaf hash of the previous block's header, or for height 1
the network's genesis hash.  The block's events are the leaves
``first_index .. first_index + event_count - 1`` and the header is the leaf at
``first_index + event_count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from client import encoding
from client.encoding import expect_array, expect_bytes, expect_hash, expect_uint
from client.errors import InvalidEncoding
from client.events import EVENT_VERSION, MAX_EVENT_SIZE, SignedEvent, event_from_fields
from client.hashes import Hash, sha256
from client.keys import PUBLIC_KEY_SIZE
from client.merkle import leaf_hash

HEADER_VERSION = 1
HEADER_KIND = "block.header"
MAX_HEADER_SIZE = 512
MAX_LEAF_SIZE = max(MAX_EVENT_SIZE, MAX_HEADER_SIZE)


@dataclass(frozen=True, slots=True)
class BlockHeader:
    height: int
    previous: Hash
    time_ms: int
    proposer: bytes
    first_index: int
    event_count: int
    status_root: Hash
    validator_set_hash: Hash
    encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoded", encoding.pack([
            HEADER_VERSION, HEADER_KIND, self.height, self.previous, self.time_ms,
            self.proposer, self.first_index, self.event_count, self.status_root,
            self.validator_set_hash,
        ]))

    @property
    def index(self) -> int:
        """The log index of this header's own leaf."""
        return self.first_index + self.event_count

    @property
    def tree_size(self) -> int:
        """The log size right after this block: the size of its checkpoint."""
        return self.index + 1

    @property
    def hash(self) -> Hash:
        return leaf_hash(self.encoded)


def _header_from_fields(fields: list[Any]) -> BlockHeader:
    (_, _, height, previous, time_ms, proposer, first_index, event_count, status_root,
     validators) = expect_array(fields, "block header", 10)
    return BlockHeader(
        height=expect_uint(height, "block height", minimum=1),
        previous=expect_hash(previous, "previous header hash"),
        time_ms=expect_uint(time_ms, "block time"),
        proposer=expect_bytes(proposer, "proposer key", size=PUBLIC_KEY_SIZE),
        first_index=expect_uint(first_index, "first event index"),
        event_count=expect_uint(event_count, "event count"),
        status_root=expect_hash(status_root, "status root"),
        validator_set_hash=expect_hash(validators, "validator set hash"),
    )


def decode_header(data: bytes) -> BlockHeader:
    header = decode_leaf(data)
    if not isinstance(header, BlockHeader):
        raise InvalidEncoding(f"expected a block header leaf, got a {header.kind.value} event")
    return header


Leaf: TypeAlias = SignedEvent | BlockHeader


def decode_leaf(data: bytes) -> Leaf:
    """Decode an untrusted log leaf: an event or a block header (never verifies signatures)."""
    fields = expect_array(encoding.unpack(data, max_size=MAX_LEAF_SIZE, what="log leaf"),
                          "log leaf")
    if len(fields) >= 2 and fields[1] == HEADER_KIND:
        if fields[0] != HEADER_VERSION:
            raise InvalidEncoding(f"block header: unknown format version {fields[0]!r}")
        if len(data) > MAX_HEADER_SIZE:
            raise InvalidEncoding("block header is larger than any valid header")
        return _header_from_fields(fields)
    if len(data) > MAX_EVENT_SIZE:
        raise InvalidEncoding(f"event is {len(data)} bytes; the limit is {MAX_EVENT_SIZE}")
    assert EVENT_VERSION == HEADER_VERSION  # both start with version 1, the kind tells them apart
    return event_from_fields(fields, data)


def validator_set_hash(validators: Sequence[tuple[str, bytes]]) -> Hash:
    """Hash of the ordered validator set: ``(name, Ed25519 public key)`` pairs."""
    return sha256(encoding.pack(["vcledger/validators/v1", [[n, k] for n, k in validators]]))
