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

This module holds the steps.  The verdict's types, text and JSON form are in
:mod:`client.verdict`; the checks a pathway's bundle shares with a credential's
(steps 3 to 5, the status records) in :mod:`client.bundle_checks`.
"""

from __future__ import annotations

from typing import Any

from client import credentials, vc
from client.batch import verify_receipt
from client.block import BlockHeader
from client.bundle import Bundle, IncludedHeader, StatusEntry, parse_bundle
from client.bundle_checks import (
    SharedSteps,
    StepFailed,
    cached_leaf,
    prove_record,
    prove_signer_standing,
    run_steps,
)
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.events import BatchAnchor, CredentialIssue, RevocationReason, SignedEvent
from client.keys import did_key
from client.merkle import leaf_hash, verify_inclusion
from client.smt import verify_non_membership
from client.status import (
    BatchRecord,
    CredentialRecord,
    Identity,
    IssuerRecord,
    Position,
    batch_status_key,
    credential_status_key,
)
from client.trust import Trust
from client.verdict import (
    TRUST_POLICY,
    IssuerInfo,
    RevocationInfo,
    TrustPolicy,
    Verdict,
    VerifyOptions,
    bundle_verdict,
    issuer_info,
    issuer_label,
    resolve_max_age,
)

__all__ = [
    "STEPS",
    "verify_bundle",
    "verify_bundle_without_trust",
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

class _Verification(SharedSteps[Bundle]):
    """The state of one verification: what the steps so far have established."""

    def __init__(self, trust: Trust | None, origin: str, options: VerifyOptions,
                 parsed_credential: dict[str, Any] | None = None) -> None:
        super().__init__(trust, origin, options.now)
        self.options = options
        self.parsed_credential = parsed_credential
        # Established by the steps, in order (steps 2 to 5: SharedSteps).
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

    # Steps 2 to 5: SharedSteps (origin, checkpoint, block header, event inclusion) ---------

    # Step 6 -------------------------------------------------------------------------------

    def event_signed(self) -> None:
        leaf = cached_leaf(self.bundle.event)
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
                document = (self.parsed_credential if self.parsed_credential is not None
                            else credentials.parse_credential(credential_json))
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
        leaf = cached_leaf(included.leaf)
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
    failed = run_steps(steps)
    return bundle_verdict(check) if failed is None else _invalid(check, *failed)


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

def verify_bundle(
    bundle: Bundle | bytes | str,
    trust: Trust,
    *,
    credential_json: bytes | None = None,
    parsed_credential: dict[str, Any] | None = None,
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
    its identifiers).  ``parsed_credential`` is ``credential_json`` as
    :func:`client.credentials.parse_credential` returned it, for a caller that reads
    the file too (it is then parsed once); it must be that file's, and is not
    modified.  Never raises for bad bundle data: every failure is an ``invalid``
    verdict naming its step.
    """
    if credential_json is None and not digest_only:
        raise UsageError("give the credential file, or digest_only=True to check the bundle alone")
    if credential_json is not None and digest_only:
        raise UsageError("give either the credential file or digest_only=True, not both")
    if parsed_credential is not None and credential_json is None:
        raise UsageError("parsed_credential is the credential file's parse: give the file too")
    limit = resolve_max_age(max_age, trust)
    options = VerifyOptions(credential_json, now, limit, at, expected_issuer,
                       max_age_from_trust=max_age is TRUST_POLICY)
    return _run(bundle, _Verification(trust, trust.origin, options, parsed_credential))


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
    options = VerifyOptions(credential_json, now, None, None, None)
    return _run(bundle, _Verification(None, origin, options))
