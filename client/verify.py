"""Offline verification of a proof bundle, in numbered steps, to a :class:`Verdict`.

Trusted: the :class:`client.trust.Trust` (network origin, validator keys,
threshold, maximum checkpoint age), the credential file the holder presents,
and the caller's clock (``now`` is an argument).  Untrusted: everything in the
bundle.  No network, no state.

The steps run cheap to expensive and the first failure wins.  Every proof is
verified before anything it carries is used:

====  ===================  ================================================================
step  name                 check
====  ===================  ================================================================
1     format               the document parses (size caps, strict JSON, canonical encodings)
2     origin               the bundle's origin is the trusted network's
3     checkpoint           the checkpoint note opens with >= threshold cosignatures by
                           distinct trusted validators (c2sp.org/tlog-cosignature); its time
                           is the threshold-th newest cosignature's
4     block header         the header proof embeds the byte-identical checkpoint, the header
                           leaf is at ``tree_size - 1``, its RFC 9162 inclusion verifies, it
                           decodes as a block header for that tree size
5     event inclusion      the event leaf's inclusion at its index verifies (RFC 9162 §2.1.3.2)
6     event                the leaf decodes as ``credential.issue`` or ``batch.anchor`` of the
                           bundle's issuer, and its Ed25519 signature verifies for the origin
7     digest               the event commits to the credential digest (directly, or through
                           the receipt's audit path to the anchored batch root); with a
                           credential file, it is I-JSON and its RFC 8785 digest is the bundle's
8     issuer status        the issuer record is in the status map (membership proof under the
                           header's status root), registered before the event, not retired
                           before it, and the event's signer was its key at that index
9     batch status         for a batch: its record is in the map with the event's root, size
                           and index
10    credential status    the credential's record (membership) or its absence
                           (non-membership); a direct issue must be recorded at the event's index
11    credential           the credential names as its ``issuer`` the bundle's did:key or an
                           identifier governance had given that issuer at the event; an
                           issuer the verifier pinned is that issuer; its validity dates parse
12    block times          the headers of the blocks that issued and revoked it verify under
                           the checkpoint and hold those events: their times are the dates
====  ===================  ================================================================

Outcome, in this order: ``invalid`` (first failed step); ``revoked`` (the
credential, its batch, or — through a compromise of the issuer's key since
an index at or before the event — its issuer); ``expired`` / ``not_yet_valid``
(outside the credential's own validity dates at ``at`` or ``now``); ``stale``
(the checkpoint is older than the maximum age); otherwise ``valid``.  A
revocation and the dates cannot change later, so they outrank staleness.
Whatever was not checked (no credential file, no clock, no age bound) is said
in words in the verdict's notes.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from client import credentials, vc
from client.batch import verify_receipt
from client.block import BlockHeader, decode_leaf
from client.bundle import Bundle, IncludedHeader, StatusEntry, parse_bundle
from client.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from client.durations import describe_age, describe_duration
from client.errors import InvalidEncoding, LedgerError, UsageError, VerificationError
from client.events import BatchAnchor, CredentialIssue, RevocationReason, SignedEvent
from client.keys import did_key
from client.merkle import leaf_hash, verify_inclusion
from client.note import parse_note
from client.smt import verify_membership, verify_non_membership
from client.status import (
    BatchRecord,
    CredentialRecord,
    Identity,
    IssuerRecord,
    Position,
    StatusRecord,
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
)
from client.tlogproof import TlogProof
from client.trust import Trust

__all__ = [
    "EXIT_CODES",
    "STEPS",
    "TRUST_POLICY",
    "IssuerInfo",
    "ProvenStatusRecord",
    "RevocationInfo",
    "TrustPolicy",
    "Verdict",
    "format_date",
    "format_time",
    "verify_bundle",
    "verify_bundle_without_trust",
    "verify_status_record",
]

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
    "credential",
    "block times",
)
"""Step names; step ``n`` is ``STEPS[n - 1]``."""

VerdictStatus = Literal["valid", "revoked", "invalid", "stale", "expired", "not_yet_valid"]

EXIT_CODES: dict[str, int] = {
    "valid": 0, "revoked": 3, "invalid": 4, "stale": 5, "expired": 6, "not_yet_valid": 6,
    "complete": 0, "incomplete": 7,
}
"""The one table of verdict exit codes (1 error and 2 usage are the CLI's own); ``complete``
and ``incomplete`` are a pathway's (:mod:`client.pathway_verify`)."""


class TrustPolicy(enum.Enum):
    TRUST_POLICY = "trust"


TRUST_POLICY = TrustPolicy.TRUST_POLICY
"""``max_age`` default: the trust file's ``max_age_seconds``."""


class StepFailed(VerificationError):
    """A bundle check failed for a reason not already named by a lower-level error."""


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    """Where, when, why and by whom the credential stopped being valid.

    ``scope`` is ``credential`` (revoked on its own), ``batch`` (with its whole
    batch) or ``issuer`` (governance declared the issuer's key compromised
    since an index at or before the issuing event).
    """

    scope: Literal["credential", "batch", "issuer"]
    index: int
    height: int
    reason: str
    reason_code: int
    by_governance: bool = False
    time_ms: int | None = None

    @property
    def by(self) -> str:
        return "governance" if self.by_governance else "issuer"


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    """The issuer as a person reads it: the name and identifiers governance gave it."""

    did: str
    name: str
    ids: tuple[str, ...]
    standing: str
    """``active``, ``retired`` or ``compromised`` as of the checkpoint."""
    current_name: str
    retired_at_index: int | None = None
    """The log index of the event that retired it (an issuer.retire, or the first
    issuer.compromise)."""
    compromised_since_index: int | None = None
    """The log index from which governance says its key was untrustworthy."""

    def label(self, shown_id: str | None = None) -> str:
        """``"Example University" (https://uni.example/issuers/1, did:key:z6Mk…)``."""
        ids = [shown_id] if shown_id in self.ids else list(self.ids)
        return f'"{self.name}" ({", ".join([*ids, self.did])})'

    def as_json(self) -> dict[str, object]:
        return {"did": self.did, "name": self.name, "ids": list(self.ids),
                "standing": self.standing, "current_name": self.current_name,
                "retired_at_index": self.retired_at_index,
                "compromised_since_index": self.compromised_since_index}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one bundle.

    ``step``/``step_name`` name the first failed step of an ``invalid``
    verdict.  The other fields are filled as far as the verification got,
    and only from checked data.  ``notes`` say in words what was not checked
    or what a relying party should know besides the status.
    """

    status: VerdictStatus
    message: str
    notes: tuple[str, ...] = ()
    step: int | None = None
    step_name: str | None = None
    issuer: IssuerInfo | None = None
    issuer_did: str | None = None
    credential_digest: str | None = None
    credential_checked: bool = False
    embedded_proof: str | None = None
    """``verified``, ``none`` or ``not_checked`` (proofs of other types); None without the
    credential file."""
    batch_id: str | None = None
    event_index: int | None = None
    issued_time_ms: int | None = None
    tree_size: int | None = None
    checkpoint_time: int | None = None
    checkpoint_age: int | None = None
    max_age: int | None = None
    valid_from: int | None = None
    valid_until: int | None = None
    validity_checked_at: int | None = None
    revocation: RevocationInfo | None = None
    checkpoint_signatures_checked: bool = True
    signatures_verified: int = field(default=0, compare=False)
    """Ed25519 verifications performed (for the benchmark's baseline)."""

    @property
    def exit_code(self) -> int:
        """The CLI exit code: 0 valid, 3 revoked, 4 invalid, 5 stale, 6 expired/not yet valid."""
        return EXIT_CODES[self.status]

    def lines(self) -> list[str]:
        """The verdict as text: the message, then each note indented."""
        return [self.message, *(f"  note: {n}" for n in self.notes)]

    def as_json(self) -> dict[str, object]:
        revocation = self.revocation
        return {
            "status": self.status,
            "message": self.message,
            "notes": list(self.notes),
            "step": self.step,
            "step_name": self.step_name,
            "issuer": (self.issuer.as_json() if self.issuer is not None
                       else None if self.issuer_did is None
                       else {"did": self.issuer_did, "name": None, "ids": [], "standing": None,
                             "current_name": None, "retired_at_index": None,
                             "compromised_since_index": None}),
            "credential_digest": self.credential_digest,
            "credential_checked": self.credential_checked,
            "embedded_proof": self.embedded_proof,
            "batch_id": self.batch_id,
            "event_index": self.event_index,
            "issued_at": format_time_ms(self.issued_time_ms),
            "checkpoint": None if self.tree_size is None else {
                "tree_size": self.tree_size,
                "time": self.checkpoint_time,
                "time_utc": None if self.checkpoint_time is None
                else format_time(self.checkpoint_time),
                "age_seconds": self.checkpoint_age,
                "signatures_checked": self.checkpoint_signatures_checked,
            },
            "max_age_seconds": self.max_age,
            "validity": None if self.validity_checked_at is None and self.valid_from is None
            and self.valid_until is None else {
                "valid_from": None if self.valid_from is None else format_time(self.valid_from),
                "valid_until": None if self.valid_until is None
                else format_time(self.valid_until),
                "checked_at": None if self.validity_checked_at is None
                else format_time(self.validity_checked_at),
            },
            "revocation": None if revocation is None else {
                "scope": revocation.scope,
                "event_index": revocation.index,
                "height": revocation.height,
                "reason": revocation.reason,
                "reason_code": revocation.reason_code,
                "by": revocation.by,
                "revoked_at": format_time_ms(revocation.time_ms),
            },
        }


# Verdict texts name the same few moments (a checkpoint's time, its age, an issuing
# block's date) for every bundle checked in one go: formatting is cached, by value.


@functools.lru_cache(maxsize=1024)
def format_time(timestamp: int) -> str:
    """POSIX seconds as ISO 8601 UTC, e.g. ``2026-06-01T12:00:00Z``."""
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"@{timestamp}"


_describe_age = functools.lru_cache(maxsize=1024)(describe_age)


def format_date(timestamp: int) -> str:
    """POSIX seconds as the UTC calendar date, e.g. ``2026-06-01``."""
    return format_time(timestamp)[:10]


def format_time_ms(time_ms: int | None) -> str | None:
    """:func:`format_time` of a block time in milliseconds; None stays None."""
    return None if time_ms is None else format_time(time_ms // 1000)


def resolve_max_age(max_age: int | TrustPolicy | None, trust: Trust) -> int | None:
    """The age bound in seconds: the trust file's for :data:`TRUST_POLICY`, else ``max_age``."""
    return trust.max_age_seconds if isinstance(max_age, TrustPolicy) else max_age


def issuer_info(record: IssuerRecord, identity: Identity) -> IssuerInfo:
    """The proven issuer ``record`` as :class:`IssuerInfo`, named by its ``identity`` at
    the event."""
    compromise = record.compromise
    return IssuerInfo(record.issuer, identity.name, identity.ids, record.standing,
                      record.name, None if record.retired is None else record.retired.index,
                      None if compromise is None else compromise.since_index)


def issuer_label(did: str, identity: Identity) -> str:
    """``"Example University" (https://uni.example/issuers/1, did:key:z6Mk…)``."""
    return f'"{identity.name}" ({", ".join([*identity.ids, did])})'


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
    leaf = _decode_leaf(untrusted_header)
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
        return _decode_record(untrusted_entry.value)
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


@dataclass(frozen=True, slots=True)
class _Options:
    """What the caller asked for, beyond the trust file and the bundle."""

    credential_json: bytes | None
    now: int | None
    max_age: int | None
    at: int | None
    expected_issuer: str | None
    max_age_from_trust: bool = False


class _Verification:
    """The state of one verification: what the steps so far have established."""

    def __init__(self, trust: Trust | None, origin: str, options: _Options) -> None:
        self.trust = trust
        self.origin = origin
        self.options = options
        self.signatures = 0
        # Established by the steps, in order.
        self.bundle: Bundle
        self.checkpoint: Checkpoint
        self.checkpoint_time: int | None = None
        self.header: BlockHeader
        self.event: SignedEvent
        self.anchor: BatchAnchor | None = None
        self.credential: dict[str, Any] | None = None
        self.issuer_record: IssuerRecord
        self.identity: Identity
        self.batch_record: BatchRecord | None = None
        self.credential_record: CredentialRecord | None = None
        self.named_issuer: str | None = None
        self.embedded_proof: str | None = None
        """``verified``, ``none`` or ``not_checked`` once step 11 read a credential file."""
        self.unchecked_proofs: list[str] = []
        self.validity: credentials.ValidityPeriod | None = None
        self.revoked: RevocationInfo | None = None
        self.issued_time_ms: int | None = None

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
        self.checkpoint, self.checkpoint_time, cosigners = open_checkpoint(
            self.bundle.event_proof.checkpoint_note, self.trust, self.origin, self.options.now)
        self.signatures += cosigners

    # Step 4 -------------------------------------------------------------------------------

    def header_included(self) -> None:
        self.header = prove_header(self.checkpoint, self.bundle.header, self.bundle.header_proof,
                                   self.bundle.event_proof.checkpoint_note)

    # Step 5 -------------------------------------------------------------------------------

    def event_included(self) -> None:
        prove_leaf(self.checkpoint, self.bundle.event, self.bundle.event_proof)

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
        credential_json = self.options.credential_json
        if credential_json is not None:
            try:
                document = credentials.parse_credential(credential_json)
                computed = credentials.digest_document(document)
            except InvalidEncoding as exc:
                raise StepFailed(f"the credential file cannot be digested: "
                                 f"{exc.diagnostics()}") from exc
            if computed != bundle.credential_digest:
                raise StepFailed(f"the credential file's RFC 8785 digest is {computed.hex()}, "
                                 f"not the bundle's {bundle.credential_digest.hex()}: the file "
                                 "was changed after it was issued, or this bundle is for "
                                 "another credential")
            self.credential = document

    # Step 8 -------------------------------------------------------------------------------

    def _record(self, entry: StatusEntry, key: bytes, what: str) -> object:
        return prove_record(self.header, entry, key, what)

    def issuer_in_good_standing(self) -> None:
        index = self.bundle.event_proof.index
        record = prove_signer_standing(self.header, self.bundle.status.issuer,
                                       self.bundle.issuer, self.event.signer, index)
        self.issuer_record = record
        self.identity = record.identity_at(index)

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

    # Step 11 ------------------------------------------------------------------------------

    def credential_claims(self) -> None:
        did = self.bundle.issuer
        allowed = {did, *self.identity.ids}
        document = self.credential
        if document is not None:
            named = credentials.named_issuer(document)
            if named is None:
                raise StepFailed("the credential names no issuer (an 'issuer' string or an "
                                 "object with an 'id'); nothing ties it to the ledger's issuer")
            if named not in allowed:
                raise StepFailed(
                    f"the credential names issuer {named}, but it was put on the ledger by "
                    f"{issuer_label(did, self.identity)}, which governance had not given that "
                    "identifier: another issuer's credential, or a forgery")
            self.named_issuer = named
            try:
                self.validity = credentials.validity_period(document)
            except InvalidEncoding as exc:
                raise StepFailed(exc.diagnostics()) from exc
            self._embedded_proofs(document)
        expected = self.options.expected_issuer
        if expected is not None and expected not in allowed:
            raise StepFailed(f"you expected issuer {expected}; this credential was issued by "
                             f"{issuer_label(did, self.identity)}")

    def _embedded_proofs(self, document: dict[str, Any]) -> None:
        """The credential's own signature: every ``eddsa-jcs-2022`` proof must verify by a
        key the issuer held at the event; other proof types are named, not passed."""
        try:
            proofs = vc.embedded_proofs(document)
        except vc.EmbeddedProofError as exc:
            raise StepFailed(f"the credential's embedded proof: {exc.diagnostics()}") from exc
        index = self.bundle.event_proof.index
        verified = 0
        for number, proof in enumerate(proofs):
            where = "embedded proof" if len(proofs) == 1 else f"embedded proof {number}"
            try:
                # Signatures last within the step: the proof's cheap checks come first.
                self.signatures += 1
                key = vc.verify_embedded_proof(document, proof, now=self.options.now)
            except vc.UnsupportedProof:
                self.signatures -= 1
                self.unchecked_proofs.append(_proof_kind(proof))
                continue
            except vc.EmbeddedProofError as exc:
                raise StepFailed(f"the credential's {where} does not hold: "
                                 f"{exc.diagnostics()}") from exc
            if not self.issuer_record.key_valid_at(key, index):
                raise StepFailed(f"the credential's {where} is signed by {did_key(key)}; "
                                 f"{self._why_not_at_event(key, index)}")
            verified += 1
        self.embedded_proof = ("verified" if verified else
                               "not_checked" if self.unchecked_proofs else "none")

    def _why_not_at_event(self, key: bytes, index: int) -> str:
        who = issuer_label(self.bundle.issuer, self.identity)
        period = next((p for p in self.issuer_record.keys if p.public_key == key), None)
        if period is None:
            return f"it was never a key of {who}: another party's signature"
        that = ("the issuer's original key (the one its did:key names)"
                if did_key(key) == self.bundle.issuer else f"that key of {who}")
        if index < period.valid_from:
            return (f"{that} only came into force at log index {period.valid_from}, after the "
                    f"event (index {index})")
        assert period.valid_until is not None  # it covers no index at or after valid_from
        return (f"{that} was rotated out at log index {period.valid_until - 1}, before the "
                f"event (index {index})")

    # Step 12 ------------------------------------------------------------------------------

    def block_times(self) -> None:
        index = self.bundle.event_proof.index
        issued_height = (self.batch_record.anchored.height if self.batch_record is not None
                         else self._issued_position().height)
        revoked = self._earliest_revocation()
        # The issuing block and the earliest revocation's, as the steps proved them.
        needed = {issued_height} | (set() if revoked is None else {revoked.height})
        headers = {}
        for included in self.bundle.block_headers:
            header = self._included_header(included)
            headers[header.height] = header
        # Two leaves claiming one height can only come from a faulty log: one form only.
        if set(headers) != needed or len(self.bundle.block_headers) != len(needed):
            raise StepFailed(
                f"the bundle must carry exactly the headers of blocks {sorted(needed)} (the "
                f"issuing event's and its revocation's); it carries {sorted(headers)}")
        self.issued_time_ms = self._time_of(headers[issued_height], index, "issuing event")
        if revoked is not None:
            time_ms = self._time_of(headers[revoked.height], revoked.index, "revocation")
            revoked = RevocationInfo(revoked.scope, revoked.index, revoked.height, revoked.reason,
                                     revoked.reason_code, revoked.by_governance, time_ms)
        self.revoked = revoked

    def _issued_position(self) -> Position:
        record = self.credential_record
        assert record is not None and record.issued is not None  # step 10 established it
        return record.issued

    def _included_header(self, included: IncludedHeader) -> BlockHeader:
        checkpoint = self.checkpoint
        if included.index >= checkpoint.tree_size:
            raise StepFailed(f"a block header claims index {included.index}, outside the "
                             f"checkpoint's tree of {checkpoint.tree_size}")
        verify_inclusion(leaf_hash(included.leaf), included.index, checkpoint.tree_size,
                         included.audit_path, checkpoint.root)
        leaf = _decode_leaf(included.leaf)
        if not isinstance(leaf, BlockHeader) or leaf.index != included.index:
            raise StepFailed(f"the leaf at index {included.index} is not the block header it "
                             "claims to be")
        return leaf

    @staticmethod
    def _time_of(header: BlockHeader, index: int, what: str) -> int:
        if not header.first_index <= index < header.index:
            raise StepFailed(f"block {header.height} holds log indices {header.first_index}.."
                             f"{header.index - 1}, not the {what} at {index}")
        return header.time_ms

    def _earliest_revocation(self) -> RevocationInfo | None:
        found: list[RevocationInfo] = []
        for scope, record in (("credential", self.credential_record),
                              ("batch", self.batch_record)):
            revoked = None if record is None else record.revoked
            if revoked is not None:
                found.append(RevocationInfo(
                    scope, revoked.position.index, revoked.position.height,  # type: ignore[arg-type]
                    revoked.reason.label, int(revoked.reason), revoked.by_governance))
        compromise = self.issuer_record.voided_by(self.bundle.event_proof.index)
        if compromise is not None:
            found.append(RevocationInfo(
                "issuer", compromise.position.index, compromise.position.height,
                RevocationReason.KEY_COMPROMISE.label, int(RevocationReason.KEY_COMPROMISE),
                by_governance=True))
        # Several may apply; the earliest is when it stopped being valid.
        return min(found, key=lambda item: item.index, default=None)

    # Outcome ------------------------------------------------------------------------------

    def issuer_info(self) -> IssuerInfo:
        return issuer_info(self.issuer_record, self.identity)


def _proof_kind(proof: dict[str, Any]) -> str:
    """``type/cryptosuite`` of a proof, as a note names one it did not check."""
    kind = proof.get("type")
    suite = proof.get("cryptosuite")
    name = kind if isinstance(kind, str) else "(no type)"
    return f"{name}/{suite}" if isinstance(suite, str) else name


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
        check.credential_claims,
        check.block_times,
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
        issuer=check.issuer_info() if number > 8 else None,
        issuer_did=None if bundle is None else bundle.issuer,
        credential_digest=None if bundle is None else bundle.credential_digest.hex(),
        credential_checked=check.options.credential_json is not None,
        signatures_verified=check.signatures,
        checkpoint_signatures_checked=check.trust is not None,
    )


def _outcome(check: _Verification) -> Verdict:
    options = check.options
    bundle = check.bundle
    tree_size = check.checkpoint.tree_size
    issuer = check.issuer_info()
    notes: list[str] = []
    age = None if check.checkpoint_time is None or options.now is None else max(
        0, options.now - check.checkpoint_time)

    who = issuer.label(check.named_issuer)
    # Without the file, the ledger vouches for a digest, not for whatever document is shown.
    subject = ("this credential" if options.credential_json is not None
               else f"the credential with digest {bundle.credential_digest.hex()[:16]}…")
    assert check.issued_time_ms is not None
    issued_on = format_date(check.issued_time_ms // 1000)
    as_of = f"as of checkpoint {tree_size}"
    if check.checkpoint_time is not None:
        as_of += f" ({format_time(check.checkpoint_time)}"
        as_of += ")" if age is None else f", {_describe_age(age)} old)"
    elif check.trust is None:
        as_of += " (its cosignatures were not checked)"

    unchecked = ", ".join(check.unchecked_proofs)
    proofs_were = ("proof of type {} was" if len(check.unchecked_proofs) == 1
                   else "proofs of type {} were").format(unchecked)
    if check.embedded_proof == "none":
        notes.append("the credential carries no embedded proof: its own signature was not "
                     "checked (the ledger's record of its digest was)")
    elif check.embedded_proof == "not_checked":
        notes.append(f"the credential's embedded {proofs_were} not checked: only "
                     "eddsa-jcs-2022 Data Integrity proofs are")
    elif check.unchecked_proofs:
        notes.append("the credential's own eddsa-jcs-2022 signature was verified (the issuer's "
                     f"key at the event); its {proofs_were} not checked")
    elif check.embedded_proof == "verified":
        notes.append("the credential's own eddsa-jcs-2022 signature was verified (the issuer's "
                     "key at the event)")
    if options.credential_json is None:
        notes.append("the credential file was not checked: this verdict is about digest "
                     f"{bundle.credential_digest.hex()}, whatever file is shown, and that "
                     "file's issuer and dates were not compared with the ledger's")
    statements = check.issuer_record.compromises
    if statements:
        # Every statement, newest first: each one's reason stays readable.
        said = "; then ".join(
            f"from log index {c.since_index} (at index {c.position.index}: "
            f"{c.reason or 'no reason given'})" for c in reversed(statements))
        notes.append(f"governance declared this issuer's key compromised {said}; credentials "
                     f"issued before index {statements[-1].since_index} keep their verdict")
    elif issuer.retired_at_index is not None:
        notes.append(f"the issuer retired at log index {issuer.retired_at_index}; "
                     "credentials it issued before keep their verdict")
    if issuer.current_name != issuer.name:
        notes.append(f'the issuer is now called "{issuer.current_name}"')

    # Validity dates of the credential itself.
    moment = options.at if options.at is not None else options.now
    validity = check.validity
    dated: VerdictStatus | None = None
    if validity is not None and moment is not None:
        period = validity.status_at(moment)
        dated = None if period == "valid" else period
    elif validity is not None:
        notes.append("the credential's validity dates were not checked: no clock was given")
    if validity is not None and options.at is not None:
        notes.append(f"the credential's validity dates were checked at "
                     f"{format_time(options.at)}, not now")

    # Freshness of the checkpoint.
    max_age = options.max_age
    stale = False
    if check.trust is not None:
        if max_age is None:
            notes.append("the checkpoint's age was not bounded: a revocation after it would "
                         "not show")
        elif age is None:
            notes.append("the checkpoint's age was not checked: no clock was given")
        elif age > max_age:
            stale = True

    revoked = check.revoked
    status: VerdictStatus
    if revoked is not None:
        status = "revoked"
        scope = {"credential": "", "batch": " with its whole batch",
                 "issuer": " because the issuer's key was compromised"}[revoked.scope]
        when = ("" if revoked.time_ms is None
                else f" on {format_date(revoked.time_ms // 1000)}")
        # A voided credential was put on the ledger with the stolen key: do not say the
        # institution issued it.
        origin_line = (f"it was put on the ledger with the key of {who} on {issued_on}"
                       if revoked.scope == "issuer" else f"{who} issued {subject} on {issued_on}")
        message = (f"revoked{when} by {revoked.by}{scope} ({revoked.reason}, log index "
                   f"{revoked.index}); {origin_line}; {as_of}")
    elif dated is not None:
        status = dated
        assert validity is not None and moment is not None
        if dated == "expired":
            assert validity.valid_until is not None
            what = f"expired on {format_time(validity.valid_until)}"
        else:
            assert validity.valid_from is not None
            what = f"is not valid until {format_time(validity.valid_from)}"
        message = (f"{dated.replace('_', ' ')}: the credential {what} (checked at "
                   f"{format_time(moment)}); {who} issued it on {issued_on}, not revoked "
                   f"{as_of}")
    elif stale:
        status = "stale"
        assert age is not None and max_age is not None
        allows = "this network allows" if options.max_age_from_trust else "this check allows"
        message = (f"stale: checkpoint {tree_size} is {_describe_age(age)} old; {allows} "
                   f"{describe_duration(max_age)}. As of then: {who} issued {subject} on "
                   f"{issued_on}, not revoked")
        notes.append("a newer checkpoint is needed: refresh the bundle from a node that is "
                     "up to date")
    else:
        status = "valid"
        message = f"valid: {who} issued {subject} on {issued_on}; not revoked {as_of}"
    return Verdict(
        status=status,
        message=message,
        notes=tuple(notes),
        issuer=issuer,
        issuer_did=bundle.issuer,
        credential_digest=bundle.credential_digest.hex(),
        credential_checked=options.credential_json is not None,
        embedded_proof=check.embedded_proof,
        batch_id=None if check.anchor is None else check.anchor.batch_id,
        event_index=bundle.event_proof.index,
        issued_time_ms=check.issued_time_ms,
        tree_size=tree_size,
        checkpoint_time=check.checkpoint_time,
        checkpoint_age=age,
        max_age=max_age if check.trust is not None else None,
        valid_from=None if validity is None else validity.valid_from,
        valid_until=None if validity is None else validity.valid_until,
        validity_checked_at=moment if validity is not None else None,
        revocation=revoked,
        checkpoint_signatures_checked=check.trust is not None,
        signatures_verified=check.signatures,
    )


def verify_bundle(
    bundle: Bundle | bytes | str,
    trust: Trust,
    *,
    credential_json: bytes | None = None,
    digest_only: bool = False,
    now: int | None = None,
    max_age: int | TrustPolicy | None = TRUST_POLICY,
    at: int | None = None,
    expected_issuer: str | None = None,
) -> Verdict:
    """Verify an untrusted bundle (a parsed :class:`Bundle` or the document) offline.

    ``trust`` names the network.  ``credential_json`` is the file the holder
    presents: its RFC 8785 digest must be the bundle's and its ``issuer`` the
    ledger's issuer; pass ``digest_only=True`` instead to check the bundle
    alone (the verdict then says the file was not checked).  ``now`` is the
    caller's clock (POSIX seconds): it discards cosignatures from the future,
    measures the checkpoint's age against ``max_age`` (seconds; the trust
    file's by default; None: unbounded, and the verdict says so) and, unless
    ``at`` names another moment, is when the credential's own validity dates
    are checked.  ``expected_issuer`` pins the issuer (its did:key or one of
    its identifiers).  Never raises for bad bundle data: every failure is an
    ``invalid`` verdict naming its step.
    """
    if credential_json is None and not digest_only:
        raise UsageError("give the credential file, or digest_only=True to check the bundle alone")
    if credential_json is not None and digest_only:
        raise UsageError("give either the credential file or digest_only=True, not both")
    limit = resolve_max_age(max_age, trust)
    options = _Options(credential_json, now, limit, at, expected_issuer,
                       max_age_from_trust=max_age is TRUST_POLICY)
    return _run(bundle, _Verification(trust, trust.origin, options))


def verify_bundle_without_trust(
    bundle: Bundle | bytes | str,
    origin: str,
    *,
    credential_json: bytes | None = None,
    now: int | None = None,
) -> Verdict:
    """Every check of :func:`verify_bundle` except the checkpoint's cosignatures and age.

    For ``vcledger bundle`` without a trust file: the checkpoint is the one
    the node just served, so this shows the bundle is complete and coherent
    with it, NOT that the network vouches for it.  The verdict says so
    (``checkpoint_signatures_checked`` is False).
    """
    options = _Options(credential_json, now, None, None, None)
    return _run(bundle, _Verification(None, origin, options))


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
    header = _decode_leaf(untrusted_header)
    if not isinstance(header, BlockHeader) or header.tree_size != checkpoint.tree_size:
        raise StepFailed("the checkpoint's last leaf is not the block header of that tree")
    if untrusted_entry.value is None:
        verify_non_membership(header.status_root, status_key, untrusted_entry.proof)
        record = None
    else:
        verify_membership(header.status_root, status_key, untrusted_entry.value,
                          untrusted_entry.proof)
        record = _decode_record(untrusted_entry.value)
    return ProvenStatusRecord(checkpoint.tree_size, verified.time, record)

