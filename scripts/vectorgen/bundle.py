"""Proof-bundle and receipt vectors, from a small ledger built here by hand.

The ledger of this generator is independent of ``node/`` and of the code
under test where it matters: the RFC 9162 log root and audit paths come from
the recursive definition (RFC 9162 §2.1.1, §2.1.3.1) written out below, the
status map's root and proofs from the sparse-Merkle definition
(docs/protocol.md, "Status map") in :mod:`vectorgen.smt`, the ledger rules
(docs/protocol.md §9) are restated in :class:`_Chain`, and the bundle and
receipt documents are assembled field by field as docs/protocol.md ("Proof
bundles") describes them (tlog-proof text by string concatenation).  Client
code is used only for what other vector files already pin: event and record
encodings, signatures and cosignature lines, RFC 8785 digests.  The embedded
``eddsa-jcs-2022`` proofs some credential files carry are made by
:mod:`vectorgen.eddsa_jcs` from the specification (EDDSA §3.3), not by
``client.vc``.

The expected verdicts are what the construction implies (the revocation was
placed at index I in block H, so the verdict says "revoked at index I" with
block H's time), never what ``client.verify`` printed: :func:`_expected`
restates the verdict rules of docs/protocol.md §13.4 over the records this
generator wrote, and each case also names its status by hand, which must agree.

A few events are accepted by a *faulty* ledger (:class:`Faulty`: a quorum of
validators that skipped a rule, beyond the fault model).  Their bundles are
invalid-case vectors: they show that the offline verifier does not rely on
the ledger rules alone (the event's signer, the issuer's retirement, the
block holding the event).

Files:
* ``bundle_valid.json``: the trust file, the credentials, their receipts and
  bundles, how to verify each (``verify``: the clock and options) and the
  expected verdict (valid, revoked, expired, not_yet_valid or stale);
* ``bundle_invalid.json``: per case one bundle (a mutation of a valid one, or
  a bundle of an event that should never have verified) with the step that
  must reject it.  Every step 1..12 has at least one case.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import base58

from client import note
from client.block import BlockHeader, validator_set_hash
from client.credentials import digest as credential_digest
from client.encoding import pack
from client.events import (
    BatchAnchor,
    BatchMembership,
    BatchRevoke,
    CredentialIssue,
    CredentialRevoke,
    IssuerCompromise,
    IssuerRegister,
    IssuerRotate,
    IssuerUpdate,
    Payload,
    RevocationReason,
    sign_event,
)
from client.hashes import Hash
from client.keys import KeyPair, public_key_from_did
from client.status import (
    MAX_COMPROMISE_STATEMENTS,
    BatchRecord,
    Compromise,
    CredentialRecord,
    Identity,
    IssuerRecord,
    KeyPeriod,
    Position,
    Revocation,
    StatusRecord,
)
from tests.protocol_fixtures import ISSUER_IDS
from vectorgen.eddsa_jcs import make_proof
from vectorgen.smt import encoded_proof, subtree_hash

ORIGIN = "vcledger.example/bundles"
OTHER_ORIGIN = "vcledger.example/another-network"
DAY = 86_400
FIRST_BLOCK_TIME = 1_780_000_000  # 2026-05-28T20:26:40Z; block h is (h - 1) days later
VALIDATOR_COUNT = 4
THRESHOLD = 3
MAX_AGE_SECONDS = 7 * DAY
COSIGNATURE_DELAYS = (60, 65, 70, 3660)
"""Seconds after the last block at which validator i cosigned: the fourth an hour late.
The checkpoint's time is the THRESHOLD-th newest counted cosignature (the third, +65 s),
not the newest (+3660 s)."""
MAX_FUTURE_DRIFT = 60
BATCH_ID = "2026-spring"
REVOKED_BATCH_ID = "2026-autumn"
MAX_ISSUER_KEYS = 32
MAX_ISSUER_IDENTITIES = 6

UNI_NAME = "Example University"
UNI_HTTPS = "https://uni.example/issuers/1"
UNI_WEB = "did:web:uni.example"
UNI_LATER_ID = "https://uni.example/issuers/2"
"""Added by governance's issuer.update in block 3: not an identifier of events before it."""
EVIL_NAME = "Evil Diplomas Ltd"
EVIL_IDS = ("https://evil.example",)
COLLEGE_NAME = "Old College"
COLLEGE_IDS = ("https://college.example",)
COMPROMISE_REASON = "signing key stolen; the thief rotated it to a key of its own"


def _key(label: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"vcledger bundle vector key {label}".encode())
                             .digest())


VALIDATORS = [(f"{ORIGIN}/validator-{i}", _key(f"validator {i}")) for i in range(VALIDATOR_COUNT)]
GOVERNANCE = _key("governance")
ISSUER = _key("issuer")
OTHER_ISSUER = _key("other issuer")
"""EVIL: a registered issuer that anchors files naming another institution."""
COLLEGE = _key("college")
THIEF = _key("thief")
"""The key COLLEGE's stolen key was rotated to."""
assert ISSUER_IDS == (UNI_WEB, UNI_HTTPS)


def _block_time_ms(height: int) -> int:
    return (FIRST_BLOCK_TIME + (height - 1) * DAY) * 1000 + 500


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


def _root_from_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2, for the ledger's receipt check; None when the path has the
    wrong length for (index, size)."""
    if index >= size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = _sha256(b"\x01" + sibling + node)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = _sha256(b"\x01" + node + sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


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


def _posix(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def _date_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the ledger ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faulty:
    """An event a faulty quorum accepted: the rules' preconditions were not checked,
    and with ``recorded_height`` its status record names another block than its own."""

    payload: Payload
    key: KeyPair
    recorded_height: int | None = None


Entry = tuple[Payload, KeyPair] | Faulty


def _refuse(text: str) -> AssertionError:
    return AssertionError(f"the ledger rules would refuse this event: {text}")


@dataclass
class _Chain:
    leaves: list[bytes] = field(default_factory=list)
    records: dict[bytes, StatusRecord] = field(default_factory=dict)
    header_index: dict[int, int] = field(default_factory=dict)
    """Block height -> the log index of its header leaf."""
    height: int = 0
    previous: bytes = _sha256(b"vcledger bundle vectors genesis")

    @property
    def status(self) -> dict[bytes, bytes]:
        return {key: record.encode() for key, record in self.records.items()}

    def block(self, entries: list[Entry]) -> list[int]:
        """Append one block: each event, then the header with the new status root.
        Returns the log indices of the events."""
        self.height += 1
        time_ms = _block_time_ms(self.height)
        first = len(self.leaves)
        for offset, entry in enumerate(entries):
            faulty = entry if isinstance(entry, Faulty) else None
            payload, key = (entry.payload, entry.key) if faulty else entry  # type: ignore[misc]
            # Created shortly before the block, as a client would: within the clock rule.
            event = sign_event(payload, origin=ORIGIN, key=key,
                               created=time_ms // 1000 - 60 + offset)
            position = Position(first + offset, self.height)
            if faulty is not None and faulty.recorded_height is not None:
                position = Position(position.index, faulty.recorded_height)
            self._apply(payload, key.public_key, position, check=faulty is None)
            self.leaves.append(event.encoded)
        header = BlockHeader(
            height=self.height, previous=Hash(self.previous), time_ms=time_ms,
            proposer=VALIDATORS[self.height % VALIDATOR_COUNT][1].public_key, first_index=first,
            event_count=len(entries), status_root=Hash(subtree_hash(self.status, 0)),
            validator_set_hash=validator_set_hash([(n, k.public_key) for n, k in VALIDATORS]),
        )
        self.header_index[self.height] = len(self.leaves)
        self.leaves.append(header.encoded)
        self.previous = _leaf_hash(header.encoded)
        return list(range(first, first + len(entries)))

    # The ledger rules of docs/protocol.md §9 (node/rules.py), restated: the
    # preconditions (unless ``check`` is off) and the exact records they write.

    def _issuer(self, issuer: str) -> IssuerRecord:
        record = self.records.get(_issuer_key(issuer))
        if not isinstance(record, IssuerRecord):
            raise _refuse(f"unknown issuer {issuer}")
        return record

    @staticmethod
    def _current_key(record: IssuerRecord) -> bytes:
        return record.keys[-1].public_key

    @staticmethod
    def _last_trusted_key(record: IssuerRecord) -> bytes:
        if record.compromise is None:
            return record.keys[-1].public_key
        trusted = [p for p in record.keys if p.valid_from <= record.compromise.since_index]
        return (trusted or list(record.keys))[-1].public_key

    def _apply(self, payload: Payload, signer: bytes, at: Position, *, check: bool) -> None:
        def require(condition: bool, text: str) -> None:
            if check and not condition:
                raise _refuse(text)

        governance = signer == GOVERNANCE.public_key

        def may_issue(record: IssuerRecord) -> None:
            require(record.retired is None, "issuer retired")
            require(signer == self._current_key(record), "wrong_key")

        def revoker(record: IssuerRecord) -> bool:
            require(governance or signer in (self._current_key(record),
                                             self._last_trusted_key(record)), "wrong_key")
            return governance

        key: bytes
        record: StatusRecord
        if isinstance(payload, IssuerRegister):
            key = _issuer_key(payload.issuer)
            require(governance, "not_governance")
            require(key not in self.records, "issuer_exists")
            require(payload.public_key == public_key_from_did(payload.issuer), "key_mismatch")
            record = IssuerRecord(payload.issuer, (Identity(at.index, payload.name, payload.ids),),
                                  (KeyPeriod(payload.public_key, at.index + 1, None),), at, None)
        elif isinstance(payload, IssuerUpdate):
            key = _issuer_key(payload.issuer)
            issuer = self._issuer(payload.issuer)
            require(governance, "not_governance")
            require(len(issuer.identities) < MAX_ISSUER_IDENTITIES, "too_many_updates")
            record = dataclasses.replace(issuer, identities=(
                *issuer.identities, Identity(at.index, payload.name, payload.ids)))
        elif isinstance(payload, IssuerCompromise):
            key = _issuer_key(payload.issuer)
            issuer = self._issuer(payload.issuer)
            require(governance, "not_governance")
            require(issuer.registered.index < payload.since_index <= at.index,
                    "bad_compromise_index")
            require(issuer.compromise is None
                    or payload.since_index < issuer.compromise.since_index, "already_compromised")
            require(len(issuer.compromises) < MAX_COMPROMISE_STATEMENTS,
                    "too_many_compromise_statements")
            record = dataclasses.replace(
                issuer, compromises=(*issuer.compromises,
                                     Compromise(at, payload.since_index, payload.reason)),
                retired=issuer.retired if issuer.retired is not None else at)
        elif isinstance(payload, IssuerRotate):
            key = _issuer_key(payload.issuer)
            issuer = self._issuer(payload.issuer)
            may_issue(issuer)
            require(all(p.public_key != payload.new_public_key for p in issuer.keys),
                    "key_reused")
            require(len(issuer.keys) < MAX_ISSUER_KEYS, "too_many_rotations")
            ended = dataclasses.replace(issuer.keys[-1], valid_until=at.index + 1)
            record = dataclasses.replace(issuer, keys=(
                *issuer.keys[:-1], ended, KeyPeriod(payload.new_public_key, at.index + 1, None)))
        elif isinstance(payload, CredentialIssue):
            key = _credential_key(payload.issuer, payload.digest)
            may_issue(self._issuer(payload.issuer))
            require(key not in self.records, "already_issued")
            record = CredentialRecord(at, None, None)
        elif isinstance(payload, BatchAnchor):
            key = _batch_key(payload.issuer, payload.batch_id)
            may_issue(self._issuer(payload.issuer))
            require(key not in self.records, "batch_exists")
            record = BatchRecord(payload.root, payload.size, at, None)
        elif isinstance(payload, CredentialRevoke):
            key = _credential_key(payload.issuer, payload.digest)
            revocation = Revocation(at, payload.reason, revoker(self._issuer(payload.issuer)))
            existing = self.records.get(key)
            assert existing is None or isinstance(existing, CredentialRecord)
            require(existing is None or existing.revoked is None, "already_revoked")
            if payload.batch is None:
                require(existing is not None and existing.issued is not None,
                        "unknown_credential")
                assert existing is not None
                record = dataclasses.replace(existing, revoked=revocation)
            else:
                membership = payload.batch
                batch = self.records.get(_batch_key(payload.issuer, membership.batch_id))
                assert isinstance(batch, BatchRecord), "unknown_batch"
                require(batch.revoked is None, "already_revoked (batch)")
                require(_root_from_path(_leaf_hash(payload.digest), membership.index, batch.size,
                                        list(membership.audit_path)) == batch.root,
                        "not_in_batch")
                record = CredentialRecord(None if existing is None else existing.issued,
                                          (membership.batch_id, membership.index), revocation)
        elif isinstance(payload, BatchRevoke):
            key = _batch_key(payload.issuer, payload.batch_id)
            revocation = Revocation(at, payload.reason, revoker(self._issuer(payload.issuer)))
            batch = self.records.get(key)
            assert isinstance(batch, BatchRecord), "unknown_batch"
            require(batch.revoked is None, "already_revoked")
            record = dataclasses.replace(batch, revoked=revocation)
        else:  # pragma: no cover - the generator uses only the kinds above
            raise AssertionError(type(payload).__name__)
        self.records[key] = record

    # -- proofs ----------------------------------------------------------------------------

    def checkpoint_note(self, signers: int = VALIDATOR_COUNT) -> str:
        hashes = [_leaf_hash(leaf) for leaf in self.leaves]
        body = f"{ORIGIN}\n{len(hashes)}\n{_b64(_mth(hashes))}\n"
        lines = [note.cosign(body, name, key.seed, self.cosigned_at(i))
                 for i, (name, key) in enumerate(VALIDATORS[:signers])]
        return body + "\n" + "".join(lines)

    def cosigned_at(self, validator: int) -> int:
        return _block_time_ms(self.height) // 1000 + COSIGNATURE_DELAYS[validator]

    def audit_path(self, index: int) -> list[bytes]:
        return _path(index, [_leaf_hash(leaf) for leaf in self.leaves])

    def tlog_proof(self, index: int, checkpoint_note: str) -> str:
        lines = [f"index {index}", *(_b64(h) for h in self.audit_path(index))]
        return "c2sp.org/tlog-proof@v1\n" + "\n".join(lines) + "\n\n" + checkpoint_note

    def included_leaf(self, index: int) -> dict[str, Any]:
        """A ``block_headers`` entry for the leaf at ``index`` (for mutations: any leaf)."""
        return {"header": _b64(self.leaves[index]), "index": index,
                "audit_path": [h.hex() for h in self.audit_path(index)]}

    def included_header(self, height: int) -> dict[str, Any]:
        return self.included_leaf(self.header_index[height])

    def status_entry(self, key: bytes) -> dict[str, Any]:
        status = self.status
        value = status.get(key)
        return {"value": None if value is None else _b64(value),
                "proof": encoded_proof(status, key).hex()}

    # -- what the records say (the construction's view, for headers and verdicts) ----------

    def dated(self, issuer: str, digest: bytes, batch_id: str | None,
              event_index: int) -> tuple[int, list[dict[str, Any]]]:
        """The issuing block's height and the revocations that apply, earliest first.

        Reads the records this chain wrote: the credential's or batch's position
        gives the issuing block; revocations are the credential's, the batch's and
        the issuer's compromise when its since_index is at or before the event.
        """
        credential = self.records.get(_credential_key(issuer, digest))
        batch = None if batch_id is None else self.records.get(_batch_key(issuer, batch_id))
        record = self.records[_issuer_key(issuer)]
        assert isinstance(record, IssuerRecord)
        if isinstance(batch, BatchRecord):
            issued_height = batch.anchored.height
        else:
            assert isinstance(credential, CredentialRecord) and credential.issued is not None
            issued_height = credential.issued.height
        found = []
        for scope, holder in (("credential", credential), ("batch", batch)):
            revoked = getattr(holder, "revoked", None)
            if revoked is not None:
                found.append({"scope": scope, "index": revoked.position.index,
                              "height": revoked.position.height,
                              "reason": revoked.reason.label, "reason_code": int(revoked.reason),
                              "by_governance": revoked.by_governance})
        # The first statement whose start is at or before the event voided it.
        voiding = [c for c in record.compromises if c.since_index <= event_index]
        if voiding:
            compromise = voiding[0]
            found.append({"scope": "issuer", "index": compromise.position.index,
                          "height": compromise.position.height,
                          "reason": RevocationReason.KEY_COMPROMISE.label,
                          "reason_code": int(RevocationReason.KEY_COMPROMISE),
                          "by_governance": True})
        return issued_height, sorted(found, key=lambda item: item["index"])

    def issuer_info(self, issuer: str, event_index: int) -> dict[str, Any]:
        record = self.records[_issuer_key(issuer)]
        assert isinstance(record, IssuerRecord)
        # The identity set by the last register/update event before the event.
        identity = [i for i in record.identities if i.set_at < event_index][-1]
        standing = ("compromised" if record.compromises
                    else "active" if record.retired is None else "retired")
        return {"did": issuer, "name": identity.name, "ids": list(identity.ids),
                "standing": standing, "current_name": record.identities[-1].name,
                "retired_at_index": None if record.retired is None else record.retired.index,
                # The newest statement's start: the earliest index the key is untrusted from.
                "compromised_since_index": (record.compromises[-1].since_index
                                            if record.compromises else None)}

    def allowed_issuers(self, issuer: str, event_index: int) -> set[str]:
        return {issuer, *self.issuer_info(issuer, event_index)["ids"]}


# -- credentials -----------------------------------------------------------------------------


def _credential(number: int, issuer: Any, *, degree: str | None = None,
                valid_from: str | None = "2026-05-01T00:00:00Z", valid_until: str | None = None,
                subject: dict[str, Any] | None = None) -> dict[str, Any]:
    """A W3C VC 2.0 style credential (unsigned: only its digest reaches the ledger).
    ``issuer`` None leaves the member out."""
    credential: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://www.w3.org/ns/credentials/examples/v2"],
        "id": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
        "type": ["VerifiableCredential", "ExampleDegreeCredential"],
    }
    if issuer is not None:
        credential["issuer"] = issuer
    if valid_from is not None:
        credential["validFrom"] = valid_from
    if valid_until is not None:
        credential["validUntil"] = valid_until
    credential["credentialSubject"] = {
        "id": f"did:example:student{number}",
        "degree": {"type": "ExampleBachelorDegree",
                   "name": degree or f"Bachelor of Science {number}"},
        **(subject or {}),
    }
    return credential


def _credential_text(credential: dict[str, Any]) -> str:
    return json.dumps(credential, indent=2) + "\n"


def _digest(text: str) -> Hash:
    return Hash(credential_digest(text.encode()))


def _secured(credential: dict[str, Any], *proofs: dict[str, Any]) -> dict[str, Any]:
    """The credential with a ``proof`` member: one proof object, or a proof set (a list)."""
    return {**credential, "proof": proofs[0] if len(proofs) == 1 else list(proofs)}


def _signed_by(credential: dict[str, Any], key: KeyPair, height: int) -> dict[str, Any]:
    """The ``eddsa-jcs-2022`` proof ``key`` makes on the credential (no proof member yet),
    created ten minutes before block ``height``, as an issuer signs before it anchors."""
    return make_proof(credential, key, created=_date_time(_block_time_ms(height) // 1000 - 600))


def _signature_flipped(proof: dict[str, Any]) -> dict[str, Any]:
    """The proof with one bit of its signature flipped, re-encoded canonically: well
    formed, so only the signature check can refuse it."""
    raw = bytearray(base58.b58decode(proof["proofValue"][1:]))
    raw[10] ^= 0x01
    return {**proof, "proofValue": "z" + base58.b58encode(bytes(raw)).decode()}


def _other_suite(credential: dict[str, Any], key: KeyPair, height: int) -> dict[str, Any]:
    """A ``DataIntegrityProof`` of cryptosuite ``eddsa-rdfc-2022`` (RDF canonicalisation,
    which vcledger does not implement).  Its proofValue is an Ed25519 signature of the
    JCS hash data, not of RDF: nothing may check it, so nothing may pass it either."""
    return {**_signed_by(credential, key, height), "cryptosuite": "eddsa-rdfc-2022"}


def _embedded_proof(document: dict[str, Any]) -> str:
    """The verdict's ``embedded_proof`` for a file whose proofs all verify by the issuer's
    key (docs/protocol.md §13.4 step 11): ``verified`` if one is ``eddsa-jcs-2022``."""
    proof = document.get("proof")
    proofs = [] if proof is None else proof if isinstance(proof, list) else [proof]
    if any(p.get("type") == "DataIntegrityProof" and p.get("cryptosuite") == "eddsa-jcs-2022"
           for p in proofs):
        return "verified"
    return "not_checked" if proofs else "none"


UNI_OBJECT = {"id": UNI_HTTPS, "name": UNI_NAME}
LARGE_ID = 12345678901234567000
"""I-JSON: the canonical text of its double, so accepted; ...890 is not (it collapses)."""
LARGE_ID_COLLAPSING = "12345678901234567890"


# -- building ----------------------------------------------------------------------------------


@dataclass
class _Issued:
    """One credential on the ledger, and what a bundle of it needs."""

    text: str
    issuer: str
    index: int = -1
    batch: int | None = None
    """Its member index in a batch; None for a credential.issue."""
    batch_id: str | None = None
    embedded_proof: str = "none"
    """What the verdict must say of the file's embedded proofs, stated by hand."""

    @property
    def digest(self) -> Hash:
        return _digest(self.text)


def _build() -> dict[str, Any]:
    chain = _Chain()
    uni, evil, college = ISSUER.did, OTHER_ISSUER.did, COLLEGE.did

    def issued(credential: dict[str, Any], issuer: str = uni, *,
               embedded_proof: str = "none") -> _Issued:
        return _Issued(_credential_text(credential), issuer, embedded_proof=embedded_proof)

    direct = issued(_credential(1, UNI_OBJECT))
    direct_revoked = issued(_credential(2, {"id": uni, "name": UNI_NAME}))
    governance_revoked = issued(_credential(3, UNI_WEB))
    expired = issued(_credential(4, uni, valid_until="2026-05-31T00:00:00Z"))
    not_yet_valid = issued(_credential(5, uni, valid_from="2027-01-01T00:00:00Z"))
    large_number = issued(_credential(6, UNI_HTTPS, subject={"nationalId": LARGE_ID}))
    later_id = issued(_credential(7, UNI_LATER_ID))
    bad_date = issued(_credential(8, UNI_HTTPS, valid_until="end of 2030"))
    no_issuer = issued(_credential(9, None))
    misdated = issued(_credential(20, UNI_HTTPS))
    wrong_signer = issued(_credential(21, UNI_HTTPS))
    evil_copy = _Issued(direct_revoked.text, evil)
    evil_doctor = issued(_credential(30, UNI_HTTPS, degree="Doctor of Medicine"), evil)
    college_before = issued(_credential(40, COLLEGE_IDS[0]), college)
    college_forged = issued(_credential(41, COLLEGE_IDS[0], degree="Doctor of Law"), college)
    college_late = issued(_credential(42, COLLEGE_IDS[0], degree="Doctor of Divinity"), college)
    # Files secured with embedded proofs (docs/protocol.md §16): UNI's own signature, or not.
    unsigned = {number: _credential(number, UNI_HTTPS) for number in range(50, 57)}
    signed = issued(_secured(unsigned[50], _signed_by(unsigned[50], ISSUER, 2)),
                    embedded_proof="verified")
    other_suite = issued(_secured(unsigned[51], _other_suite(unsigned[51], ISSUER, 2)),
                         embedded_proof="not_checked")
    mixed_set = issued(_secured(unsigned[52], _signed_by(unsigned[52], ISSUER, 2),
                                _other_suite(unsigned[52], ISSUER, 2)),
                       embedded_proof="verified")
    proof_altered = issued(_secured(
        unsigned[53], _signature_flipped(_signed_by(unsigned[53], ISSUER, 2))))
    proof_by_evil = issued(_secured(unsigned[54], _signed_by(unsigned[54], OTHER_ISSUER, 2)))
    set_one_bad = issued(_secured(unsigned[55], _signed_by(unsigned[55], ISSUER, 2),
                                  _signature_flipped(_signed_by(unsigned[55], ISSUER, 2))))
    set_with_evil = issued(_secured(unsigned[56], _signed_by(unsigned[56], ISSUER, 2),
                                    _signed_by(unsigned[56], OTHER_ISSUER, 2)))
    signed_issues = [signed, other_suite, mixed_set, proof_altered, proof_by_evil, set_one_bad,
                     set_with_evil]
    # The thief, after rotating COLLEGE's key, signs the file with the old (stolen) key.
    rotated_out_unsigned = _credential(43, COLLEGE_IDS[0], degree="Doctor of Theology")
    rotated_out = issued(_secured(rotated_out_unsigned,
                                  _signed_by(rotated_out_unsigned, COLLEGE, 4)), college)

    members = [issued(_credential(10 + i, UNI_HTTPS)) for i in range(5)]
    autumn = [issued(_credential(15 + i, UNI_HTTPS)) for i in range(3)]
    batch_leaves = [_leaf_hash(m.digest) for m in members]
    batch_root = _mth(batch_leaves)
    batch_paths = [_path(i, batch_leaves) for i in range(len(members))]
    autumn_root = _mth([_leaf_hash(m.digest) for m in autumn])
    for i, member in enumerate(members):
        member.batch, member.batch_id = i, BATCH_ID
    for i, member in enumerate(autumn):
        member.batch, member.batch_id = i, REVOKED_BATCH_ID

    # Block 1: governance registers three issuers.
    chain.block([
        (IssuerRegister(uni, UNI_NAME, ISSUER.public_key, ISSUER_IDS), GOVERNANCE),
        (IssuerRegister(evil, EVIL_NAME, OTHER_ISSUER.public_key, EVIL_IDS), GOVERNANCE),
        (IssuerRegister(college, COLLEGE_NAME, COLLEGE.public_key, COLLEGE_IDS), GOVERNANCE),
    ])
    # Block 2: issuance.  The ledger never sees a credential, only its digest: EVIL may
    # put UNI's file, or a file naming UNI, on the ledger under its own DID.
    direct_issues = [direct, direct_revoked, governance_revoked, expired, not_yet_valid,
                     large_number, later_id, bad_date, no_issuer]
    block2: list[Entry] = [(CredentialIssue(c.issuer, c.digest), ISSUER) for c in direct_issues]
    block2 += [
        (BatchAnchor(uni, BATCH_ID, Hash(batch_root), len(members)), ISSUER),
        (BatchAnchor(uni, REVOKED_BATCH_ID, Hash(autumn_root), len(autumn)), ISSUER),
        (CredentialIssue(evil, evil_copy.digest), OTHER_ISSUER),
        (CredentialIssue(evil, evil_doctor.digest), OTHER_ISSUER),
        (CredentialIssue(college, college_before.digest), COLLEGE),
        Faulty(CredentialIssue(uni, misdated.digest), ISSUER, recorded_height=4),
        Faulty(CredentialIssue(uni, wrong_signer.digest), OTHER_ISSUER),
    ]
    block2 += [(CredentialIssue(uni, c.digest), ISSUER) for c in signed_issues]
    indices = chain.block(block2)
    for credential, index in zip([*direct_issues], indices, strict=False):
        credential.index = index
    anchor_index, autumn_index = indices[len(direct_issues)], indices[len(direct_issues) + 1]
    for credential, index in zip([evil_copy, evil_doctor, college_before, misdated, wrong_signer,
                                  *signed_issues],
                                 indices[len(direct_issues) + 2:], strict=True):
        credential.index = index
    for member in members:
        member.index = anchor_index
    for member in autumn:
        member.index = autumn_index
    # Block 3: revocations by the issuer and by governance; governance gives UNI one more
    # identifier (from here on).
    chain.block([
        (CredentialRevoke(uni, members[1].digest, RevocationReason.FRAUD,
                          BatchMembership(BATCH_ID, 1, tuple(map(Hash, batch_paths[1])))),
         ISSUER),
        (CredentialRevoke(uni, direct_revoked.digest, RevocationReason.SUPERSEDED), ISSUER),
        (CredentialRevoke(uni, governance_revoked.digest, RevocationReason.FRAUD), GOVERNANCE),
        (BatchRevoke(uni, REVOKED_BATCH_ID, RevocationReason.ISSUED_IN_ERROR), GOVERNANCE),
        (IssuerUpdate(uni, UNI_NAME, tuple(sorted((*ISSUER_IDS, UNI_LATER_ID)))), GOVERNANCE),
    ])
    # Block 4: COLLEGE's key is stolen; the thief rotates it to a key of its own and issues,
    # once a file that its old key signed.
    rotate_index, college_forged.index, rotated_out.index = chain.block([
        (IssuerRotate(college, THIEF.public_key), COLLEGE),
        (CredentialIssue(college, college_forged.digest), THIEF),
        (CredentialIssue(college, rotated_out.digest), THIEF),
    ])
    # Block 5: governance declares the key compromised since the rotation.
    chain.block([(IssuerCompromise(college, rotate_index, COMPROMISE_REASON), GOVERNANCE)])
    # Block 6: a faulty quorum lets the thief issue after the issuer was retired.
    (college_late.index,) = chain.block([
        Faulty(CredentialIssue(college, college_late.digest), THIEF)])

    checkpoint_note = chain.checkpoint_note()
    tree_size = len(chain.leaves)
    header_proof = chain.tlog_proof(tree_size - 1, checkpoint_note)
    anchors = {BATCH_ID: (members, anchor_index), REVOKED_BATCH_ID: (autumn, autumn_index)}

    def receipt(credential: _Issued) -> dict[str, Any] | None:
        if credential.batch is None:
            return None
        assert credential.batch_id is not None
        group, index = anchors[credential.batch_id]
        leaves = [_leaf_hash(m.digest) for m in group]
        return {
            "format": "vcledger-receipt/v1",
            "origin": ORIGIN,
            "issuer": credential.issuer,
            "batch_id": credential.batch_id,
            "batch_root": _mth(leaves).hex(),
            "batch_size": len(group),
            "index": credential.batch,
            "credential_digest": credential.digest.hex(),
            "audit_path": [h.hex() for h in _path(credential.batch, leaves)],
            "anchor_event_hash": _leaf_hash(chain.leaves[index]).hex(),
        }

    def heights(credential: _Issued) -> list[int]:
        issued_height, revocations = chain.dated(credential.issuer, credential.digest,
                                                 credential.batch_id, credential.index)
        return sorted({issued_height, *(r["height"] for r in revocations[:1])})

    def bundle(credential: _Issued) -> dict[str, Any]:
        receipt_doc = receipt(credential)
        return {
            "format": "vcledger-bundle/v2",
            "origin": ORIGIN,
            "issuer": credential.issuer,
            "credential_digest": credential.digest.hex(),
            "event": _b64(chain.leaves[credential.index]),
            "event_proof": chain.tlog_proof(credential.index, checkpoint_note),
            "header": _b64(chain.leaves[tree_size - 1]),
            "header_proof": header_proof,
            "receipt": receipt_doc,
            "status": {
                "issuer": chain.status_entry(_issuer_key(credential.issuer)),
                "credential": chain.status_entry(
                    _credential_key(credential.issuer, credential.digest)),
                "batch": (None if credential.batch_id is None else chain.status_entry(
                    _batch_key(credential.issuer, credential.batch_id))),
            },
            "block_headers": [chain.included_header(h) for h in heights(credential)],
        }

    cosigned = [chain.cosigned_at(i) for i in range(VALIDATOR_COUNT)]
    checkpoint_time = sorted(cosigned, reverse=True)[THRESHOLD - 1]
    hour_later = checkpoint_time + 3600

    def case(name: str, description: str, credential: _Issued, status: str, *,
             now: int = hour_later, at: int | None = None, digest_only: bool = False,
             expected_issuer: str | None = None) -> dict[str, Any]:
        verify: dict[str, Any] = {"now": now, "at": at, "digest_only": digest_only,
                                  "expected_issuer": expected_issuer}
        expected = _expected(chain, credential, verify, cosigned, tree_size)
        assert expected["status"] == status, (name, expected["status"])
        return {"name": name, "description": description,
                "credential_json": credential.text, "receipt": receipt(credential),
                "bundle": bundle(credential), "verify": verify, "expected": expected}

    cases = [
        case("direct_valid", "credential.issue, never revoked; the file names its issuer by "
             f"an object whose id is the registered identifier {UNI_HTTPS}",
             direct, "valid"),
        case("direct_revoked", "credential.issue, then credential.revoke (superseded) by the "
             "issuer in block 3; the file names its issuer by the did:key",
             direct_revoked, "revoked"),
        case("direct_revoked_by_governance", "credential.revoke (fraud) signed by governance; "
             "the file names its issuer by its did:web", governance_revoked, "revoked"),
        case("batch_valid", "member 0 of an anchored batch of 5; a sibling was revoked",
             members[0], "valid"),
        case("batch_revoked", "member 1 of the batch, revoked alone (fraud) with its receipt",
             members[1], "revoked"),
        case("batch_last_member", "member 4, the odd last leaf of the batch tree (a shorter "
             "path)", members[4], "valid"),
        case("batch_revoked_by_governance", "member 2 of a batch of 3 that governance revoked "
             "as a whole (batch.revoke, issued_in_error)", autumn[2], "revoked"),
        case("compromised_issuer_before", "issued by COLLEGE before the index governance "
             "declared its key compromised from: still valid, the issuer is shown compromised",
             college_before, "valid"),
        case("compromised_issuer_voided", "issued with COLLEGE's stolen key, after the thief "
             "rotated it: voided by governance's issuer.compromise (scope issuer, "
             "key_compromise, by governance)", college_forged, "revoked"),
        case("direct_large_number", f"credentialSubject.nationalId {LARGE_ID}: the canonical "
             "text of its IEEE double, so I-JSON accepts it", large_number, "valid"),
        case("direct_expired", "validUntil 2026-05-31T00:00:00Z, before the verifier's clock",
             expired, "expired"),
        case("direct_expired_checked_at", "the expired credential checked at the moment of its "
             "issuing block (verify --at)", expired, "valid",
             at=_block_time_ms(2) // 1000),
        case("direct_not_yet_valid", "validFrom 2027-01-01T00:00:00Z, after the verifier's "
             "clock", not_yet_valid, "not_yet_valid"),
        case("direct_stale", "the valid credential's bundle, checked 8 days after its "
             "checkpoint (the trust file allows 7)", direct, "stale",
             now=checkpoint_time + 8 * DAY),
        case("direct_revoked_stale", "a revoked credential's old bundle stays revoked: a "
             "revocation outranks staleness", direct_revoked, "revoked",
             now=checkpoint_time + 8 * DAY),
        case("direct_expired_stale", "expired outranks stale", expired, "expired",
             now=checkpoint_time + 8 * DAY),
        case("direct_future_cosignature", "checked 40 s after the third cosignature: the fourth "
             "(dated an hour later) is over 60 s in the future and does not count, so the "
             "checkpoint's time is the third newest of the other three",
             direct, "valid", now=cosigned[2] + 40),
        case("direct_digest_only", "the bundle alone (digest_only): valid, and the credential "
             "file is not checked", direct, "valid", digest_only=True),
        case("direct_expected_issuer", f"the verifier pins issuer {UNI_HTTPS}", direct,
             "valid", expected_issuer=UNI_HTTPS),
        case("direct_embedded_proof", "the file carries an eddsa-jcs-2022 proof by UNI's key, "
             "the key UNI held at the event: the credential's own signature is verified "
             "(embedded_proof verified)", signed, "valid"),
        case("direct_embedded_proof_other_suite", "the file's one proof is a "
             "DataIntegrityProof of cryptosuite eddsa-rdfc-2022, which the verifier does not "
             "implement: not checked, named in a note (embedded_proof not_checked)",
             other_suite, "valid"),
        case("direct_embedded_proof_set_mixed", "a proof set: UNI's eddsa-jcs-2022 proof and "
             "an eddsa-rdfc-2022 proof; the first is verified, the second named in a note "
             "(embedded_proof verified)", mixed_set, "valid"),
    ]
    others = {"evil_copy": evil_copy, "evil_doctor": evil_doctor, "later_id": later_id,
              "bad_date": bad_date, "no_issuer": no_issuer, "misdated": misdated,
              "wrong_signer": wrong_signer, "college_late": college_late,
              "large_number": large_number, "proof_altered": proof_altered,
              "proof_by_evil": proof_by_evil, "set_one_bad": set_one_bad,
              "set_with_evil": set_with_evil, "rotated_out": rotated_out}
    trust = {
        "origin": ORIGIN,
        "threshold": THRESHOLD,
        "max_age_seconds": MAX_AGE_SECONDS,
        "validators": [{"name": name, "verifier_key": note.verifier_key(
            name, key.public_key, sig_type=note.SIG_COSIGNATURE_V1)} for name, key in VALIDATORS],
    }
    return {"chain": chain, "cases": cases, "trust": trust, "tree_size": tree_size,
            "checkpoint_note": checkpoint_note, "register_index": 0,
            "rotate_index": rotate_index,
            "bundle": bundle, "others": others, "hour_later": hour_later}


def _expected(chain: _Chain, credential: _Issued, verify: dict[str, Any], cosigned: list[int],
              tree_size: int) -> dict[str, Any]:
    """The verdict docs/protocol.md §13.4 gives, from the records this generator wrote."""
    now = verify["now"]
    counted = sorted((t for t in cosigned if t <= now + MAX_FUTURE_DRIFT), reverse=True)
    checkpoint_time = counted[THRESHOLD - 1]
    age = max(0, now - checkpoint_time)
    issued_height, revocations = chain.dated(credential.issuer, credential.digest,
                                             credential.batch_id, credential.index)
    revocation = None
    if revocations:
        revocation = {**revocations[0], "time_ms": _block_time_ms(revocations[0]["height"])}
    document = None if verify["digest_only"] else json.loads(credential.text)
    embedded_proof = None if document is None else _embedded_proof(document)
    assert embedded_proof in (None, credential.embedded_proof), (credential.text, embedded_proof)
    valid_from = valid_until = checked_at = None
    dated = None
    if document is not None:
        valid_from = None if "validFrom" not in document else _posix(document["validFrom"])
        valid_until = None if "validUntil" not in document else _posix(document["validUntil"])
        checked_at = verify["at"] if verify["at"] is not None else now
        if valid_until is not None and checked_at > valid_until:
            dated = "expired"
        elif valid_from is not None and checked_at < valid_from:
            dated = "not_yet_valid"
    status = ("revoked" if revocation is not None else dated if dated is not None
              else "stale" if age > MAX_AGE_SECONDS else "valid")
    return {
        "status": status,
        "event_index": credential.index,
        "batch_id": credential.batch_id,
        "tree_size": tree_size,
        "checkpoint_time": checkpoint_time,
        "checkpoint_age": age,
        "max_age": MAX_AGE_SECONDS,
        "credential_checked": document is not None,
        "embedded_proof": embedded_proof,
        "issuer": chain.issuer_info(credential.issuer, credential.index),
        "issued_time_ms": _block_time_ms(issued_height),
        "valid_from": valid_from,
        "valid_until": valid_until,
        "validity_checked_at": checked_at,
        "revocation": revocation,
    }


def _mutations(built: dict[str, Any]) -> list[dict[str, Any]]:
    cases = {case["name"]: case for case in built["cases"]}
    chain: _Chain = built["chain"]
    others: dict[str, _Issued] = built["others"]
    make_bundle = built["bundle"]
    direct = cases["direct_valid"]["bundle"]
    revoked = cases["direct_revoked"]["bundle"]
    voided = cases["compromised_issuer_voided"]["bundle"]
    out: list[dict[str, Any]] = []

    def add(name: str, description: str, bundle: dict[str, Any], step: int, *,
            credential_json: str | None, expected_issuer: str | None = None) -> None:
        out.append({"name": name, "description": description, "step": step,
                    "credential_json": credential_json,
                    "verify": {"now": built["hour_later"], "expected_issuer": expected_issuer},
                    "bundle": bundle})

    def mutate(name: str, description: str, base: str, step: int, change: Any, *,
               credential_json: str | None = None, expected_issuer: str | None = None) -> None:
        bundle = copy.deepcopy(cases[base]["bundle"])
        change(bundle)
        add(name, description, bundle, step,
            credential_json=(cases[base]["credential_json"] if credential_json is None
                             else credential_json),
            expected_issuer=expected_issuer)

    def from_ledger(name: str, description: str, which: str, step: int) -> None:
        """A bundle of an event on the ledger (built as for a valid case), with its file."""
        credential = others[which]
        add(name, description, make_bundle(credential), step, credential_json=credential.text)

    def set_(path: str, value: Any) -> Any:
        def apply(bundle: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            target = bundle
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target[part]
            if isinstance(target, list):
                target[int(last)] = value
            else:
                target[last] = value
        return apply

    def flip_b64(text: str, position: int) -> str:
        raw = bytearray(base64.b64decode(text))
        raw[position % len(raw)] ^= 0x01
        return _b64(bytes(raw))

    def flip_hex(text: str) -> str:
        return f"{int(text, 16) ^ 1:0{len(text)}x}"

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

    def headers(*entries: dict[str, Any]) -> Any:
        return set_("block_headers", list(entries))

    register_proof = chain.tlog_proof(built["register_index"], note_text)
    tree_size = built["tree_size"]
    issuing = direct["block_headers"][0]

    # Step 1: format.
    mutate("unknown_member", "an extra top-level member", "direct_valid", 1,
           set_("comment", "hello"))
    mutate("future_format", "format vcledger-bundle/v3", "direct_valid", 1,
           set_("format", "vcledger-bundle/v3"))
    mutate("v1_bundle", "a vcledger-bundle/v1 document (no block_headers)", "direct_valid", 1,
           lambda b: (b.pop("block_headers"), b.update(format="vcledger-bundle/v1")))
    mutate("uppercase_digest", "credential_digest in upper-case hex", "direct_valid", 1,
           set_("credential_digest", direct["credential_digest"].upper()))
    mutate("no_block_headers", "block_headers is an empty list", "direct_valid", 1,
           headers())
    mutate("block_headers_descending", "the revoked credential's two headers in descending "
           "index order", "direct_revoked", 1, headers(*reversed(revoked["block_headers"])))
    mutate("block_headers_repeated", "the issuing block's header listed twice",
           "direct_valid", 1, headers(issuing, issuing))
    mutate("block_headers_three", "three block headers (at most 2)", "direct_revoked", 1,
           headers(chain.included_header(1), *revoked["block_headers"]))
    # Step 2: origin.
    mutate("other_origin", "the bundle names another network", "direct_valid", 2,
           set_("origin", OTHER_ORIGIN))
    # Step 3: checkpoint.
    mutate("too_few_cosignatures", f"the checkpoint carries {THRESHOLD - 1} of the "
           f"{THRESHOLD} cosignatures required", "direct_valid", 3, with_note(fewer))
    mutate("bad_cosignature", "one bit of a trusted cosignature flipped", "direct_valid", 3,
           with_note(tampered_note))
    # Step 4: block header.
    mutate("header_flipped", "one bit of the header leaf flipped", "direct_valid", 4,
           lambda b: b.__setitem__("header", flip_b64(b["header"], 40)))
    mutate("header_other_note", "header_proof embeds a checkpoint note with fewer signatures",
           "direct_valid", 4, with_note(fewer, ("header_proof",)))
    mutate("header_path_flipped", "one bit of the header's audit path flipped",
           "direct_valid", 4, path_hash_flip("header_proof"))
    # Step 5: event inclusion.
    mutate("event_path_flipped", "one bit of the event's audit path flipped", "direct_valid",
           5, path_hash_flip("event_proof"))
    mutate("event_flipped", "one bit of the event's signature flipped", "direct_valid", 5,
           lambda b: b.__setitem__("event", flip_b64(b["event"], -1)))
    # Step 6: event.
    mutate("wrong_kind", "the included leaf is the issuer.register event", "direct_valid", 6,
           lambda b: b.update(event=_b64(chain.leaves[built["register_index"]]),
                              event_proof=register_proof))
    mutate("other_issuer", "the bundle claims another issuer", "direct_valid", 6,
           set_("issuer", OTHER_ISSUER.did))
    # Step 7: digest.
    mutate("direct_other_digest", "credential_digest of another credential", "direct_valid", 7,
           set_("credential_digest", revoked["credential_digest"]))
    mutate("receipt_path_flipped", "one bit of the receipt's audit path flipped",
           "batch_valid", 7, lambda b: b["receipt"]["audit_path"].__setitem__(
               0, flip_hex(b["receipt"]["audit_path"][0])))
    mutate("receipt_other_index", "the receipt claims index 2 with member 0's path",
           "batch_valid", 7, set_("receipt.index", 2))
    mutate("receipt_other_batch_id", "the receipt names another batch id", "batch_valid", 7,
           set_("receipt.batch_id", "2026-winter"))
    mutate("batch_without_receipt", "an anchored credential's bundle without its receipt",
           "batch_valid", 7, set_("receipt", None))
    mutate("credential_file_differs", "a valid bundle checked with another credential file",
           "direct_valid", 7, lambda b: None,
           credential_json=cases["direct_revoked"]["credential_json"])
    large = others["large_number"].text
    assert str(LARGE_ID) in large
    mutate("credential_number_collapses", f"the bundle of the file with nationalId {LARGE_ID}, "
           f"checked with a file saying {LARGE_ID_COLLAPSING}: RFC 8785 would give both one "
           "digest; I-JSON refuses the second", "direct_large_number", 7, lambda b: None,
           credential_json=large.replace(str(LARGE_ID), LARGE_ID_COLLAPSING))
    # Step 8: issuer status.
    mutate("issuer_status_swapped", "the credential's status entry given as the issuer's",
           "direct_valid", 8,
           lambda b: b["status"].__setitem__("issuer", b["status"]["credential"]))
    from_ledger("signer_not_issuer_key", "a credential.issue for UNI signed by EVIL's key, "
                "accepted by a faulty ledger: the signer was never UNI's key",
                "wrong_signer", 8)
    from_ledger("issued_after_retirement", "issued with the thief's key after governance's "
                "issuer.compromise retired COLLEGE, accepted by a faulty ledger",
                "college_late", 8)
    # Step 9: batch status.
    mutate("batch_status_swapped", "the issuer's status entry given as the batch's",
           "batch_valid", 9, lambda b: b["status"].__setitem__("batch", b["status"]["issuer"]))
    mutate("batch_status_missing", "an anchored credential's bundle without batch status",
           "batch_valid", 9, set_("status.batch", None))
    # Step 10: credential status.
    mutate("revocation_hidden", "a revoked credential's record replaced by an absence claim",
           "batch_revoked", 10, set_("status.credential.value", None))
    mutate("direct_record_hidden", "a directly issued credential claimed absent",
           "direct_valid", 10, set_("status.credential.value", None))
    # Step 11: credential.
    from_ledger("second_issuer_copies_revoked_file", "EVIL, a registered issuer, put UNI's "
                "revoked file (issuer: UNI's did:key) on the ledger under its own DID",
                "evil_copy", 11)
    from_ledger("second_issuer_names_other_institution", "EVIL issued a 'Doctor of Medicine' "
                f"whose file names {UNI_HTTPS}, an identifier governance gave UNI",
                "evil_doctor", 11)
    from_ledger("identifier_given_later", f"the file names {UNI_LATER_ID}, which governance "
                "gave UNI only in block 3, after the credential.issue", "later_id", 11)
    from_ledger("credential_names_no_issuer", "the file has no issuer member", "no_issuer", 11)
    from_ledger("credential_bad_date", "validUntil is not a date-time", "bad_date", 11)
    from_ledger("embedded_proof_value_altered", "UNI put on the ledger a file whose "
                "eddsa-jcs-2022 proof by UNI's key has one bit of its signature flipped (the "
                "proofValue still canonical base58btc of 64 bytes)", "proof_altered", 11)
    from_ledger("embedded_proof_by_another_issuer", "UNI put on the ledger a file whose "
                "eddsa-jcs-2022 proof verifies, but by EVIL's key, never a key of UNI",
                "proof_by_evil", 11)
    from_ledger("embedded_proof_rotated_out_key", "the thief, after rotating COLLEGE's key "
                f"(index {built['rotate_index']}), issued a file whose proof verifies by "
                "COLLEGE's old key: a key of COLLEGE until the rotation, not at the event",
                "rotated_out", 11)
    from_ledger("embedded_proof_set_one_bad", "a proof set of two eddsa-jcs-2022 proofs by "
                "UNI's key; the second has one bit of its signature flipped", "set_one_bad",
                11)
    from_ledger("embedded_proof_set_another_signer", "a proof set: UNI's proof verifies, "
                "and so does the second, by EVIL's key: every proof must be the issuer's",
                "set_with_evil", 11)
    mutate("expected_other_issuer", "the verifier pins EVIL's did:key", "direct_valid", 11,
           lambda b: None, expected_issuer=OTHER_ISSUER.did)
    mutate("expected_other_identifier", f"the verifier pins {EVIL_IDS[0]}", "direct_valid", 11,
           lambda b: None, expected_issuer=EVIL_IDS[0])
    # Step 12: block times.
    mutate("revocation_header_missing", "a revoked credential's bundle without the header of "
           "the block that revoked it", "direct_revoked", 12,
           headers(revoked["block_headers"][0]))
    mutate("compromise_header_missing", "the voided credential's bundle without the header "
           "of the block holding issuer.compromise", "compromised_issuer_voided", 12,
           headers(voided["block_headers"][0]))
    mutate("extra_header", "a valid credential's bundle with a second, unneeded header "
           "(block 1's)", "direct_valid", 12, headers(chain.included_header(1), issuing))
    mutate("wrong_block_header", "block 3's header instead of the issuing block 2's",
           "direct_valid", 12, headers(chain.included_header(3)))
    mutate("block_header_flipped", "one bit of the issuing block's header flipped",
           "direct_valid", 12, set_("block_headers.0.header", flip_b64(issuing["header"], 40)))
    mutate("block_header_path_flipped", "one bit of the issuing header's audit path flipped",
           "direct_valid", 12, set_("block_headers.0.audit_path.0",
                                    flip_hex(issuing["audit_path"][0])))
    mutate("block_header_other_index", "the issuing header claims the index after its own",
           "direct_valid", 12, set_("block_headers.0.index", issuing["index"] + 1))
    mutate("block_header_outside_tree", f"a header claiming index {tree_size}, outside the "
           "checkpoint's tree", "direct_valid", 12, set_("block_headers.0.index", tree_size))
    mutate("block_header_is_an_event", "the entry is the event's own leaf with its audit path, "
           "not a header", "direct_valid", 12,
           headers(chain.included_leaf(cases["direct_valid"]["expected"]["event_index"])))
    from_ledger("header_does_not_hold_event", "a faulty ledger recorded the credential.issue "
                "of block 2 as in block 4; block 4's header does not hold the event",
                "misdated", 12)
    return out


def generate() -> dict[str, object]:
    built = _build()
    return {
        "bundle_valid.json": {
            "description": "Bundles from a hand-built ledger (4 validators, threshold 3, "
                           "blocks a day apart from 2026-05-28T20:26:40.500Z).  Block 1: "
                           "governance registers UNI (with identifiers), EVIL and COLLEGE; "
                           "block 2: issuance (direct, two batches, EVIL's files, COLLEGE's "
                           "first credential, two events only a faulty ledger accepts, UNI's "
                           "files with embedded eddsa-jcs-2022 proofs, good and bad); "
                           "block 3: revocations by UNI and by governance, governance's "
                           "issuer.update of UNI; block 4: COLLEGE's stolen key rotated by "
                           "the thief, who issues (once a file signed by the old key); "
                           "block 5: issuer.compromise of COLLEGE since the rotation; "
                           "block 6: a faulty issuance.  Per case: "
                           "'credential_json' is the credential file; 'verify' how to check "
                           "it (now: the verifier's clock, POSIX seconds; at: the moment for "
                           "the credential's validity dates, null for now; digest_only: check "
                           "the bundle without the file; expected_issuer: a pinned issuer); "
                           "'expected' the verdict (field names as client.verify.Verdict: "
                           "issuer as IssuerInfo.as_json(), revocation as RevocationInfo; "
                           "embedded_proof: verified, none, not_checked, or null without "
                           "the file).",
            "trust": built["trust"],
            "other_network_trust": {**built["trust"], "origin": OTHER_ORIGIN},
            "checkpoint_note": built["checkpoint_note"],
            "cases": built["cases"],
        },
        "bundle_invalid.json": {
            "description": "One bundle per case that must be 'invalid' at 'step': a mutation "
                           "of a bundle of bundle_valid.json, or the bundle of an event that "
                           "should not verify (another issuer's file, an event a faulty "
                           "ledger accepted).  Verify with bundle_valid.json's trust file, "
                           "'credential_json' as the credential file (digest_only when "
                           "null) and 'verify' (now, expected_issuer).",
            "cases": _mutations(built),
        },
    }
