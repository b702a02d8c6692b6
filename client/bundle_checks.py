"""The checks every kind of proof bundle shares, and a status record proven with them.

A credential's bundle (:mod:`client.verify`) and a pathway's
(:mod:`client.pathway_verify`) open the same cosigned checkpoint, prove the
same block header and event leaf, and read the same status map: each of those
checks has its one home here, named for the step it is (docs/protocol.md,
"Verifying a bundle").  :func:`verify_status_record` proves what the status map
holds under one key from a node's answer, with the same checks.

Decoding (not verifying) is cached by exact bytes; see below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from client.block import BlockHeader, decode_leaf
from client.bundle import StatusEntry
from client.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from client.errors import InvalidEncoding, LedgerError, VerificationError
from client.events import SignedEvent
from client.merkle import leaf_hash, verify_inclusion
from client.note import parse_note
from client.smt import verify_membership, verify_non_membership
from client.status import IssuerRecord, StatusRecord, decode_record, issuer_status_key
from client.tlogproof import TlogProof
from client.trust import Trust

__all__ = [
    "LoggedBundle",
    "ProvenStatusRecord",
    "SharedSteps",
    "StepFailed",
    "cached_leaf",
    "cached_record",
    "open_checkpoint",
    "prove_header",
    "prove_leaf",
    "prove_record",
    "prove_signer_standing",
    "run_steps",
    "verify_status_record",
]

class StepFailed(VerificationError):
    """A bundle check failed for a reason not already named by a lower-level error."""


# Decoding is a pure function of the bytes with an immutable result, and bundles
# checked together share pieces (the header of their checkpoint, the issuer and batch
# records, the batch.anchor event of a whole class), so decoding is cached by exact
# bytes.  Only decoding: every proof is verified and every signature checked anew for
# every bundle.  Failures are never cached (lru_cache does not cache exceptions).
# tests/client/test_bundle_caches.py holds every client cache to this: bounded, and a
# one-character change to any piece of a bundle gives the verdict an empty cache gives.


@functools.lru_cache(maxsize=1024)
def cached_leaf(data: bytes) -> BlockHeader | SignedEvent:
    return decode_leaf(data)


@functools.lru_cache(maxsize=1024)
def cached_record(data: bytes) -> StatusRecord:
    return decode_record(data)


# The checks every kind of bundle shares (a credential's, a pathway's): one home each.


def open_checkpoint(untrusted_note: str, trust: Trust | None, origin: str, now: int | None
                    ) -> tuple[Checkpoint, int | None, int]:
    """Step 3: open the checkpoint note under ``trust``: (checkpoint, its time, cosignatures
    verified).  Without ``trust`` (a caller that vouches for the checkpoint itself) the note
    is only parsed and its origin compared; its time is then None."""
    if trust is None:
        checkpoint = parse_checkpoint(parse_note(untrusted_note).body)
        if checkpoint.origin != origin:
            raise StepFailed(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
        return checkpoint, None, 0
    verified = verify_checkpoint(untrusted_note, trust.origin, trust.verifiers(), trust.threshold,
                                 now=now)
    return verified.checkpoint, verified.time, len(verified.cosigners)


def prove_header(checkpoint: Checkpoint, untrusted_header: bytes, untrusted_proof: TlogProof,
                 event_note: str) -> BlockHeader:
    """Step 4: the header leaf is the checkpoint's last leaf, proven by a tlog-proof that
    embeds the same note as the event's, and decodes as the header of that tree."""
    if untrusted_proof.checkpoint_note != event_note:
        raise StepFailed("header_proof and event_proof embed different checkpoint notes; "
                         "both must carry the same cosigned checkpoint")
    if untrusted_proof.index != checkpoint.tree_size - 1:
        raise StepFailed(f"the header leaf must be the last leaf, index "
                         f"{checkpoint.tree_size - 1}, of the checkpoint's tree; the proof "
                         f"is for index {untrusted_proof.index}")
    verify_inclusion(leaf_hash(untrusted_header), untrusted_proof.index, checkpoint.tree_size,
                     untrusted_proof.proof, checkpoint.root)
    leaf = cached_leaf(untrusted_header)
    if not isinstance(leaf, BlockHeader):
        raise StepFailed(f"the last leaf of the checkpoint is a {leaf.kind.value} event, "
                         "not a block header")
    if leaf.tree_size != checkpoint.tree_size:
        raise StepFailed(f"the block header describes a tree of {leaf.tree_size} leaves; "
                         f"the checkpoint has {checkpoint.tree_size}")
    return leaf


def prove_leaf(checkpoint: Checkpoint, untrusted_leaf: bytes, untrusted_proof: TlogProof) -> None:
    """Step 5: RFC 9162 inclusion of the leaf at the proof's index (parse_tlog_proof already
    placed the index inside the checkpoint's tree)."""
    verify_inclusion(leaf_hash(untrusted_leaf), untrusted_proof.index, checkpoint.tree_size,
                     untrusted_proof.proof, checkpoint.root)


def prove_record(header: BlockHeader, untrusted_entry: StatusEntry, key: bytes, what: str
                 ) -> StatusRecord:
    """Membership of a record under the header's status root, then its decoding."""
    assert untrusted_entry.value is not None
    verify_membership(header.status_root, key, untrusted_entry.value, untrusted_entry.proof)
    try:
        return cached_record(untrusted_entry.value)
    except InvalidEncoding as exc:
        raise StepFailed(f"{what} record: {exc.diagnostics()}") from exc


def prove_signer_standing(header: BlockHeader, untrusted_entry: StatusEntry, issuer: str,
                          signer: bytes, index: int) -> IssuerRecord:
    """Step 8: the issuer's record is in the status map, registered before the event at
    ``index``, not retired before it, and ``signer`` was its key at that index."""
    record = prove_record(header, untrusted_entry, issuer_status_key(issuer), "issuer")
    if not isinstance(record, IssuerRecord) or record.issuer != issuer:
        raise StepFailed(f"the issuer status key of {issuer} does not hold its record")
    if record.registered.index >= index:
        raise StepFailed(f"issuer {issuer} was registered at index "
                         f"{record.registered.index}, not before the event at {index}")
    if record.retired is not None and record.retired.index < index:
        raise StepFailed(f"issuer {issuer} retired at index {record.retired.index}, "
                         f"before the event at {index}")
    if not record.key_valid_at(signer, index):
        raise StepFailed(f"the event's signer {signer.hex()} was not a key of "
                         f"{issuer} at index {index}")
    return record


class LoggedBundle(Protocol):
    """What steps 2 to 5 read of any bundle: its origin, one event leaf and the block
    header leaf, each with its tlog-proof to the same checkpoint."""

    @property
    def origin(self) -> str: ...
    @property
    def event(self) -> bytes: ...
    @property
    def event_proof(self) -> TlogProof: ...
    @property
    def header(self) -> bytes: ...
    @property
    def header_proof(self) -> TlogProof: ...


B = TypeVar("B", bound=LoggedBundle)


class SharedSteps(Generic[B]):
    """Steps 2 to 5 of every kind of bundle's verification (a credential's, a pathway's),
    as methods of the verification's state; a subclass adds step 1 (which sets
    :attr:`bundle`) and its own steps from 6 on."""

    noun = "bundle"
    """How step 2's message names the bundle."""

    def __init__(self, trust: Trust | None, origin: str, now: int | None) -> None:
        self.trust = trust
        self.origin = origin
        self.now = now
        self.signatures = 0
        """Ed25519 verifications performed so far."""
        self.bundle: B
        self.checkpoint: Checkpoint
        self.checkpoint_time: int | None = None
        self.header: BlockHeader

    def origin_matches(self) -> None:
        """Step 2."""
        if self.bundle.origin != self.origin:
            raise StepFailed(f"the {self.noun} is for network {self.bundle.origin!r}; the "
                             f"trust file is for {self.origin!r}")

    def checkpoint_opens(self) -> None:
        """Step 3: :func:`open_checkpoint`."""
        self.checkpoint, self.checkpoint_time, cosigners = open_checkpoint(
            self.bundle.event_proof.checkpoint_note, self.trust, self.origin, self.now)
        self.signatures += cosigners

    def header_included(self) -> None:
        """Step 4: :func:`prove_header`."""
        self.header = prove_header(self.checkpoint, self.bundle.header, self.bundle.header_proof,
                                   self.bundle.event_proof.checkpoint_note)

    def event_included(self) -> None:
        """Step 5: :func:`prove_leaf`."""
        prove_leaf(self.checkpoint, self.bundle.event, self.bundle.event_proof)


def run_steps(steps: Sequence[Callable[[], None]]) -> tuple[int, LedgerError] | None:
    """Run numbered steps in order: the first failure's (1-based number, error), or None
    when every step passed.  Only a :class:`LedgerError` is a failed step; anything else
    is a bug and propagates."""
    for number, step in enumerate(steps, start=1):
        try:
            step()
        except LedgerError as exc:
            return number, exc
    return None


@dataclass(frozen=True, slots=True)
class ProvenStatusRecord:
    """What the status map held under one key at a trusted checkpoint: a record, or None
    for a proven absence."""

    tree_size: int
    checkpoint_time: int
    record: StatusRecord | None


def verify_status_record(
    untrusted_checkpoint_note: str,
    untrusted_header: bytes,
    untrusted_header_path: Sequence[bytes],
    untrusted_entry: StatusEntry,
    *,
    status_key: bytes,
    trust: Trust,
    now: int | None,
) -> ProvenStatusRecord:
    """Prove what the status map holds under ``status_key``, from a node's answer.

    For "the ledger never recorded this": a node's word that it has no record is a
    claim; this checks it as the bundle steps would: the checkpoint under the trust
    file (step 3), the header as its last leaf (step 4), and the SMT membership or
    non-membership under the header's status root.  Raises a :class:`VerificationError`
    naming the first failed check.
    """
    verified = verify_checkpoint(untrusted_checkpoint_note, trust.origin, trust.verifiers(),
                                 trust.threshold, now=now)
    checkpoint = verified.checkpoint
    verify_inclusion(leaf_hash(untrusted_header), checkpoint.tree_size - 1,
                     checkpoint.tree_size, untrusted_header_path, checkpoint.root)
    header = cached_leaf(untrusted_header)
    if not isinstance(header, BlockHeader) or header.tree_size != checkpoint.tree_size:
        raise StepFailed("the checkpoint's last leaf is not the block header of that tree")
    if untrusted_entry.value is None:
        verify_non_membership(header.status_root, status_key, untrusted_entry.proof)
        record = None
    else:
        verify_membership(header.status_root, status_key, untrusted_entry.value,
                          untrusted_entry.proof)
        record = cached_record(untrusted_entry.value)
    return ProvenStatusRecord(checkpoint.tree_size, verified.time, record)
