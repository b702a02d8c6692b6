"""The verdict on a pathway: its types, its text and its JSON form.

:mod:`client.pathway_verify` runs the numbered steps on a pathway bundle and
verifies every presented credential; :mod:`client.pathway_requirements` matches
the credentials to the definition's requirements.  What they established comes
here: a :class:`PathwayBundleVerdict` (made by :func:`pathway_bundle_verdict`)
and a :class:`PathwayVerdict`, whose message and lines a person reads and whose
``as_json`` a program reads (docs/pathways.md; client/web/verifier.js writes the
same JSON).  Nothing here verifies anything: every value it formats was proven
first.  Exit codes come from the one table, :data:`client.verdict.EXIT_CODES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from client.durations import describe_age, describe_duration
from client.pathway import Definition, Requirement
from client.verdict import (
    IssuerInfo,
    Verdict,
    VerdictText,
    format_date,
    format_time,
    format_time_ms,
)

__all__ = [
    "CompetencyInfo",
    "CredentialOutcome",
    "PathwayBundleVerdict",
    "PathwayInfo",
    "PathwayStatusName",
    "PathwayVerdict",
    "RequirementOutcome",
    "RequirementReason",
    "pathway_bundle_verdict",
    "result_number",
]

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
class PathwayBundleVerdict(VerdictText):
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

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "message": self.message, "notes": list(self.notes),
                "step": self.step, "step_name": self.step_name,
                "pathway": None if self.pathway is None else self.pathway.as_json(),
                "definition": None if self.definition is None else _plain(
                    self.definition.document)}


def pathway_bundle_verdict(info: PathwayInfo, definition: Definition, *,
                           max_age_from_trust: bool) -> PathwayBundleVerdict:
    """The verdict on a pathway bundle whose every step passed: ``valid``, or ``stale``
    when its checkpoint is older than ``info.max_age`` (``max_age_from_trust``: that
    limit is the trust file's, and the message says "this network")."""
    owner = info.owner
    age = info.checkpoint_age
    limit = info.max_age
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
            f"old; {'this network' if max_age_from_trust else 'this check'} allows "
            f"{describe_duration(limit)}. As of then: {info.label()} by {who} was current",
            (*notes, "a newer checkpoint is needed: make the pathway bundle again from a node "
                     "that is up to date"),
            pathway=info, definition=definition)
    return PathwayBundleVerdict(
        "valid", f"valid: {info.label()}, defined by {who} at log index {info.event_index}, "
        f"is the current version as of {as_of}", tuple(notes), pathway=info,
        definition=definition)


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
        least = "" if r.min_result is None else f", result at least {result_number(r.min_result)}"
        return f"{r.achievement} from {r.issuer}{least}"

    def as_json(self) -> dict[str, object]:
        r = self.requirement
        return {"number": self.number, "issuer": r.issuer, "achievement": r.achievement,
                "min_result": r.min_result, "met": self.credential is not None,
                "credential": self.credential, "reason": self.reason, "message": self.message,
                "alignment": [a.model_dump() for a in r.alignment]}


@dataclass(frozen=True, slots=True)
class PathwayVerdict(VerdictText):
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


def result_number(value: Decimal | float) -> int | float:
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
    (:func:`result_number`)."""
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

