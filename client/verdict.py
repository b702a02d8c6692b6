"""The verdict on a proof bundle: its types, its text and its JSON form.

:mod:`client.verify` runs the numbered steps; what they established comes here
as :class:`Findings`, and :func:`bundle_verdict` turns it into a :class:`Verdict`
whose message and notes a person reads and whose :meth:`Verdict.as_json` a
program reads (docs/protocol.md, "Verdicts").  Nothing here verifies anything:
every value it formats was proven by a step first.  The exit codes of every
verdict (a credential's and a pathway's) live here, in one table.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from dataclasses import dataclass, field
from typing import Literal, Protocol

from client import credentials
from client.bundle import Bundle
from client.checkpoint import Checkpoint
from client.durations import describe_age, describe_duration
from client.events import BatchAnchor
from client.status import Identity, IssuerRecord
from client.trust import Trust

__all__ = [
    "EXIT_CODES",
    "TRUST_POLICY",
    "Findings",
    "IssuerInfo",
    "RevocationInfo",
    "TrustPolicy",
    "Verdict",
    "VerdictStatus",
    "VerdictText",
    "VerifyOptions",
    "bundle_verdict",
    "format_date",
    "format_time",
    "format_time_ms",
    "issuer_info",
    "issuer_label",
    "resolve_max_age",
]

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


class VerdictText:
    """The exit code and text every verdict class shares (a credential's, a pathway's, a
    pathway bundle's): a base of frozen slotted dataclasses with these three fields."""

    __slots__ = ()
    status: str
    message: str
    notes: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """The CLI exit code, from :data:`EXIT_CODES`: 0 valid or complete, 3 revoked,
        4 invalid, 5 stale, 6 expired/not yet valid, 7 incomplete."""
        return EXIT_CODES[self.status]

    def lines(self) -> list[str]:
        """The verdict as text: the message, then each note indented."""
        return [self.message, *(f"  note: {n}" for n in self.notes)]


@dataclass(frozen=True, slots=True)
class Verdict(VerdictText):
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


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """What the caller asked for, beyond the trust file and the bundle."""

    credential_json: bytes | None
    now: int | None
    max_age: int | None
    at: int | None
    expected_issuer: str | None
    max_age_from_trust: bool = False


class Findings(Protocol):
    """What the numbered steps of :mod:`client.verify` established about one bundle, as
    :func:`bundle_verdict` reads it (every step passed)."""

    trust: Trust | None
    options: VerifyOptions
    signatures: int
    bundle: Bundle
    checkpoint: Checkpoint
    checkpoint_time: int | None
    anchor: BatchAnchor | None
    issuer_record: IssuerRecord
    named_issuer: str | None
    embedded_proof: str | None
    unchecked_proofs: list[str]
    validity: credentials.ValidityPeriod | None
    revoked: RevocationInfo | None
    issued_time_ms: int | None

    def issuer_info(self) -> IssuerInfo: ...


def bundle_verdict(check: Findings) -> Verdict:
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
