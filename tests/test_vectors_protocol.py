"""The vector files of docs/protocol.md, checked against the code and, independently,
against plain msgpack, hashlib and cryptography calls."""

from __future__ import annotations

import base64
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import base58
import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client import encoding
from client.block import decode_header
from client.credentials import canonical_json, digest, parse_credential
from client.errors import InvalidEncoding, SignatureError
from client.events import decode_event
from client.status import decode_record
from node.config import load_genesis
from node.wire import (
    decode_frame,
    decode_proposal,
    decode_raw_block,
    decode_vote,
    encode_frame,
    verify_certificate,
)

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
    # the frames that carry a block body, rebuilt independently of node/wire.py
    block = vector["raw_block"]
    header, events = bytes.fromhex(block["header"]), [bytes.fromhex(e) for e in block["events"]]
    certificate_bytes = bytes.fromhex(block["certificate"])
    assert certificate_bytes.hex() == certificate["encoded"]
    assert decode_header(header).event_count == len(events)
    assert [decode_event(e).encoded for e in events] == events
    by_type = {frame["type"]: bytes.fromhex(frame["encoded"]) for frame in vector["frames"]}
    assert by_type["proposal"] == pack([1, "proposal", bytes.fromhex(proposal["signed"]), header,
                                        events])
    assert by_type["events"] == pack([1, "events", events])
    raw = bytes.fromhex(block["encoded"])
    assert raw == pack([1, header, events, certificate_bytes])
    decoded_block = decode_raw_block(raw, max_size=1 << 20)
    assert (decoded_block.header, list(decoded_block.events), decoded_block.certificate) == (
        header, events, certificate_bytes)
    assert decoded_block.encode() == raw


def test_genesis_vector(tmp_path: Path) -> None:
    vector = load("genesis.json")
    toml = tomllib.loads(vector["genesis_toml"])
    # independently of node/config.py: keys from the verifier keys and did:keys, then the hash
    validator_keys = [base64.b64decode(v["verifier_key"].split("+", 2)[2])
                      for v in toml["validators"]]
    assert all(key[0] == 0x04 for key in validator_keys)  # cosignature/v1 verifier keys
    assert [key[1:].hex() for key in validator_keys] == vector["validator_keys"]
    governance_keys = [base58.b58decode(g["did"].removeprefix("did:key:z"))
                       for g in toml["governance"]]
    assert all(key[:2] == b"\xed\x01" for key in governance_keys)  # multicodec ed25519-pub
    assert [key[2:].hex() for key in governance_keys] == vector["governance_keys"]
    genesis_time_ms = int(toml["genesis_time"].timestamp() * 1000)
    assert genesis_time_ms == vector["genesis_time_ms"]
    explicit = toml["consensus"]
    assert [explicit[name] for name in ("max_block_events", "block_interval_ms")] == (
        vector["consensus"][:2])
    expected = hashlib.sha256(pack([
        "vcledger/genesis/v1", toml["origin"], genesis_time_ms,
        [[v["name"], key[1:]] for v, key in zip(toml["validators"], validator_keys, strict=True)],
        [[g["name"], key[2:]] for g, key in zip(toml["governance"], governance_keys,
                                                   strict=True)],
        vector["consensus"],
    ])).hexdigest()
    assert expected == vector["hash"]
    # and through the node's loader
    path = tmp_path / "genesis.toml"
    path.write_text(vector["genesis_toml"])
    assert load_genesis(path).hash.hex() == vector["hash"]
