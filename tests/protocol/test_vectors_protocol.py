"""The vector files of docs/protocol.md, checked against the code and, independently,
against plain msgpack, hashlib and cryptography calls.

The bundle vectors are re-verified by :class:`IndependentVerifier`, a second
implementation of docs/protocol.md §13.4 written from the text (RFC 9162 paths,
the status-map proof walk, cosignature/v1, the verdict order, and the embedded
``eddsa-jcs-2022`` proofs of §16 with rfc8785, base58 and cryptography) without
client/ or node/: it must reach every expected verdict and reject every invalid
case at its step.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import base58
import msgpack
import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
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

VECTORS = Path(__file__).parents[1] / "vectors"


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


def _check_payload_shape(kind: str, payload: list[Any]) -> None:
    """The payload layouts of docs/protocol.md §6.2 that carry more than hashes and DIDs."""
    if kind == "issuer.register":
        _, name, public_key, ids = payload
        assert isinstance(name, str) and len(public_key) == 32
        assert ids == sorted(set(ids)) and len(ids) <= 8
        assert all(i.startswith(("https://", "did:")) for i in ids)
    elif kind == "issuer.update":
        _, name, ids = payload
        assert isinstance(name, str) and ids == sorted(set(ids)) and len(ids) <= 8
    elif kind == "issuer.compromise":
        _, since_index, reason = payload
        assert isinstance(since_index, int) and since_index >= 0
        assert 1 <= len(reason.encode()) <= 200
    elif kind == "credential.revoke":
        assert len(payload) == 4 and payload[2] in range(6)
    elif kind == "pathway.define":
        owner, pathway_id, version, definition_digest = payload
        assert owner.startswith("did:key:z") and _is_pathway_id(pathway_id)
        assert isinstance(version, int) and not isinstance(version, bool) and version >= 1
        assert isinstance(definition_digest, bytes) and len(definition_digest) == 32
    elif kind == "pathway.retire":
        owner, pathway_id = payload
        assert owner.startswith("did:key:z") and _is_pathway_id(pathway_id)


def _is_pathway_id(value: Any) -> bool:
    """docs/protocol.md §6.2: an https URL, at most 200 bytes, printable ASCII, no spaces."""
    return (isinstance(value, str) and value.startswith("https://") and len(value) > 8
            and len(value.encode()) <= 200 and all(0x21 <= ord(c) <= 0x7e for c in value))


@pytest.mark.parametrize("vector", EVENTS, ids=lambda v: v["description"])
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
    _check_payload_shape(vector["kind"], payload)
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
    pathway = keys["pathway"]
    assert hashlib.sha256(pack(["vcledger/status/pathway", pathway["owner"],
                                pathway["pathway_id"]])).hexdigest() == pathway["key"]
    assert {r["fields"][1] for r in vector["records"]} == {"issuer", "credential", "batch",
                                                          "pathway"}
    for record in vector["records"]:
        encoded = bytes.fromhex(record["encoded"])
        fields = unhex(record["fields"])
        assert pack(fields) == encoded, record["description"]
        _check_record_shape(fields)
        assert decode_record(encoded).encode() == encoded, record["description"]


def _check_position(value: Any) -> None:
    index, height = value
    assert isinstance(index, int) and isinstance(height, int) and height >= 1


def _check_revocation(value: Any) -> None:
    """``[index, height, reason, by]``: by 0 is the issuer, 1 governance (§7.2)."""
    if value is not None:
        index, height, reason, by = value
        _check_position([index, height])
        assert reason in range(6) and by in (0, 1)


def _check_record_shape(fields: list[Any]) -> None:
    """docs/protocol.md §7.2 layouts, read with plain msgpack."""
    assert fields[0] == 1
    if fields[1] == "issuer":
        _, _, issuer, identities, keys, registered, retired, compromises = fields
        assert issuer.startswith("did:key:z")
        assert 1 <= len(identities) <= 6
        assert [i[0] for i in identities] == sorted({i[0] for i in identities})
        for set_at, name, ids in identities:
            assert isinstance(set_at, int) and isinstance(name, str)
            assert ids == sorted(set(ids)) and len(ids) <= 8
        for key, valid_from, valid_until in keys:
            assert len(key) == 32 and (valid_until is None or valid_from < valid_until)
        _check_position(registered)
        if retired is not None:
            _check_position(retired)
        assert len(compromises) <= 4
        previous_since = None
        for index, height, since_index, reason in compromises:
            _check_position([index, height])
            assert registered[0] < since_index <= index and isinstance(reason, str)
            assert retired is not None and retired[0] <= index  # a compromise retires
            # Each later statement moves the start earlier; none replaces another.
            assert previous_since is None or since_index < previous_since
            previous_since = since_index
    elif fields[1] == "credential":
        _, _, issued, batch, revoked = fields
        if issued is not None:
            _check_position(issued)
        assert batch is None or (isinstance(batch[0], str) and isinstance(batch[1], int))
        _check_revocation(revoked)
    elif fields[1] == "pathway":
        # [1, "pathway", [[version, digest, index, height], ...], retired | nil]: versions
        # 1..n in log order (at most 16), the last the current one.
        _, _, versions, retired = fields
        assert 1 <= len(versions) <= 16
        assert [v[0] for v in versions] == list(range(1, len(versions) + 1))
        for _, definition_digest, index, height in versions:
            assert len(definition_digest) == 32
            _check_position([index, height])
        assert [v[2] for v in versions] == sorted({v[2] for v in versions})
        if retired is not None:
            _check_position(retired)
            assert retired[0] > versions[-1][2]
    else:
        _, kind, root, size, anchored, revoked = fields
        assert kind == "batch" and len(root) == 32 and size >= 1
        _check_position(anchored)
        _check_revocation(revoked)


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


# -- proof bundles, verified a second time from docs/protocol.md §13 alone ------------------

BUNDLES = load("bundle_valid.json")
BUNDLE_MEMBERS = ["format", "origin", "issuer", "credential_digest", "event", "event_proof",
                  "header", "header_proof", "receipt", "status", "block_headers"]
MAX_FUTURE_DRIFT = 60
REASONS = ["unspecified", "key_compromise", "issued_in_error", "superseded", "fraud",
           "withdrawn"]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Refused(Exception):
    """The independent verifier's "invalid" verdict, with the step that gave it."""

    def __init__(self, step: int, why: str) -> None:
        super().__init__(f"step {step}: {why}")
        self.step = step


def refuse_unless(condition: bool, step: int, why: str) -> None:
    if not condition:
        raise Refused(step, why)


def root_from_path(leaf_hash: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2; None for a path of the wrong length."""
    if index >= size:
        return None
    fn, sn, node = index, size - 1, leaf_hash
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = sha256(b"\x01" + sibling + node)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = sha256(b"\x01" + node + sibling)
        fn, sn = fn >> 1, sn >> 1
    return node if sn == 0 else None


def smt_root(key: bytes, value: bytes | None, proof: bytes) -> bytes | None:
    """docs/protocol.md §7.4-7.5: the root a status-map proof leads to under the claim
    "key holds value" (None: "key is absent"); None when the terminal contradicts it."""
    version, depth, bitmap, packed, terminal = msgpack.unpackb(proof)
    assert version == 1 and len(bitmap) == (depth + 7) // 8

    def bit(data: bytes, i: int) -> int:
        return (data[i // 8] >> (7 - i % 8)) & 1

    siblings = iter(packed)
    path = [next(siblings) if bit(bitmap, i) else bytes(32) for i in range(depth)]
    if value is not None:
        if terminal != [key, sha256(value)]:
            return None
        node = sha256(b"\x02" + key + sha256(value))
    elif terminal is None:
        node = bytes(32)
    else:
        leaf_key, value_hash = terminal
        if leaf_key == key or any(bit(leaf_key, i) != bit(key, i) for i in range(depth)):
            return None
        node = sha256(b"\x02" + leaf_key + value_hash)
    for i in reversed(range(depth)):
        node = (sha256(b"\x03" + path[i] + node) if bit(key, i)
                else sha256(b"\x03" + node + path[i]))
    return node


def status_key(*parts: Any) -> bytes:
    return sha256(pack(list(parts)))


def did_public_key(did: str) -> bytes | None:
    """The Ed25519 key of ``did:key:z…`` (multicodec 0xed01), None for anything else."""
    encoded = did.removeprefix("did:key:z")
    if encoded == did or not encoded or set(encoded) - set(BASE58_ALPHABET):
        return None
    raw = base58.b58decode(encoded)
    if raw[:2] != b"\xed\x01" or len(raw) != 34 or base58.b58encode(raw).decode() != encoded:
        return None
    return raw[2:]


BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MAX_PROOFS = 16


def jcs(value: Any) -> bytes:
    """RFC 8785 of a value read with Decimal numbers (as for the credential's digest)."""
    canonical: bytes = rfc8785.dumps(as_doubles(value))
    return canonical


def as_context_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def embedded_proofs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """docs/protocol.md §16: ``proof`` absent, one object, or 1..16 objects (a proof set)."""
    if "proof" not in document:
        return []
    proof = document["proof"]
    if isinstance(proof, dict):
        return [proof]
    refuse_unless(isinstance(proof, list) and 1 <= len(proof) <= MAX_PROOFS
                  and all(isinstance(p, dict) for p in proof), 11, "proof member's shape")
    return list(proof)


def eddsa_jcs_2022_key(document: dict[str, Any], proof: dict[str, Any],
                       now: int) -> bytes | None:
    """docs/protocol.md §16 (EDDSA §3.3.2): the Ed25519 key one ``eddsa-jcs-2022`` proof
    verifies under, or None for a proof of another type or cryptosuite; Refused(11)
    for anything that does not hold."""
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != "eddsa-jcs-2022":
        return None
    method, purpose, value = (proof.get(m) for m in
                              ("verificationMethod", "proofPurpose", "proofValue"))
    if not (isinstance(method, str) and isinstance(purpose, str) and isinstance(value, str)):
        raise Refused(11, "verificationMethod, proofPurpose and proofValue are strings")
    refuse_unless("previousProof" not in proof, 11, "no proof chains")
    refuse_unless(purpose == "assertionMethod", 11, "proofPurpose")
    if "expires" in proof:
        refuse_unless(posix(proof["expires"]) > now, 11, "the proof expired")
    did, hash_sign, fragment = method.partition("#")
    public_key = did_public_key(did)
    refuse_unless(public_key is not None and hash_sign == "#"
                  and fragment == did.removeprefix("did:key:"), 11,
                  "verificationMethod is did:key:z6Mk…#z6Mk…")
    assert public_key is not None
    encoded = value[1:]
    refuse_unless(value.startswith("z") and 0 < len(encoded) <= 88
                  and not set(encoded) - set(BASE58_ALPHABET), 11, "proofValue base58btc")
    signature = base58.b58decode(encoded)
    refuse_unless(len(signature) == 64 and base58.b58encode(signature).decode() == encoded,
                  11, "proofValue: 64 bytes, canonical")
    options = {name: v for name, v in proof.items() if name != "proofValue"}
    unsecured = {name: v for name, v in document.items() if name != "proof"}
    if "@context" in options:
        signed = as_context_list(options["@context"])
        present = as_context_list(document.get("@context"))
        refuse_unless(len(signed) <= len(present) and all(
            jcs([a]) == jcs([b]) for a, b in zip(signed, present, strict=False)), 11,
            "the document's @context starts with the proof's")
        unsecured["@context"] = options["@context"]
    hash_data = sha256(jcs(options)) + sha256(jcs(unsecured))  # the proof options first
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, hash_data)
    except InvalidSignature:
        raise Refused(11, "embedded proof's signature") from None
    return public_key


def posix(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def ijson_safe(value: Any) -> bool:
    """RFC 7493 §2.2 as docs/protocol.md §5 states it: a number's value is that of the
    shortest text of the double nearest to it."""
    if isinstance(value, dict):
        return all(ijson_safe(v) for v in value.values())
    if isinstance(value, list):
        return all(ijson_safe(v) for v in value)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return Decimal(repr(float(value))) == value
    return True


def as_doubles(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: as_doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_doubles(v) for v in value]
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)
                                      and abs(value) >= 2**53):
        return float(value)
    return value


@dataclass
class TlogProof:
    index: int
    path: list[bytes]
    note: str


def parse_tlog_proof(text: str) -> TlogProof:
    head, _, note_text = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("index ")
    return TlogProof(int(lines[1][6:]), [base64.b64decode(x) for x in lines[2:]], note_text)


class IndependentVerifier:
    """docs/protocol.md §13.4, steps and outcome, for the vector files' bundles."""

    def __init__(self, trust: dict[str, Any], *, check_embedded_proofs: bool = True) -> None:
        self.check_embedded_proofs = check_embedded_proofs
        """Off only to show that the embedded-proof vectors need this check."""
        self.origin = trust["origin"]
        self.threshold = trust["threshold"]
        self.max_age = trust["max_age_seconds"]
        self.keys: dict[tuple[str, bytes], bytes] = {}
        for validator in trust["validators"]:
            name, key_id, key = validator["verifier_key"].split("+", 2)
            raw = base64.b64decode(key)
            assert raw[0] == 0x04  # cosignature/v1
            self.keys[(name, bytes.fromhex(key_id))] = raw[1:]

    def checkpoint(self, note_text: str, now: int) -> tuple[int, bytes, int]:
        """Step 3: (tree size, root, time) of a checkpoint meeting the threshold."""
        body, _, lines = note_text.rpartition("\n\n")
        body += "\n"
        origin, size, root = body.split("\n")[:3]
        refuse_unless(origin == self.origin, 3, "checkpoint origin")
        counted: dict[bytes, int] = {}
        for line in lines.splitlines():
            name, _, signature = line.removeprefix("\u2014 ").partition(" ")
            raw = base64.b64decode(signature)
            public_key = self.keys.get((name, raw[:4]))
            if public_key is None:
                continue
            timestamp = int.from_bytes(raw[4:12], "big")
            if timestamp > now + MAX_FUTURE_DRIFT:
                continue  # §11.2: from the future, neither checked nor counted
            message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
            try:
                Ed25519PublicKey.from_public_bytes(public_key).verify(raw[12:], message)
            except InvalidSignature:
                raise Refused(3, f"cosignature by {name} does not verify") from None
            counted.setdefault(public_key, timestamp)
        refuse_unless(len(counted) >= self.threshold, 3, "too few cosignatures")
        time = sorted(counted.values(), reverse=True)[self.threshold - 1]
        return int(size), base64.b64decode(root), time

    def included(self, bundle: dict[str, Any],
                 now: int) -> tuple[int, bytes, int, list[Any], bytes, int]:
        """Steps 3-5 of §13.4 and §17.3 alike: the checkpoint, the block header at its last
        index and the event, both proved included.  (tree size, root, checkpoint time,
        header fields, event leaf, event index)."""
        # 3 checkpoint
        event_proof = parse_tlog_proof(bundle["event_proof"])
        size, root, checkpoint_time = self.checkpoint(event_proof.note, now)
        # 4 block header
        header_proof = parse_tlog_proof(bundle["header_proof"])
        refuse_unless(header_proof.note == event_proof.note, 4, "two checkpoints")
        refuse_unless(header_proof.index == size - 1, 4, "header index")
        header_leaf = base64.b64decode(bundle["header"])
        refuse_unless(root_from_path(sha256(b"\x00" + header_leaf), size - 1, size,
                                     header_proof.path) == root, 4, "header inclusion")
        head = msgpack.unpackb(header_leaf)
        refuse_unless(head[1] == "block.header" and head[6] + head[7] + 1 == size, 4,
                      "header's tree size")
        # 5 event inclusion
        event_leaf = base64.b64decode(bundle["event"])
        index = event_proof.index
        refuse_unless(root_from_path(sha256(b"\x00" + event_leaf), index, size,
                                     event_proof.path) == root, 5, "event inclusion")
        return size, root, checkpoint_time, head, event_leaf, index

    def verify(self, bundle: dict[str, Any], credential_json: str | None, *, now: int,
               at: int | None = None, expected_issuer: str | None = None) -> dict[str, Any]:
        # 1 format (the parts the vectors exercise)
        refuse_unless(list(bundle) == BUNDLE_MEMBERS, 1, "members")
        refuse_unless(bundle["format"] == "vcledger-bundle/v2", 1, "format")
        refuse_unless(bundle["credential_digest"] == bundle["credential_digest"].lower(), 1,
                      "hex")
        headers = bundle["block_headers"]
        refuse_unless(1 <= len(headers) <= 2, 1, "1 or 2 block headers")
        refuse_unless(all(a["index"] < b["index"] for a, b in itertools.pairwise(headers)), 1,
                      "block headers ascending, distinct")
        # 2 origin
        refuse_unless(bundle["origin"] == self.origin, 2, "origin")
        # 3-5 checkpoint, block header, event inclusion
        size, root, checkpoint_time, head, event_leaf, index = self.included(bundle, now)
        status_root = head[8]
        # 6 event
        _, kind, created, payload, signer, signature = msgpack.unpackb(event_leaf)
        refuse_unless(kind in ("credential.issue", "batch.anchor"), 6, "kind")
        issuer = bundle["issuer"]
        refuse_unless(payload[0] == issuer, 6, "event's issuer")
        try:
            Ed25519PublicKey.from_public_bytes(signer).verify(signature, pack(
                ["vcledger/event/v1", self.origin, kind, created, payload, signer]))
        except InvalidSignature:
            raise Refused(6, "event signature") from None
        # 7 digest
        digest = bytes.fromhex(bundle["credential_digest"])
        receipt = bundle["receipt"]
        if kind == "credential.issue":
            refuse_unless(receipt is None and payload[1] == digest, 7, "issued digest")
        else:
            _, batch_id, batch_root, batch_size = payload
            refuse_unless(receipt is not None, 7, "receipt")
            refuse_unless(
                (receipt["origin"], receipt["issuer"], receipt["batch_id"],
                 receipt["credential_digest"], receipt["anchor_event_hash"],
                 receipt["batch_root"], receipt["batch_size"])
                == (bundle["origin"], issuer, batch_id, bundle["credential_digest"],
                    sha256(b"\x00" + event_leaf).hex(), batch_root.hex(), batch_size),
                7, "receipt fields")
            refuse_unless(root_from_path(
                sha256(b"\x00" + digest), receipt["index"], batch_size,
                [bytes.fromhex(h) for h in receipt["audit_path"]]) == batch_root, 7,
                "receipt path")
        document = None
        if credential_json is not None:
            document = json.loads(credential_json, parse_float=Decimal)
            refuse_unless(ijson_safe(document), 7, "I-JSON")
            refuse_unless(sha256(rfc8785.dumps(as_doubles(document))) == digest, 7,
                          "credential file digest")

        def record(entry: dict[str, Any], key: bytes, step: int) -> list[Any]:
            value = base64.b64decode(entry["value"])
            refuse_unless(smt_root(key, value, bytes.fromhex(entry["proof"])) == status_root,
                          step, "status membership")
            fields: list[Any] = msgpack.unpackb(value)
            return fields

        # 8 issuer status
        status = bundle["status"]
        issuer_record = record(status["issuer"], status_key("vcledger/status/issuer", issuer), 8)
        (_, record_kind, record_issuer, identities, keys, registered, retired,
         compromises) = issuer_record
        compromise = compromises[-1] if compromises else None  # the newest statement
        refuse_unless(record_kind == "issuer" and record_issuer == issuer, 8, "issuer record")
        refuse_unless(registered[0] < index, 8, "registered before the event")
        refuse_unless(retired is None or retired[0] >= index, 8, "retired before the event")
        def key_at_event(public_key: bytes) -> bool:
            return any(key == public_key and start <= index and (end is None or index < end)
                       for key, start, end in keys)

        refuse_unless(key_at_event(signer), 8, "signer was the issuer's key")
        identity = [i for i in identities if i[0] < index][-1]
        # 9 batch status
        batch = None
        if kind == "batch.anchor":
            refuse_unless(status["batch"] is not None, 9, "batch status")
            batch = record(status["batch"],
                           status_key("vcledger/status/batch", issuer, payload[1]), 9)
            refuse_unless(batch[1] == "batch" and [batch[2], batch[3], batch[4][0]]
                          == [payload[2], payload[3], index], 9, "batch record")
        else:
            refuse_unless(status["batch"] is None, 9, "no batch status")
        # 10 credential status
        credential_key = status_key("vcledger/status/credential", issuer, digest)
        credential = None
        if status["credential"]["value"] is None:
            refuse_unless(kind == "batch.anchor", 10, "a direct issue has a record")
            refuse_unless(smt_root(credential_key, None,
                                   bytes.fromhex(status["credential"]["proof"])) == status_root,
                          10, "non-membership")
        else:
            credential = record(status["credential"], credential_key, 10)
            refuse_unless(credential[1] == "credential", 10, "credential record")
            if kind == "credential.issue":
                refuse_unless(credential[2] is not None and credential[2][0] == index, 10,
                              "issued at the event")
        # 11 credential
        allowed = {issuer, *identity[2]}
        valid_from = valid_until = embedded = None
        if document is not None:
            named = document.get("issuer")
            named = named.get("id") if isinstance(named, dict) else named
            refuse_unless(isinstance(named, str), 11, "names no issuer")
            refuse_unless(named in allowed, 11, f"names {named}")
            try:
                valid_from = posix(document["validFrom"]) if "validFrom" in document else None
                valid_until = posix(document["validUntil"]) if "validUntil" in document else None
            except ValueError:
                raise Refused(11, "validity date") from None
            # Every eddsa-jcs-2022 proof verifies, by a key of the issuer at the event;
            # other proofs are not checked (and not passed).
            verified = unchecked = 0
            for proof in embedded_proofs(document) if self.check_embedded_proofs else []:
                key = eddsa_jcs_2022_key(document, proof, now)
                if key is None:
                    unchecked += 1
                    continue
                refuse_unless(key_at_event(key), 11, "embedded proof by the issuer's key then")
                verified += 1
            embedded = ("verified" if verified else "not_checked" if unchecked else "none")
        refuse_unless(expected_issuer is None or expected_issuer in allowed, 11, "pinned issuer")
        # 12 block times
        issued_height = batch[4][1] if batch is not None else credential[2][1]  # type: ignore[index]
        revocations = []
        for scope, holder in (("credential", credential), ("batch", batch)):
            if holder is not None and holder[-1] is not None:
                r_index, r_height, reason, by = holder[-1]
                revocations.append({"scope": scope, "index": r_index, "height": r_height,
                                    "reason": REASONS[reason], "reason_code": reason,
                                    "by_governance": by == 1})
        # The first statement whose start is at or before the event voided it, then.
        voiding = [c for c in compromises if c[2] <= index]
        if voiding:
            revocations.append({"scope": "issuer", "index": voiding[0][0],
                                "height": voiding[0][1], "reason": "key_compromise",
                                "reason_code": 1, "by_governance": True})
        revocation = min(revocations, key=lambda r: r["index"], default=None)
        needed = {issued_height} | ({revocation["height"]} if revocation else set())
        times: dict[int, tuple[int, int, int]] = {}  # height -> (first index, end, time_ms)
        for included in headers:
            leaf = base64.b64decode(included["header"])
            refuse_unless(included["index"] < size, 12, "header outside the tree")
            refuse_unless(root_from_path(
                sha256(b"\x00" + leaf), included["index"], size,
                [bytes.fromhex(h) for h in included["audit_path"]]) == root, 12,
                "header inclusion")
            fields = msgpack.unpackb(leaf)
            refuse_unless(fields[1] == "block.header" and fields[6] + fields[7]
                          == included["index"], 12, "not a header")
            times[fields[2]] = (fields[6], fields[6] + fields[7], fields[4])

        def time_of(height: int, event_index: int) -> int:
            first, end, time_ms = times[height]
            refuse_unless(first <= event_index < end, 12, "block does not hold the event")
            return time_ms

        refuse_unless(set(times) == needed, 12, "the headers of the dating blocks")
        issued_time_ms = time_of(issued_height, index)
        if revocation is not None:
            revocation["time_ms"] = time_of(revocation["height"], revocation["index"])
        # Outcome: invalid > revoked > expired / not yet valid > stale > valid.
        age = max(0, now - checkpoint_time)
        moment = at if at is not None else now
        verdict = ("revoked" if revocation is not None
                   else "expired" if document is not None and valid_until is not None
                   and moment >= valid_until
                   else "not_yet_valid" if document is not None and valid_from is not None
                   and moment < valid_from
                   else "stale" if age > self.max_age else "valid")
        return {
            "status": verdict,
            "event_index": index,
            "batch_id": None if batch is None else payload[1],
            "tree_size": size,
            "checkpoint_time": checkpoint_time,
            "checkpoint_age": age,
            "max_age": self.max_age,
            "credential_checked": document is not None,
            "embedded_proof": embedded,
            "issuer": {"did": issuer, "name": identity[1], "ids": identity[2],
                       "standing": "compromised" if compromise is not None
                       else "active" if retired is None else "retired",
                       "current_name": identities[-1][1],
                       "retired_at_index": None if retired is None else retired[0],
                       "compromised_since_index": None if compromise is None
                       else compromise[2]},
            "issued_time_ms": issued_time_ms,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "validity_checked_at": None if document is None else moment,
            "revocation": revocation,
        }


INDEPENDENT = IndependentVerifier(BUNDLES["trust"])


@pytest.mark.parametrize("case", BUNDLES["cases"], ids=lambda c: c["name"])
def test_bundle_vectors_independently(case: dict[str, Any]) -> None:
    options = case["verify"]
    credential = None if options["digest_only"] else case["credential_json"]
    verdict = INDEPENDENT.verify(case["bundle"], credential, now=options["now"],
                                 at=options["at"], expected_issuer=options["expected_issuer"])
    assert verdict == case["expected"]
    if case["receipt"] is not None:
        assert case["bundle"]["receipt"] == case["receipt"]


@pytest.mark.parametrize("case", load("bundle_invalid.json")["cases"], ids=lambda c: c["name"])
def test_invalid_bundle_vectors_independently(case: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        INDEPENDENT.verify(case["bundle"], case["credential_json"], now=case["verify"]["now"],
                           expected_issuer=case["verify"]["expected_issuer"])
    assert refused.value.step == case["step"], str(refused.value)


def test_embedded_proof_vectors_need_the_embedded_proof_check() -> None:
    """The step-11 cases of embedded proofs are refused by the proof check and nothing
    else: without it the same bundles and files pass every other step."""
    lax = IndependentVerifier(BUNDLES["trust"], check_embedded_proofs=False)
    cases = [case for case in load("bundle_invalid.json")["cases"]
             if case["name"].startswith("embedded_proof_")]
    assert {case["step"] for case in cases} == {11} and len(cases) >= 5
    for case in cases:
        verdict = lax.verify(case["bundle"], case["credential_json"], now=case["verify"]["now"],
                             expected_issuer=case["verify"]["expected_issuer"])
        assert verdict["status"] in ("valid", "revoked"), case["name"]
    embedded = {case["expected"]["embedded_proof"] for case in BUNDLES["cases"]}
    assert embedded == {"verified", "not_checked", "none", None}


def test_invalid_bundle_vectors_cover_every_step() -> None:
    steps = {case["step"] for case in load("bundle_invalid.json")["cases"]}
    assert steps == set(range(1, 13))


# -- pathway bundles, verified a second time from docs/protocol.md §17.2-17.3 alone ----------

PATHWAY_BUNDLES = load("pathway_bundle_valid.json")
PATHWAY_INVALID = load("pathway_bundle_invalid.json")
PATHWAY_MEMBERS = ["format", "origin", "owner", "pathway_id", "definition", "event",
                   "event_proof", "header", "header_proof", "status"]


def verify_pathway_independently(bundle: dict[str, Any], trust: dict[str, Any], *,
                                 now: int) -> dict[str, Any]:
    """§17.3 steps 1-9 and the outcome, with the checkpoint and proof code of §13 above."""
    verifier = IndependentVerifier(trust)
    # 1 format (the parts the vectors exercise)
    refuse_unless(list(bundle) == PATHWAY_MEMBERS, 1, "members")
    refuse_unless(bundle["format"] == "vcledger-pathway-bundle/v1", 1, "format")
    refuse_unless(_is_pathway_id(bundle["pathway_id"]), 1, "pathway id")
    # 2 origin
    refuse_unless(bundle["origin"] == verifier.origin, 2, "origin")
    # 3-5 checkpoint, block header, event inclusion
    size, _, checkpoint_time, head, event_leaf, index = verifier.included(bundle, now)
    status_root = head[8]
    # 6 event: a pathway.define of this owner and pathway, signed for the origin
    _, kind, created, payload, signer, signature = msgpack.unpackb(event_leaf)
    owner, pathway_id = bundle["owner"], bundle["pathway_id"]
    refuse_unless(kind == "pathway.define" and payload[:2] == [owner, pathway_id], 6, "event")
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(signature, pack(
            ["vcledger/event/v1", verifier.origin, kind, created, payload, signer]))
    except InvalidSignature:
        raise Refused(6, "event signature") from None
    _, _, version, digest = payload
    # 7 definition: its RFC 8785 digest, id and version are the event's
    document = bundle["definition"]
    refuse_unless(sha256(rfc8785.dumps(document)) == digest, 7, "definition digest")
    refuse_unless([document["id"], document["version"]] == [pathway_id, version], 7, "id")
    refuse_unless(document.get("owner", owner) == owner, 7, "definition owner")

    def record(entry: dict[str, Any], key: bytes, step: int) -> list[Any]:
        value = base64.b64decode(entry["value"])
        refuse_unless(smt_root(key, value, bytes.fromhex(entry["proof"])) == status_root,
                      step, "status membership")
        fields: list[Any] = msgpack.unpackb(value)
        return fields

    # 8 owner status: registered before the event, its key then, not void
    (_, record_kind, record_owner, _, keys, registered, retired, compromises) = record(
        bundle["status"]["owner"], status_key("vcledger/status/issuer", owner), 8)
    refuse_unless(record_kind == "issuer" and record_owner == owner, 8, "owner record")
    refuse_unless(registered[0] < index and (retired is None or retired[0] >= index), 8,
                  "owner standing")
    refuse_unless(any(key == signer and start <= index and (end is None or index < end)
                      for key, start, end in keys), 8, "signer was the owner's key")
    refuse_unless(all(c[2] > index for c in compromises), 8, "void: key compromised")
    # 9 pathway status: the event is the last version, and the pathway is not retired
    _, pathway_kind, versions, pathway_retired = record(
        bundle["status"]["pathway"], status_key("vcledger/status/pathway", owner, pathway_id), 9)
    refuse_unless(pathway_kind == "pathway" and [version, digest, index] in
                  [v[:3] for v in versions], 9, "the event's version")
    refuse_unless(versions[-1][:3] == [version, digest, index], 9, "superseded")
    refuse_unless(pathway_retired is None, 9, "retired")
    return {"status": "stale" if max(0, now - checkpoint_time) > verifier.max_age else "valid",
            "version": version, "event_index": index, "versions_published": len(versions),
            "tree_size": size}


@pytest.mark.parametrize("case", PATHWAY_BUNDLES["cases"], ids=lambda c: c["name"])
def test_pathway_bundle_vectors_independently(case: dict[str, Any]) -> None:
    verdict = verify_pathway_independently(case["bundle"], PATHWAY_BUNDLES["trust"],
                                           now=case["now"])
    assert verdict == case["expected"]


@pytest.mark.parametrize("case", PATHWAY_INVALID["cases"], ids=lambda c: c["name"])
def test_invalid_pathway_bundle_vectors_independently(case: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        verify_pathway_independently(case["bundle"], PATHWAY_INVALID["trust"], now=case["now"])
    assert refused.value.step == case["step"]


def test_invalid_pathway_bundle_vectors_cover_the_steps() -> None:
    assert {case["step"] for case in PATHWAY_INVALID["cases"]} == set(range(1, 10))
