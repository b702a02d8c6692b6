"""The consensus driver's own records on disk: one encode and one checked decode each.

Like :class:`node.ledger.Head` and :class:`node.ledger.BlockRecord`, every
record here is canonical msgpack (docs/protocol.md §14.7) and its
decoder checks the shape, so a damaged or foreign record is an
:class:`client.errors.InvalidEncoding`, never a half-read value.

* :class:`BlockBody` — a block this validator proposed or voted for, kept in
  the write-ahead family (key ``body/`` + block id) so it can propose the same
  block again after a restart.
* :class:`EvidenceRecord` — two conflicting messages signed by one validator
  for one (height, round, kind), in the ``X`` family; :meth:`EvidenceRecord.key`
  orders them by height, round, kind and signer.
"""

from __future__ import annotations

from dataclasses import dataclass

from client import encoding
from client.encoding import expect_array, expect_bytes, expect_str, expect_uint
from client.errors import InvalidEncoding

EVIDENCE_VERSION = 1
MAX_EVIDENCE_SIZE = 4096
"""Two signed consensus messages (each at most a few hundred bytes) and their labels."""
EVIDENCE_KINDS = ("proposal", "vote-1", "vote-2")
"""A proposal, or a vote of :class:`node.consensus_types.VoteKind` 1 (prevote) or 2 (precommit)."""


@dataclass(frozen=True, slots=True)
class BlockBody:
    """A block's header leaf and event leaves, as a proposal frame carries them."""

    header: bytes
    events: tuple[bytes, ...]

    def encode(self) -> bytes:
        return encoding.pack([self.header, list(self.events)])

    @classmethod
    def decode(cls, data: bytes, *, max_size: int) -> BlockBody:
        """Precondition: ``max_size`` is at least the largest proposal frame."""
        fields = expect_array(encoding.unpack(data, max_size=max_size, what="stored block body"),
                              "stored block body", 2)
        events = expect_array(fields[1], "stored block body events")
        return cls(expect_bytes(fields[0], "stored block body header"),
                   tuple(expect_bytes(event, "stored block body event") for event in events))


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """Validator ``signer`` signed both ``first`` and ``second`` (the signed wire bytes)."""

    kind: str
    height: int
    round: int
    signer: bytes
    first: bytes
    second: bytes

    def key(self) -> bytes:
        """The record's key in the evidence family: one record per slot and signer."""
        return encoding.pack([self.height, self.round, self.kind, self.signer])

    def encode(self) -> bytes:
        return encoding.pack([EVIDENCE_VERSION, self.kind, self.height, self.round, self.signer,
                              self.first, self.second])

    @classmethod
    def decode(cls, data: bytes) -> EvidenceRecord:
        fields = expect_array(encoding.unpack(data, max_size=MAX_EVIDENCE_SIZE, what="evidence"),
                              "evidence", 7)
        if fields[0] != EVIDENCE_VERSION:
            raise InvalidEncoding("evidence: unknown version")
        kind = expect_str(fields[1], "evidence kind", max_len=16)
        if kind not in EVIDENCE_KINDS:
            raise InvalidEncoding(f"evidence: unknown kind {kind!r}")
        return cls(kind, expect_uint(fields[2], "evidence height"),
                   expect_uint(fields[3], "evidence round"),
                   expect_bytes(fields[4], "evidence signer", size=32),
                   expect_bytes(fields[5], "evidence first message"),
                   expect_bytes(fields[6], "evidence second message"))
