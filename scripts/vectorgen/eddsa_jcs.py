"""Embedded ``eddsa-jcs-2022`` proofs of our own: ``eddsa_jcs_2022_cases.json``.

The specification's one example is ``tests/vectors/eddsa_jcs_2022.json``
(copied, not generated).  These cases cover what it does not: numbers in
several spellings and Unicode, documents without ``@context`` or with a single
one, contexts appended after signing, proof sets, optional proof members, and
one mutation per invalid case.

The proofs are made here, from W3C "Data Integrity EdDSA Cryptosuites v1.0"
§3.3 written out in :func:`_proof_value` (no ``client.vc``): RFC 8785 by
:func:`client.credentials.canonical_json` (pinned by
``credential_digests.json``), Ed25519 by :mod:`client.keys` (pinned by
``keys_ed25519.json``).  Each credential is kept as the text of its file, so
number spellings survive, and the expected result of every embedded proof is
stated by hand: ``signer`` (the did:key it must verify under) or ``error``, one
of ``unsupported`` (another type or cryptosuite), ``encoding`` (a member not in
its one allowed form), ``proof`` (any other refusal), ``signature`` (well
formed, does not verify), with a fragment of the message.  ``document_error``
is a refusal before any proof is looked at.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import base58

from client.credentials import canonical_json, parse_credential
from client.keys import KeyPair
from tests.protocol_fixtures import ISSUER, OTHER_ISSUER

V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"
CREATED = "2026-12-05T09:30:00Z"

CREDENTIAL = """{
  "@context": [
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/credentials/examples/v2"
  ],
  "id": "urn:uuid:0b5ba1a6-0d0e-4c1b-9a39-8a2f8e7f3a10",
  "type": ["VerifiableCredential", "ExampleDegreeCredential"],
  "issuer": {"id": "did:web:uni.example", "name": "\\u00c9cole Polytechnique \\u2014 Z\\u00fcrich"},
  "validFrom": "2026-12-01T00:00:00Z",
  "credentialSubject": {
    "id": "did:example:ebfeb1f712ebc6f1c276e12ec21",
    "name": "Zo\\u00eb \\u5c71\\u7530 \\ud83c\\udf93",
    "degree": {"type": "ExampleBachelorDegree", "name": "Licence \\u00e8s sciences"},
    "credits": 1.80E2,
    "grades": [{"course": "Analyse I", "score": 5.25, "weight": 1.0},
               {"course": "\\u00c9conomie", "score": 4.5, "weight": 2E0}],
    "rank": {"position": 3, "of": 120, "percentile": 0.025},
    "big": 12345678901234567000,
    "tiny": 1e-7,
    "negativeZero": -0,
    "\\ud83d\\ude00": "member names sort by UTF-16 code units",
    "\\ufb33": true,
    "nothing": null
  }
}
"""
"""Nested numbers in several spellings (1.80E2 is 180, 2E0 is 2, -0 is 0), Unicode
escaped and not, a surrogate pair, and member names whose UTF-16 order differs from
their code-point order."""

PLAIN = '{"myWebsite": "https://hello.world.example/"}\n'
"""DI §2.1's JSON document without @context."""

SINGLE_CONTEXT = ('{"@context": "https://www.w3.org/ns/credentials/v2", '
                  '"type": "VerifiableCredential", "issuer": "did:web:uni.example", '
                  '"credentialSubject": {"id": "did:example:1"}}\n')


def _verification_method(key: KeyPair) -> str:
    return f"{key.did}#{key.did[len('did:key:'):]}"


def _options(document: dict[str, Any], key: KeyPair, **extra: Any) -> dict[str, Any]:
    """EDDSA §3.3.1 steps 1-2: the proof options, with the document's @context."""
    options: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": CREATED,
        "verificationMethod": _verification_method(key),
        "proofPurpose": "assertionMethod",
        **extra,
    }
    if "@context" in document:
        options["@context"] = copy.deepcopy(document["@context"])
    return options


def _proof_value(document: dict[str, Any], options: dict[str, Any], key: KeyPair, *,
                 keep_proof: bool = False) -> str:
    """EDDSA §3.3.1 steps 3-7: sign H(JCS(options)) ‖ H(JCS(document without proof)).

    ``keep_proof`` signs the document with its proof member, as a faulty signer would."""
    unsecured = {name: value for name, value in document.items()
                 if keep_proof or name != "proof"}
    hash_data = (hashlib.sha256(canonical_json(options)).digest()
                 + hashlib.sha256(canonical_json(unsecured)).digest())
    return "z" + base58.b58encode(key.sign(hash_data)).decode()


def make_proof(document: dict[str, Any], key: KeyPair, *, keep_proof: bool = False,
               **extra: Any) -> dict[str, Any]:
    """The ``eddsa-jcs-2022`` proof ``key`` makes on ``document`` (EDDSA §3.3.1), its
    members in the specification's order; ``extra`` adds or replaces members (``created``).

    Also used by :mod:`vectorgen.bundle` for the credentials of its ledger."""
    options = _options(document, key, **extra)
    options["proofValue"] = _proof_value(document, options, key, keep_proof=keep_proof)
    return options


def _signed(text: str, key: KeyPair, *, keep_proof: bool = False,
            **extra: Any) -> dict[str, Any]:
    return make_proof(parse_credential(text.encode()), key, keep_proof=keep_proof, **extra)


def _with_proof(text: str, proof: Any) -> str:
    """The credential file ``text`` with a ``proof`` member appended, as text."""
    body = text.rstrip()
    assert body.endswith("}")
    rendered = json.dumps(proof, indent=2, ensure_ascii=False).replace("\n", "\n  ")
    separator = "," if body[:-1].rstrip() != "{" else ""
    return f'{body[:-1].rstrip()}{separator}\n  "proof": {rendered}\n}}\n'


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, (old, text.count(old))
    return text.replace(old, new)


def _signer(key: KeyPair) -> dict[str, str]:
    return {"signer": key.did}


def _error(kind: str, message: str) -> dict[str, str]:
    return {"error": kind, "message": message}


# --- cases ------------------------------------------------------------------------------------


def _valid() -> list[dict[str, Any]]:
    cases = []

    def add(name: str, why: str, text: str, proofs: list[dict[str, str]]) -> None:
        cases.append({"name": name, "why": why, "credential": text, "proofs": proofs})

    add("numbers_unicode", "nested numbers in several spellings and Unicode, one proof",
        _with_proof(CREDENTIAL, _signed(CREDENTIAL, ISSUER)), [_signer(ISSUER)])

    respelled = _replace(_replace(CREDENTIAL, "1.80E2", "180"), "\\u00c9conomie", "\u00c9conomie")
    add("numbers_respelled", "the same credential with 1.80E2 written 180 and an escape written "
        "as UTF-8: the canonical form, and so the proof, are unchanged",
        _with_proof(respelled, _signed(CREDENTIAL, ISSUER)), [_signer(ISSUER)])

    add("no_context", "a JSON document without @context: the proof has none either",
        _with_proof(PLAIN, _signed(PLAIN, ISSUER)), [_signer(ISSUER)])

    add("single_context", "@context as one string: the proof repeats the string",
        _with_proof(SINGLE_CONTEXT, _signed(SINGLE_CONTEXT, ISSUER)), [_signer(ISSUER)])

    short = _replace(CREDENTIAL, f'"{V2}",\n    "{EXAMPLES}"', f'"{V2}"')
    add("context_appended_after_signing", "signed with one context, a second appended later: "
        "the document's @context starts with the proof's (EDDSA §3.3.2 step 4)",
        _with_proof(CREDENTIAL, _signed(short, ISSUER)), [_signer(ISSUER)])

    add("proof_set", "two proofs by two keys, each over the document without proof",
        _with_proof(CREDENTIAL, [_signed(CREDENTIAL, ISSUER), _signed(CREDENTIAL, OTHER_ISSUER)]),
        [_signer(ISSUER), _signer(OTHER_ISSUER)])

    add("optional_members", "id, nonce, expires, and created with an offset and a fraction: "
        "all signed as part of the proof configuration",
        _with_proof(CREDENTIAL, _signed(
            CREDENTIAL, ISSUER, id="urn:uuid:4b1ce5a0-8c6f-4c0e-9d0e-3f5f3c2a9e01",
            nonce="\u00e9t\u00e9 2026", created="2026-12-05T10:30:00.250+01:00",
            expires="2036-12-05T09:30:00Z")),
        [_signer(ISSUER)])
    return cases


def _invalid() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    good = _signed(CREDENTIAL, ISSUER)
    secured = _with_proof(CREDENTIAL, good)

    def document(name: str, old: str, new: str, result: dict[str, str]) -> None:
        cases.append({"name": name, "why": f"document: {old!r} -> {new!r}",
                      "credential": _with_proof(_replace(CREDENTIAL, old, new), good),
                      "proofs": [result]})

    def proof(name: str, why: str, change: Callable[[dict[str, Any]], None],
              result: dict[str, str]) -> None:
        changed = copy.deepcopy(good)
        change(changed)
        cases.append({"name": name, "why": why, "credential": _with_proof(CREDENTIAL, changed),
                      "proofs": [result]})

    signature = _error("signature", "signature does not verify")
    document("subject_changed", '"degree": {"type": "ExampleBachelorDegree"',
             '"degree": {"type": "ExampleMasterDegree"', signature)
    document("unicode_normalisation", "Licence \\u00e8s", "Licence e\\u0300s", signature)
    document("number_changed", '"score": 5.25', '"score": 5.5', signature)
    document("number_type_changed", '"position": 3', '"position": "3"', signature)
    document("member_added", '"nothing": null', '"nothing": null, "extra": 1', signature)
    document("issuer_changed", '"id": "did:web:uni.example"', '"id": "did:web:evil.example"',
             signature)
    document("context_reordered", f'"{V2}",\n    "{EXAMPLES}"', f'"{EXAMPLES}",\n    "{V2}"',
             _error("proof", "does not start with"))
    document("context_entry_removed", f',\n    "{EXAMPLES}"', "",
             _error("proof", "does not start with"))
    cases.append({
        "name": "number_beyond_double", "why": "12345678901234567000 (signed) written "
        "12345678901234567890: the same double, refused rather than verified (I-JSON)",
        "credential": _replace(secured, "12345678901234567000", "12345678901234567890"),
        "document_error": "cannot be represented exactly"})

    def flip(proof: dict[str, Any]) -> None:
        value = proof["proofValue"]
        position = len(value) // 2
        proof["proofValue"] = (value[:position] + ("2" if value[position] != "2" else "3")
                               + value[position + 1:])

    proof("proof_value_changed", "one base58 character of proofValue changed", flip, signature)
    proof("proof_value_base64url", "proofValue in multibase base64url ('u')",
          lambda p: p.update(proofValue="u" + "A" * 86), _error("encoding", "not base58btc"))
    proof("proof_value_bad_character", "a '0', which base58 lacks",
          lambda p: p.update(proofValue=p["proofValue"][:10] + "0" + p["proofValue"][11:]),
          _error("encoding", "not base58btc"))
    proof("proof_value_short", "63 bytes", lambda p: p.update(
        proofValue="z" + base58.b58encode(bytes(range(1, 64))).decode()),
        _error("encoding", "decodes to 63 bytes"))
    proof("proof_value_missing", "no proofValue", lambda p: p.pop("proofValue"),
          _error("proof", "has no proofValue"))
    proof("cryptosuite_rdfc", "another cryptosuite",
          lambda p: p.update(cryptosuite="eddsa-rdfc-2022"), _error("unsupported", "cryptosuite"))
    proof("type_ed25519signature2020", "another proof type",
          lambda p: p.update(type="Ed25519Signature2020"), _error("unsupported", "type"))
    proof("foreign_key", "the verification method of another key, the signature unchanged",
          lambda p: p.update(verificationMethod=_verification_method(OTHER_ISSUER)), signature)
    proof("fragment_of_another_key", "did:key of the signer, fragment of another key",
          lambda p: p.update(verificationMethod=ISSUER.did + "#"
                             + OTHER_ISSUER.did[len("did:key:"):]),
          _error("encoding", "fragment"))
    proof("verification_method_https", "a verification method that needs a resolver",
          lambda p: p.update(verificationMethod="https://uni.example/issuers/1#key-1"),
          _error("proof", "only did:key"))
    proof("verification_method_did_only", "a did:key without the fragment",
          lambda p: p.update(verificationMethod=ISSUER.did), _error("proof", "only did:key"))
    proof("created_not_date_time", "created is not an XML Schema dateTime",
          lambda p: p.update(created="5 December 2026"), _error("encoding", "created"))
    proof("created_changed", "created a second later",
          lambda p: p.update(created="2026-12-05T09:30:01Z"), signature)
    proof("created_removed", "created removed", lambda p: p.pop("created"), signature)
    proof("proof_purpose_changed", "authentication where a credential needs assertionMethod",
          lambda p: p.update(proofPurpose="authentication"), _error("proof", "proofPurpose"))
    proof("proof_context_removed", "the proof's @context removed",
          lambda p: p.pop("@context"), signature)
    proof("previous_proof", "a proof chain", lambda p: p.update(previousProof="urn:uuid:1"),
          _error("proof", "previousProof"))

    tampered = copy.deepcopy(good)
    flip(tampered)
    cases.append({
        "name": "proof_set_one_bad", "why": "a proof set: the first proof verifies, the second "
        "(by another key) had its proofValue changed",
        "credential": _with_proof(CREDENTIAL, [_signed(CREDENTIAL, OTHER_ISSUER), tampered]),
        "proofs": [_signer(OTHER_ISSUER), signature]})
    cases.append({
        "name": "signed_with_proof_inside", "why": "the second proof of a set signed the "
        "document with the first proof in it (a chain without previousProof)",
        "credential": _with_proof(CREDENTIAL,
                                  [good, _signed(secured, OTHER_ISSUER, keep_proof=True)]),
        "proofs": [_signer(ISSUER), signature]})
    cases.append({"name": "proof_not_an_object", "why": "proof is a string",
                  "credential": _with_proof(CREDENTIAL, good["proofValue"]),
                  "document_error": "must be an object"})
    cases.append({"name": "proof_empty_list", "why": "proof is []",
                  "credential": _with_proof(CREDENTIAL, []), "document_error": "empty list"})
    return cases


def generate() -> dict[str, object]:
    return {"eddsa_jcs_2022_cases.json": {
        "description": "Embedded eddsa-jcs-2022 proofs (W3C Data Integrity EdDSA Cryptosuites "
                       "v1.0 §3.3) made by scripts/vectorgen/eddsa_jcs.py from fixed keys.  "
                       "'credential' is a credential file; 'proofs' gives, for each embedded "
                       "proof in order, the did:key it verifies under ('signer') or the error "
                       "kind (unsupported, encoding, proof, signature) and a fragment of the "
                       "message; 'document_error' is a refusal of the whole document.  "
                       "Proofs are verified with expected proof purpose assertionMethod.",
        "keys": {"issuer": ISSUER.did, "other_issuer": OTHER_ISSUER.did},
        "valid": _valid(),
        "invalid": _invalid(),
    }}
