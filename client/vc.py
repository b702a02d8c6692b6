"""Embedded Data Integrity proofs: the W3C ``eddsa-jcs-2022`` cryptosuite.

A credential can carry its issuer's own signature in a ``proof`` member, as
W3C "Verifiable Credential Data Integrity 1.0" (DI) defines it.  This module
creates and verifies such proofs for one cryptosuite, ``eddsa-jcs-2022`` of
W3C "Data Integrity EdDSA Cryptosuites v1.0" (EDDSA §3.3), and for one kind of
verification method, an Ed25519 did:key (``did:key:z6Mk…#z6Mk…``), so a proof
is checked with no network and no DID resolver.

The algorithm (EDDSA §3.3.1 Create Proof, §3.3.2 Verify Proof):

* the *proof configuration* is the proof without ``proofValue``: ``type``
  ``DataIntegrityProof``, ``cryptosuite`` ``eddsa-jcs-2022``, ``created``,
  ``verificationMethod``, ``proofPurpose`` and, when the document has one,
  the document's ``@context`` (Create Proof step 2);
* the *transformed document* is the RFC 8785 (JCS) form of the document
  without its ``proof`` member (:func:`transformation`);
* the signed bytes are ``H(JCS(proof configuration)) ‖ H(JCS(document))``,
  the proof configuration's hash *first* (EDDSA §3.3.4 Hashing, step 3);
* ``proofValue`` is ``"z"`` + base58btc of the 64-byte Ed25519 signature
  (multibase base58btc, CID §2.4).

When verifying, a proof that carries ``@context`` is checked against the
document's: the document's ``@context`` must start with the proof's, entry by
entry, and the proof's ``@context`` replaces the document's before hashing
(Verify Proof step 4).  A holder may therefore append contexts after signing,
never change or reorder the signed ones.

``proof`` may hold one proof or a *proof set* (a list, DI §2.1.1): every
proof in a set signs the document without any ``proof`` member, so proofs can
be added in any order (DI "Add Proof Set/Chain" without ``previousProof``).
Proof *chains* (``previousProof``) are not supported: such a proof is
refused, not skipped.

Numbers go through :func:`client.credentials.canonical_json`, so a document
from :func:`client.credentials.parse_credential` (exact ints and Decimals)
and the same document from ``json.loads`` give the same bytes, and a number
no double holds exactly is refused rather than signed.  Nothing here reads a
clock: ``created`` is an argument, and ``expires`` is checked only against a
``now`` the caller passes.

Errors all derive from :class:`client.errors.VerificationError`:
:class:`UnsupportedProof` (another proof type or cryptosuite),
:class:`ProofEncodingError` (a member is not in its one allowed form),
:class:`ProofSignatureError` (well formed, but the signature does not verify)
and :class:`EmbeddedProofError` for the rest.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from typing import Any

import base58

from client.credentials import CredentialError, _parse_date_time, canonical_json
from client.errors import InvalidEncoding, SignatureError, UsageError, VerificationError
from client.hashes import sha256
from client.keys import (
    SIGNATURE_SIZE,
    KeyPair,
    did_key,
    public_key_from_did,
    verify_signature,
)

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"

MULTIBASE_BASE58BTC = "z"
"""Multibase prefix of base58btc (CID §2.4)."""

MAX_PROOFS = 16
"""Largest proof set accepted.  Each proof re-canonicalises the whole document,
so the cap bounds the work an untrusted document can ask for."""

MAX_PROOF_VALUE_LENGTH = 1 + 88
"""``z`` and base58btc of 64 bytes (at most 88 characters); checked before decoding."""

MAX_VERIFICATION_METHOD_LENGTH = 2 * 64
"""An Ed25519 did:key (56 characters), ``#`` and its 48-character fragment fit."""

_TIME_ZONE = re.compile(r"(?:Z|[+-][0-9]{2}:[0-9]{2})\Z")
_BASE58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_DID_KEY_METHOD = "did:key:"


class EmbeddedProofError(VerificationError):
    """A document's embedded proof is malformed, unsupported or does not verify."""

    code = "bad_embedded_proof"


class UnsupportedProof(EmbeddedProofError):
    """A proof of another ``type`` or ``cryptosuite`` than ``DataIntegrityProof``
    with ``eddsa-jcs-2022``: this module cannot tell whether it is genuine."""

    code = "unsupported_proof"


class ProofEncodingError(EmbeddedProofError, InvalidEncoding):
    """A proof member is not in the one form the cryptosuite allows."""

    code = "bad_embedded_proof_encoding"


class ProofSignatureError(EmbeddedProofError, SignatureError):
    """A well-formed ``eddsa-jcs-2022`` proof whose signature does not verify."""

    code = "bad_signature"


# --- the cryptosuite's algorithms (EDDSA §3.3.3-§3.3.5) ----------------------------------------


def transformation(unsecured_document: dict[str, Any]) -> bytes:
    """EDDSA §3.3.3 Transformation: the RFC 8785 form of the document, UTF-8.

    Precondition: ``unsecured_document`` has no ``proof`` member (or, when
    verifying, the ``@context`` the proof names); this function removes nothing.
    Raises :class:`client.credentials.CredentialError` for a document RFC 8785
    cannot canonicalise or with a number no double holds exactly.
    """
    return canonical_json(unsecured_document)


def proof_configuration(proof_options: dict[str, Any]) -> bytes:
    """EDDSA §3.3.5 Proof Configuration: the RFC 8785 form of the proof options.

    ``proof_options`` is the proof without ``proofValue``, ``@context``
    included.  Raises :class:`UnsupportedProof` unless ``type`` is
    ``DataIntegrityProof`` and ``cryptosuite`` is ``eddsa-jcs-2022`` (step 2),
    :class:`ProofEncodingError` if ``created`` is present and not an XML Schema
    dateTime (step 3) or the options cannot be canonicalised.
    """
    _check_suite(proof_options)
    if "created" in proof_options:
        _check_date_time(proof_options, "created")
    try:
        return canonical_json(proof_options)
    except CredentialError as exc:
        raise ProofEncodingError(
            f"the proof cannot be canonicalised: {exc.diagnostics()}") from exc


def hashing(transformed_document: bytes, canonical_proof_config: bytes) -> bytes:
    """EDDSA §3.3.4 Hashing: ``H(canonical proof configuration) ‖ H(transformed document)``.

    64 bytes, the proof configuration's hash first (step 3), as the
    specification's vectors show (``combinedHashJCS.txt``).
    """
    return sha256(canonical_proof_config) + sha256(transformed_document)


# --- proofs in a document -------------------------------------------------------------------


def embedded_proofs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's ``proof`` member as a list (DI §2.1: one proof or a proof set).

    Absent: ``[]``; one object: ``[it]``; a list: its members, each of which
    must be an object.  Raises :class:`ProofEncodingError` for any other
    ``proof`` (a string, ``null``, an empty list, a list holding a non-object)
    and for a set of more than :data:`MAX_PROOFS` proofs.  The dicts returned
    are the document's own, not copies.
    """
    if not isinstance(document, dict):
        raise UsageError(f"a document is a JSON object, got {type(document).__name__}")
    if "proof" not in document:
        return []
    proof = document["proof"]
    if isinstance(proof, dict):
        return [proof]
    if not isinstance(proof, list):
        raise ProofEncodingError(
            f"the document's proof member is {_json_type(proof)}; it must be an object "
            "or a list of objects (a proof set)")
    if not proof:
        raise ProofEncodingError("the document's proof member is an empty list")
    if len(proof) > MAX_PROOFS:
        raise ProofEncodingError(
            f"the document carries a proof set of {len(proof)} proofs; at most "
            f"{MAX_PROOFS} are accepted")
    for index, member in enumerate(proof):
        if not isinstance(member, dict):
            raise ProofEncodingError(
                f"proof[{index}] is {_json_type(member)}; each proof in a proof set must be "
                "an object")
    return proof


def add_proof(document: dict[str, Any], key: KeyPair, *, created: str,
              proof_purpose: str = "assertionMethod") -> dict[str, Any]:
    """Return a copy of ``document`` secured with an ``eddsa-jcs-2022`` proof by ``key``.

    EDDSA §3.3.1 Create Proof inside DI "Add Proof": the proof names
    ``did:key:…#…`` of ``key`` as its verification method and copies the
    document's ``@context``, if it has one.  ``created`` is an XML Schema
    ``dateTimeStamp`` (``2026-12-05T09:30:00Z``; an offset and a fraction are
    allowed, a missing zone is not), the caller's clock: nothing here reads one.

    A document that already carries proofs gets a proof set (DI "Add Proof
    Set/Chain" without ``previousProof``): the new proof signs the document
    without its ``proof`` member and is appended to the existing proofs, which
    are kept as they are and not checked.  Without existing proofs ``proof``
    is the one proof object, as in the specification's example.

    Raises :class:`UsageError` for a malformed argument,
    :class:`ProofEncodingError` if the existing ``proof`` member is malformed,
    and :class:`client.credentials.CredentialError` for a document RFC 8785
    cannot canonicalise (or with a number no double holds exactly).
    """
    if not isinstance(document, dict):
        raise UsageError(f"a document is a JSON object, got {type(document).__name__}")
    if not isinstance(key, KeyPair):
        raise UsageError(f"key must be a client.keys.KeyPair, got {type(key).__name__}")
    if not isinstance(proof_purpose, str) or not proof_purpose:
        raise UsageError("proof_purpose must be a non-empty string such as 'assertionMethod'")
    _check_created_argument(created)
    existing = embedded_proofs(document)
    if len(existing) >= MAX_PROOFS:
        raise UsageError(f"the document already carries {len(existing)} proofs; a proof set "
                         f"holds at most {MAX_PROOFS}")

    unsecured = {name: value for name, value in document.items() if name != "proof"}
    # Member order as in the specification's example, so a signed document
    # printed with indent 2 matches its signedJCS.json byte for byte.
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": _verification_method(key.public_key),
        "proofPurpose": proof_purpose,
    }
    if "@context" in unsecured:  # Create Proof step 2
        proof["@context"] = copy.deepcopy(unsecured["@context"])
    hash_data = hashing(transformation(unsecured), proof_configuration(proof))
    proof["proofValue"] = MULTIBASE_BASE58BTC + base58.b58encode(key.sign(hash_data)).decode()

    secured = copy.deepcopy(document)  # the proof keeps its place among the members
    secured["proof"] = [*embedded_proofs(secured), proof] if existing else proof
    return secured


def verify_proof(document: dict[str, Any], *, expected_proof_purpose: str | None =
                 "assertionMethod", now: int | None = None) -> str:
    """Verify the one ``eddsa-jcs-2022`` proof of ``document``; return its signer's DID.

    The DID is ``did:key:z6Mk…``, the verification method without its
    fragment.  A document with no proof, or with a proof set of more than one
    proof, is refused (:class:`EmbeddedProofError`): which signer would be the
    answer is for the caller to decide, with :func:`embedded_proofs` and
    :func:`verify_embedded_proof`.  The other arguments and errors are those
    of :func:`verify_embedded_proof`.
    """
    proofs = embedded_proofs(document)
    if not proofs:
        raise EmbeddedProofError("the document carries no proof (no proof member)")
    if len(proofs) > 1:
        raise EmbeddedProofError(
            f"the document carries a proof set of {len(proofs)} proofs; verify_proof checks "
            "a document with one proof: verify each with verify_embedded_proof")
    return did_key(verify_embedded_proof(document, proofs[0],
                                         expected_proof_purpose=expected_proof_purpose, now=now))


def verify_embedded_proof(document: dict[str, Any], proof: dict[str, Any], *,
                          expected_proof_purpose: str | None = "assertionMethod",
                          now: int | None = None) -> bytes:
    """Verify one proof of ``document`` (DI "Verify Proof", EDDSA §3.3.2); return its key.

    ``document`` is the untrusted secured document and ``proof`` one of
    :func:`embedded_proofs` of it (anything else is a :class:`UsageError`).
    Returns the 32-byte Ed25519 public key that signed; whether that key may
    speak for the credential's issuer is the caller's question.

    ``expected_proof_purpose`` (DI Verify Proof step 5) is ``assertionMethod``,
    what an issuer's proof on a credential says; None accepts any purpose an
    Ed25519 did:key authorises.  With ``now`` (POSIX seconds) a proof whose
    ``expires`` is at or before ``now`` is refused; without it ``expires`` is
    only checked for form.

    Checks, cheapest first, the signature last:

    1. ``type`` is ``DataIntegrityProof`` and ``cryptosuite`` is
       ``eddsa-jcs-2022`` (else :class:`UnsupportedProof`);
    2. ``verificationMethod``, ``proofPurpose`` and ``proofValue`` are strings;
       no ``previousProof`` (proof chains are not supported);
    3. ``proofPurpose`` is the expected one (or, with None, one of the four
       relationships a did:key gives an Ed25519 key);
    4. ``created`` and ``expires``, if present, are XML Schema dateTimes;
    5. ``verificationMethod`` is ``did:key:z6Mk…#z6Mk…``: an Ed25519 did:key
       whose fragment repeats its key;
    6. ``proofValue`` is ``z`` + canonical base58btc of 64 bytes;
    7. the proof's ``@context``, if any, starts the document's;
    8. the Ed25519 signature over :func:`hashing` of the document without
       ``proof`` (with the proof's ``@context``) and of the proof without
       ``proofValue`` verifies (else :class:`ProofSignatureError`).
    """
    if not any(member is proof for member in embedded_proofs(document)):
        raise UsageError("proof is not one of the document's embedded proofs")

    _check_suite(proof)  # 1
    for member in ("verificationMethod", "proofPurpose", "proofValue"):  # 2
        if member not in proof:
            raise EmbeddedProofError(f"the {CRYPTOSUITE} proof has no {member}")
        if not isinstance(proof[member], str):
            raise ProofEncodingError(
                f"the proof's {member} is {_json_type(proof[member])}; it must be a string")
    if "previousProof" in proof:
        raise EmbeddedProofError(
            "the proof names a previousProof (a proof chain); proof chains are not supported, "
            "so this proof cannot be verified")

    purpose = proof["proofPurpose"]  # 3
    if expected_proof_purpose is not None and purpose != expected_proof_purpose:
        raise EmbeddedProofError(
            f"the proof's proofPurpose is {_quote(purpose)}; a credential's proof must be "
            f"{_quote(expected_proof_purpose)}")
    if purpose not in _DID_KEY_PURPOSES:
        raise EmbeddedProofError(
            f"the proof's proofPurpose {_quote(purpose)} is not a relationship a did:key "
            f"gives an Ed25519 key ({', '.join(sorted(_DID_KEY_PURPOSES))})")

    if "created" in proof:  # 4
        _check_date_time(proof, "created")
    if "expires" in proof:
        expires = _check_date_time(proof, "expires")
        if now is not None and expires <= now:
            raise EmbeddedProofError(f"the proof expired at {proof['expires']}")

    public_key = _public_key_from_verification_method(proof["verificationMethod"])  # 5
    signature = _decode_proof_value(proof["proofValue"])  # 6

    unsecured = {name: value for name, value in document.items() if name != "proof"}
    options = {name: value for name, value in proof.items() if name != "proofValue"}
    if "@context" in options:  # 7
        _check_context_prefix(document.get("@context"), options["@context"])
        unsecured["@context"] = options["@context"]

    # 8: canonicalising is the expensive part, and the signature check the last.
    hash_data = hashing(transformation(unsecured), proof_configuration(options))
    try:
        verify_signature(public_key, signature, hash_data)
    except SignatureError as exc:
        raise ProofSignatureError(
            f"the {CRYPTOSUITE} proof's signature does not verify under "
            f"{did_key(public_key)}: the document or the proof was changed after signing, "
            "or another key signed it") from exc
    return public_key


# --- members of a proof -------------------------------------------------------------------------

_DID_KEY_PURPOSES = frozenset(
    {"assertionMethod", "authentication", "capabilityInvocation", "capabilityDelegation"})
"""The verification relationships of an Ed25519 key in its did:key document (did:key
method, "Document Creation Algorithm"); keyAgreement belongs to the derived X25519 key."""


def _check_suite(proof: dict[str, Any]) -> None:
    proof_type = proof.get("type")
    if proof_type != PROOF_TYPE:
        raise UnsupportedProof(
            f"the proof's type is {_shown(proof, 'type')}, not {PROOF_TYPE!r}; only "
            f"{PROOF_TYPE} proofs with cryptosuite {CRYPTOSUITE!r} can be verified")
    if proof.get("cryptosuite") != CRYPTOSUITE:
        raise UnsupportedProof(
            f"the proof's cryptosuite is {_shown(proof, 'cryptosuite')}, not {CRYPTOSUITE!r}; "
            f"only {CRYPTOSUITE} can be verified")


def _verification_method(public_key: bytes) -> str:
    did = did_key(public_key)
    return f"{did}#{did[len(_DID_KEY_METHOD):]}"


def _public_key_from_verification_method(method: str) -> bytes:
    """The Ed25519 key of ``did:key:z6Mk…#z6Mk…`` (did:key method: the DID URL of the
    one verification method of the DID document, whose fragment is the key itself)."""
    shown = _quote(method)
    if len(method) > MAX_VERIFICATION_METHOD_LENGTH:
        raise EmbeddedProofError(
            f"the proof's verificationMethod {shown} is too long for an Ed25519 did:key")
    did, hash_sign, fragment = method.partition("#")
    if not did.startswith(_DID_KEY_METHOD) or not hash_sign:
        raise EmbeddedProofError(
            f"the proof's verificationMethod {shown} is not of the form "
            f"did:key:z6Mk…#z6Mk…; only did:key verification methods are supported, so "
            "this proof cannot be verified")
    try:
        public_key = public_key_from_did(did)
    except InvalidEncoding as exc:
        raise ProofEncodingError(
            f"the proof's verificationMethod {shown}: {exc.diagnostics()}") from exc
    if fragment != did[len(_DID_KEY_METHOD):]:
        raise ProofEncodingError(
            f"the proof's verificationMethod {shown} has fragment {_quote(fragment)}; a "
            f"did:key verification method's fragment is the key itself, "
            f"{_quote(did[len(_DID_KEY_METHOD):])}")
    return public_key


def _decode_proof_value(proof_value: str) -> bytes:
    """The 64 signature bytes of ``z`` + base58btc, in its one canonical spelling."""
    if not proof_value.startswith(MULTIBASE_BASE58BTC):
        raise ProofEncodingError(
            f"the proofValue {_quote(proof_value)} is not base58btc multibase (it must "
            f"start with {MULTIBASE_BASE58BTC!r})")
    if len(proof_value) > MAX_PROOF_VALUE_LENGTH:
        raise ProofEncodingError(
            f"the proofValue is {len(proof_value)} characters; base58btc multibase of a "
            f"{SIGNATURE_SIZE}-byte Ed25519 signature is at most {MAX_PROOF_VALUE_LENGTH}")
    encoded = proof_value[len(MULTIBASE_BASE58BTC):]
    bad = sorted(set(encoded) - _BASE58_ALPHABET)
    if bad or not encoded:
        what = f"characters {''.join(bad)!r} are not" if bad else "nothing follows 'z': it is not"
        raise ProofEncodingError(f"the proofValue is not base58btc multibase: {what} base58btc")
    raw = base58.b58decode(encoded)
    if base58.b58encode(raw).decode("ascii") != encoded:
        raise ProofEncodingError("the proofValue's base58btc is not in canonical form")
    if len(raw) != SIGNATURE_SIZE:
        raise ProofEncodingError(
            f"the proofValue decodes to {len(raw)} bytes; an Ed25519 signature is "
            f"{SIGNATURE_SIZE}")
    return raw


def _check_context_prefix(document_context: Any, proof_context: Any) -> None:
    """EDDSA §3.3.2 step 4.1: the document's ``@context`` starts with the proof's, in order.

    A single context counts as a list of one; an absent one as an empty list.
    Entries compare as JSON values (their RFC 8785 forms), not as Python objects.
    """
    document_entries = _as_list(document_context)
    proof_entries = _as_list(proof_context)
    if len(proof_entries) <= len(document_entries) and all(
            _same_json(signed, present)
            for signed, present in zip(proof_entries, document_entries, strict=False)):
        return
    raise EmbeddedProofError(
        f"the document's @context {_shorten_json(document_context)} does not start with "
        f"the @context the proof signed, {_shorten_json(proof_context)}: contexts may only be "
        "appended after signing")


def _check_created_argument(created: object) -> None:
    if not isinstance(created, str):
        raise UsageError(f"created must be a date-time string, got {type(created).__name__}")
    try:
        _parse_date_time("created", created)
    except CredentialError as exc:
        raise UsageError(exc.diagnostics()) from exc
    if _TIME_ZONE.search(created) is None:
        raise UsageError(
            f"created {created!r} has no time zone; a proof's created is an XML Schema "
            "dateTimeStamp such as 2026-12-05T09:30:00Z")


def _check_date_time(proof: dict[str, Any], member: str) -> Decimal:
    try:
        return _parse_date_time(f"the proof's {member}", proof[member])
    except CredentialError as exc:
        raise ProofEncodingError(exc.diagnostics()) from exc


# --- small helpers ----------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _same_json(left: Any, right: Any) -> bool:
    try:
        return canonical_json({"": left}) == canonical_json({"": right})
    except CredentialError:
        return False


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quote(text: str, limit: int = 100) -> str:
    return json.dumps(text if len(text) <= limit else f"{text[:limit]}…", ensure_ascii=False)


def _shorten_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[:limit]}…"


def _shown(proof: dict[str, Any], member: str) -> str:
    if member not in proof:
        return "missing"
    return _shorten_json(proof[member], 100)
