"""Ledger events: what issuers and governance sign, and what the log stores.

Every event is one canonical msgpack array (see :mod:`client.encoding`)::

    [1, kind, created, payload, signer, signature]

* ``1`` — the event format version;
* ``kind`` — one of :class:`EventKind` (``"credential.issue"`` …);
* ``created`` — the signer's claimed creation time, POSIX seconds.  It makes
  two otherwise identical intentions (rotate A→B, later B→A, later A→B again)
  distinct events, and gives verifiers the signer's own date;
* ``payload`` — an array whose fields depend on ``kind`` (the payload classes below);
* ``signer`` — the 32-byte Ed25519 public key that signed;
* ``signature`` — 64 bytes, Ed25519 over :func:`signing_bytes`.

The signature covers the network's origin as well as every field, so an event
signed for one network is invalid on every other, and a signature can never be
moved to another kind or payload.  The log leaf is exactly these bytes; the
event hash is their RFC 9162 leaf hash, so it is also the Merkle leaf hash.

Decoding checks structure and canonical form only; the signature is checked by
:meth:`SignedEvent.verify_signature`, and who may sign what is a ledger rule
(the node's ``rules`` module and the offline verifier).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, TypeAlias

from client import encoding
from client.batch import MAX_BATCH_SIZE
from client.encoding import (
    expect_array,
    expect_bytes,
    expect_hash,
    expect_str,
    expect_uint,
)
from client.errors import InvalidEncoding, SignatureError
from client.hashes import HASH_SIZE, Hash
from client.keys import (
    MAX_DID_LENGTH,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    KeyPair,
    public_key_from_did,
    verify_signature,
)
from client.merkle import leaf_hash

EVENT_VERSION = 1
MAX_EVENT_SIZE = 4096
"""Largest encoded event in bytes; a credential.revoke with a 64-hash batch path fits."""

MAX_NAME_LENGTH = 200
MAX_BATCH_PATH = 64
MAX_ISSUER_IDS = 8
"""Identifiers one issuer record may list (a web origin, a did:web, a legacy DID ...)."""
MAX_ISSUER_ID_LENGTH = 200
MAX_COMPROMISE_REASON = 200
"""Bytes of UTF-8 in an issuer.compromise reason (it may be empty)."""
MAX_TIMESTAMP = 2**63 - 1
MAX_PATHWAY_VERSION = 2**32 - 1
"""The largest version a pathway.define may carry (the ledger allows far fewer, §9)."""

SIGNING_DOMAIN = "vcledger/event/v1"

BATCH_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
"""Issuer-chosen batch identifiers: URL- and shell-safe, 1..128 characters."""

ISSUER_ID_PATTERN = re.compile(
    r"(?:https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[\x21-\x7e]*)?"
    r"|did:[a-z0-9]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._%-](?:[/?#][\x21-\x7e]*)?)"
)
"""An identifier a credential may name as its ``issuer``: an https URL or a DID (W3C DID
syntax), printable ASCII without spaces, so that a person can read and compare it."""

MAX_PATHWAY_ID_LENGTH = 200
"""Bytes of a pathway id (an https URL)."""

PATHWAY_ID_PATTERN = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[\x21-\x7e]*)?")
"""A pathway id: an https URL of printable ASCII without spaces (where its owner publishes
the definition document), compared as an exact string."""


class EventKind(StrEnum):
    ISSUER_REGISTER = "issuer.register"
    ISSUER_ROTATE = "issuer.rotate"
    ISSUER_RETIRE = "issuer.retire"
    ISSUER_UPDATE = "issuer.update"
    ISSUER_COMPROMISE = "issuer.compromise"
    CREDENTIAL_ISSUE = "credential.issue"
    BATCH_ANCHOR = "batch.anchor"
    CREDENTIAL_REVOKE = "credential.revoke"
    BATCH_REVOKE = "batch.revoke"
    PATHWAY_DEFINE = "pathway.define"
    PATHWAY_RETIRE = "pathway.retire"


class RevocationReason(IntEnum):
    """Why a credential or batch was revoked; the code is what the ledger stores."""

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    ISSUED_IN_ERROR = 2
    SUPERSEDED = 3
    FRAUD = 4
    WITHDRAWN = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """Accept a reason by name (``superseded``) or by code (``3``)."""
        cleaned = text.strip().lower().replace("-", "_")
        if cleaned.isdigit():
            try:
                return cls(int(cleaned))
            except ValueError:
                pass
        else:
            for reason in cls:
                if reason.label == cleaned:
                    return reason
        choices = ", ".join(f"{r.label} ({r.value})" for r in cls)
        raise InvalidEncoding(f"unknown revocation reason {text!r}; use one of: {choices}")


def _did(value: Any, what: str) -> str:
    did = expect_str(value, what, max_len=MAX_DID_LENGTH)
    public_key_from_did(did)  # the issuer id must be a well-formed Ed25519 did:key
    return did


def _batch_id(value: Any, what: str) -> str:
    batch_id = expect_str(value, what, max_len=128)
    if not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise InvalidEncoding(
            f"{what}: {batch_id!r} is not a batch id (1..128 of A-Z a-z 0-9 . _ : -, "
            "starting with a letter or digit)"
        )
    return batch_id


def _pathway_id(value: Any, what: str) -> str:
    pathway_id = expect_str(value, what, max_len=MAX_PATHWAY_ID_LENGTH)
    if not PATHWAY_ID_PATTERN.fullmatch(pathway_id):
        raise InvalidEncoding(f"{what}: {pathway_id!r} is not an https URL of printable ASCII "
                              "without spaces")
    return pathway_id


def check_pathway_id(pathway_id: str, what: str = "pathway id") -> str:
    """Check a pathway id given by a person; :class:`InvalidEncoding` says what is wrong."""
    return _pathway_id(pathway_id, what)


def _issuer_ids(value: Any, what: str) -> tuple[str, ...]:
    items = expect_array(value, what, max_len=MAX_ISSUER_IDS)
    ids = tuple(expect_str(item, f"{what} entry", max_len=MAX_ISSUER_ID_LENGTH) for item in items)
    for issuer_id in ids:
        if not ISSUER_ID_PATTERN.fullmatch(issuer_id):
            raise InvalidEncoding(
                f"{what}: {issuer_id!r} is neither an https URL nor a DID (did:method:id)")
    # One byte form: strictly ascending, so a set of identifiers has one encoding.
    if any(a >= b for a, b in itertools.pairwise(ids)):
        raise InvalidEncoding(f"{what}: identifiers must be distinct and sorted")
    return ids


def issuer_ids(values: Any) -> tuple[str, ...]:
    """Check issuer identifiers given by a person and put them in their one canonical order.

    Raises :class:`InvalidEncoding` naming the first identifier that is neither an
    https URL nor a DID, or a duplicate.
    """
    ordered = sorted(values)
    if len(set(ordered)) != len(ordered):
        raise InvalidEncoding("issuer identifiers: each identifier may be listed once")
    return _issuer_ids(ordered, "issuer identifiers")


def _reason(value: Any, what: str) -> RevocationReason:
    code = expect_uint(value, what, maximum=255)
    try:
        return RevocationReason(code)
    except ValueError as exc:
        raise InvalidEncoding(f"{what}: unknown revocation reason code {code}") from exc


@dataclass(frozen=True, slots=True)
class IssuerRegister:
    """Admit an issuer.  Signed by a governance key named in the genesis file.

    ``ids`` are the identifiers a credential of this issuer may name as its
    ``issuer`` besides the did:key itself (its web address, its did:web ...):
    governance vouches that they belong to the institution called ``name``.
    """

    kind: ClassVar[EventKind] = EventKind.ISSUER_REGISTER
    issuer: str
    name: str
    public_key: bytes
    ids: tuple[str, ...] = ()

    def fields(self) -> list[Any]:
        return [self.issuer, self.name, self.public_key, list(self.ids)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> IssuerRegister:
        issuer, name, public_key, ids = expect_array(fields, "issuer.register payload", 4)
        return cls(
            _did(issuer, "issuer"),
            expect_str(name, "issuer name", max_len=MAX_NAME_LENGTH),
            expect_bytes(public_key, "issuer public key", size=PUBLIC_KEY_SIZE),
            _issuer_ids(ids, "issuer identifiers"),
        )


@dataclass(frozen=True, slots=True)
class IssuerUpdate:
    """Replace an issuer's display name and identifiers from this event on.

    Signed by a governance key: the identifiers are governance's statement of
    who the issuer is, so an issuer cannot claim another institution's name.
    Events before it keep the identity they were made under.
    """

    kind: ClassVar[EventKind] = EventKind.ISSUER_UPDATE
    issuer: str
    name: str
    ids: tuple[str, ...]

    def fields(self) -> list[Any]:
        return [self.issuer, self.name, list(self.ids)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> IssuerUpdate:
        issuer, name, ids = expect_array(fields, "issuer.update payload", 3)
        return cls(
            _did(issuer, "issuer"),
            expect_str(name, "issuer name", max_len=MAX_NAME_LENGTH),
            _issuer_ids(ids, "issuer identifiers"),
        )


@dataclass(frozen=True, slots=True)
class IssuerCompromise:
    """The issuer's key material is untrustworthy from log index ``since_index`` on.

    Signed by a governance key.  It retires the issuer and voids every
    issuance, anchor and rotation the issuer signed at ``since_index`` or later
    (see :meth:`client.status.IssuerRecord.voided`); its revocations stand.
    """

    kind: ClassVar[EventKind] = EventKind.ISSUER_COMPROMISE
    issuer: str
    since_index: int
    reason: str

    def fields(self) -> list[Any]:
        return [self.issuer, self.since_index, self.reason]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> IssuerCompromise:
        issuer, since_index, reason = expect_array(fields, "issuer.compromise payload", 3)
        return cls(
            _did(issuer, "issuer"),
            expect_uint(since_index, "compromised since index"),
            expect_str(reason, "compromise reason", max_len=MAX_COMPROMISE_REASON, min_len=0),
        )


@dataclass(frozen=True, slots=True)
class IssuerRotate:
    """Replace the issuer's signing key.  Signed by the current key."""

    kind: ClassVar[EventKind] = EventKind.ISSUER_ROTATE
    issuer: str
    new_public_key: bytes

    def fields(self) -> list[Any]:
        return [self.issuer, self.new_public_key]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> IssuerRotate:
        issuer, new_key = expect_array(fields, "issuer.rotate payload", 2)
        return cls(
            _did(issuer, "issuer"),
            expect_bytes(new_key, "new public key", size=PUBLIC_KEY_SIZE),
        )


@dataclass(frozen=True, slots=True)
class IssuerRetire:
    """No more issuance by this issuer; its history stays.  Signed by the current
    issuer key or by a governance key (to stop a compromised issuer)."""

    kind: ClassVar[EventKind] = EventKind.ISSUER_RETIRE
    issuer: str

    def fields(self) -> list[Any]:
        return [self.issuer]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> IssuerRetire:
        (issuer,) = expect_array(fields, "issuer.retire payload", 1)
        return cls(_did(issuer, "issuer"))


@dataclass(frozen=True, slots=True)
class CredentialIssue:
    """One credential digest, signed by its issuer's current key."""

    kind: ClassVar[EventKind] = EventKind.CREDENTIAL_ISSUE
    issuer: str
    digest: Hash

    def fields(self) -> list[Any]:
        return [self.issuer, self.digest]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> CredentialIssue:
        issuer, digest = expect_array(fields, "credential.issue payload", 2)
        return cls(_did(issuer, "issuer"), expect_hash(digest, "credential digest"))


@dataclass(frozen=True, slots=True)
class BatchAnchor:
    """The RFC 9162 root of a batch of credential digests (see :mod:`client.batch`)."""

    kind: ClassVar[EventKind] = EventKind.BATCH_ANCHOR
    issuer: str
    batch_id: str
    root: Hash
    size: int

    def fields(self) -> list[Any]:
        return [self.issuer, self.batch_id, self.root, self.size]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> BatchAnchor:
        issuer, batch_id, root, size = expect_array(fields, "batch.anchor payload", 4)
        return cls(
            _did(issuer, "issuer"),
            _batch_id(batch_id, "batch id"),
            expect_hash(root, "batch root"),
            expect_uint(size, "batch size", minimum=1, maximum=MAX_BATCH_SIZE),
        )


@dataclass(frozen=True, slots=True)
class BatchMembership:
    """Where a revoked credential sits inside an anchored batch: its receipt."""

    batch_id: str
    index: int
    audit_path: tuple[Hash, ...]

    def fields(self) -> list[Any]:
        return [self.batch_id, self.index, list(self.audit_path)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> BatchMembership:
        batch_id, index, path = expect_array(fields, "batch membership", 3)
        hashes = expect_array(path, "batch audit path", max_len=MAX_BATCH_PATH)
        return cls(
            _batch_id(batch_id, "batch id"),
            expect_uint(index, "batch index", maximum=MAX_BATCH_SIZE - 1),
            tuple(expect_hash(h, "batch audit path hash") for h in hashes),
        )


@dataclass(frozen=True, slots=True)
class CredentialRevoke:
    """Revoke one credential.  For a credential anchored in a batch, ``batch``
    carries its receipt so the ledger can check the credential was really anchored."""

    kind: ClassVar[EventKind] = EventKind.CREDENTIAL_REVOKE
    issuer: str
    digest: Hash
    reason: RevocationReason
    batch: BatchMembership | None = None

    def fields(self) -> list[Any]:
        batch = None if self.batch is None else self.batch.fields()
        return [self.issuer, self.digest, int(self.reason), batch]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> CredentialRevoke:
        issuer, digest, reason, batch = expect_array(fields, "credential.revoke payload", 4)
        return cls(
            _did(issuer, "issuer"),
            expect_hash(digest, "credential digest"),
            _reason(reason, "revocation reason"),
            None if batch is None else BatchMembership.from_fields(batch),
        )


@dataclass(frozen=True, slots=True)
class BatchRevoke:
    """Revoke every credential of an anchored batch at once."""

    kind: ClassVar[EventKind] = EventKind.BATCH_REVOKE
    issuer: str
    batch_id: str
    reason: RevocationReason

    def fields(self) -> list[Any]:
        return [self.issuer, self.batch_id, int(self.reason)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> BatchRevoke:
        issuer, batch_id, reason = expect_array(fields, "batch.revoke payload", 3)
        return cls(
            _did(issuer, "issuer"),
            _batch_id(batch_id, "batch id"),
            _reason(reason, "revocation reason"),
        )


@dataclass(frozen=True, slots=True)
class PathwayDefine:
    """Publish version ``version`` of the pathway ``pathway_id`` of ``owner``.

    Only the SHA-256 of the RFC 8785 form of the definition document goes on the
    ledger (:mod:`client.pathway`), as for credentials.  Signed by the owner's
    current key; version 1 starts a pathway, each later version supersedes the one
    before (the ledger keeps them all).
    """

    kind: ClassVar[EventKind] = EventKind.PATHWAY_DEFINE
    owner: str
    pathway_id: str
    version: int
    definition_digest: Hash

    @property
    def issuer(self) -> str:
        """The owner: an issuer whose namespace the event touches."""
        return self.owner

    def fields(self) -> list[Any]:
        return [self.owner, self.pathway_id, self.version, self.definition_digest]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> PathwayDefine:
        owner, pathway_id, version, digest = expect_array(fields, "pathway.define payload", 4)
        return cls(
            _did(owner, "pathway owner"),
            _pathway_id(pathway_id, "pathway id"),
            expect_uint(version, "pathway version", minimum=1, maximum=MAX_PATHWAY_VERSION),
            expect_hash(digest, "pathway definition digest"),
        )


@dataclass(frozen=True, slots=True)
class PathwayRetire:
    """No version of the pathway is current any more.  Signed by the owner's current key,
    its last key before a compromise, or a governance key (it only takes trust away)."""

    kind: ClassVar[EventKind] = EventKind.PATHWAY_RETIRE
    owner: str
    pathway_id: str

    @property
    def issuer(self) -> str:
        return self.owner

    def fields(self) -> list[Any]:
        return [self.owner, self.pathway_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> PathwayRetire:
        owner, pathway_id = expect_array(fields, "pathway.retire payload", 2)
        return cls(_did(owner, "pathway owner"), _pathway_id(pathway_id, "pathway id"))


Payload: TypeAlias = (
    IssuerRegister
    | IssuerRotate
    | IssuerRetire
    | IssuerUpdate
    | IssuerCompromise
    | CredentialIssue
    | BatchAnchor
    | CredentialRevoke
    | BatchRevoke
    | PathwayDefine
    | PathwayRetire
)

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.kind.value: cls
    for cls in (
        IssuerRegister,
        IssuerRotate,
        IssuerRetire,
        IssuerUpdate,
        IssuerCompromise,
        CredentialIssue,
        BatchAnchor,
        CredentialRevoke,
        BatchRevoke,
        PathwayDefine,
        PathwayRetire,
    )
}


def signing_bytes(origin: str, payload: Payload, created: int, signer: bytes) -> bytes:
    """The exact bytes an event's Ed25519 signature covers.

    A canonical msgpack array whose first element is the domain string
    ``"vcledger/event/v1"`` — no other signed structure of the protocol starts
    with it — followed by the network origin and every field of the event.
    """
    return encoding.pack([SIGNING_DOMAIN, origin, payload.kind.value, created,
                          payload.fields(), signer])


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """A decoded event.  ``encoded`` is the canonical bytes it came from (the log leaf)."""

    payload: Payload
    created: int
    signer: bytes
    signature: bytes
    encoded: bytes = field(repr=False)
    hash: Hash = field(repr=False)

    @property
    def kind(self) -> EventKind:
        return self.payload.kind

    @property
    def issuer(self) -> str:
        return self.payload.issuer

    def verify_signature(self, origin: str) -> None:
        """Check the Ed25519 signature for the network named ``origin``.

        Only says the holder of ``signer`` signed this event; whether that key
        may sign it is a ledger rule.
        """
        message = signing_bytes(origin, self.payload, self.created, self.signer)
        try:
            verify_signature(self.signer, self.signature, message)
        except SignatureError as exc:
            raise SignatureError(
                f"{self.kind.value} event {self.hash.hex()}: signature does not verify for "
                f"network {origin!r} (wrong network, wrong key, or altered event)"
            ) from exc


def encode_event(payload: Payload, created: int, signer: bytes, signature: bytes) -> bytes:
    return encoding.pack([EVENT_VERSION, payload.kind.value, created, payload.fields(),
                          signer, signature])


def sign_event(payload: Payload, *, origin: str, key: KeyPair, created: int) -> SignedEvent:
    """Sign ``payload`` for network ``origin`` with ``key``; ``created`` is POSIX seconds."""
    if not 0 <= created <= MAX_TIMESTAMP:
        raise InvalidEncoding(f"created time {created} is out of range")
    signature = key.sign(signing_bytes(origin, payload, created, key.public_key))
    encoded = encode_event(payload, created, key.public_key, signature)
    if len(encoded) > MAX_EVENT_SIZE:
        raise InvalidEncoding(f"event is {len(encoded)} bytes; the limit is {MAX_EVENT_SIZE}")
    return SignedEvent(payload, created, key.public_key, signature, encoded, leaf_hash(encoded))


def decode_event(data: bytes, *, event_hash: Hash | None = None) -> SignedEvent:
    """Decode an untrusted event: size cap, canonical form, version, kind, every field.

    Does not check the signature (see :meth:`SignedEvent.verify_signature`).
    ``event_hash``, if given, must be ``leaf_hash(data)``: a caller that has
    already hashed the bytes spares hashing them again.

    ``credential.issue``, most of what a node ingests, has one fixed shape and
    is read straight from the bytes (:func:`_decode_credential_issue`); every
    other input, and every input that shape refuses, goes through the general
    decoder, so what is accepted and the error for what is refused are the
    general decoder's (tests/client/test_events.py compares the two).
    """
    fast = _decode_credential_issue(data, event_hash)
    if fast is not None:
        return fast
    return event_from_fields(encoding.unpack(data, max_size=MAX_EVENT_SIZE, what="event"), data,
                             event_hash)


_ISSUE_PREFIX = b"\x96\x01" + encoding.pack(EventKind.CREDENTIAL_ISSUE.value)
"""The canonical bytes every credential.issue event starts with: a 6-array, version 1, kind."""
_ISSUE_CREATED_AT = len(_ISSUE_PREFIX)
_ISSUE_TAIL = 2 + HASH_SIZE + 2 + PUBLIC_KEY_SIZE + 2 + SIGNATURE_SIZE
"""Bytes after the issuer string: digest, signer and signature, each a bin8 header + bytes."""
_ISSUE_MIN_SIZE = _ISSUE_CREATED_AT + 1 + 3 + 32 + _ISSUE_TAIL
"""Smallest canonical credential.issue: a 1-byte created time and a 32-byte issuer (str8)."""
_BIN32 = b"\xc4\x20"
_BIN64 = b"\xc4\x40"
# msgpack's shortest unsigned encodings: marker -> (width, smallest value it may carry).
_UINT_MARKERS = {0xCC: (1, 0x80), 0xCD: (2, 0x100), 0xCE: (4, 0x1_0000), 0xCF: (8, 0x1_0000_0000)}


def _decode_credential_issue(data: bytes, event_hash: Hash | None) -> SignedEvent | None:
    """``data`` as a credential.issue event if it is one in canonical form, else None.

    Reads the one byte layout a canonical credential.issue can have::

        96 01 b0"credential.issue" <created: shortest uint> 92 d9 <len> <issuer>
        c4 20 <digest> c4 20 <signer> c4 40 <signature>

    and applies the same field checks as :meth:`CredentialIssue.from_fields`
    and :func:`event_from_fields`.  None for anything else, including every
    refusal, so that the general decoder names the fault: this function only
    ever accepts, never explains.
    """
    if type(data) is not bytes or len(data) < _ISSUE_MIN_SIZE or not data.startswith(
            _ISSUE_PREFIX):
        return None
    pos = _ISSUE_CREATED_AT
    marker = data[pos]
    if marker < 0x80:
        created = marker
        pos += 1
    else:
        width_floor = _UINT_MARKERS.get(marker)
        if width_floor is None:
            return None
        width, floor = width_floor
        created = int.from_bytes(data[pos + 1:pos + 1 + width], "big")
        if created < floor or created > MAX_TIMESTAMP:
            return None
        pos += 1 + width
    # str8 is the shortest form for 32..255 bytes; a did:key is 32..MAX_DID_LENGTH.
    if data[pos] != 0x92 or data[pos + 1] != 0xD9:
        return None
    issuer_size = data[pos + 2]
    issuer_end = pos + 3 + issuer_size
    if issuer_size < 32 or len(data) != issuer_end + _ISSUE_TAIL:
        return None
    signer_at = issuer_end + 2 + HASH_SIZE
    signature_at = signer_at + 2 + PUBLIC_KEY_SIZE
    if (data[issuer_end:issuer_end + 2] != _BIN32 or data[signer_at:signer_at + 2] != _BIN32
            or data[signature_at:signature_at + 2] != _BIN64):
        return None
    try:
        issuer = _did(data[pos + 3:issuer_end].decode("utf-8"), "issuer")
    except (UnicodeDecodeError, InvalidEncoding):
        return None
    return SignedEvent(
        CredentialIssue(issuer, Hash(data[issuer_end + 2:signer_at])),
        created,
        data[signer_at + 2:signature_at],
        data[signature_at + 2:],
        data,
        leaf_hash(data) if event_hash is None else event_hash,
    )


def event_from_fields(value: Any, data: bytes, event_hash: Hash | None = None) -> SignedEvent:
    """Build a :class:`SignedEvent` from already unpacked canonical ``data``.

    ``event_hash``, if given, must be ``leaf_hash(data)``.
    """
    fields = expect_array(value, "event")
    if not fields or fields[0] != EVENT_VERSION:
        version = fields[0] if fields else None
        raise InvalidEncoding(
            f"event: unknown format version {version!r}; expected {EVENT_VERSION}"
        )
    _, kind, created, payload, signer, signature = expect_array(fields, "event", 6)
    kind_name = expect_str(kind, "event kind", max_len=32)
    payload_type = PAYLOAD_TYPES.get(kind_name)
    if payload_type is None:
        raise InvalidEncoding(f"event: unknown kind {kind_name!r}")
    return SignedEvent(
        payload_type.from_fields(payload),
        expect_uint(created, "created time", maximum=MAX_TIMESTAMP),
        expect_bytes(signer, "signer public key", size=PUBLIC_KEY_SIZE),
        expect_bytes(signature, "signature", size=SIGNATURE_SIZE),
        data,
        leaf_hash(data) if event_hash is None else event_hash,
    )
