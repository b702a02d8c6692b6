"""Vectors for canonical msgpack, events, block headers, status records and digests.

Every value is derived from fixed seeds (tests/protocol_fixtures.py), so the
files are reproducible; tests/protocol/test_vectors_protocol.py checks them against the
code and, where it can, against an independent computation (plain hashlib and
msgpack rather than the protocol modules).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from client.block import BlockHeader, validator_set_hash
from client.credentials import canonical_json, digest, parse_credential
from client.events import CredentialRevoke, RevocationReason, signing_bytes
from client.merkle import leaf_hash
from client.status import (
    BatchRecord,
    Compromise,
    CredentialRecord,
    Identity,
    IssuerRecord,
    KeyPeriod,
    PathwayRecord,
    PathwayVersion,
    Position,
    Revocation,
    batch_status_key,
    credential_status_key,
    issuer_status_key,
    pathway_status_key,
)
from tests.protocol_fixtures import (
    CREATED,
    GOVERNANCE,
    ISSUER,
    ISSUER_IDS,
    ISSUER_NEXT,
    ORIGIN,
    PATHWAY_ID,
    fixed_digest,
    fixed_key,
    sample_events,
    sample_payloads,
)

KEYS = {"governance": GOVERNANCE, "issuer": ISSUER, "issuer rotated": ISSUER_NEXT}


def _key_label(public_key: bytes) -> str:
    for label, key in KEYS.items():
        if key.public_key == public_key:
            return label
    raise AssertionError("unknown fixture key")


def _events() -> dict[str, Any]:
    vectors = []
    for event, (payload, key) in zip(sample_events(), sample_payloads(), strict=True):
        what = event.kind.value
        if isinstance(payload, CredentialRevoke):
            what += " of a batch member" if payload.batch is not None else " of a direct credential"
        vectors.append({
            "description": f"{what} signed by the {_key_label(key.public_key)} key",
            "origin": ORIGIN,
            "kind": event.kind.value,
            "created": event.created,
            "signer_seed": key.seed.hex(),
            "signer_public_key": key.public_key.hex(),
            "payload_fields": _hexify(payload.fields()),
            "signing_bytes": signing_bytes(ORIGIN, payload, event.created, key.public_key).hex(),
            "encoded": event.encoded.hex(),
            "event_hash": event.hash.hex(),
        })
    return {
        "description": "Signed events: canonical msgpack [1, kind, created, payload, signer, "
                       "signature]; the signature covers msgpack ['vcledger/event/v1', origin, "
                       "kind, created, payload, signer]; event_hash = SHA-256(0x00 || encoded).",
        "key_derivation": "seed = SHA-256('vcledger test key ' || label)",
        "vectors": vectors,
    }


def _hexify(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, (list, tuple)):
        return [_hexify(v) for v in value]
    return value


def _invalid_events() -> dict[str, Any]:
    events = sample_events()
    good = next(e for e in events if e.kind.value == "credential.issue")
    fields = msgpack.unpackb(good.encoded)

    def with_field(position: int, value: Any, base: list[Any] | None = None) -> str:
        changed = list(fields if base is None else base)
        changed[position] = value
        return msgpack.packb(changed, use_bin_type=True).hex()

    def with_payload(kind: str, change: Any) -> str:
        """An event of ``kind`` whose payload ``change`` edits (the decoder checks the
        structure before any signature, so the old signature may stay)."""
        event = next(e for e in events if e.kind.value == kind)
        envelope = msgpack.unpackb(event.encoded)
        payload = list(envelope[3])
        change(payload)
        return with_field(3, payload, envelope)

    def set_at(position: int, value: Any) -> Any:
        def apply(payload: list[Any]) -> None:
            payload[position] = value
        return apply

    register_ids = 3
    return {
        "description": "Byte strings that must not decode as events, with the reason.",
        "vectors": [
            {"description": "unknown version", "encoded": with_field(0, 2),
             "error": "unknown format version"},
            {"description": "unknown kind", "encoded": with_field(1, "credential.mint"),
             "error": "unknown kind"},
            {"description": "float creation time", "encoded": with_field(2, 1.5),
             "error": "float"},
            {"description": "version true instead of 1", "encoded": with_field(0, True),
             "error": "boolean"},
            {"description": "31-byte signer key", "encoded": with_field(4, b"\x01" * 31),
             "error": "32 bytes"},
            {"description": "trailing byte", "encoded": good.encoded.hex() + "00",
             "error": "trailing"},
            {"description": "truncated", "encoded": good.encoded[:-1].hex(),
             "error": "not valid msgpack"},
            {"description": "non-shortest integer (0xcc 0x01 for 1)",
             "encoded": ("96cc01" + good.encoded[2:].hex()), "error": "canonical"},
            {"description": "a map instead of an array",
             "encoded": msgpack.packb({"version": 1}).hex(), "error": "maps"},
            {"description": "issuer.register with the old 3-field payload (no identifiers)",
             "encoded": with_payload("issuer.register", lambda p: p.pop()),
             "error": "expected 4 fields"},
            {"description": "issuer.register identifiers not sorted",
             "encoded": with_payload("issuer.register",
                                     set_at(register_ids, list(reversed(ISSUER_IDS)))),
             "error": "distinct and sorted"},
            {"description": "issuer.register identifier listed twice",
             "encoded": with_payload("issuer.register",
                                     set_at(register_ids, [ISSUER_IDS[0], ISSUER_IDS[0]])),
             "error": "distinct and sorted"},
            {"description": "issuer.register identifier over http, not https",
             "encoded": with_payload("issuer.register",
                                     set_at(register_ids, ["http://uni.example"])),
             "error": "neither an https URL nor a DID"},
            {"description": "issuer.register identifier with a space",
             "encoded": with_payload("issuer.register",
                                     set_at(register_ids, ["did:web:uni example"])),
             "error": "neither an https URL nor a DID"},
            {"description": "issuer.register with 9 identifiers (at most 8)",
             "encoded": with_payload("issuer.register", set_at(
                 register_ids, [f"https://uni.example/{i}" for i in range(9)])),
             "error": "at most 8"},
            {"description": "issuer.update with an empty name",
             "encoded": with_payload("issuer.update", set_at(1, "")),
             "error": "issuer name"},
            {"description": "issuer.compromise with a negative since_index",
             "encoded": with_payload("issuer.compromise", set_at(1, -1)),
             "error": "since index"},
            {"description": "issuer.compromise with a 201-byte reason",
             "encoded": with_payload("issuer.compromise", set_at(2, "x" * 201)),
             "error": "compromise reason"},
            {"description": "pathway.define version 0 (versions start at 1)",
             "encoded": with_payload("pathway.define", set_at(2, 0)),
             "error": "pathway version"},
            {"description": "pathway.define with an http (not https) pathway id",
             "encoded": with_payload("pathway.define",
                                     set_at(1, "http://uni.example/pathways/data-analyst")),
             "error": "not an https URL"},
            {"description": "pathway.define with a 201-byte pathway id",
             "encoded": with_payload("pathway.define",
                                     set_at(1, "https://uni.example/" + "p" * 181)),
             "error": "pathway id"},
            {"description": "pathway.define with a 31-byte definition digest",
             "encoded": with_payload("pathway.define", set_at(3, b"\x01" * 31)),
             "error": "definition digest"},
            {"description": "pathway.retire with a version field (it names no version)",
             "encoded": with_payload("pathway.retire", lambda p: p.append(1)),
             "error": "expected 2 fields"},
        ],
    }


def _header() -> dict[str, Any]:
    validators = [("node0", fixed_key("validator 0").public_key),
                  ("node1", fixed_key("validator 1").public_key)]
    header = BlockHeader(
        height=3, previous=leaf_hash(b"previous header"), time_ms=CREATED * 1000 + 250,
        proposer=validators[1][1], first_index=10, event_count=2,
        status_root=hashlib.sha256(b"status root").digest(),  # type: ignore[arg-type]
        validator_set_hash=validator_set_hash(validators),
    )
    return {
        "description": "A block header leaf: [1, 'block.header', height, previous, time_ms, "
                       "proposer, first_index, event_count, status_root, validator_set_hash]; "
                       "its hash is the RFC 9162 leaf hash; validator_set_hash = SHA-256 of "
                       "msgpack ['vcledger/validators/v1', [[name, key], ...]].",
        "validators": [[n, k.hex()] for n, k in validators],
        "validator_set_hash": header.validator_set_hash.hex(),
        "header": {"height": header.height, "previous": header.previous.hex(),
                   "time_ms": header.time_ms, "proposer": header.proposer.hex(),
                   "first_index": header.first_index, "event_count": header.event_count,
                   "status_root": header.status_root.hex()},
        "encoded": header.encoded.hex(),
        "hash": header.hash.hex(),
        "index": header.index,
        "tree_size": header.tree_size,
    }


def _records() -> dict[str, Any]:
    digest = fixed_digest("diploma 1")
    records = [
        ("issuer with one rotation", IssuerRecord(
            ISSUER.did, (Identity(0, "Example University", ISSUER_IDS),),
            (KeyPeriod(ISSUER.public_key, 1, 5), KeyPeriod(ISSUER_NEXT.public_key, 5, None)),
            Position(0, 1), None)),
        ("retired issuer", IssuerRecord(ISSUER.did, (Identity(0, "Example University", ()),),
                                        (KeyPeriod(ISSUER.public_key, 1, None),),
                                        Position(0, 1), Position(40, 12))),
        ("issuer renamed by governance, then compromised since index 20", IssuerRecord(
            ISSUER.did, (Identity(0, "Example University", ISSUER_IDS),
                         Identity(6, "Example University of Science",
                                  (*ISSUER_IDS, "https://uni.example/issuers/2"))),
            (KeyPeriod(ISSUER.public_key, 1, 22), KeyPeriod(ISSUER_NEXT.public_key, 22, None)),
            Position(0, 1), Position(30, 9),
            (Compromise(Position(30, 9), 20, "signing key found on a public server"),
             Compromise(Position(34, 10), 18, "")))),
        ("credential issued on its own", CredentialRecord(Position(7, 3), None, None)),
        ("credential issued then revoked", CredentialRecord(
            Position(7, 3), None, Revocation(Position(9, 4), RevocationReason.SUPERSEDED))),
        ("credential revoked by governance", CredentialRecord(
            Position(7, 3), None, Revocation(Position(9, 4), RevocationReason.FRAUD,
                                             by_governance=True))),
        ("batch member revoked on its own", CredentialRecord(
            None, ("2026-spring", 3), Revocation(Position(11, 5), RevocationReason.FRAUD))),
        ("anchored batch", BatchRecord(leaf_hash(b"batch root"), 1000, Position(8, 3), None)),
        ("batch revoked as a whole by governance", BatchRecord(
            leaf_hash(b"batch root"), 1000, Position(8, 3),
            Revocation(Position(12, 6), RevocationReason.ISSUED_IN_ERROR, by_governance=True))),
        ("pathway at version 2 (version 1 superseded, kept)", PathwayRecord(
            (PathwayVersion(1, fixed_digest("pathway definition v1"), Position(14, 7)),
             PathwayVersion(2, fixed_digest("pathway definition v2"), Position(20, 9))),
            None)),
        ("pathway retired after its first version", PathwayRecord(
            (PathwayVersion(1, fixed_digest("pathway definition v1"), Position(14, 7)),),
            Position(22, 10))),
    ]
    return {
        "description": "Status records (canonical msgpack; 'fields' is the same array as JSON, "
                       "bin as {'hex': ...}) and the status keys they live under.",
        "status_keys": {
            "issuer": {"issuer": ISSUER.did, "key": issuer_status_key(ISSUER.did).hex()},
            "credential": {"issuer": ISSUER.did, "digest": digest.hex(),
                           "key": credential_status_key(ISSUER.did, digest).hex()},
            "batch": {"issuer": ISSUER.did, "batch_id": "2026-spring",
                      "key": batch_status_key(ISSUER.did, "2026-spring").hex()},
            "pathway": {"owner": ISSUER.did, "pathway_id": PATHWAY_ID,
                        "key": pathway_status_key(ISSUER.did, PATHWAY_ID).hex()},
        },
        "records": [{"description": d, "fields": _hexify(msgpack.unpackb(r.encode())),
                     "encoded": r.encode().hex()} for d, r in records],
    }


CREDENTIAL_SAMPLES = [
    ("member order and whitespace do not matter",
     '{"name": "Ada", "@context": ["https://www.w3.org/ns/credentials/v2"], "id": 1}'),
    ("numbers take their ES6 form", '{"a": 1.0, "b": 1E3, "c": -0, "d": 0.000001, "e": 1e21}'),
    ("unicode escapes are written as UTF-8", '{"name": "\\u00c9cole \\u20ac"}'),
    ("members sort by UTF-16 code units", '{"\\ud83d\\ude00": 1, "\\ufb33": 2, "z": 3}'),
]


def _credentials() -> dict[str, Any]:
    vectors = []
    for description, text in CREDENTIAL_SAMPLES:
        canonical = canonical_json(parse_credential(text.encode()))
        vectors.append({"description": description, "json": text,
                        "canonical": canonical.decode(), "digest": digest(text.encode()).hex()})
    return {"description": "Credential digests: SHA-256 of the RFC 8785 canonical JSON.",
            "vectors": vectors}


def _encoding() -> dict[str, Any]:
    return {
        "description": "Canonical msgpack: the shortest encoding of arrays of unsigned/signed "
                       "integers, bytes (bin), UTF-8 strings and nil.  Anything else is "
                       "rejected.",
        "valid": [
            {"value": "[1, 'a', b'\\x00', None]", "encoded": "9401a161c40100c0"},
            {"value": "[255, 256, 65536]", "encoded": "93ccffcd0100ce00010000"},
            {"value": "[-1, -33]", "encoded": "92ffd0df"},
        ],
        "invalid": [
            {"encoded": "cc01", "error": "canonical", "why": "1 in two bytes"},
            {"encoded": "cb3ff0000000000000", "error": "float", "why": "a float"},
            {"encoded": "91c3", "error": "boolean", "why": "true (it must not pass for 1)"},
            {"encoded": "81a16101", "error": "maps", "why": "a map"},
            {"encoded": "d40102", "error": "extension", "why": "an extension type"},
            {"encoded": "a2fffe", "error": "UTF-8", "why": "invalid UTF-8 in a string"},
            {"encoded": "9201", "error": "not valid msgpack", "why": "truncated"},
            {"encoded": "0102", "error": "trailing", "why": "two values"},
        ],
    }


def generate() -> dict[str, object]:
    return {
        "events_valid.json": _events(),
        "events_invalid.json": _invalid_events(),
        "block_header.json": _header(),
        "status_records.json": _records(),
        "credential_digests.json": _credentials(),
        "encoding.json": _encoding(),
    }
