"""Byte formats between nodes: signed consensus messages, commit certificates
and peer-protocol frames.  Pure: encode, decode, sign, verify.

Consensus messages are signed by validator keys over domain-separated
canonical msgpack arrays that name the network, so a vote can never be
replayed on another network or read as another kind of message::

    proposal:  ["vcledger/proposal/v1", origin, height, round, block_id, valid_round | nil]
    vote:      ["vcledger/vote/v1", origin, kind, height, round, block_id | nil]

The block id is the log root right after the block (the root its checkpoint
will carry), so a commit certificate — 2f+1 precommit signatures for one block
id — certifies the checkpoint itself.  Every decoder checks the signature
against the validator set before anything else looks at the content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from client import encoding
from client.block import MAX_HEADER_SIZE
from client.encoding import (
    expect_array,
    expect_bytes,
    expect_hash,
    expect_str,
    expect_uint,
)
from client.errors import InvalidEncoding, LedgerError, SignatureError
from client.events import MAX_EVENT_SIZE
from client.hashes import Hash
from client.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, verify_signature
from node.consensus_types import MAX_ROUND, NIL_ROUND, Proposal, Vote, VoteKind, quorum_size
from node.errors import PeerProtocolError

WIRE_VERSION = 1
MAX_VOTE_SIZE = 256
MAX_CERTIFICATE_SIZE = 64 * 1024
MAX_CONTROL_FRAME = 64 * 1024


def max_frame_size(max_block_events: int) -> int:
    """Largest peer frame: a proposal carrying a full block, with room for framing."""
    return max_block_events * (MAX_EVENT_SIZE + 8) + 64 * 1024


def _wire_round(valid_round: int) -> int | None:
    return None if valid_round == NIL_ROUND else valid_round


def proposal_sign_bytes(origin: str, height: int, round: int, block_id: bytes,
                        valid_round: int) -> bytes:
    return encoding.pack(["vcledger/proposal/v1", origin, height, round, block_id,
                          _wire_round(valid_round)])


def vote_sign_bytes(origin: str, kind: VoteKind, height: int, round: int,
                    block_id: bytes | None) -> bytes:
    return encoding.pack(["vcledger/vote/v1", origin, int(kind), height, round, block_id])


def sign_proposal(origin: str, proposal: Proposal, key: KeyPair) -> Proposal:
    """Return ``proposal`` with its ``signed`` wire bytes filled in."""
    assert proposal.proposer == key.public_key
    signature = key.sign(proposal_sign_bytes(origin, proposal.height, proposal.round,
                                             proposal.block_id, proposal.valid_round))
    signed = encoding.pack([WIRE_VERSION, proposal.height, proposal.round, proposal.block_id,
                            _wire_round(proposal.valid_round), proposal.proposer, signature])
    return Proposal(proposal.height, proposal.round, proposal.block_id, proposal.valid_round,
                    proposal.proposer, signed)


def sign_vote(origin: str, vote: Vote, key: KeyPair) -> Vote:
    assert vote.voter == key.public_key
    signature = key.sign(vote_sign_bytes(origin, vote.kind, vote.height, vote.round,
                                         vote.block_id))
    signed = encoding.pack([WIRE_VERSION, int(vote.kind), vote.height, vote.round,
                            vote.block_id, vote.voter, signature])
    return Vote(vote.kind, vote.height, vote.round, vote.block_id, vote.voter, signed)


def _validator(key: bytes, validators: Sequence[bytes], what: str) -> None:
    if key not in validators:
        raise PeerProtocolError(f"{what} is signed by {key.hex()[:16]}…, not a validator")


def _round(value: Any, what: str) -> int:
    return expect_uint(value, what, maximum=MAX_ROUND)


def decode_proposal(untrusted: bytes, origin: str, validators: Sequence[bytes]) -> Proposal:
    """Decode a signed proposal and verify its signature by a validator."""
    fields = expect_array(encoding.unpack(untrusted, max_size=MAX_VOTE_SIZE, what="proposal"),
                          "proposal", 7)
    version, height, round, block_id, valid_round, proposer, signature = fields
    if version != WIRE_VERSION:
        raise InvalidEncoding("proposal: unknown version")
    proposal = Proposal(
        expect_uint(height, "proposal height"),
        _round(round, "proposal round"),
        expect_hash(block_id, "proposal block id"),
        NIL_ROUND if valid_round is None else _round(valid_round, "proposal valid round"),
        expect_bytes(proposer, "proposer", size=PUBLIC_KEY_SIZE),
        untrusted,
    )
    _validator(proposal.proposer, validators, "proposal")
    verify_signature(proposal.proposer, expect_bytes(signature, "signature", size=SIGNATURE_SIZE),
                     proposal_sign_bytes(origin, proposal.height, proposal.round,
                                         proposal.block_id, proposal.valid_round))
    return proposal


def decode_vote(untrusted: bytes, origin: str, validators: Sequence[bytes]) -> Vote:
    """Decode a signed vote and verify its signature by a validator."""
    fields = expect_array(encoding.unpack(untrusted, max_size=MAX_VOTE_SIZE, what="vote"),
                          "vote", 7)
    version, kind, height, round, block_id, voter, signature = fields
    if version != WIRE_VERSION:
        raise InvalidEncoding("vote: unknown version")
    kind_value = expect_uint(kind, "vote kind", minimum=1, maximum=2)
    vote = Vote(
        VoteKind(kind_value),
        expect_uint(height, "vote height"),
        _round(round, "vote round"),
        None if block_id is None else expect_hash(block_id, "vote block id"),
        expect_bytes(voter, "voter", size=PUBLIC_KEY_SIZE),
        untrusted,
    )
    _validator(vote.voter, validators, "vote")
    verify_signature(vote.voter, expect_bytes(signature, "signature", size=SIGNATURE_SIZE),
                     vote_sign_bytes(origin, vote.kind, vote.height, vote.round, vote.block_id))
    return vote


# -- commit certificates --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certificate:
    """2f+1 precommits for one block: ``[1, height, round, block_id, [[index, signature]...]]``."""

    height: int
    round: int
    block_id: Hash
    signatures: tuple[tuple[int, bytes], ...]

    def encode(self) -> bytes:
        return encoding.pack([WIRE_VERSION, self.height, self.round, self.block_id,
                              [[i, s] for i, s in self.signatures]])


def certificate_from_precommits(precommits: Sequence[Vote],
                                validators: Sequence[bytes]) -> Certificate:
    assert precommits
    first = precommits[0]
    entries = []
    for vote in precommits:
        assert (vote.kind, vote.height, vote.round, vote.block_id) == (
            VoteKind.PRECOMMIT, first.height, first.round, first.block_id)
        signature = expect_array(encoding.unpack(vote.signed, max_size=MAX_VOTE_SIZE,
                                                 what="vote"), "vote", 7)[6]
        entries.append((validators.index(vote.voter), signature))
    assert first.block_id is not None
    return Certificate(first.height, first.round, first.block_id, tuple(sorted(entries)))


def read_certificate_claim(untrusted: bytes) -> Hash:
    """The block id a certificate claims, before any of its signatures is checked."""
    try:
        fields = expect_array(encoding.unpack(untrusted, max_size=MAX_CERTIFICATE_SIZE,
                                              what="commit certificate"), "certificate", 5)
        return expect_hash(fields[3], "certificate block id")
    except InvalidEncoding as exc:
        raise PeerProtocolError(f"malformed commit certificate: {exc.diagnostics()}") from exc


def verify_certificate(untrusted: bytes, origin: str, validators: Sequence[bytes], *,
                       height: int, block_id: bytes) -> Certificate:
    """Check that at least a quorum of distinct validators precommitted ``block_id`` at
    ``height``.  Raises :class:`PeerProtocolError` otherwise."""
    try:
        fields = expect_array(encoding.unpack(untrusted, max_size=MAX_CERTIFICATE_SIZE,
                                              what="commit certificate"), "certificate", 5)
        version, cert_height, cert_round, cert_block, entries = fields
        if version != WIRE_VERSION:
            raise InvalidEncoding("certificate: unknown version")
        certificate = Certificate(
            expect_uint(cert_height, "certificate height"),
            _round(cert_round, "certificate round"),
            expect_hash(cert_block, "certificate block id"),
            tuple(
                (expect_uint(e[0], "validator index", maximum=len(validators) - 1),
                 expect_bytes(e[1], "signature", size=SIGNATURE_SIZE))
                for e in (expect_array(item, "certificate entry", 2)
                          for item in expect_array(entries, "certificate entries",
                                                   max_len=len(validators)))
            ),
        )
    except InvalidEncoding as exc:
        raise PeerProtocolError(f"malformed commit certificate: {exc.diagnostics()}") from exc
    if certificate.height != height or certificate.block_id != block_id:
        raise PeerProtocolError(f"commit certificate is for another block than height {height}")
    indices = [i for i, _ in certificate.signatures]
    if len(set(indices)) != len(indices):
        raise PeerProtocolError("commit certificate lists a validator twice")
    if len(indices) < quorum_size(len(validators)):
        raise PeerProtocolError(f"commit certificate has {len(indices)} precommits; "
                                f"{quorum_size(len(validators))} are needed")
    message_for = vote_sign_bytes(origin, VoteKind.PRECOMMIT, height, certificate.round,
                                  block_id)
    for index, signature in certificate.signatures:
        try:
            verify_signature(validators[index], signature, message_for)
        except SignatureError as exc:
            raise PeerProtocolError(
                f"commit certificate: precommit of validator {index} does not verify") from exc
    return certificate


# -- peer frames ----------------------------------------------------------------------

# Every frame is a canonical msgpack array [1, type, ...].
HELLO = "hello"
STATUS = "status"
PROPOSAL = "proposal"
VOTE = "vote"
EVENTS = "events"
COSIGNATURE = "cosig"

MAX_GOSSIP_EVENTS = 2_000


@dataclass(frozen=True, slots=True)
class Hello:
    origin: str
    genesis_hash: Hash
    node_nonce: bytes
    height: int


@dataclass(frozen=True, slots=True)
class Status:
    height: int
    tree_size: int


@dataclass(frozen=True, slots=True)
class ProposalFrame:
    signed_proposal: bytes
    header: bytes
    events: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class VoteFrame:
    signed_vote: bytes


@dataclass(frozen=True, slots=True)
class EventsFrame:
    events: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CosignatureFrame:
    tree_size: int
    line: str


Frame = Hello | Status | ProposalFrame | VoteFrame | EventsFrame | CosignatureFrame


def encode_frame(frame: Frame) -> bytes:
    if isinstance(frame, Hello):
        body: list[Any] = [HELLO, frame.origin, frame.genesis_hash, frame.node_nonce,
                           frame.height]
    elif isinstance(frame, Status):
        body = [STATUS, frame.height, frame.tree_size]
    elif isinstance(frame, ProposalFrame):
        body = [PROPOSAL, frame.signed_proposal, frame.header, list(frame.events)]
    elif isinstance(frame, VoteFrame):
        body = [VOTE, frame.signed_vote]
    elif isinstance(frame, EventsFrame):
        body = [EVENTS, list(frame.events)]
    else:
        body = [COSIGNATURE, frame.tree_size, frame.line]
    return encoding.pack([WIRE_VERSION, *body])


def decode_frame(untrusted: bytes, *, max_size: int) -> Frame:
    """Decode a peer frame's structure (signatures inside are checked by the receiver)."""
    try:
        fields = expect_array(encoding.unpack(untrusted, max_size=max_size, what="peer frame"),
                              "peer frame")
        if len(fields) < 2 or fields[0] != WIRE_VERSION:
            raise InvalidEncoding("peer frame: unknown version")
        kind = fields[1]
        if kind == HELLO:
            _, _, origin, genesis_hash, nonce, height = expect_array(fields, "hello", 6)
            return Hello(expect_str(origin, "origin", max_len=255),
                         expect_hash(genesis_hash, "genesis hash"),
                         expect_bytes(nonce, "node nonce", size=16),
                         expect_uint(height, "height"))
        if kind == STATUS:
            _, _, height, tree_size = expect_array(fields, "status", 4)
            return Status(expect_uint(height, "height"), expect_uint(tree_size, "tree size"))
        if kind == PROPOSAL:
            _, _, signed, header, events = expect_array(fields, "proposal frame", 5)
            return ProposalFrame(
                expect_bytes(signed, "signed proposal", max_size=MAX_VOTE_SIZE),
                expect_bytes(header, "header", max_size=MAX_HEADER_SIZE),
                tuple(expect_bytes(e, "event", max_size=MAX_EVENT_SIZE)
                      for e in expect_array(events, "proposal events")),
            )
        if kind == VOTE:
            _, _, signed = expect_array(fields, "vote frame", 3)
            return VoteFrame(expect_bytes(signed, "signed vote", max_size=MAX_VOTE_SIZE))
        if kind == EVENTS:
            _, _, events = expect_array(fields, "events frame", 3)
            return EventsFrame(tuple(
                expect_bytes(e, "event", max_size=MAX_EVENT_SIZE)
                for e in expect_array(events, "events", max_len=MAX_GOSSIP_EVENTS)))
        if kind == COSIGNATURE:
            _, _, tree_size, line = expect_array(fields, "cosignature frame", 4)
            return CosignatureFrame(expect_uint(tree_size, "tree size", minimum=1),
                                    expect_str(line, "cosignature line", max_len=512))
        raise InvalidEncoding(f"peer frame: unknown type {kind!r}")
    except LedgerError as exc:
        raise PeerProtocolError(f"malformed peer frame: {exc.diagnostics()}") from exc


# -- blocks for catch-up ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawBlock:
    """A committed block as served for catch-up: header leaf, event leaves, certificate."""

    header: bytes
    events: tuple[bytes, ...]
    certificate: bytes | None

    def encode(self) -> bytes:
        return encoding.pack([WIRE_VERSION, self.header, list(self.events), self.certificate])


def decode_raw_block(untrusted: bytes, *, max_size: int) -> RawBlock:
    try:
        fields = expect_array(encoding.unpack(untrusted, max_size=max_size, what="block"),
                              "block", 4)
        if fields[0] != WIRE_VERSION:
            raise InvalidEncoding("block: unknown version")
        certificate = fields[3]
        return RawBlock(
            expect_bytes(fields[1], "header", max_size=MAX_HEADER_SIZE),
            tuple(expect_bytes(e, "event", max_size=MAX_EVENT_SIZE)
                  for e in expect_array(fields[2], "block events")),
            None if certificate is None else expect_bytes(certificate, "certificate",
                                                          max_size=MAX_CERTIFICATE_SIZE),
        )
    except LedgerError as exc:
        raise PeerProtocolError(f"malformed block from peer: {exc.diagnostics()}") from exc
