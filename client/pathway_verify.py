"""Offline verification of a pathway: its bundle in numbered steps, then the credentials.

Trusted: the :class:`client.trust.Trust`, the caller's clock (``now``), the
credential files and bundles the holder presents only as far as
:func:`client.verify.verify_bundle` proves them, and the holder the caller
names.  Untrusted: everything in every bundle.  No network, no state.

A pathway bundle is checked like a credential's bundle, with the same
functions for the shared steps (:func:`client.bundle_checks.open_checkpoint` ...):

====  ===============  ====================================================================
step  name             check
====  ===============  ====================================================================
1     format           the document parses (size cap, strict JSON, closed schema, canonical
                       encodings)
2     origin           the bundle's origin is the trusted network's
3     checkpoint       >= threshold cosignatures by distinct trusted validators; its time
4     block header     the header leaf is the checkpoint's last leaf, its inclusion verifies
5     event inclusion  the event leaf's inclusion at its index verifies
6     event            the leaf is a ``pathway.define`` of the bundle's owner and pathway id,
                       and its Ed25519 signature verifies for the origin
7     definition       the definition's RFC 8785 digest is the event's; it has the closed
                       form of docs/protocol.md §17.1 and names the event's id, version and
                       (if it names one) owner
8     owner status     the owner's record (membership under the header's status root):
                       registered before the event, not retired before it, the signer its
                       key at the event, and no compromise voids the event
9     pathway status   the pathway's record (membership) holds the event as that version, the
                       version is the CURRENT one at the checkpoint (an older one is
                       superseded), and the pathway is not retired
====  ===============  ====================================================================

Then :func:`verify_pathway` verifies every credential exactly as ``vcledger
verify`` does and evaluates the definition's rule: ``complete`` (exit 0),
``incomplete`` (exit 7: something is missing, revoked, expired, stale, of
another issuer or of another holder, or the pathway bundle is stale), or
``invalid`` (exit 4: the pathway bundle failed a step).  The verdicts, their text
and JSON are :mod:`client.pathway_verdict`'s; which credential meets which
requirement is :mod:`client.pathway_requirements`'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from client import credentials
from client.block import decode_leaf
from client.bundle import Bundle
from client.bundle_checks import (
    SharedSteps,
    StepFailed,
    prove_record,
    prove_signer_standing,
    run_steps,
)
from client.errors import InvalidEncoding, UsageError
from client.events import PathwayDefine, SignedEvent
from client.pathway import (
    Definition,
    PathwayBundle,
    best_result,
    check_definition,
    credential_achievements,
    digest_definition,
    parse_pathway_bundle,
    subject_id,
)
from client.pathway_requirements import evaluate_pathway
from client.pathway_verdict import (
    CredentialOutcome,
    PathwayBundleVerdict,
    PathwayInfo,
    PathwayVerdict,
    pathway_bundle_verdict,
)
from client.status import IssuerRecord, PathwayRecord, pathway_status_key
from client.trust import Trust
from client.verdict import (
    TRUST_POLICY,
    IssuerInfo,
    TrustPolicy,
    issuer_info,
    issuer_label,
    resolve_max_age,
)
from client.verify import verify_bundle

__all__ = [
    "PATHWAY_STEPS",
    "verify_pathway",
    "verify_pathway_bundle",
]


PATHWAY_STEPS: tuple[str, ...] = (
    "format",
    "origin",
    "checkpoint",
    "block header",
    "event inclusion",
    "event",
    "definition",
    "owner status",
    "pathway status",
)
"""Step names of a pathway bundle's verification; step ``n`` is ``PATHWAY_STEPS[n - 1]``."""


class _PathwayCheck(SharedSteps[PathwayBundle]):
    """The state of one pathway bundle's verification, established step by step."""

    noun = "pathway bundle"

    def __init__(self, trust: Trust, now: int | None, expected_owner: str | None) -> None:
        super().__init__(trust, trust.origin, now)
        self.expected_owner = expected_owner
        self.event: SignedEvent
        self.define: PathwayDefine
        self.definition: Definition
        self.owner_record: IssuerRecord
        self.pathway_record: PathwayRecord

    def format(self, untrusted: PathwayBundle | bytes | str) -> None:
        self.bundle = (untrusted if isinstance(untrusted, PathwayBundle)
                       else parse_pathway_bundle(untrusted))

    # Steps 2 to 5: SharedSteps (origin, checkpoint, block header, event inclusion).

    def event_signed(self) -> None:
        leaf = decode_leaf(self.bundle.event)
        if not isinstance(leaf, SignedEvent):
            raise StepFailed("the event leaf is a block header, not a pathway.define event")
        payload = leaf.payload
        if not isinstance(payload, PathwayDefine):
            raise StepFailed(f"the event is of kind {leaf.kind.value}; a pathway bundle needs "
                             "the pathway.define event of the version it proves")
        if (payload.owner, payload.pathway_id) != (self.bundle.owner, self.bundle.pathway_id):
            raise StepFailed(f"the event defines pathway {payload.pathway_id} of "
                             f"{payload.owner}, not the bundle's {self.bundle.pathway_id} of "
                             f"{self.bundle.owner}")
        # Signatures last: everything cheaper about the event has been checked.
        leaf.verify_signature(self.origin)
        self.event = leaf
        self.define = payload

    def definition_committed(self) -> None:
        define = self.define
        document = self.bundle.definition
        digest = digest_definition(document, "the definition document")
        if digest != define.definition_digest:
            raise StepFailed(
                f"the definition document's RFC 8785 digest is {digest.hex()}, but the "
                f"pathway.define event of version {define.version} commits to "
                f"{define.definition_digest.hex()}: the document was altered, or it is "
                "another version's")
        model = check_definition(document, "the definition document")
        mismatches = [
            f"{name} {ours!r} (the event's is {theirs!r})"
            for name, ours, theirs in (("id", model.id, define.pathway_id),
                                       ("version", model.version, define.version))
            if ours != theirs]
        if model.owner is not None and model.owner != define.owner:
            mismatches.append(f"owner {model.owner} (the event was signed for {define.owner})")
        if mismatches:
            raise StepFailed("the definition document names " + ", ".join(mismatches))
        self.definition = Definition(model, document, digest)

    def owner_in_good_standing(self) -> None:
        index = self.bundle.event_proof.index
        record = prove_signer_standing(self.header, self.bundle.status.owner, self.define.owner,
                                       self.event.signer, index)
        compromise = record.voided_by(index)
        if compromise is not None:
            raise StepFailed(
                f"governance declared the key of owner {record.issuer} compromised from log "
                f"index {compromise.since_index} (at index {compromise.position.index}: "
                f"{compromise.reason or 'no reason given'}); this definition, signed at index "
                f"{index}, is void")
        self.owner_record = record
        expected = self.expected_owner
        identity = record.identity_at(index)
        if expected is not None and expected not in {record.issuer, *identity.ids}:
            raise StepFailed(f"you expected the pathway's owner to be {expected}; it was "
                             f"defined by {issuer_label(record.issuer, identity)}")

    def pathway_current(self) -> None:
        define = self.define
        index = self.bundle.event_proof.index
        record = prove_record(self.header, self.bundle.status.pathway,
                              pathway_status_key(define.owner, define.pathway_id), "pathway")
        if not isinstance(record, PathwayRecord):
            raise StepFailed(f"the status key of pathway {define.pathway_id} does not hold a "
                             "pathway record")
        entry = record.version(define.version)
        if entry is None or (entry.definition_digest, entry.position.index) != (
                define.definition_digest, index):
            raise StepFailed(f"the pathway record does not hold this event (index {index}) as "
                             f"version {define.version}")
        current = record.current
        if current.version != define.version:
            raise StepFailed(
                f"superseded: version {define.version} was replaced by version "
                f"{current.version} at log index {current.position.index}; as of checkpoint "
                f"{self.checkpoint.tree_size} version {current.version} is the current one "
                "(ask for a bundle of it)")
        if record.retired is not None:
            raise StepFailed(f"the owner retired pathway {define.pathway_id} at log index "
                             f"{record.retired.index}: no version of it is current")
        self.pathway_record = record

    def owner_info(self) -> IssuerInfo:
        record = self.owner_record
        return issuer_info(record, record.identity_at(self.bundle.event_proof.index))


def _bundle_steps(check: _PathwayCheck, untrusted: PathwayBundle | bytes | str) -> tuple[
        Any, ...]:
    return (
        lambda: check.format(untrusted),
        check.origin_matches,
        check.checkpoint_opens,
        check.header_included,
        check.event_included,
        check.event_signed,
        check.definition_committed,
        check.owner_in_good_standing,
        check.pathway_current,
    )


def verify_pathway_bundle(
    pathway_bundle: PathwayBundle | bytes | str,
    trust: Trust,
    *,
    now: int | None,
    max_age: int | TrustPolicy | None = TRUST_POLICY,
    expected_owner: str | None = None,
) -> PathwayBundleVerdict:
    """Verify an untrusted pathway bundle offline, in the steps of :data:`PATHWAY_STEPS`.

    ``now`` (POSIX seconds) discards cosignatures from the future and measures the
    checkpoint's age against ``max_age`` (seconds; the trust file's by default; None:
    unbounded, and the verdict says so).  ``expected_owner`` pins the owner (its did:key
    or an identifier governance had given it at the event; step 8).  Never raises for
    bad bundle data.
    """
    limit = resolve_max_age(max_age, trust)
    check = _PathwayCheck(trust, now, expected_owner)
    steps = _bundle_steps(check, pathway_bundle)
    assert len(steps) == len(PATHWAY_STEPS)
    failed = run_steps(steps)
    if failed is not None:
        number, exc = failed
        name = PATHWAY_STEPS[number - 1]
        return PathwayBundleVerdict(
            "invalid", f"invalid: step {number} ({name}): {exc.diagnostics()}",
            step=number, step_name=name)
    assert check.checkpoint_time is not None
    define = check.define
    info = PathwayInfo(
        pathway_id=define.pathway_id, name=check.definition.model.name, version=define.version,
        owner=check.owner_info(), definition_digest=define.definition_digest.hex(),
        event_index=check.bundle.event_proof.index,
        event_height=check.pathway_record.current.position.height,
        versions=len(check.pathway_record.versions), tree_size=check.checkpoint.tree_size,
        checkpoint_time=check.checkpoint_time,
        checkpoint_age=None if now is None else max(0, now - check.checkpoint_time),
        max_age=limit)
    return pathway_bundle_verdict(info, check.definition,
                                  max_age_from_trust=max_age is TRUST_POLICY)


def verify_pathway(
    pathway_bundle: PathwayBundle | bytes | str,
    bundles_and_credentials: Sequence[tuple[Bundle | bytes | str, bytes]],
    trust: Trust,
    *,
    now: int | None,
    max_age: int | TrustPolicy | None = TRUST_POLICY,
    holder: str | None = None,
    expected_owner: str | None = None,
    labels: Sequence[str] | None = None,
) -> PathwayVerdict:
    """Check presented credentials against a pathway, offline.

    ``pathway_bundle`` proves the definition (:func:`verify_pathway_bundle`); each
    ``(bundle, credential file)`` pair is verified with
    :func:`client.verify.verify_bundle` (issuer, freshness, revocation, validity dates,
    embedded proof) at ``now`` under ``max_age``.  A requirement is met by a credential
    whose verdict is ``valid``, that names the holder as ``credentialSubject.id``, whose
    issuer is the requirement's (the bundle's did:key or an identifier governance had
    given it at the event), whose achievement id or type is the requirement's, and whose
    best numeric result reaches ``min_result``; each credential meets at most one
    requirement.  The holder is ``holder``, else the subject of the first credential
    whose bundle verifies.  The rule and the maximum span (between the ledger issuance
    dates of the credentials counted) decide ``complete`` or ``incomplete``; a pathway
    bundle that fails a step is ``invalid`` (also when its owner is not
    ``expected_owner``).  ``labels`` name the credentials in messages (default
    ``credential 1`` ...).  Never raises for bad bundle or credential data.
    """
    if labels is not None and len(labels) != len(bundles_and_credentials):
        raise UsageError("give one label per credential")
    proven = verify_pathway_bundle(pathway_bundle, trust, now=now, max_age=max_age,
                                   expected_owner=expected_owner)
    if proven.status == "invalid":
        return PathwayVerdict("invalid", "invalid: pathway bundle "
                              + proven.message.removeprefix("invalid: "),
                              step=proven.step, step_name=proven.step_name,
                              pathway_bundle=proven)
    names = list(labels) if labels is not None else [
        f"credential {n}" for n in range(1, len(bundles_and_credentials) + 1)]

    outcomes: list[CredentialOutcome] = []
    for number, ((bundle, credential_json), label) in enumerate(
            zip(bundles_and_credentials, names, strict=True), start=1):
        # Parsed once, here: the bundle's verification digests this document, and the
        # requirements read its claims even when the bundle fails, so that the failure is
        # reported against the requirement the file claims to meet (nothing is counted
        # from an invalid one).  A file that does not parse is handed over unparsed:
        # verify_bundle's step 7 then says why (that failure is the one second parse).
        try:
            document: dict[str, Any] | None = credentials.parse_credential(credential_json)
        except InvalidEncoding:
            document = None
        verdict = verify_bundle(bundle, trust, credential_json=credential_json,
                                parsed_credential=document, now=now, max_age=max_age)
        claims = {} if document is None else document
        outcomes.append(CredentialOutcome(number, label, verdict, subject_id(claims),
                                          credential_achievements(claims),
                                          best_result(claims)))
    return evaluate_pathway(proven, outcomes, holder)
