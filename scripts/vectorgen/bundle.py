"""Proof-bundle and receipt vectors, from a small ledger built here by hand.

The ledger of this generator is independent of ``node/`` and of the code
under test where it matters: the RFC 9162 log root and audit paths come from
the recursive definition (RFC 9162 §2.1.1, §2.1.3.1) written out below, the
status map's root and proofs from the sparse-Merkle definition
(docs/protocol.md, "Status map") also written out below, and the bundle and
receipt documents are assembled field by field as docs/protocol.md ("Proof bundles")
describes them (tlog-proof text by string concatenation).  Client code is
used only for what other vector files already pin: event and record
encodings, signatures and cosignature lines, RFC 8785 digests.

The expected verdicts are what the construction implies (the revocation was
placed at index I, so the verdict says "revoked at index I"), never what
``client.verify`` printed.

Files:
* ``bundle_valid.json``: the trust file, the credentials, their receipts and
  bundles, and the expected verdict of each (valid or revoked);
* ``bundle_invalid.json``: one mutation of a valid bundle per case, with the
  step that must reject it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from client import note
from client.block import BlockHeader, validator_set_hash
from client.credentials import digest as credential_digest
from client.encoding import pack
from client.events import (
    BatchAnchor,
    BatchMembership,
    CredentialIssue,
    CredentialRevoke,
    IssuerRegister,
    Payload,
    RevocationReason,
    sign_event,
)
from client.hashes import Hash
from client.keys import KeyPair
from client.status import (
    BatchRecord,
    CredentialRecord,
    IssuerRecord,
    KeyPeriod,
    Position,
    Revocation,
)
from vectorgen.smt import encoded_proof, subtree_hash

ORIGIN = "vcledger.example/bundles"
OTHER_ORIGIN = "vcledger.example/another-network"
CREATED = 1_780_000_000  # 2026-05-28T20:26:40Z
BLOCK_TIME_MS = CREATED * 1000 + 500
COSIGNED_AT = CREATED + 60
VALIDATOR_COUNT = 4
THRESHOLD = 3
BATCH_ID = "2026-spring"


def _key(label: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"vcledger bundle vector key {label}".encode())
                             .digest())


VALIDATORS = [(f"{ORIGIN}/validator-{i}", _key(f"validator {i}")) for i in range(VALIDATOR_COUNT)]
GOVERNANCE = _key("governance")
ISSUER = _key("issuer")
OTHER_ISSUER = _key("other issuer")


# -- references written from the definitions -----------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data)


def _split(n: int) -> int:
    """Largest power of two smaller than n (RFC 9162 §2.1.1), for n >= 2."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return _sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return _sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:]))


def _path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf side first."""
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if m < k:
        return [*_path(m, hashes[:k]), _mth(hashes[k:])]
    return [*_path(m - k, hashes[k:]), _mth(hashes[:k])]


def _status_key(*parts: object) -> bytes:
    return _sha256(pack(list(parts)))  # type: ignore[arg-type]


def _issuer_key(issuer: str) -> bytes:
    return _status_key("vcledger/status/issuer", issuer)


def _credential_key(issuer: str, digest: bytes) -> bytes:
    return _status_key("vcledger/status/credential", issuer, digest)


def _batch_key(issuer: str, batch_id: str) -> bytes:
    return _status_key("vcledger/status/batch", issuer, batch_id)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- the ledger ------------------------------------------------------------------------------


@dataclass
class _Chain:
    leaves: list[bytes] = field(default_factory=list)
    status: dict[bytes, bytes] = field(default_factory=dict)
    issued: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    height: int = 0
    previous: bytes = _sha256(b"vcledger bundle vectors genesis")
    created: int = CREATED

    def block(self, events: list[tuple[Payload, KeyPair]]) -> None:
        """Append one block: each event, then the header with the new status root."""
        self.height += 1
        first = len(self.leaves)
        for offset, (payload, key) in enumerate(events):
            self.created += 1
            event = sign_event(payload, origin=ORIGIN, key=key, created=self.created)
            position = Position(first + offset, self.height)
            self._apply(payload, position)
            self.leaves.append(event.encoded)
        header = BlockHeader(
            height=self.height, previous=self.previous, time_ms=BLOCK_TIME_MS + self.height,
            proposer=VALIDATORS[0][1].public_key, first_index=first, event_count=len(events),
            status_root=subtree_hash(self.status, 0),
            validator_set_hash=validator_set_hash([(n, k.public_key) for n, k in VALIDATORS]),
        )
        self.leaves.append(header.encoded)
        self.previous = _leaf_hash(header.encoded)

    def _apply(self, payload: Payload, at: Position) -> None:
        # The ledger rules for the four kinds used here (node/rules.py), restated.
        if isinstance(payload, IssuerRegister):
            record = IssuerRecord(payload.issuer, payload.name,
                                  (KeyPeriod(payload.public_key, at.index + 1, None),), at, None)
            self.status[_issuer_key(payload.issuer)] = record.encode()
        elif isinstance(payload, CredentialIssue):
            self.issued[payload.digest] = (at.index, at.height)
            self.status[_credential_key(payload.issuer, payload.digest)] = CredentialRecord(
                at, None, None).encode()
        elif isinstance(payload, BatchAnchor):
            self.status[_batch_key(payload.issuer, payload.batch_id)] = BatchRecord(
                payload.root, payload.size, at, None).encode()
        elif isinstance(payload, CredentialRevoke):
            revoked = Revocation(at, payload.reason)
            if payload.batch is None:
                issued = Position(*self.issued[payload.digest])
                record = CredentialRecord(issued, None, revoked)
            else:
                record = CredentialRecord(None, (payload.batch.batch_id, payload.batch.index),
                                          revoked)
            self.status[_credential_key(payload.issuer, payload.digest)] = record.encode()
        else:  # pragma: no cover - the generator uses only the kinds above
            raise AssertionError(type(payload).__name__)

    def checkpoint_note(self, signers: int = VALIDATOR_COUNT) -> str:
        hashes = [_leaf_hash(leaf) for leaf in self.leaves]
        body = f"{ORIGIN}\n{len(hashes)}\n{_b64(_mth(hashes))}\n"
        lines = [note.cosign(body, name, key.seed, COSIGNED_AT + i)
                 for i, (name, key) in enumerate(VALIDATORS[:signers])]
        return body + "\n" + "".join(lines)

    def tlog_proof(self, index: int, checkpoint_note: str) -> str:
        hashes = [_leaf_hash(leaf) for leaf in self.leaves]
        lines = [f"index {index}", *(_b64(h) for h in _path(index, hashes))]
        return "c2sp.org/tlog-proof@v1\n" + "\n".join(lines) + "\n\n" + checkpoint_note

    def status_entry(self, key: bytes) -> dict[str, Any]:
        value = self.status.get(key)
        return {"value": None if value is None else _b64(value),
                "proof": encoded_proof(self.status, key).hex()}


def _credential(number: int) -> dict[str, Any]:
    """A W3C VC 2.0 style credential (unsigned: only its digest reaches the ledger)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://www.w3.org/ns/credentials/examples/v2"],
        "id": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
        "type": ["VerifiableCredential", "ExampleDegreeCredential"],
        "issuer": ISSUER.did,
        "validFrom": "2026-06-01T00:00:00Z",
        "credentialSubject": {
            "id": f"did:example:student{number}",
            "degree": {"type": "ExampleBachelorDegree", "name": f"Bachelor of Science {number}"},
        },
    }


def _credential_bytes(credential: dict[str, Any]) -> bytes:
    return (json.dumps(credential, indent=2) + "\n").encode()


def _build() -> dict[str, Any]:
    chain = _Chain()
    direct = _credential(1)
    direct_revoked = _credential(2)
    batch = [_credential(10 + i) for i in range(5)]
    digests = {name: Hash(credential_digest(_credential_bytes(c))) for name, c in
               [("direct", direct), ("direct_revoked", direct_revoked)]}
    batch_digests = [credential_digest(_credential_bytes(c)) for c in batch]
    batch_leaves = [_leaf_hash(d) for d in batch_digests]
    batch_root = _mth(batch_leaves)
    batch_paths = [_path(i, batch_leaves) for i in range(len(batch))]

    chain.block([(IssuerRegister(ISSUER.did, "Example University", ISSUER.public_key),
                  GOVERNANCE)])
    block2 = [
        (CredentialIssue(ISSUER.did, digests["direct"]), ISSUER),
        (CredentialIssue(ISSUER.did, digests["direct_revoked"]), ISSUER),
        (BatchAnchor(ISSUER.did, BATCH_ID, batch_root, len(batch)), ISSUER),
    ]
    first2 = len(chain.leaves)
    chain.block(block2)
    first3 = len(chain.leaves)
    chain.block([
        (CredentialRevoke(ISSUER.did, batch_digests[1], RevocationReason.FRAUD,
                          BatchMembership(BATCH_ID, 1, tuple(map(Hash, batch_paths[1])))),
         ISSUER),
        (CredentialRevoke(ISSUER.did, digests["direct_revoked"], RevocationReason.SUPERSEDED),
         ISSUER),
    ])
    anchor_index = first2 + 2
    anchor_leaf = chain.leaves[anchor_index]
    checkpoint_note = chain.checkpoint_note()
    tree_size = len(chain.leaves)
    header_proof = chain.tlog_proof(tree_size - 1, checkpoint_note)

    def receipt(i: int) -> dict[str, Any]:
        return {
            "format": "vcledger-receipt/v1",
            "origin": ORIGIN,
            "issuer": ISSUER.did,
            "batch_id": BATCH_ID,
            "batch_root": batch_root.hex(),
            "batch_size": len(batch),
            "index": i,
            "credential_digest": batch_digests[i].hex(),
            "audit_path": [h.hex() for h in batch_paths[i]],
            "anchor_event_hash": _leaf_hash(anchor_leaf).hex(),
        }

    def bundle(digest: bytes, index: int, receipt_doc: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "format": "vcledger-bundle/v1",
            "origin": ORIGIN,
            "issuer": ISSUER.did,
            "credential_digest": digest.hex(),
            "event": _b64(chain.leaves[index]),
            "event_proof": chain.tlog_proof(index, checkpoint_note),
            "header": _b64(chain.leaves[tree_size - 1]),
            "header_proof": header_proof,
            "receipt": receipt_doc,
            "status": {
                "issuer": chain.status_entry(_issuer_key(ISSUER.did)),
                "credential": chain.status_entry(_credential_key(ISSUER.did, digest)),
                "batch": (None if receipt_doc is None
                          else chain.status_entry(_batch_key(ISSUER.did, BATCH_ID))),
            },
        }

    checkpoint_time = COSIGNED_AT + VALIDATOR_COUNT - 1
    cases = [
        {"name": "direct_valid",
         "description": "credential.issue, never revoked",
         "credential": direct, "receipt": None,
         "bundle": bundle(digests["direct"], first2, None),
         "expected": {"status": "valid", "event_index": first2, "revocation": None}},
        {"name": "direct_revoked",
         "description": "credential.issue, then credential.revoke (superseded) in block 3",
         "credential": direct_revoked, "receipt": None,
         "bundle": bundle(digests["direct_revoked"], first2 + 1, None),
         "expected": {"status": "revoked", "event_index": first2 + 1,
                      "revocation": {"scope": "credential", "index": first3 + 1, "height": 3,
                                     "reason": "superseded", "reason_code": 3}}},
        {"name": "batch_valid",
         "description": "member 0 of an anchored batch of 5; a sibling was revoked",
         "credential": batch[0], "receipt": receipt(0),
         "bundle": bundle(batch_digests[0], anchor_index, receipt(0)),
         "expected": {"status": "valid", "event_index": anchor_index, "revocation": None}},
        {"name": "batch_revoked",
         "description": "member 1 of the batch, revoked alone (fraud) with its receipt",
         "credential": batch[1], "receipt": receipt(1),
         "bundle": bundle(batch_digests[1], anchor_index, receipt(1)),
         "expected": {"status": "revoked", "event_index": anchor_index,
                      "revocation": {"scope": "credential", "index": first3, "height": 3,
                                     "reason": "fraud", "reason_code": 4}}},
        {"name": "batch_last_member",
         "description": "member 4, the odd last leaf of the batch tree (a shorter path)",
         "credential": batch[4], "receipt": receipt(4),
         "bundle": bundle(batch_digests[4], anchor_index, receipt(4)),
         "expected": {"status": "valid", "event_index": anchor_index, "revocation": None}},
    ]
    for case in cases:
        case["credential_json"] = _credential_bytes(case.pop("credential")).decode()
        case["expected"]["tree_size"] = tree_size
        case["expected"]["checkpoint_time"] = checkpoint_time

    trust = {
        "origin": ORIGIN,
        "threshold": THRESHOLD,
        "validators": [{"name": name, "verifier_key": note.verifier_key(
            name, key.public_key, sig_type=note.SIG_COSIGNATURE_V1)} for name, key in VALIDATORS],
    }
    return {"chain": chain, "cases": cases, "trust": trust, "tree_size": tree_size,
            "checkpoint_note": checkpoint_note, "register_index": 0,
            "anchor_index": anchor_index, "batch_digests": batch_digests}


def _mutations(built: dict[str, Any]) -> list[dict[str, Any]]:
    cases = {case["name"]: case for case in built["cases"]}
    chain: _Chain = built["chain"]
    direct = cases["direct_valid"]["bundle"]
    batched = cases["batch_valid"]["bundle"]
    out: list[dict[str, Any]] = []

    def mutate(name: str, description: str, base: dict[str, Any], step: int,
               change: Any, *, credential_json: str | None = None) -> None:
        bundle = copy.deepcopy(base)
        change(bundle)
        out.append({"name": name, "description": description, "step": step,
                    "credential_json": credential_json, "bundle": bundle})

    def set_(path: str, value: Any) -> Any:
        def apply(bundle: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            target = bundle
            for part in parents:
                target = target[part]
            target[last] = value
        return apply

    def flip_b64(text: str, position: int) -> str:
        raw = bytearray(base64.b64decode(text))
        raw[position % len(raw)] ^= 0x01
        return _b64(bytes(raw))

    fewer = chain.checkpoint_note(signers=THRESHOLD - 1)
    note_text = built["checkpoint_note"]
    body, _, lines = note_text.partition("\n\n")
    first_line, _, rest = lines.partition("\n")
    name, _, sig_b64 = first_line[2:].partition(" ")
    bad_sig = f"\u2014 {name} {flip_b64(sig_b64, 20)}\n" + rest
    tampered_note = body + "\n\n" + bad_sig

    def with_note(new_note: str, which: tuple[str, ...] = ("event_proof", "header_proof")) -> Any:
        def apply(bundle: dict[str, Any]) -> None:
            for key in which:
                head, _, _ = bundle[key].partition("\n\n")
                bundle[key] = head + "\n\n" + new_note
        return apply

    def path_hash_flip(key: str) -> Any:
        def apply(bundle: dict[str, Any]) -> None:
            lines = bundle[key].split("\n")
            lines[2] = flip_b64(lines[2], 0)
            bundle[key] = "\n".join(lines)
        return apply

    register_proof = chain.tlog_proof(built["register_index"], note_text)
    mutate("unknown_member", "an extra top-level member", direct, 1,
           set_("comment", "hello"))
    mutate("future_format", "format vcledger-bundle/v2", direct, 1,
           set_("format", "vcledger-bundle/v2"))
    mutate("uppercase_digest", "credential_digest in upper-case hex", direct, 1,
           set_("credential_digest", direct["credential_digest"].upper()))
    mutate("other_origin", "the bundle names another network", direct, 2,
           set_("origin", OTHER_ORIGIN))
    mutate("too_few_cosignatures", f"the checkpoint carries {THRESHOLD - 1} of the "
           f"{THRESHOLD} cosignatures required", direct, 3, with_note(fewer))
    mutate("bad_cosignature", "one bit of a trusted cosignature flipped", direct, 3,
           with_note(tampered_note))
    mutate("header_flipped", "one bit of the header leaf flipped", direct, 4,
           lambda b: b.__setitem__("header", flip_b64(b["header"], 40)))
    mutate("header_other_note", "header_proof embeds a checkpoint note with fewer signatures",
           direct, 4, with_note(fewer, ("header_proof",)))
    mutate("header_path_flipped", "one bit of the header's audit path flipped", direct, 4,
           path_hash_flip("header_proof"))
    mutate("event_path_flipped", "one bit of the event's audit path flipped", direct, 5,
           path_hash_flip("event_proof"))
    mutate("event_flipped", "one bit of the event's signature flipped", direct, 5,
           lambda b: b.__setitem__("event", flip_b64(b["event"], -1)))
    mutate("wrong_kind", "the included leaf is the issuer.register event", direct, 6,
           lambda b: b.update(event=_b64(chain.leaves[built["register_index"]]),
                              event_proof=register_proof))
    mutate("other_issuer", "the bundle claims another issuer", direct, 6,
           set_("issuer", OTHER_ISSUER.did))
    mutate("direct_other_digest", "credential_digest of another credential", direct, 7,
           set_("credential_digest", cases["direct_revoked"]["bundle"]["credential_digest"]))
    mutate("receipt_path_flipped", "one bit of the receipt's audit path flipped", batched, 7,
           lambda b: b["receipt"]["audit_path"].__setitem__(
               0, f"{int(b['receipt']['audit_path'][0], 16) ^ 1:064x}"))
    mutate("receipt_other_index", "the receipt claims index 2 with member 0's path", batched, 7,
           set_("receipt.index", 2))
    mutate("receipt_other_batch_id", "the receipt names another batch id", batched, 7,
           set_("receipt.batch_id", "2026-autumn"))
    mutate("batch_without_receipt", "an anchored credential's bundle without its receipt",
           batched, 7, set_("receipt", None))
    mutate("credential_file_differs", "a valid bundle checked with another credential file",
           direct, 7, lambda b: None,
           credential_json=cases["direct_revoked"]["credential_json"])
    mutate("issuer_status_swapped", "the credential's status entry given as the issuer's",
           direct, 8, lambda b: b["status"].__setitem__("issuer", b["status"]["credential"]))
    mutate("batch_status_swapped", "the issuer's status entry given as the batch's",
           batched, 9, lambda b: b["status"].__setitem__("batch", b["status"]["issuer"]))
    mutate("batch_status_missing", "an anchored credential's bundle without batch status",
           batched, 9, set_("status.batch", None))
    mutate("revocation_hidden", "a revoked credential's record replaced by an absence claim",
           cases["batch_revoked"]["bundle"], 10, set_("status.credential.value", None))
    mutate("direct_record_hidden", "a directly issued credential claimed absent", direct, 10,
           set_("status.credential.value", None))
    return out


def generate() -> dict[str, object]:
    built = _build()
    return {
        "bundle_valid.json": {
            "description": "Bundles from a hand-built ledger (4 validators, threshold 3): "
                           "register at index 0, two credential.issue and one batch.anchor of "
                           "5 in block 2, revocations of batch member 1 and of the second "
                           "direct credential in block 3.  'expected' is the verdict; "
                           "'credential_json' the credential file whose RFC 8785 digest the "
                           "bundle names.",
            "trust": built["trust"],
            "other_network_trust": {**built["trust"], "origin": OTHER_ORIGIN},
            "checkpoint_note": built["checkpoint_note"],
            "cases": built["cases"],
        },
        "bundle_invalid.json": {
            "description": "One mutation of a valid bundle of bundle_valid.json per case; "
                           "'step' is the verification step that must reject it (and "
                           "'credential_json', when set, is passed as the credential file).",
            "cases": _mutations(built),
        },
    }
