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
``invalid`` (exit 4: the pathway bundle failed a step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from client import credentials
from client.block import BlockHeader, decode_leaf
from client.bundle import Bundle
from client.bundle_checks import (
    StepFailed,
    open_checkpoint,
    prove_header,
    prove_leaf,
    prove_record,
    prove_signer_standing,
)
from client.checkpoint import Checkpoint
from client.durations import describe_age, describe_duration
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.events import PathwayDefine, SignedEvent
from client.pathway import (
    AllOf,
    Definition,
    PathwayBundle,
    Requirement,
    best_result,
    check_definition,
    credential_achievements,
    digest_definition,
    parse_pathway_bundle,
    subject_id,
)
from client.status import IssuerRecord, PathwayRecord, pathway_status_key
from client.trust import Trust
from client.verdict import (
    EXIT_CODES,
    TRUST_POLICY,
    IssuerInfo,
    TrustPolicy,
    Verdict,
    format_date,
    format_time,
    format_time_ms,
    issuer_info,
    issuer_label,
    resolve_max_age,
)
from client.verify import verify_bundle

__all__ = [
    "PATHWAY_STEPS",
    "CompetencyInfo",
    "CredentialOutcome",
    "PathwayBundleVerdict",
    "PathwayInfo",
    "PathwayVerdict",
    "RequirementOutcome",
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

DAY_MS = 86_400_000

PathwayStatusName = Literal["complete", "incomplete", "invalid"]


# -- the pathway bundle -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PathwayInfo:
    """What a verified pathway bundle proves, for people and for JSON."""

    pathway_id: str
    name: str
    version: int
    owner: IssuerInfo
    definition_digest: str
    event_index: int
    event_height: int
    versions: int
    """How many versions the owner has published (this one is the last)."""
    tree_size: int
    checkpoint_time: int
    checkpoint_age: int | None
    max_age: int | None

    def label(self) -> str:
        return f'"{self.name}" version {self.version} ({self.pathway_id})'

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.pathway_id,
            "name": self.name,
            "version": self.version,
            "versions_published": self.versions,
            "owner": self.owner.as_json(),
            "definition_digest": self.definition_digest,
            "event_index": self.event_index,
            "event_height": self.event_height,
            "checkpoint": {"tree_size": self.tree_size, "time": self.checkpoint_time,
                           "time_utc": format_time(self.checkpoint_time),
                           "age_seconds": self.checkpoint_age},
            "max_age_seconds": self.max_age,
        }


@dataclass(frozen=True, slots=True)
class PathwayBundleVerdict:
    """The outcome of verifying a pathway bundle alone: ``valid``, ``stale`` (the
    checkpoint is older than the maximum age: a newer version or a retirement would not
    show) or ``invalid`` (``step`` names the first failed step)."""

    status: Literal["valid", "stale", "invalid"]
    message: str
    notes: tuple[str, ...] = ()
    step: int | None = None
    step_name: str | None = None
    pathway: PathwayInfo | None = None
    definition: Definition | None = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def lines(self) -> list[str]:
        return [self.message, *(f"  note: {n}" for n in self.notes)]

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "message": self.message, "notes": list(self.notes),
                "step": self.step, "step_name": self.step_name,
                "pathway": None if self.pathway is None else self.pathway.as_json(),
                "definition": None if self.definition is None else _plain(
                    self.definition.document)}


class _PathwayCheck:
    """The state of one pathway bundle's verification, established step by step."""

    def __init__(self, trust: Trust, now: int | None, expected_owner: str | None) -> None:
        self.trust = trust
        self.now = now
        self.expected_owner = expected_owner
        self.bundle: PathwayBundle
        self.checkpoint: Checkpoint
        self.checkpoint_time: int | None = None
        self.header: BlockHeader
        self.event: SignedEvent
        self.define: PathwayDefine
        self.definition: Definition
        self.owner_record: IssuerRecord
        self.pathway_record: PathwayRecord

    def format(self, untrusted: PathwayBundle | bytes | str) -> None:
        self.bundle = (untrusted if isinstance(untrusted, PathwayBundle)
                       else parse_pathway_bundle(untrusted))

    def origin_matches(self) -> None:
        if self.bundle.origin != self.trust.origin:
            raise StepFailed(f"the pathway bundle is for network {self.bundle.origin!r}; the "
                             f"trust file is for {self.trust.origin!r}")

    def checkpoint_opens(self) -> None:
        self.checkpoint, self.checkpoint_time, _ = open_checkpoint(
            self.bundle.event_proof.checkpoint_note, self.trust, self.trust.origin, self.now)

    def header_included(self) -> None:
        self.header = prove_header(self.checkpoint, self.bundle.header, self.bundle.header_proof,
                                   self.bundle.event_proof.checkpoint_note)

    def event_included(self) -> None:
        prove_leaf(self.checkpoint, self.bundle.event, self.bundle.event_proof)

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
        leaf.verify_signature(self.trust.origin)
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
    for number, step in enumerate(steps, start=1):
        try:
            step()
        except LedgerError as exc:
            name = PATHWAY_STEPS[number - 1]
            return PathwayBundleVerdict(
                "invalid", f"invalid: step {number} ({name}): {exc.diagnostics()}",
                step=number, step_name=name)
    assert check.checkpoint_time is not None
    owner = check.owner_info()
    define = check.define
    age = None if now is None else max(0, now - check.checkpoint_time)
    info = PathwayInfo(
        pathway_id=define.pathway_id, name=check.definition.model.name, version=define.version,
        owner=owner, definition_digest=define.definition_digest.hex(),
        event_index=check.bundle.event_proof.index,
        event_height=check.pathway_record.current.position.height,
        versions=len(check.pathway_record.versions), tree_size=check.checkpoint.tree_size,
        checkpoint_time=check.checkpoint_time, checkpoint_age=age, max_age=limit)
    notes: list[str] = []
    if owner.standing != "active":
        notes.append(f"the owner is {owner.standing} since log index {owner.retired_at_index}; "
                     "a definition it published before keeps its standing")
    if owner.current_name != owner.name:
        notes.append(f'the owner is now called "{owner.current_name}"')
    as_of = (f"checkpoint {info.tree_size} ({format_time(info.checkpoint_time)}"
             + ("" if age is None else f", {describe_age(age)} old") + ")")
    who = owner.label()
    if limit is None:
        notes.append("the checkpoint's age was not bounded: a newer version or a retirement "
                     "after it would not show")
    elif age is None:
        notes.append("the checkpoint's age was not checked: no clock was given")
    elif age > limit:
        return PathwayBundleVerdict(
            "stale", f"stale: the pathway's checkpoint {info.tree_size} is {describe_age(age)} "
            f"old; {'this network' if max_age is TRUST_POLICY else 'this check'} allows "
            f"{describe_duration(limit)}. As of then: {info.label()} by {who} was current",
            (*notes, "a newer checkpoint is needed: make the pathway bundle again from a node "
                     "that is up to date"),
            pathway=info, definition=check.definition)
    return PathwayBundleVerdict(
        "valid", f"valid: {info.label()}, defined by {who} at log index {info.event_index}, "
        f"is the current version as of {as_of}", tuple(notes), pathway=info,
        definition=check.definition)


# -- credentials against the definition -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialOutcome:
    """One presented credential: its verdict and the claims requirements match on."""

    number: int
    label: str
    verdict: Verdict
    holder: str | None
    achievements: tuple[str, ...]
    result: Decimal | None
    meets: int | None = None
    """The requirement (1-based) it is counted for, if any."""

    @property
    def issuer_names(self) -> frozenset[str]:
        """The did:key and the identifiers its issuer had at the event (empty if invalid)."""
        verdict = self.verdict
        if verdict.status == "invalid" or verdict.issuer is None:
            return frozenset()
        return frozenset({verdict.issuer.did, *verdict.issuer.ids})

    def who(self) -> str:
        issuer = self.verdict.issuer
        return "an unknown issuer" if issuer is None else issuer.label()

    def as_json(self) -> dict[str, object]:
        return {"number": self.number, "label": self.label, "status": self.verdict.status,
                "holder": self.holder, "achievements": list(self.achievements),
                "result": None if self.result is None else _json_number(self.result),
                "issued_at": self.verdict.as_json()["issued_at"], "meets": self.meets,
                "verdict": self.verdict.as_json()}


@dataclass(frozen=True, slots=True)
class CompetencyInfo:
    """A competency the met requirements stand for (an Open Badges ``Alignment``)."""

    framework: str
    code: str
    name: str
    url: str
    requirement: int

    def text(self) -> str:
        return f'{self.framework} {self.code} "{self.name}"'

    def as_json(self) -> dict[str, object]:
        return {"framework": self.framework, "code": self.code, "name": self.name,
                "url": self.url, "requirement": self.requirement}


RequirementReason = Literal["missing", "wrong_issuer", "invalid", "revoked", "expired",
                            "not_yet_valid", "stale", "other_holder", "no_holder",
                            "below_min_result", "outside_span", "used_elsewhere"]


@dataclass(frozen=True, slots=True)
class RequirementOutcome:
    """One requirement: the credential that meets it, or why none does."""

    number: int
    requirement: Requirement
    credential: int | None
    reason: RequirementReason | None
    message: str

    def describe(self) -> str:
        r = self.requirement
        least = "" if r.min_result is None else f", result at least {_number(r.min_result)}"
        return f"{r.achievement} from {r.issuer}{least}"

    def as_json(self) -> dict[str, object]:
        r = self.requirement
        return {"number": self.number, "issuer": r.issuer, "achievement": r.achievement,
                "min_result": r.min_result, "met": self.credential is not None,
                "credential": self.credential, "reason": self.reason, "message": self.message,
                "alignment": [a.model_dump() for a in r.alignment]}


@dataclass(frozen=True, slots=True)
class PathwayVerdict:
    """The outcome of checking credentials against a pathway.

    ``status``: ``complete`` (exit 0), ``incomplete`` (exit 7) or ``invalid`` (exit 4,
    the pathway bundle failed ``step``).  ``requirements`` say which credential meets
    each requirement or why none does; ``credentials`` carry every credential's own
    verdict; ``competencies`` are those of the met requirements.
    """

    status: PathwayStatusName
    message: str
    notes: tuple[str, ...] = ()
    step: int | None = None
    step_name: str | None = None
    pathway_bundle: PathwayBundleVerdict | None = None
    holder: str | None = None
    holder_from: str | None = None
    requirements: tuple[RequirementOutcome, ...] = ()
    credentials: tuple[CredentialOutcome, ...] = ()
    competencies: tuple[CompetencyInfo, ...] = ()
    needed: int | None = None
    span_days: float | None = None
    earliest_ms: int | None = None
    latest_ms: int | None = None
    span_within: bool | None = None

    @property
    def exit_code(self) -> int:
        """The CLI exit code: 0 complete, 7 incomplete, 4 invalid."""
        return EXIT_CODES[self.status]

    def lines(self) -> list[str]:
        """The verdict as text a person reads."""
        lines = [self.message]
        bundle = self.pathway_bundle
        if bundle is not None and bundle.pathway is not None:
            lines.append(f"  pathway: {bundle.message}")
        if self.holder is not None:
            lines.append(f"  holder: {self.holder} ({self.holder_from})")
        for outcome in self.requirements:
            head = f"  requirement {outcome.number} ({outcome.describe()}): "
            lines.append(head + ("met by " if outcome.credential is not None
                                 else "NOT met: ") + outcome.message)
        for credential in self.credentials:
            if credential.meets is None:
                lines.append(f"  {credential.label}: counts for no requirement (its own "
                             f"verdict: {credential.verdict.status})")
        if self.competencies:
            lines.append("  competencies covered: "
                         + "; ".join(c.text() for c in self.competencies))
        if self.earliest_ms is not None and self.latest_ms is not None:
            lines.append(f"  counted credentials issued between "
                         f"{format_date(self.earliest_ms // 1000)} and "
                         f"{format_date(self.latest_ms // 1000)} ({self.span_days:g} days)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines

    def as_json(self) -> dict[str, object]:
        bundle = self.pathway_bundle
        pathway = None if bundle is None else bundle.as_json()
        model = None if bundle is None or bundle.definition is None else bundle.definition.model
        return {
            "status": self.status,
            "message": self.message,
            "notes": list(self.notes),
            "step": self.step,
            "step_name": self.step_name,
            "pathway": pathway,
            "rule": None if model is None else {
                "rule": model.rule.model_dump(), "needed": self.needed,
                "met": sum(1 for r in self.requirements if r.credential is not None),
                "max_span_days": model.max_span_days},
            "span": None if self.span_days is None else {
                "earliest": format_time_ms(self.earliest_ms),
                "latest": format_time_ms(self.latest_ms),
                "days": self.span_days, "within": self.span_within},
            "holder": self.holder,
            "holder_from": self.holder_from,
            "requirements": [r.as_json() for r in self.requirements],
            "credentials": [c.as_json() for c in self.credentials],
            "competencies": [c.as_json() for c in self.competencies],
        }


def _number(value: Decimal | float) -> int | float:
    """A result or a minimum as JSON shows it (I-JSON: a double holds it)."""
    if isinstance(value, int) or (isinstance(value, Decimal) and value == value.to_integral()):
        return int(value)
    return float(value)


def _json_number(value: Decimal) -> int | float | None:
    """A result as the verdict's JSON carries it: the double a JSON reader makes of it
    (I-JSON, RFC 7493 §2.2; verifier.js holds no other), null beyond the double range.
    An integer below 1e21 is written as ECMAScript writes that double (the value of its
    shortest text, the one number :func:`client.credentials.check_ijson` accepts for
    it), so both verifiers print the same digits.  Messages show the exact value
    (:func:`_number`)."""
    nearest = float(value)
    if not math.isfinite(nearest):
        return None
    if nearest.is_integer() and abs(nearest) < 1e21:
        return int(Decimal(repr(nearest)))
    return nearest


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


def _maximum_matching(eligible: Sequence[Sequence[int]], allowed: set[int] | None
                      ) -> dict[int, int]:
    """A largest assignment of requirements to distinct credentials (Kuhn's augmenting
    paths; requirements and credentials in their given order, so it is deterministic).
    ``eligible[r]`` lists the credentials that may meet requirement ``r``."""
    owner_of: dict[int, int] = {}  # credential -> requirement

    def assign(requirement: int, seen: set[int]) -> bool:
        for candidate in eligible[requirement]:
            if (allowed is not None and candidate not in allowed) or candidate in seen:
                continue
            seen.add(candidate)
            if candidate not in owner_of or assign(owner_of[candidate], seen):
                owner_of[candidate] = requirement
                return True
        return False

    for requirement in range(len(eligible)):
        assign(requirement, set())
    return {requirement: credential for credential, requirement in owner_of.items()}


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
    assert proven.definition is not None and proven.pathway is not None
    model = proven.definition.model
    names = list(labels) if labels is not None else [
        f"credential {n}" for n in range(1, len(bundles_and_credentials) + 1)]

    outcomes: list[CredentialOutcome] = []
    for number, ((bundle, credential_json), label) in enumerate(
            zip(bundles_and_credentials, names, strict=True), start=1):
        verdict = verify_bundle(bundle, trust, credential_json=credential_json, now=now,
                                max_age=max_age)
        # Read even when the bundle fails, so that the failure is reported against the
        # requirement the file claims to meet; nothing is counted from an invalid one.
        try:
            document = credentials.parse_credential(credential_json)
        except InvalidEncoding:
            document = {}
        outcomes.append(CredentialOutcome(number, label, verdict, subject_id(document),
                                          credential_achievements(document),
                                          best_result(document)))

    holder_from = "given by the verifier"
    if holder is None:
        first = next((c for c in outcomes if c.verdict.status != "invalid"
                      and c.holder is not None), None)
        if first is not None:
            holder, holder_from = first.holder, f"the subject of {first.label}"

    requirements = model.requirements
    eligible: list[list[int]] = []
    for requirement in requirements:
        eligible.append([index for index, c in enumerate(outcomes)
                         if _meets(c, requirement, holder)])
    needed = model.needed
    assignment = _maximum_matching(eligible, None)
    span_ms = None if model.max_span_days is None else model.max_span_days * DAY_MS
    within: bool | None = None
    if span_ms is not None:
        # Every window of the allowed span that starts at a candidate's issuance: the
        # first that holds enough distinct matches wins (so a retaken badge inside the
        # window counts rather than an old one outside it).
        best: dict[int, int] = {}
        candidates = {c for cs in eligible for c in cs}
        for start in sorted({_issued(outcomes[c]) for c in candidates}):
            allowed = {c for c in candidates if start <= _issued(outcomes[c]) <= start + span_ms}
            matched = _maximum_matching(eligible, allowed)
            if len(matched) > len(best):
                best = matched
        within = len(best) >= needed
        if within:
            assignment = best

    issued = [_issued(outcomes[c]) for c in assignment.values()]
    earliest = min(issued) if issued else None
    latest = max(issued) if issued else None
    span_days = None if not issued else round((max(issued) - min(issued)) / DAY_MS, 2)

    for requirement_index, credential_index in assignment.items():
        outcomes[credential_index] = _with_meets(outcomes[credential_index],
                                                 requirement_index + 1)
    results = tuple(
        _requirement_outcome(number, requirement, assignment.get(number - 1), outcomes,
                             holder=holder, span=span_ms is not None)
        for number, requirement in enumerate(requirements, start=1))
    competencies: list[CompetencyInfo] = []
    seen: set[tuple[str, str]] = set()
    for result in results:
        if result.credential is None:
            continue
        for alignment in result.requirement.alignment:
            key = (alignment.targetFramework, alignment.targetCode)
            if key not in seen:
                seen.add(key)
                competencies.append(CompetencyInfo(alignment.targetFramework,
                                                   alignment.targetCode, alignment.targetName,
                                                   alignment.targetUrl, result.number))

    met = len(assignment)
    rule_met = met >= needed and within is not False
    notes = list(proven.notes)
    notes.append("that the person presenting these credentials is their holder was not "
                 "checked (no presentation proof was given): check it as for any credential")
    if any(c.verdict.embedded_proof == "none" for c in outcomes if c.meets is not None):
        notes.append("a counted credential carries no embedded proof: the ledger vouches for "
                     "its digest, not its own signature (see its verdict)")
    pathway_name = f'"{model.name}" (version {model.version} of {model.id})'
    who = holder if holder is not None else "the holder"
    rule = ("all" if isinstance(model.rule, AllOf) else f"at least {needed} of") + \
        f" {len(requirements)} requirements"
    span_text = ""
    if span_days is not None and model.max_span_days is not None:
        span_text = (f", issued {span_days:g} days apart (at most {model.max_span_days} "
                     "allowed)")
    status: PathwayStatusName
    if proven.status == "stale":
        status = "incomplete"
        message = (f"incomplete: the proof of the pathway definition is stale, so whether "
                   f"{pathway_name} is still current is not known ({proven.message}); "
                   f"{met} of {len(requirements)} requirements are met")
    elif rule_met:
        status = "complete"
        message = (f"complete: {who} meets {pathway_name}, defined by "
                   f'"{proven.pathway.owner.name}": {met} of {len(requirements)} requirements '
                   f"met (needs {rule}){span_text}")
    else:
        status = "incomplete"
        if met >= needed:
            assert span_days is not None and model.max_span_days is not None
            why = (f"the credentials counted span {span_days:g} days; the pathway allows "
                   f"{model.max_span_days}")
        else:
            missing = [r for r in results if r.credential is None]
            why = "; ".join(f"requirement {r.number} {r.reason.replace('_', ' ')}"  # type: ignore[union-attr]
                            for r in missing)
        message = (f"incomplete: {who} does not meet {pathway_name}: {met} of "
                   f"{len(requirements)} requirements met, needs {rule}"
                   + ("" if model.max_span_days is None
                      else f" within {model.max_span_days} days") + f" ({why})")
    return PathwayVerdict(
        status=status, message=message, notes=tuple(notes), pathway_bundle=proven,
        holder=holder, holder_from=None if holder is None else holder_from,
        requirements=results, credentials=tuple(outcomes), competencies=tuple(competencies),
        needed=needed, span_days=span_days, earliest_ms=earliest, latest_ms=latest,
        span_within=within if span_ms is not None else None)


def _issued(outcome: CredentialOutcome) -> int:
    """The ledger's issuance time (block time, ms) of a credential whose bundle verified."""
    issued = outcome.verdict.issued_time_ms
    assert issued is not None, "only verified credentials are dated"
    return issued


def _with_meets(outcome: CredentialOutcome, requirement: int) -> CredentialOutcome:
    return CredentialOutcome(outcome.number, outcome.label, outcome.verdict, outcome.holder,
                             outcome.achievements, outcome.result, requirement)


def _result_ok(outcome: CredentialOutcome, requirement: Requirement) -> bool:
    if requirement.min_result is None:
        return True
    least = Decimal(repr(requirement.min_result)) if isinstance(requirement.min_result, float) \
        else Decimal(requirement.min_result)
    return outcome.result is not None and outcome.result >= least


def _meets(outcome: CredentialOutcome, requirement: Requirement, holder: str | None) -> bool:
    return (outcome.verdict.status == "valid" and holder is not None
            and outcome.holder == holder
            and requirement.achievement in outcome.achievements
            and requirement.issuer in outcome.issuer_names
            and _result_ok(outcome, requirement))


def _requirement_outcome(number: int, requirement: Requirement, assigned: int | None,
                         outcomes: Sequence[CredentialOutcome], *, holder: str | None,
                         span: bool) -> RequirementOutcome:
    if assigned is not None:
        credential = outcomes[assigned]
        issuer = credential.verdict.issuer
        assert issuer is not None  # a valid verdict names its issuer
        result = ("" if credential.result is None or requirement.min_result is None
                  else f", result {_number(credential.result)}")
        return RequirementOutcome(
            number, requirement, credential.number, None,
            f'{credential.label} (issued by "{issuer.name}" on '
            f"{format_date(_issued(credential) // 1000)}{result})")
    candidates = [c for c in outcomes if requirement.achievement in c.achievements]
    ranked: list[tuple[int, RequirementReason, str]] = []
    for c in candidates:
        verdict = c.verdict
        if verdict.status == "invalid":
            ranked.append((7, "invalid", f"{c.label} does not verify ({verdict.message})"))
            continue
        if requirement.issuer not in c.issuer_names:
            ranked.append((6, "wrong_issuer", f"{c.label} is for {requirement.achievement} but "
                           f"was issued by {c.who()}, not by {requirement.issuer}"))
        elif verdict.status in ("revoked", "expired", "not_yet_valid", "stale"):
            rank = {"revoked": 5, "expired": 4, "not_yet_valid": 4, "stale": 3}[verdict.status]
            ranked.append((rank, verdict.status, f"{c.label} is {verdict.message}"))
        elif c.holder is None:
            ranked.append((2, "no_holder", f"{c.label} names no holder (credentialSubject.id)"))
        elif holder is not None and c.holder != holder:
            ranked.append((2, "other_holder", f"{c.label} names holder {c.holder}, not "
                           f"{holder}"))
        elif not _result_ok(c, requirement):
            got = ("no numeric result" if c.result is None
                   else f"a best result of {_number(c.result)}")
            ranked.append((1, "below_min_result", f"{c.label} has {got}; the requirement "
                           f"needs at least {_number(requirement.min_result)}"))  # type: ignore[arg-type]
        elif span:
            ranked.append((0, "outside_span", f"{c.label} would meet it, but not within the "
                           "pathway's maximum span together with the others"))
        else:
            ranked.append((0, "used_elsewhere", f"{c.label} would meet it, but it is counted "
                           "for another requirement"))
    if not ranked:
        return RequirementOutcome(number, requirement, None, "missing",
                                  f"no credential presented is for {requirement.achievement}")
    _, reason, message = min(ranked, key=lambda item: item[0])
    return RequirementOutcome(number, requirement, None, reason, message)
