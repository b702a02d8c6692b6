"""Embedded Data Integrity proofs, ``eddsa-jcs-2022`` (client/vc.py).

The specification's own example (tests/vectors/eddsa_jcs_2022.json, copied from
w3c/vc-di-eddsa) must be reproduced byte for byte, every intermediate value
included; our generated cases (eddsa_jcs_2022_cases.json) must give the result
each one states; and every bit of a signature, every member of a proof and the
shapes a ``proof`` member can take are checked here directly.
"""

from __future__ import annotations

import copy
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import base58
import pytest

from client import vc
from client.credentials import CredentialError, parse_credential
from client.errors import InvalidEncoding, SignatureError, UsageError, VerificationError
from client.keys import KeyPair, did_key

VECTORS = Path(__file__).parents[1] / "vectors"
SPEC = json.loads((VECTORS / "eddsa_jcs_2022.json").read_text(encoding="utf-8"))
CASES = json.loads((VECTORS / "eddsa_jcs_2022_cases.json").read_text(encoding="utf-8"))

ED25519_PRIVATE_MULTICODEC = b"\x80\x26"
"""Unsigned varint of multicodec 0x1300 (ed25519-priv), the header of privateKeyMultibase."""

CREATED = "2026-12-05T09:30:00Z"
V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"


def spec_key() -> KeyPair:
    encoded = SPEC["keyPair"]["privateKeyMultibase"]
    assert encoded.startswith("z")
    raw = base58.b58decode(encoded[1:])
    assert raw[:2] == ED25519_PRIVATE_MULTICODEC and len(raw) == 34
    return KeyPair.from_seed(raw[2:])


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def credential() -> dict[str, Any]:
    return {
        "@context": [V2, EXAMPLES],
        "type": ["VerifiableCredential"],
        "issuer": "did:web:uni.example",
        "credentialSubject": {"id": "did:example:1", "name": "Zoë 山田 🎓",
                              "scores": [1, 2.5, {"deep": [-0.0, 1e21, None, True]}]},
    }


# --- the specification's example ---------------------------------------------------------------


def test_spec_key_is_the_published_public_key() -> None:
    assert spec_key().did == "did:key:" + SPEC["keyPair"]["publicKeyMultibase"]


def test_spec_canonical_document_and_its_hash() -> None:
    canonical = vc.transformation(SPEC["unsigned"])
    assert canonical.decode() == SPEC["canonicalDocument"]
    assert sha256(canonical).hex() == SPEC["documentHash"]


def test_spec_canonical_proof_configuration_and_its_hash() -> None:
    canonical = vc.proof_configuration(SPEC["proofOptions"])
    assert canonical.decode() == SPEC["canonicalProofConfig"]
    assert sha256(canonical).hex() == SPEC["proofConfigHash"]


def test_spec_hash_data_is_proof_configuration_hash_first() -> None:
    hash_data = vc.hashing(SPEC["canonicalDocument"].encode(),
                           SPEC["canonicalProofConfig"].encode())
    assert hash_data.hex() == SPEC["combinedHash"]
    assert hash_data.hex() == SPEC["proofConfigHash"] + SPEC["documentHash"]


def test_spec_signature_and_proof_value() -> None:
    signature = spec_key().sign(bytes.fromhex(SPEC["combinedHash"]))
    assert signature.hex() == SPEC["signatureHex"]
    assert "z" + base58.b58encode(signature).decode() == SPEC["proofValue"]


def test_add_proof_reproduces_the_spec_signed_credential_byte_for_byte() -> None:
    unsigned = copy.deepcopy(SPEC["unsigned"])
    signed = vc.add_proof(unsigned, spec_key(), created=SPEC["created"])
    assert signed == SPEC["signed"]
    assert json.dumps(signed, indent=2) == SPEC["signedText"]
    assert signed["proof"]["proofValue"] == SPEC["proofValue"]
    # The proof's @context is the document's (Create Proof step 2), and the input is untouched.
    assert signed["proof"]["@context"] == SPEC["unsigned"]["@context"]
    assert unsigned == SPEC["unsigned"]


def test_verify_proof_accepts_the_spec_signed_credential() -> None:
    did = "did:key:" + SPEC["keyPair"]["publicKeyMultibase"]
    assert vc.verify_proof(SPEC["signed"]) == did
    parsed = parse_credential(SPEC["signedText"].encode())
    assert vc.verify_proof(parsed) == did
    assert vc.verify_embedded_proof(parsed, parsed["proof"]) == spec_key().public_key


def test_protocol_md_quotes_the_spec_example() -> None:
    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for member in ("canonicalProofConfig", "proofConfigHash", "documentHash", "proofValue"):
        assert SPEC[member] in text, member


def test_spec_proof_configuration_is_the_signed_proof_without_proof_value() -> None:
    options = {name: value for name, value in SPEC["signed"]["proof"].items()
               if name != "proofValue"}
    assert options == SPEC["proofOptions"]


# --- our generated cases -------------------------------------------------------------------------

KINDS: dict[str, type[Exception]] = {
    "unsupported": vc.UnsupportedProof,
    "encoding": vc.ProofEncodingError,
    "signature": vc.ProofSignatureError,
    "proof": vc.EmbeddedProofError,
}


def check_proof_results(document: dict[str, Any], expected: list[dict[str, str]]) -> None:
    proofs = vc.embedded_proofs(document)
    assert len(proofs) == len(expected)
    for proof, result in zip(proofs, expected, strict=True):
        if "signer" in result:
            assert did_key(vc.verify_embedded_proof(document, proof)) == result["signer"]
            continue
        with pytest.raises(KINDS[result["error"]]) as caught:
            vc.verify_embedded_proof(document, proof)
        if result["error"] == "proof":  # not a more specific kind
            assert not isinstance(caught.value, tuple(KINDS[k] for k in KINDS if k != "proof"))
        assert result["message"] in str(caught.value)


@pytest.mark.parametrize("case", CASES["valid"], ids=lambda case: case["name"])
def test_valid_case(case: dict[str, Any]) -> None:
    document = parse_credential(case["credential"].encode())
    check_proof_results(document, case["proofs"])
    # The same file read by json.loads (floats, no Decimals) gives the same canonical bytes.
    check_proof_results(json.loads(case["credential"]), case["proofs"])
    if len(case["proofs"]) == 1:
        assert vc.verify_proof(document) == case["proofs"][0]["signer"]


@pytest.mark.parametrize("case", CASES["invalid"], ids=lambda case: case["name"])
def test_invalid_case(case: dict[str, Any]) -> None:
    if "document_error" in case:
        with pytest.raises(VerificationError, match=case["document_error"]):
            document = parse_credential(case["credential"].encode())
            for proof in vc.embedded_proofs(document):
                vc.verify_embedded_proof(document, proof)
        return
    document = parse_credential(case["credential"].encode())
    check_proof_results(document, case["proofs"])
    with pytest.raises(VerificationError):
        vc.verify_proof(document)


def test_cases_cover_every_error_kind() -> None:
    kinds = {result.get("error") for case in CASES["invalid"] for result in case.get("proofs", [])}
    assert set(KINDS) <= kinds


def test_cases_are_signed_by_the_keys_they_name() -> None:
    signers = {result["signer"] for case in CASES["valid"] for result in case["proofs"]}
    assert signers == set(CASES["keys"].values())


# --- round trips ------------------------------------------------------------------------------


def test_round_trip_with_a_fresh_key() -> None:
    key = KeyPair.generate()
    signed = vc.add_proof(credential(), key, created=CREATED)
    assert vc.verify_proof(signed) == key.did
    proof = signed["proof"]
    assert proof["verificationMethod"] == f"{key.did}#{key.did.removeprefix('did:key:')}"
    assert (proof["type"], proof["cryptosuite"], proof["proofPurpose"]) == (
        "DataIntegrityProof", "eddsa-jcs-2022", "assertionMethod")
    # Through a file and the strict parser, whatever the whitespace and member order.
    text = json.dumps(signed, ensure_ascii=False, indent=3, sort_keys=True)
    assert vc.verify_proof(parse_credential(text.encode())) == key.did


def test_document_without_context_gets_a_proof_without_context() -> None:
    key = KeyPair.generate()
    signed = vc.add_proof({"myWebsite": "https://hello.world.example/"}, key, created=CREATED)
    assert "@context" not in signed["proof"]
    assert vc.verify_proof(signed) == key.did


def test_add_proof_copies_instead_of_sharing() -> None:
    document = credential()
    signed = vc.add_proof(document, KeyPair.generate(), created=CREATED)
    signed["@context"].append("https://example.org/appended")
    signed["credentialSubject"]["name"] = "changed"
    assert signed["proof"]["@context"] == [V2, EXAMPLES]
    assert document == credential()


def test_add_proof_keeps_the_place_of_an_existing_proof_member() -> None:
    first, second = KeyPair.generate(), KeyPair.generate()
    signed = vc.add_proof(credential(), first, created=CREATED)
    assert list(signed)[-1] == "proof"
    moved = {"proof": signed["proof"], **{k: v for k, v in signed.items() if k != "proof"}}
    twice = vc.add_proof(moved, second, created=CREATED)
    assert next(iter(twice)) == "proof"


def test_parsed_numbers_canonicalise_in_proof_configurations() -> None:
    base = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"}
    forms = [{**base, "n": Decimal("1.0")}, {**base, "n": 1}, {**base, "n": 1.0},
             {**base, "n": Decimal("1E0")}]
    canonical = {vc.proof_configuration(form) for form in forms}
    assert canonical == {b'{"cryptosuite":"eddsa-jcs-2022","n":1,"type":"DataIntegrityProof"}'}
    with pytest.raises(vc.ProofEncodingError, match="cannot be represented exactly"):
        vc.proof_configuration({**base, "n": 12345678901234567890})


# --- tampering ----------------------------------------------------------------------------------


def signed_credential(key: KeyPair | None = None) -> dict[str, Any]:
    return vc.add_proof(credential(), key or KeyPair.from_seed(bytes(range(32))), created=CREATED)


def test_tampered_document_fails() -> None:
    signed = signed_credential()
    signed["credentialSubject"]["scores"][2]["deep"][1] = 1e22
    with pytest.raises(vc.ProofSignatureError, match="does not verify"):
        vc.verify_proof(signed)


def test_every_document_change_fails() -> None:
    signed = signed_credential()
    changes = [("issuer", "did:web:evil.example"), ("type", ["VerifiableCredential", "X"]),
               ("credentialSubject", {}), ("extra", 1)]
    for name, value in changes:
        changed = copy.deepcopy(signed)
        changed[name] = value
        with pytest.raises(vc.ProofSignatureError):
            vc.verify_proof(changed)
    removed = {name: value for name, value in signed.items() if name != "issuer"}
    with pytest.raises(vc.ProofSignatureError):
        vc.verify_proof(removed)


def test_every_bit_of_the_signature_matters() -> None:
    signed = signed_credential()
    signature = base58.b58decode(signed["proof"]["proofValue"][1:])
    for bit in range(len(signature) * 8):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        changed = copy.deepcopy(signed)
        changed["proof"]["proofValue"] = "z" + base58.b58encode(bytes(flipped)).decode()
        with pytest.raises(vc.ProofSignatureError):
            vc.verify_proof(changed)


@pytest.mark.parametrize(("member", "value"), [
    ("created", "2026-12-05T09:30:01Z"),
    ("proofPurpose", "authentication"),
    ("@context", [V2]),
    ("type", "Ed25519Signature2020"),
    ("cryptosuite", "eddsa-rdfc-2022"),
    ("verificationMethod", KeyPair.from_seed(bytes(32)).did + "#"
     + KeyPair.from_seed(bytes(32)).did.removeprefix("did:key:")),
    ("nonce", "added after signing"),
])
def test_every_proof_member_matters(member: str, value: object) -> None:
    signed = signed_credential()
    signed["proof"][member] = value
    with pytest.raises(vc.EmbeddedProofError):
        vc.verify_proof(signed, expected_proof_purpose=None)


def test_tampered_proof_value_fails() -> None:
    signed = signed_credential()
    value = signed["proof"]["proofValue"]
    signed["proof"]["proofValue"] = value[:-1] + ("2" if value[-1] != "2" else "3")
    with pytest.raises(vc.ProofSignatureError, match=r"does not verify under did:key:z6Mk"):
        vc.verify_proof(signed)


def test_wrong_cryptosuite_is_unsupported_and_named() -> None:
    signed = signed_credential()
    signed["proof"]["cryptosuite"] = "ecdsa-jcs-2019"
    with pytest.raises(vc.UnsupportedProof, match='cryptosuite is "ecdsa-jcs-2019"'):
        vc.verify_proof(signed)
    del signed["proof"]["cryptosuite"]
    with pytest.raises(vc.UnsupportedProof, match="cryptosuite is missing"):
        vc.verify_proof(signed)


def test_foreign_key_in_verification_method_fails() -> None:
    signed = signed_credential()
    foreign = KeyPair.generate().did
    signed["proof"]["verificationMethod"] = f"{foreign}#{foreign.removeprefix('did:key:')}"
    with pytest.raises(vc.ProofSignatureError, match=foreign):
        vc.verify_proof(signed)


def test_proof_by_another_key_verifies_and_names_that_key() -> None:
    # Whether the key may speak for the issuer is the caller's question (verify step 11).
    other = KeyPair.generate()
    assert vc.verify_proof(signed_credential(other)) == other.did


# --- proof sets -------------------------------------------------------------------------------


def test_add_proof_to_a_signed_document_makes_a_proof_set() -> None:
    first, second, third = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    once = vc.add_proof(credential(), first, created=CREATED)
    twice = vc.add_proof(once, second, created=CREATED)
    thrice = vc.add_proof(twice, third, created=CREATED)
    assert isinstance(twice["proof"], list) and twice["proof"][0] == once["proof"]
    proofs = vc.embedded_proofs(thrice)
    assert [vc.verify_embedded_proof(thrice, proof) for proof in proofs] == [
        first.public_key, second.public_key, third.public_key]
    # Each proof signed the document without any proof: alone, each one verifies.
    for proof, key in zip(proofs, (first, second, third), strict=True):
        assert vc.verify_proof({**credential(), "proof": proof}) == key.did


def test_proof_set_with_one_bad_member() -> None:
    good, bad = KeyPair.generate(), KeyPair.generate()
    document = vc.add_proof(vc.add_proof(credential(), good, created=CREATED), bad,
                            created=CREATED)
    document["proof"][1]["created"] = "2020-01-01T00:00:00Z"
    first, second = vc.embedded_proofs(document)
    assert vc.verify_embedded_proof(document, first) == good.public_key
    with pytest.raises(vc.ProofSignatureError):
        vc.verify_embedded_proof(document, second)
    with pytest.raises(vc.EmbeddedProofError, match="proof set of 2 proofs"):
        vc.verify_proof(document)


def test_previous_proof_is_not_supported() -> None:
    signed = signed_credential()
    signed["proof"]["previousProof"] = "urn:uuid:1"
    with pytest.raises(vc.EmbeddedProofError, match="proof chains are not supported"):
        vc.verify_proof(signed)


def test_proof_must_belong_to_the_document() -> None:
    signed = signed_credential()
    with pytest.raises(UsageError, match="not one of the document's embedded proofs"):
        vc.verify_embedded_proof(signed, copy.deepcopy(signed["proof"]))


@pytest.mark.parametrize(("proof", "message"), [
    ("z123", "must be an object or a list"),
    (None, "is null"),
    ([], "empty list"),
    ([{}, "x"], r"proof\[1\] is a string"),
    ([{}] * (vc.MAX_PROOFS + 1), f"at most {vc.MAX_PROOFS}"),
])
def test_malformed_proof_members(proof: object, message: str) -> None:
    document = {**credential(), "proof": proof}
    with pytest.raises(vc.ProofEncodingError, match=message):
        vc.embedded_proofs(document)
    with pytest.raises(vc.ProofEncodingError, match=message):
        vc.verify_proof(document)
    with pytest.raises(vc.ProofEncodingError, match=message):
        vc.add_proof(document, KeyPair.generate(), created=CREATED)


def test_add_proof_refuses_to_grow_a_full_proof_set() -> None:
    key = KeyPair.generate()
    document = credential()
    for _ in range(vc.MAX_PROOFS):
        document = vc.add_proof(document, key, created=CREATED)
    assert len(vc.embedded_proofs(document)) == vc.MAX_PROOFS
    with pytest.raises(UsageError, match=f"at most {vc.MAX_PROOFS}"):
        vc.add_proof(document, key, created=CREATED)


def test_embedded_proofs_shapes() -> None:
    proof = {"type": "DataIntegrityProof"}
    assert vc.embedded_proofs(credential()) == []
    assert vc.embedded_proofs({"proof": proof})[0] is proof
    assert vc.embedded_proofs({"proof": [proof, proof]}) == [proof, proof]
    with pytest.raises(vc.EmbeddedProofError, match="carries no proof"):
        vc.verify_proof(credential())


# --- @context -----------------------------------------------------------------------------------


def test_context_appended_after_signing_verifies() -> None:
    key = KeyPair.generate()
    document = credential()
    document["@context"] = [V2]
    signed = vc.add_proof(document, key, created=CREATED)
    signed["@context"].append(EXAMPLES)
    signed["@context"].append({"extra": "https://vocabulary.example/extra"})
    assert vc.verify_proof(signed) == key.did


@pytest.mark.parametrize("context", [
    [EXAMPLES, V2],            # reordered
    [V2],                      # an entry the proof signed removed
    V2,                        # a single context where two were signed
    [V2, EXAMPLES + "/"],      # one entry changed
])
def test_document_context_must_start_with_the_proofs(context: object) -> None:
    signed = signed_credential()
    signed["@context"] = context
    with pytest.raises(vc.EmbeddedProofError, match="does not start with the @context"):
        vc.verify_proof(signed)


def test_document_context_removed() -> None:
    signed = signed_credential()
    del signed["@context"]
    with pytest.raises(vc.EmbeddedProofError, match="does not start with"):
        vc.verify_proof(signed)


def test_single_string_context() -> None:
    key = KeyPair.generate()
    signed = vc.add_proof({**credential(), "@context": V2}, key, created=CREATED)
    assert signed["proof"]["@context"] == V2
    assert vc.verify_proof(signed) == key.did
    signed["@context"] = [V2, EXAMPLES]  # a string is a list of one: appending is allowed
    assert vc.verify_proof(signed) == key.did


def test_context_entries_compare_as_json_values() -> None:
    key = KeyPair.generate()
    inline = {"@version": 1.1, "name": "https://schema.org/name"}
    signed = vc.add_proof({**credential(), "@context": [V2, inline]}, key, created=CREATED)
    text = json.dumps(signed).replace('"@version": 1.1', '"@version": 1.10')
    parsed = parse_credential(text.encode())
    assert parsed["@context"][1]["@version"] == Decimal("1.10")
    assert vc.verify_proof(parsed) == key.did
    signed["@context"][1] = {**inline, "@version": True}
    with pytest.raises(vc.EmbeddedProofError, match="does not start with"):
        vc.verify_proof(signed)


# --- members in their one allowed form -------------------------------------------------------


@pytest.mark.parametrize(("method", "error", "message"), [
    ("https://uni.example/issuers/1#key-1", vc.EmbeddedProofError, "only did:key"),
    ("did:web:uni.example#key-1", vc.EmbeddedProofError, "only did:key"),
    ("did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", vc.EmbeddedProofError,
     "only did:key"),
    ("did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#key-1", vc.ProofEncodingError,
     "fragment"),
    ("did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#"
     "zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169", vc.ProofEncodingError,
     "not Ed25519"),
    ("did:key:u6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#x", vc.ProofEncodingError,
     "base58btc"),
    ("did:key:" + "z" * 200, vc.EmbeddedProofError, "too long"),
])
def test_verification_method_forms(method: str, error: type[Exception], message: str) -> None:
    signed = signed_credential()
    signed["proof"]["verificationMethod"] = method
    with pytest.raises(error, match=message) as caught:
        vc.verify_proof(signed)
    assert not isinstance(caught.value, vc.ProofSignatureError)


@pytest.mark.parametrize(("value", "message"), [
    ("u" + "A" * 86, "must start with 'z'"),
    ("z", "nothing follows"),
    ("z0" + "1" * 80, "'0'"),
    ("z" + "2" * 89, "at most 89"),
    ("z" + base58.b58encode(bytes(range(1, 64))).decode(), "decodes to 63 bytes"),
    ("z1" + base58.b58encode(bytes(range(1, 65))).decode(), "decodes to 65 bytes"),
])
def test_proof_value_forms(value: str, message: str) -> None:
    signed = signed_credential()
    signed["proof"]["proofValue"] = value
    with pytest.raises(vc.ProofEncodingError, match=message):
        vc.verify_proof(signed)


@pytest.mark.parametrize("member", ["verificationMethod", "proofPurpose", "proofValue"])
def test_required_members(member: str) -> None:
    signed = signed_credential()
    signed["proof"][member] = 7
    with pytest.raises(vc.ProofEncodingError, match=f"{member} is a number"):
        vc.verify_proof(signed)
    del signed["proof"][member]
    with pytest.raises(vc.EmbeddedProofError, match=f"has no {member}"):
        vc.verify_proof(signed)


@pytest.mark.parametrize("created", ["yesterday", "2026-12-05", "2026-02-30T00:00:00Z",
                                     "2026-12-05T25:00:00Z", 1780000000])
def test_created_not_a_date_time(created: object) -> None:
    signed = signed_credential()
    signed["proof"]["created"] = created
    with pytest.raises(vc.ProofEncodingError, match="created"):
        vc.verify_proof(signed)
    with pytest.raises(UsageError, match="created"):
        vc.add_proof(credential(), KeyPair.generate(), created=created)  # type: ignore[arg-type]


def test_created_needs_a_time_zone_when_signing() -> None:
    with pytest.raises(UsageError, match="no time zone"):
        vc.add_proof(credential(), KeyPair.generate(), created="2026-12-05T09:30:00")
    for created in ("2026-12-05T10:30:00.5+01:00", "2026-12-05T04:00:00-05:30"):
        key = KeyPair.generate()
        assert vc.verify_proof(vc.add_proof(credential(), key, created=created)) == key.did


def test_expires_is_checked_against_the_callers_clock() -> None:
    signed = signed_credential()
    signed["proof"]["expires"] = "2027-01-01T00:00:00Z"
    # Re-sign with expires in the proof configuration (add_proof does not set it).
    unsecured = {name: value for name, value in signed.items() if name != "proof"}
    options = {name: value for name, value in signed["proof"].items() if name != "proofValue"}
    key = KeyPair.from_seed(bytes(range(32)))
    signature = key.sign(vc.hashing(vc.transformation(unsecured), vc.proof_configuration(options)))
    signed["proof"]["proofValue"] = "z" + base58.b58encode(signature).decode()
    expires = 1_798_761_600  # 2027-01-01T00:00:00Z
    assert vc.verify_proof(signed) == key.did
    assert vc.verify_proof(signed, now=expires - 1) == key.did
    with pytest.raises(vc.EmbeddedProofError, match="expired at 2027-01-01T00:00:00Z"):
        vc.verify_proof(signed, now=expires)
    signed["proof"]["expires"] = "next year"
    with pytest.raises(vc.ProofEncodingError, match="expires"):
        vc.verify_proof(signed)


def test_proof_purpose() -> None:
    key = KeyPair.generate()
    signed = vc.add_proof(credential(), key, created=CREATED, proof_purpose="authentication")
    with pytest.raises(vc.EmbeddedProofError, match='proofPurpose is "authentication"'):
        vc.verify_proof(signed)
    assert vc.verify_proof(signed, expected_proof_purpose="authentication") == key.did
    assert vc.verify_proof(signed, expected_proof_purpose=None) == key.did
    agreement = vc.add_proof(credential(), key, created=CREATED, proof_purpose="keyAgreement")
    with pytest.raises(vc.EmbeddedProofError, match="not a relationship a did:key gives"):
        vc.verify_proof(agreement, expected_proof_purpose=None)


def test_document_that_cannot_be_canonicalised() -> None:
    document = parse_credential(b'{"id": 12345678901234567890}')
    with pytest.raises(CredentialError, match=r"\$\.id"):
        vc.add_proof(document, KeyPair.generate(), created=CREATED)
    signed = signed_credential()
    signed["credentialSubject"]["id"] = 12345678901234567890
    with pytest.raises(CredentialError, match="cannot be represented exactly"):
        vc.verify_proof(signed)


def test_bad_arguments_are_usage_errors() -> None:
    key = KeyPair.generate()
    with pytest.raises(UsageError):
        vc.add_proof([], key, created=CREATED)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        vc.add_proof(credential(), key.seed, created=CREATED)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        vc.add_proof(credential(), key, created=CREATED, proof_purpose="")
    with pytest.raises(UsageError):
        vc.embedded_proofs("{}")  # type: ignore[arg-type]


def test_error_classes() -> None:
    assert issubclass(vc.EmbeddedProofError, VerificationError)
    assert issubclass(vc.UnsupportedProof, vc.EmbeddedProofError)
    assert issubclass(vc.ProofEncodingError, InvalidEncoding)
    assert issubclass(vc.ProofSignatureError, SignatureError)
    codes = {cls.code for cls in (vc.EmbeddedProofError, vc.UnsupportedProof,
                                  vc.ProofEncodingError, vc.ProofSignatureError)}
    assert len(codes) == 4
