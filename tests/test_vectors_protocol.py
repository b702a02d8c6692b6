"""The vector files of docs/protocol.md, checked against the code and, independently,
against plain msgpack, hashlib and cryptography calls."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client import encoding
from client.block import decode_header
from client.credentials import canonical_json, digest, parse_credential
from client.errors import InvalidEncoding, SignatureError
from client.events import decode_event
from client.status import decode_record
from node.wire import decode_frame, decode_proposal, decode_vote, encode_frame, verify_certificate

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return document


def unhex(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    if isinstance(value, list):
        return [unhex(v) for v in value]
    return value


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


EVENTS = load("events_valid.json")["vectors"]


@pytest.mark.parametrize("vector", EVENTS, ids=lambda v: v["kind"])
def test_event_vectors(vector: dict[str, Any]) -> None:
    encoded = bytes.fromhex(vector["encoded"])
    signer = bytes.fromhex(vector["signer_public_key"])
    payload = unhex(vector["payload_fields"])
    # independently of client/: the signed message, the signature, the leaf hash
    signed_message = pack(["vcledger/event/v1", vector["origin"], vector["kind"],
                           vector["created"], payload, signer])
    assert signed_message.hex() == vector["signing_bytes"]
    signature = msgpack.unpackb(encoded)[5]
    Ed25519PublicKey.from_public_bytes(signer).verify(signature, signed_message)
    assert pack([1, vector["kind"], vector["created"], payload, signer, signature]) == encoded
    assert hashlib.sha256(b"\x00" + encoded).hexdigest() == vector["event_hash"]
    # and through the protocol code
    event = decode_event(encoded)
    event.verify_signature(vector["origin"])
    assert event.hash.hex() == vector["event_hash"]
    assert event.encoded == encoded


@pytest.mark.parametrize("vector", load("events_invalid.json")["vectors"],
                         ids=lambda v: v["description"])
def test_invalid_event_vectors(vector: dict[str, Any]) -> None:
    with pytest.raises(InvalidEncoding, match=vector["error"]):
        decode_event(bytes.fromhex(vector["encoded"]))


def test_block_header_vector() -> None:
    vector = load("block_header.json")
    encoded = bytes.fromhex(vector["encoded"])
    h = vector["header"]
    validators = [[n, bytes.fromhex(k)] for n, k in vector["validators"]]
    set_hash = hashlib.sha256(pack(["vcledger/validators/v1", validators])).hexdigest()
    assert set_hash == vector["validator_set_hash"]
    expected = pack([1, "block.header", h["height"], bytes.fromhex(h["previous"]), h["time_ms"],
                     bytes.fromhex(h["proposer"]), h["first_index"], h["event_count"],
                     bytes.fromhex(h["status_root"]), bytes.fromhex(set_hash)])
    assert expected == encoded
    assert hashlib.sha256(b"\x00" + encoded).hexdigest() == vector["hash"]
    header = decode_header(encoded)
    assert (header.index, header.tree_size) == (vector["index"], vector["tree_size"])


def test_status_record_vectors() -> None:
    vector = load("status_records.json")
    keys = vector["status_keys"]
    issuer = keys["issuer"]["issuer"]
    assert hashlib.sha256(pack(["vcledger/status/issuer", issuer])).hexdigest() == \
        keys["issuer"]["key"]
    credential = keys["credential"]
    assert hashlib.sha256(pack(["vcledger/status/credential", issuer,
                                bytes.fromhex(credential["digest"])])).hexdigest() == \
        credential["key"]
    batch = keys["batch"]
    assert hashlib.sha256(pack(["vcledger/status/batch", issuer, batch["batch_id"]])
                          ).hexdigest() == batch["key"]
    for record in vector["records"]:
        encoded = bytes.fromhex(record["encoded"])
        assert decode_record(encoded).encode() == encoded, record["description"]


@pytest.mark.parametrize("vector", load("credential_digests.json")["vectors"],
                         ids=lambda v: v["description"])
def test_credential_digest_vectors(vector: dict[str, Any]) -> None:
    raw = vector["json"].encode()
    assert canonical_json(parse_credential(raw)).decode() == vector["canonical"]
    assert hashlib.sha256(vector["canonical"].encode()).hexdigest() == vector["digest"]
    assert digest(raw).hex() == vector["digest"]


def test_canonical_encoding_vectors() -> None:
    vector = load("encoding.json")
    for valid in vector["valid"]:
        data = bytes.fromhex(valid["encoded"])
        assert encoding.pack(encoding.unpack(data, max_size=100, what="vector")) == data
    for invalid in vector["invalid"]:
        with pytest.raises(InvalidEncoding, match=invalid["error"]):
            encoding.unpack(bytes.fromhex(invalid["encoded"]), max_size=100, what="vector")


def test_wire_vectors() -> None:
    vector = load("wire_messages.json")
    origin = vector["origin"]
    validators = [bytes.fromhex(k) for k in vector["validators"]]
    for vote in vector["votes"]:
        block_id = None if vote["block_id"] is None else bytes.fromhex(vote["block_id"])
        message = pack(["vcledger/vote/v1", origin, vote["kind"], vote["height"], vote["round"],
                        block_id])
        assert message.hex() == vote["sign_bytes"]
        signed = bytes.fromhex(vote["signed"])
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(vote["voter"])).verify(
            msgpack.unpackb(signed)[6], message)
        decoded = decode_vote(signed, origin, validators)
        assert (int(decoded.kind), decoded.height, decoded.round, decoded.block_id) == (
            vote["kind"], vote["height"], vote["round"], block_id)
        with pytest.raises(SignatureError):  # bound to the network's origin
            decode_vote(signed, origin + "x", validators)
    proposal = vector["proposal"]
    message = pack(["vcledger/proposal/v1", origin, proposal["height"], proposal["round"],
                    bytes.fromhex(proposal["block_id"]), proposal["valid_round"]])
    assert message.hex() == proposal["sign_bytes"]
    decode_proposal(bytes.fromhex(proposal["signed"]), origin, validators)
    certificate = vector["certificate"]
    verified = verify_certificate(bytes.fromhex(certificate["encoded"]), origin, validators,
                                  height=certificate["height"],
                                  block_id=bytes.fromhex(certificate["block_id"]))
    assert [i for i, _ in verified.signatures] == certificate["signers"]
    for frame in vector["frames"]:
        data = bytes.fromhex(frame["encoded"])
        assert encode_frame(decode_frame(data, max_size=1 << 20)) == data
