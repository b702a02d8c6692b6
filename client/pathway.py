"""Pathways: definition documents and pathway bundles (``vcledger-pathway-bundle/v1``).

A *pathway* is a composite qualification ("Data Analyst Professional") that its
owner, a registered issuer, publishes as a ``pathway.define`` event.  Only the
SHA-256 of the RFC 8785 form of the *definition document* goes on the ledger,
as for credentials; the document names the credentials the pathway needs (an
issuer and an Open Badges 3.0 achievement or a VC type each, optionally a
minimum result and the competencies the requirement stands for) and the rule
(``all_of``, or ``at_least`` N, optionally within a maximum span of days).

This module parses definitions strictly (a closed schema, errors naming the
member; :data:`SCHEMA_RESOURCE` is the same schema as a JSON Schema file
shipped with the package), reads the claims of a credential that requirements
are matched on, and builds, formats and parses pathway bundles.  It verifies
nothing: :mod:`client.pathway_verify` does, in numbered steps.  The format is
docs/protocol.md §17.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from client import encoding, strictjson
from client.block import MAX_LEAF_SIZE
from client.bundle import (
    StatusEntry,
    TlogProofText,
    _status_entry,
    _status_json,
    _StatusEntryModel,
    _tlog_proof,
)
from client.checkpoint import MAX_ORIGIN_SIZE
from client.credentials import CredentialError, canonical_json
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.events import (
    ISSUER_ID_PATTERN,
    MAX_ISSUER_ID_LENGTH,
    MAX_PATHWAY_ID_LENGTH,
    MAX_PATHWAY_VERSION,
    PATHWAY_ID_PATTERN,
)
from client.hashes import Hash, sha256
from client.keys import MAX_DID_LENGTH, public_key_from_did
from client.strictmodel import StrictModel
from client.tlogproof import TlogProof, format_tlog_proof, make_tlog_proof

__all__ = [
    "MAX_DEFINITION_SIZE",
    "MAX_PATHWAY_BUNDLE_SIZE",
    "PATHWAY_BUNDLE_FORMAT",
    "SCHEMA_RESOURCE",
    "Alignment",
    "AllOf",
    "AtLeast",
    "Definition",
    "DefinitionError",
    "PathwayBundle",
    "PathwayBundleFormatError",
    "PathwayDefinition",
    "PathwayStatus",
    "Requirement",
    "best_result",
    "build_pathway_bundle",
    "check_definition",
    "credential_achievements",
    "definition_schema",
    "digest_definition",
    "format_pathway_bundle",
    "parse_definition",
    "parse_pathway_bundle",
    "pathway_bundle_json",
    "subject_id",
]

MAX_DEFINITION_SIZE = 64 * 1024
"""Largest definition document in bytes (checked before parsing)."""

MAX_REQUIREMENTS = 32
MAX_ALIGNMENTS = 16
MAX_SPAN_DAYS = 36_500
MAX_TEXT = 200
MAX_URL = 500

SCHEMA_RESOURCE = "schemas/pathway.schema.json"
"""The definition's JSON Schema, package data of ``client`` (generated from
:class:`PathwayDefinition` by :func:`definition_schema`; a test keeps them equal)."""

_PRINTABLE = r"^[\x21-\x7e]+$"
_HTTP_URL = r"^https?://[\x21-\x7e]+$"


class DefinitionError(InvalidEncoding):
    """A definition document is not in the form docs/protocol.md §17.1 allows."""

    code = "bad_pathway_definition"


class PathwayBundleFormatError(InvalidEncoding):
    """A pathway bundle is not in the one form ``vcledger-pathway-bundle/v1`` allows."""

    code = "bad_pathway_bundle"


# -- the definition document ----------------------------------------------------------------


class Alignment(StrictModel):
    """A competency a requirement stands for: an Open Badges 3.0 ``Alignment``."""

    targetFramework: Annotated[str, Field(
        min_length=1, max_length=MAX_TEXT,
        description="the framework, e.g. 'ESCO' or 'O*NET-SOC'")]
    targetCode: Annotated[str, Field(
        min_length=1, max_length=MAX_TEXT,
        description="the competency's code in that framework, e.g. '15-2051.00'")]
    targetName: Annotated[str, Field(min_length=1, max_length=MAX_TEXT,
                                     description="the competency's name")]
    targetUrl: Annotated[str, Field(min_length=1, max_length=MAX_URL, pattern=_HTTP_URL,
                                    description="where the framework describes it")]


class Requirement(StrictModel):
    """One credential the pathway needs."""

    issuer: Annotated[str, Field(
        min_length=1, max_length=MAX_ISSUER_ID_LENGTH, pattern=f"^(?:{ISSUER_ID_PATTERN.pattern})$",
        description="the issuer: its did:key, or an identifier governance gave it "
                    "(an https URL or a DID)")]
    achievement: Annotated[str, Field(
        min_length=1, max_length=MAX_URL, pattern=_PRINTABLE,
        description="the Open Badges 3.0 credentialSubject.achievement.id, or a VC type "
                    "the credential must list")]
    min_result: Annotated[int | float | None, Field(
        description="the least numeric result (the largest numeric "
                    "credentialSubject.result[].value), or null for none")]
    alignment: Annotated[list[Alignment], Field(
        max_length=MAX_ALIGNMENTS, description="the competencies this requirement stands for")]

    @field_validator("min_result", mode="before")
    @classmethod
    def _number_or_null(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a JSON number or null")
        return value


class AllOf(StrictModel):
    all_of: Literal[True]


class AtLeast(StrictModel):
    at_least: Annotated[int, Field(ge=1, le=MAX_REQUIREMENTS)]


def _rule_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "all_of" in value:
            return "all_of"
        if "at_least" in value:
            return "at_least"
    elif isinstance(value, AllOf | AtLeast):
        return "all_of" if isinstance(value, AllOf) else "at_least"
    return None


Rule = Annotated[
    Annotated[AllOf, Tag("all_of")] | Annotated[AtLeast, Tag("at_least")],
    Discriminator(_rule_tag, custom_error_type="rule",
                  custom_error_message='must be {"all_of": true} or {"at_least": N}'),
]


class PathwayDefinition(StrictModel):
    """A pathway definition document (docs/protocol.md §17.1)."""

    model_config = ConfigDict(title="vcledger pathway definition")

    id: Annotated[str, Field(
        min_length=1, max_length=MAX_PATHWAY_ID_LENGTH,
        pattern=f"^(?:{PATHWAY_ID_PATTERN.pattern})$",
        description="the pathway id: an https URL, where the owner publishes this document")]
    name: Annotated[str, Field(min_length=1, max_length=MAX_TEXT,
                               description="the qualification's name")]
    version: Annotated[int, Field(ge=1, le=MAX_PATHWAY_VERSION,
                                  description="1, then one more for each new version")]
    owner: Annotated[str | None, Field(
        min_length=1, max_length=MAX_DID_LENGTH,
        description="optional: the owner's did:key (the issuer that signs pathway.define); "
                    "never null")] = None
    rule: Rule
    max_span_days: Annotated[int | None, Field(
        ge=1, le=MAX_SPAN_DAYS,
        description="the most days between the earliest and the latest ledger issuance "
                    "of the credentials counted, or null for no bound")]
    requirements: Annotated[list[Requirement], Field(min_length=1, max_length=MAX_REQUIREMENTS)]

    @field_validator("owner", mode="before")
    @classmethod
    def _owner_is_a_did_key(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("omit the member rather than give null")
        if isinstance(value, str):
            try:
                public_key_from_did(value)
            except InvalidEncoding as exc:
                raise ValueError(exc.diagnostics()) from exc
        return value

    @model_validator(mode="after")
    def _rule_fits(self) -> PathwayDefinition:
        if isinstance(self.rule, AtLeast) and self.rule.at_least > len(self.requirements):
            raise ValueError(f"rule.at_least is {self.rule.at_least} but there are only "
                             f"{len(self.requirements)} requirements")
        return self

    @property
    def needed(self) -> int:
        """How many requirements must be met."""
        return len(self.requirements) if isinstance(self.rule, AllOf) else self.rule.at_least

    def rule_text(self) -> str:
        span = ("" if self.max_span_days is None
                else f", within {self.max_span_days} days of each other")
        if isinstance(self.rule, AllOf):
            return f"all {len(self.requirements)} requirements{span}"
        return f"at least {self.rule.at_least} of {len(self.requirements)} requirements{span}"


@dataclass(frozen=True, slots=True)
class Definition:
    """A parsed definition: the checked model, the document as parsed (exact numbers) and
    its digest, ``SHA-256(RFC 8785 canonical JSON)``, the value a pathway.define carries."""

    model: PathwayDefinition
    document: dict[str, Any]
    digest: Hash


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for number, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif number and loc[number - 1] == "rule" and part in ("all_of", "at_least"):
            continue  # the discriminator's tag, not a member
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


_PATTERN_MESSAGES = {
    "id": "must be an https URL of printable ASCII without spaces",
    "pathway_id": "must be an https URL of printable ASCII without spaces",
    "issuer": "must be the issuer's did:key, an https URL or a DID (did:method:id)",
    "achievement": "must be printable ASCII without spaces (an achievement id or a VC type)",
    "targetUrl": "must be an http or https URL of printable ASCII without spaces",
}


def _describe(exc: ValidationError, what: str = "a pathway definition") -> str:
    """One clause per problem, each naming the member (``requirements[1].min_result``)."""
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        last = next((p for p in reversed(error["loc"]) if isinstance(p, str)), "")
        if error["type"] == "extra_forbidden":
            message = f"is not a member of {what} (docs/protocol.md §17)"
        elif error["type"] == "missing":
            message = "is required"
        elif error["type"] == "string_pattern_mismatch" and last in _PATTERN_MESSAGES:
            message = _PATTERN_MESSAGES[last]
        problems.append(f"{_location(error['loc'])}: {message}")
    return "; ".join(problems)


def _as_doubles(value: Any) -> Any:
    """Exact numbers as the model reads them (I-JSON already checked that doubles hold
    them exactly)."""
    if isinstance(value, dict):
        return {name: _as_doubles(child) for name, child in value.items()}
    if isinstance(value, list):
        return [_as_doubles(child) for child in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


def _exact_number(text: str) -> Decimal:
    return Decimal(text)


def parse_definition(untrusted: bytes | str | dict[str, Any], what: str = "definition"
                     ) -> Definition:
    """Parse a definition document strictly and compute its digest.

    ``untrusted`` is the file's bytes, or a JSON object already parsed with exact
    numbers (``int`` and :class:`~decimal.Decimal`, as in a pathway bundle).  Order:
    the size cap, strict JSON (no duplicate members, no NaN), I-JSON numbers (RFC
    7493, so that the RFC 8785 digest stands for one document), then the closed
    schema.  Raises :class:`DefinitionError` naming the member.
    """
    try:
        if isinstance(untrusted, dict):
            document = untrusted
        else:
            document = strictjson.loads(untrusted, what=what, max_size=MAX_DEFINITION_SIZE,
                                        parse_float=_exact_number)
        if not isinstance(document, dict):
            raise DefinitionError(f"{what}: a pathway definition is a JSON object")
    except DefinitionError:
        raise
    except LedgerError as exc:
        message = exc.diagnostics()
        raise DefinitionError(message if message.startswith(what) else f"{what}: {message}"
                              ) from exc
    digest = digest_definition(document, what)
    return Definition(check_definition(document, what), document, digest)


def digest_definition(document: dict[str, Any], what: str = "definition") -> Hash:
    """SHA-256 of the RFC 8785 form of a parsed definition (numbers exact, as
    :func:`parse_definition` reads them); :class:`DefinitionError` if a number is not
    I-JSON (two such documents could share a digest)."""
    try:
        return sha256(canonical_json(document))
    except CredentialError as exc:
        raise DefinitionError(f"{what}: {exc.diagnostics().replace('credential', 'definition')}"
                              ) from exc


def check_definition(document: dict[str, Any], what: str = "definition") -> PathwayDefinition:
    """The closed schema of docs/protocol.md §17.1 over a parsed document."""
    try:
        return PathwayDefinition.model_validate(_as_doubles(document))
    except ValidationError as exc:
        raise DefinitionError(f"{what}: {_describe(exc)}") from exc


def definition_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a definition document, from the model."""
    schema = PathwayDefinition.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def format_schema() -> str:
    """:func:`definition_schema` as the text of the shipped file."""
    return json.dumps(definition_schema(), indent=2) + "\n"


# -- what requirements are matched on ------------------------------------------------------


def subject_id(credential: dict[str, Any]) -> str | None:
    """The holder a credential names: ``credentialSubject.id`` of its one subject, or None
    (no subject, several subjects, or a subject without a string ``id``)."""
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict):
        value = subject.get("id")
        return value if isinstance(value, str) else None
    return None


def credential_achievements(credential: dict[str, Any]) -> tuple[str, ...]:
    """What a requirement's ``achievement`` may match: the Open Badges 3.0
    ``credentialSubject.achievement.id``, then every string of the credential's ``type``."""
    found: list[str] = []
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict):
        achievement = subject.get("achievement")
        if isinstance(achievement, dict) and isinstance(achievement.get("id"), str):
            found.append(achievement["id"])
    kinds = credential.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if isinstance(kind, str):
            found.append(kind)
    return tuple(found)


_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def best_result(credential: dict[str, Any]) -> Decimal | None:
    """The largest numeric ``credentialSubject.result[].value``, or None.

    Open Badges 3.0 writes ``Result.value`` as a string ("85", "A", "Pass"), JSON
    numbers occur too: a number, or a string that is a plain decimal number (ASCII
    digits, an optional sign and point, no exponent, no unit), counts; anything else
    ("A", "85%") does not.  ``result`` may be one object or an array of them.
    """
    subject = credential.get("credentialSubject")
    results = subject.get("result") if isinstance(subject, dict) else None
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, list):
        return None
    best: Decimal | None = None
    for result in results:
        value = result.get("value") if isinstance(result, dict) else None
        number: Decimal | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int | Decimal):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
                number = None
        if number is not None and (best is None or number > best):
            best = number
    return best


# -- pathway bundles --------------------------------------------------------------------------

PATHWAY_BUNDLE_FORMAT = "vcledger-pathway-bundle/v1"

MAX_PATHWAY_BUNDLE_SIZE = 256 * 1024
"""Largest pathway bundle in bytes, checked before parsing: a 64 KiB definition, one note
of a 100-validator network twice, two leaves and two status proofs fit."""


@dataclass(frozen=True, slots=True)
class PathwayStatus:
    """The status proofs of a pathway bundle, under its header's status root."""

    owner: StatusEntry
    pathway: StatusEntry


@dataclass(frozen=True, slots=True)
class PathwayBundle:
    """A parsed, NOT verified, pathway bundle (see :func:`client.pathway_verify`)."""

    origin: str
    owner: str
    pathway_id: str
    definition: dict[str, Any]
    """The definition document as parsed, numbers exact; step 7 checks it."""
    event: bytes
    """The ``pathway.define`` log leaf of the version the bundle proves."""
    event_proof: TlogProof
    header: bytes
    """The block header leaf at index ``tree_size - 1`` of the checkpoint."""
    header_proof: TlogProof
    status: PathwayStatus


_MAX_LEAF_BASE64 = (MAX_LEAF_SIZE + 2) // 3 * 4


class _PathwayStatusModel(StrictModel):
    owner: _StatusEntryModel
    pathway: _StatusEntryModel


class _PathwayBundleModel(StrictModel):
    model_config = ConfigDict(title=None)

    format: Literal["vcledger-pathway-bundle/v1"]
    origin: Annotated[str, Field(min_length=1, max_length=MAX_ORIGIN_SIZE)]
    owner: Annotated[str, Field(min_length=1, max_length=MAX_DID_LENGTH)]
    pathway_id: Annotated[str, Field(min_length=1, max_length=MAX_PATHWAY_ID_LENGTH)]
    definition: dict[str, Any]
    event: Annotated[str, Field(min_length=4, max_length=_MAX_LEAF_BASE64)]
    event_proof: TlogProofText
    header: Annotated[str, Field(min_length=4, max_length=_MAX_LEAF_BASE64)]
    header_proof: TlogProofText
    status: _PathwayStatusModel


def parse_pathway_bundle(untrusted: bytes | str, what: str = "pathway bundle") -> PathwayBundle:
    """Parse a pathway bundle strictly; verifies nothing.

    The size cap, strict JSON (numbers of the definition kept exact), the exact
    members with their length caps, then the canonical forms: did:key and pathway id
    syntax, base64 of the leaves and records, the tlog-proof texts (no ``extra``),
    lowercase hex of the status proofs.  The definition itself is parsed at step 7 of
    the verification, so that a tampered one is reported there.  Raises
    :class:`PathwayBundleFormatError` naming the member.
    """
    try:
        document = strictjson.loads(untrusted, what=what, max_size=MAX_PATHWAY_BUNDLE_SIZE,
                                    parse_float=_exact_number)
        model = _PathwayBundleModel.model_validate(document)
    except ValidationError as exc:
        raise PathwayBundleFormatError(f"{what}: {_describe(exc, 'a pathway bundle')}") from exc
    except LedgerError as exc:
        raise PathwayBundleFormatError(f"{what}: {exc.diagnostics()}") from exc
    try:
        public_key_from_did(model.owner)
        if not PATHWAY_ID_PATTERN.fullmatch(model.pathway_id):
            raise PathwayBundleFormatError(f"pathway_id {model.pathway_id!r} is not an https URL")
        return PathwayBundle(
            origin=model.origin,
            owner=model.owner,
            pathway_id=model.pathway_id,
            definition=model.definition,
            event=encoding.decode_base64(model.event, "event"),
            event_proof=_tlog_proof(model.event_proof, "event_proof"),
            header=encoding.decode_base64(model.header, "header"),
            header_proof=_tlog_proof(model.header_proof, "header_proof"),
            status=PathwayStatus(
                _status_entry(model.status.owner, "status.owner", present=True),
                _status_entry(model.status.pathway, "status.pathway", present=True),
            ),
        )
    except PathwayBundleFormatError:
        raise
    except LedgerError as exc:
        raise PathwayBundleFormatError(f"{what}: {exc.diagnostics()}") from exc


def pathway_bundle_json(bundle: PathwayBundle) -> dict[str, Any]:
    """The pathway bundle as a JSON object, members in the documented order."""
    return {
        "format": PATHWAY_BUNDLE_FORMAT,
        "origin": bundle.origin,
        "owner": bundle.owner,
        "pathway_id": bundle.pathway_id,
        "definition": bundle.definition,
        "event": encoding.encode_base64(bundle.event),
        "event_proof": format_tlog_proof(bundle.event_proof.index, bundle.event_proof.proof,
                                         bundle.event_proof.checkpoint_note),
        "header": encoding.encode_base64(bundle.header),
        "header_proof": format_tlog_proof(bundle.header_proof.index, bundle.header_proof.proof,
                                          bundle.header_proof.checkpoint_note),
        "status": {"owner": _status_json(bundle.status.owner),
                   "pathway": _status_json(bundle.status.pathway)},
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # I-JSON: the double holds it exactly
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def format_pathway_bundle(bundle: PathwayBundle) -> str:
    """The pathway bundle file text: indented JSON with a final newline."""
    return json.dumps(pathway_bundle_json(bundle), indent=2, default=_json_default) + "\n"


def build_pathway_bundle(
    *,
    origin: str,
    owner: str,
    pathway_id: str,
    definition: dict[str, Any],
    event: bytes,
    event_index: int,
    event_audit_path: list[Hash] | tuple[Hash, ...],
    checkpoint_note: str,
    header: bytes,
    header_audit_path: list[Hash] | tuple[Hash, ...],
    status: PathwayStatus,
) -> PathwayBundle:
    """Assemble a pathway bundle from pieces fetched from a node (or built in a test).

    Preconditions (:class:`UsageError`): proof texts that format, and status entries
    that show records.  Nothing is verified; callers verify the result before writing it.
    """
    if status.owner.value is None or status.pathway.value is None:
        raise UsageError("a pathway bundle needs the owner's and the pathway's records")
    try:
        # Each proof formatted and read back once, as build_bundle does.
        event_proof = make_tlog_proof(event_index, event_audit_path, checkpoint_note)
        tree_size = event_proof.checkpoint().tree_size
        header_proof = make_tlog_proof(tree_size - 1, header_audit_path, checkpoint_note)
    except InvalidEncoding as exc:
        raise UsageError(f"cannot build the pathway bundle: {exc.diagnostics()}") from exc
    return PathwayBundle(origin, owner, pathway_id, definition, event, event_proof, header,
                         header_proof, status)
