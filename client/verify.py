"""Offline verification of a proof bundle, in numbered steps, to a :class:`Verdict`.

Trusted: the :class:`client.trust.Trust` (network origin, validator keys,
threshold) and, optionally, the credential file the holder presents.
Untrusted: everything in the bundle.  No network, no clock (``now`` is an
argument), no state.

The steps run cheap to expensive and the first failure wins.  Every proof is
verified before anything it carries is used:

====  ===================  ================================================================
step  name                 check
====  ===================  ================================================================
1     format               the document parses (size caps, strict JSON, canonical encodings)
2     origin               the bundle's origin is the trusted network's
3     checkpoint           the checkpoint note opens with >= threshold cosignatures by
                           distinct trusted validators (c2sp.org/tlog-cosignature)
4     block header         the header proof embeds the byte-identical checkpoint, the header
                           leaf is at ``tree_size - 1``, its RFC 9162 inclusion verifies, it
                           decodes as a block header for that tree size
5     event inclusion      the event leaf's inclusion at its index verifies (RFC 9162 §2.1.3.2)
6     event                the leaf decodes as ``credential.issue`` or ``batch.anchor`` of the
                           bundle's issuer, and its Ed25519 signature verifies for the origin
7     digest               the event commits to the credential digest (directly, or through
                           the receipt's audit path to the anchored batch root); with a
                           credential file, its RFC 8785 digest is the bundle's
8     issuer status        the issuer record is in the status map (membership proof under the
                           header's status root), registered before the event, not retired
                           before it, and the event's signer was its key at that index
9     batch status         for a batch: its record is in the map with the event's root, size
                           and index
10    credential status    the credential's record (membership) or its absence
                           (non-membership); a direct issue must be recorded at the event's index
====  ===================  ================================================================

Outcome: ``invalid`` (first failed step), ``revoked`` (the credential or its
whole batch has a revocation in the status map as of the checkpoint), or
``valid``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Literal

from client import credentials
from client.batch import verify_receipt
from client.block import BlockHeader, decode_leaf
from client.bundle import Bundle, StatusEntry, parse_bundle
from client.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from client.errors import InvalidEncoding, LedgerError, VerificationError
from client.events import BatchAnchor, CredentialIssue, SignedEvent
from client.merkle import leaf_hash, verify_inclusion
from client.note import parse_note
from client.smt import verify_membership, verify_non_membership
from client.status import (
    BatchRecord,
    CredentialRecord,
    IssuerRecord,
    Revocation,
    StatusRecord,
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
)
from client.trust import Trust

__all__ = ["STEPS", "RevocationInfo", "Verdict", "verify_bundle", "verify_bundle_without_trust"]

STEPS: tuple[str, ...] = (
    "format",
    "origin",
    "checkpoint",
    "block header",
    "event inclusion",
    "event",
    "digest",
    "issuer status",
    "batch status",
    "credential status",
)
"""Step names; step ``n`` is ``STEPS[n - 1]``."""

VerdictStatus = Literal["valid", "revoked", "invalid"]

EXIT_CODES: dict[str, int] = {"valid": 0, "revoked": 3, "invalid": 4}


class StepFailed(VerificationError):
    """A bundle check failed for a reason not already named by a lower-level error."""


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    """Where and why the credential was revoked: by itself, or with its whole batch."""

    scope: Literal["credential", "batch"]
    index: int
    height: int
    reason: str
    reason_code: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one bundle.

    ``step``/``step_name`` name the first failed step of an ``invalid``
    verdict.  The other fields are filled as far as the verification got,
    and only from checked data.
    """

    status: VerdictStatus
    message: str
    step: int | None = None
    step_name: str | None = None
    issuer: str | None = None
    credential_digest: str | None = None
    batch_id: str | None = None
    event_index: int | None = None
    tree_size: int | None = None
    checkpoint_time: int | None = None
    revocation: RevocationInfo | None = None
    checkpoint_signatures_checked: bool = True
    signatures_verified: int = field(default=0, compare=False)
    """Ed25519 verifications performed (for the benchmark's baseline)."""

    @property
    def exit_code(self) -> int:
        """The CLI exit code: 0 valid, 3 revoked, 4 invalid."""
        return EXIT_CODES[self.status]

    def as_json(self) -> dict[str, object]:
        revocation = self.revocation
        return {
            "status": self.status,
            "message": self.message,
            "step": self.step,
            "step_name": self.step_name,
            "issuer": self.issuer,
            "credential_digest": self.credential_digest,
            "batch_id": self.batch_id,
            "event_index": self.event_index,
            "checkpoint": None if self.tree_size is None else {
                "tree_size": self.tree_size,
                "time": self.checkpoint_time,
                "time_utc": None if self.checkpoint_time is None
                else format_time(self.checkpoint_time),
                "signatures_checked": self.checkpoint_signatures_checked,
            },
            "revocation": None if revocation is None else {
                "scope": revocation.scope,
                "index": revocation.index,
                "height": revocation.height,
                "reason": revocation.reason,
                "reason_code": revocation.reason_code,
            },
        }


def format_time(timestamp: int) -> str:
    """POSIX seconds as ISO 8601 UTC, e.g. ``2026-06-01T12:00:00Z``."""
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"@{timestamp}"


# Decoding is a pure function of the bytes with an immutable result, and bundles
# checked together share pieces (the header of their checkpoint, the issuer and batch
# records, the batch.anchor event of a whole class), so decoding is cached by exact
# bytes.  Only decoding: every proof is verified and every signature checked anew for
# every bundle.  Failures are never cached (lru_cache does not cache exceptions).


@functools.lru_cache(maxsize=1024)
def _decode_leaf(data: bytes) -> BlockHeader | SignedEvent:
    return decode_leaf(data)


@functools.lru_cache(maxsize=1024)
def _decode_record(data: bytes) -> StatusRecord:
    return decode_record(data)


class _Verification:
    """The state of one verification: what the steps so far have established."""

    def __init__(self, trust: Trust | None, origin: str, credential_json: bytes | None,
                 now: int | None) -> None:
        self.trust = trust
        self.origin = origin
        self.credential_json = credential_json
        self.now = now
        self.signatures = 0
        # Established by the steps, in order.
        self.bundle: Bundle
        self.checkpoint: Checkpoint
        self.checkpoint_time: int | None = None
        self.header: BlockHeader
        self.event: SignedEvent
        self.anchor: BatchAnchor | None = None
        self.issuer_record: IssuerRecord
        self.batch_record: BatchRecord | None = None
        self.credential_record: CredentialRecord | None = None

    # Step 1 -------------------------------------------------------------------------------

    def format(self, untrusted: Bundle | bytes | str) -> None:
        self.bundle = untrusted if isinstance(untrusted, Bundle) else parse_bundle(untrusted)

    # Step 2 -------------------------------------------------------------------------------

    def origin_matches(self) -> None:
        if self.bundle.origin != self.origin:
            raise StepFailed(
                f"the bundle is for network {self.bundle.origin!r}; the trust file is for "
                f"{self.origin!r}"
            )

    # Step 3 -------------------------------------------------------------------------------

    def checkpoint_opens(self) -> None:
        note_text = self.bundle.event_proof.checkpoint_note
        if self.trust is None:
            # verify_bundle_without_trust: the caller vouches for the checkpoint.
            self.checkpoint = parse_checkpoint(parse_note(note_text).body)
            if self.checkpoint.origin != self.origin:
                raise StepFailed(f"checkpoint is for origin {self.checkpoint.origin!r}, "
                                 f"not {self.origin!r}")
            return
        trust = self.trust
        verified = verify_checkpoint(note_text, trust.origin, trust.verifiers(), trust.threshold,
                                     now=self.now)
        self.signatures += len(verified.cosigners)
        self.checkpoint = verified.checkpoint
        self.checkpoint_time = verified.newest_timestamp

    # Step 4 -------------------------------------------------------------------------------

    def header_included(self) -> None:
        bundle = self.bundle
        checkpoint = self.checkpoint
        proof = bundle.header_proof
        if proof.checkpoint_note != bundle.event_proof.checkpoint_note:
            raise StepFailed("header_proof and event_proof embed different checkpoint notes; "
                             "both must carry the same cosigned checkpoint")
        if proof.index != checkpoint.tree_size - 1:
            raise StepFailed(f"the header leaf must be the last leaf, index "
                             f"{checkpoint.tree_size - 1}, of the checkpoint's tree; the proof "
                             f"is for index {proof.index}")
        verify_inclusion(leaf_hash(bundle.header), proof.index, checkpoint.tree_size,
                         proof.proof, checkpoint.root)
        leaf = _decode_leaf(bundle.header)
        if not isinstance(leaf, BlockHeader):
            raise StepFailed(f"the last leaf of the checkpoint is a {leaf.kind.value} event, "
                             "not a block header")
        if leaf.tree_size != checkpoint.tree_size:
            raise StepFailed(f"the block header describes a tree of {leaf.tree_size} leaves; "
                             f"the checkpoint has {checkpoint.tree_size}")
        self.header = leaf

    # Step 5 -------------------------------------------------------------------------------

    def event_included(self) -> None:
        proof = self.bundle.event_proof
        # parse_tlog_proof already placed the index inside the checkpoint's tree.
        verify_inclusion(leaf_hash(self.bundle.event), proof.index, self.checkpoint.tree_size,
                         proof.proof, self.checkpoint.root)

    # Step 6 -------------------------------------------------------------------------------

    def event_signed(self) -> None:
        leaf = _decode_leaf(self.bundle.event)
        if not isinstance(leaf, SignedEvent):
            raise StepFailed("the event leaf is a block header, not an issuing event")
        payload = leaf.payload
        if not isinstance(payload, (CredentialIssue, BatchAnchor)):
            raise StepFailed(f"the event is of kind {leaf.kind.value}; a bundle needs the "
                             "credential.issue or batch.anchor event that issued the credential")
        if payload.issuer != self.bundle.issuer:
            raise StepFailed(f"the event was made by issuer {payload.issuer}, not the bundle's "
                             f"issuer {self.bundle.issuer}")
        # Signatures last: everything cheaper about the event has been checked.
        self.signatures += 1
        leaf.verify_signature(self.origin)
        self.event = leaf
        self.anchor = payload if isinstance(payload, BatchAnchor) else None

    # Step 7 -------------------------------------------------------------------------------

    def digest_committed(self) -> None:
        bundle = self.bundle
        payload = self.event.payload
        receipt = bundle.receipt
        if isinstance(payload, CredentialIssue):
            if receipt is not None:
                raise StepFailed("a directly issued credential's bundle carries no receipt")
            if payload.digest != bundle.credential_digest:
                raise StepFailed(f"the credential.issue event is for digest "
                                 f"{payload.digest.hex()}, not {bundle.credential_digest.hex()}")
        else:
            assert isinstance(payload, BatchAnchor)
            if receipt is None:
                raise StepFailed("the event anchors a batch but the bundle has no receipt")
            mismatches = [
                name for name, ours, theirs in (
                    ("origin", receipt.origin, bundle.origin),
                    ("issuer", receipt.issuer, bundle.issuer),
                    ("batch_id", receipt.batch_id, payload.batch_id),
                    ("credential_digest", receipt.credential_digest, bundle.credential_digest),
                    ("anchor_event_hash", receipt.anchor_event_hash, self.event.hash),
                ) if ours != theirs
            ]
            if mismatches:
                raise StepFailed("the receipt does not match the anchored batch: "
                                 + ", ".join(mismatches) + " differ")
            # Root and size compared against the anchored batch, then the path hashed.
            verify_receipt(bundle.credential_digest, receipt.batch_receipt(), payload.root,
                           payload.size)
        if self.credential_json is not None:
            try:
                computed = credentials.digest(self.credential_json)
            except InvalidEncoding as exc:
                raise StepFailed(f"the credential file cannot be digested: "
                                 f"{exc.diagnostics()}") from exc
            if computed != bundle.credential_digest:
                raise StepFailed(f"the credential file's RFC 8785 digest is {computed.hex()}, "
                                 f"not the bundle's {bundle.credential_digest.hex()}: this "
                                 "bundle is for another credential")

    # Step 8 -------------------------------------------------------------------------------

    def _record(self, entry: StatusEntry, key: bytes, what: str) -> object:
        assert entry.value is not None
        verify_membership(self.header.status_root, key, entry.value, entry.proof)
        try:
            return _decode_record(entry.value)
        except InvalidEncoding as exc:
            raise StepFailed(f"{what} record: {exc.diagnostics()}") from exc

    def issuer_in_good_standing(self) -> None:
        issuer = self.bundle.issuer
        record = self._record(self.bundle.status.issuer, issuer_status_key(issuer), "issuer")
        if not isinstance(record, IssuerRecord) or record.issuer != issuer:
            raise StepFailed(f"the issuer status key of {issuer} does not hold its record")
        index = self.bundle.event_proof.index
        if record.registered.index >= index:
            raise StepFailed(f"issuer {issuer} was registered at index "
                             f"{record.registered.index}, not before the event at {index}")
        if record.retired is not None and record.retired.index < index:
            raise StepFailed(f"issuer {issuer} retired at index {record.retired.index}, "
                             f"before the event at {index}")
        if not record.key_valid_at(self.event.signer, index):
            raise StepFailed(f"the event's signer {self.event.signer.hex()} was not a key of "
                             f"{issuer} at index {index}")
        self.issuer_record = record

    # Step 9 -------------------------------------------------------------------------------

    def batch_recorded(self) -> None:
        entry = self.bundle.status.batch
        if self.anchor is None:
            if entry is not None:
                raise StepFailed("a directly issued credential's bundle has no batch status")
            return
        if entry is None:
            raise StepFailed("the bundle has no status proof for the anchored batch")
        anchor = self.anchor
        record = self._record(entry, batch_status_key(anchor.issuer, anchor.batch_id), "batch")
        if not isinstance(record, BatchRecord):
            raise StepFailed(f"the status key of batch {anchor.batch_id!r} does not hold a "
                             "batch record")
        index = self.bundle.event_proof.index
        if (record.root, record.size, record.anchored.index) != (anchor.root, anchor.size, index):
            raise StepFailed(f"the status map records batch {anchor.batch_id!r} with another "
                             "root, size or anchoring index than the event")
        self.batch_record = record

    # Step 10 ------------------------------------------------------------------------------

    def credential_recorded(self) -> None:
        bundle = self.bundle
        entry = bundle.status.credential
        key = credential_status_key(bundle.issuer, bundle.credential_digest)
        if entry.value is None:
            if self.anchor is None:
                raise StepFailed("a directly issued credential must have a status record")
            verify_non_membership(self.header.status_root, key, entry.proof)
            return
        record = self._record(entry, key, "credential")
        if not isinstance(record, CredentialRecord):
            raise StepFailed("the credential's status key does not hold a credential record")
        if self.anchor is None:
            index = bundle.event_proof.index
            if record.issued is None or record.issued.index != index:
                raise StepFailed(f"the status map does not record the credential as issued at "
                                 f"index {index}")
        self.credential_record = record

    # Outcome ------------------------------------------------------------------------------

    def revocation(self) -> RevocationInfo | None:
        found: list[tuple[Literal["credential", "batch"], Revocation]] = []
        if self.credential_record is not None and self.credential_record.revoked is not None:
            found.append(("credential", self.credential_record.revoked))
        if self.batch_record is not None and self.batch_record.revoked is not None:
            found.append(("batch", self.batch_record.revoked))
        if not found:
            return None
        # Both may be revoked; the earliest revocation is when it stopped being valid.
        scope, revoked = min(found, key=lambda item: item[1].position.index)
        return RevocationInfo(scope, revoked.position.index, revoked.position.height,
                              revoked.reason.label, int(revoked.reason))


def _run(untrusted: Bundle | bytes | str, check: _Verification) -> Verdict:
    steps = (
        lambda: check.format(untrusted),
        check.origin_matches,
        check.checkpoint_opens,
        check.header_included,
        check.event_included,
        check.event_signed,
        check.digest_committed,
        check.issuer_in_good_standing,
        check.batch_recorded,
        check.credential_recorded,
    )
    assert len(steps) == len(STEPS)
    for number, step in enumerate(steps, start=1):
        try:
            step()
        except LedgerError as exc:
            return _invalid(check, number, exc)
    return _outcome(check)


def _invalid(check: _Verification, number: int, exc: LedgerError) -> Verdict:
    name = STEPS[number - 1]
    reached = number > 1
    bundle = check.bundle if reached else None
    return Verdict(
        status="invalid",
        message=f"invalid: step {number} ({name}): {exc.diagnostics()}",
        step=number,
        step_name=name,
        issuer=None if bundle is None else bundle.issuer,
        credential_digest=None if bundle is None else bundle.credential_digest.hex(),
        signatures_verified=check.signatures,
        checkpoint_signatures_checked=check.trust is not None,
    )


def _outcome(check: _Verification) -> Verdict:
    bundle = check.bundle
    index = bundle.event_proof.index
    tree_size = check.checkpoint.tree_size
    revocation = check.revocation()
    when = ("" if check.checkpoint_time is None
            else f" (time {format_time(check.checkpoint_time)})")
    common = {
        "issuer": bundle.issuer,
        "credential_digest": bundle.credential_digest.hex(),
        "batch_id": None if check.anchor is None else check.anchor.batch_id,
        "event_index": index,
        "tree_size": tree_size,
        "checkpoint_time": check.checkpoint_time,
        "checkpoint_signatures_checked": check.trust is not None,
        "signatures_verified": check.signatures,
    }
    if revocation is not None:
        whole = " with its whole batch" if revocation.scope == "batch" else ""
        return Verdict(
            status="revoked",
            message=(f"revoked at index {revocation.index} ({revocation.reason}){whole}; "
                     f"issued by {bundle.issuer} at index {index}, as of checkpoint "
                     f"{tree_size}{when}"),
            revocation=revocation,
            **common,  # type: ignore[arg-type]
        )
    return Verdict(
        status="valid",
        message=(f"valid: issued by {bundle.issuer} at index {index}, not revoked as of "
                 f"checkpoint {tree_size}{when}"),
        **common,  # type: ignore[arg-type]
    )


def verify_bundle(
    bundle: Bundle | bytes | str,
    trust: Trust,
    *,
    credential_json: bytes | None = None,
    now: int | None = None,
) -> Verdict:
    """Verify an untrusted bundle (a parsed :class:`Bundle` or the document) offline.

    ``trust`` names the network; ``credential_json``, when given, is the
    credential file whose RFC 8785 digest must be the bundle's; ``now``
    (POSIX seconds from the caller's clock) discards cosignatures dated more
    than five minutes in the future (tlog-cosignature).  Never raises for
    bad bundle data: every failure is an ``invalid`` verdict naming its step.
    """
    return _run(bundle, _Verification(trust, trust.origin, credential_json, now))


def verify_bundle_without_trust(
    bundle: Bundle | bytes | str,
    origin: str,
    *,
    credential_json: bytes | None = None,
) -> Verdict:
    """Every check of :func:`verify_bundle` except the checkpoint's cosignatures.

    For ``vcledger bundle`` without a trust file: the checkpoint is the one
    the node just served, so this shows the bundle is complete and coherent
    with it, NOT that the network vouches for it.  The verdict says so
    (``checkpoint_signatures_checked`` is False).
    """
    return _run(bundle, _Verification(None, origin, credential_json, None))
