"""Status keys and status records: what the status map (a sparse Merkle tree) holds.

Every value in the map is one canonical msgpack record, found under a 256-bit
key derived from the issuer's id and the credential, batch or pathway id.  Because the
issuer's DID is part of every key, an issuer's events can only ever touch its
own namespace: no issuer can revoke another issuer's credential.

A *position* is where something happened in the ledger: ``(log index, block height)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from client import encoding
from client.batch import MAX_BATCH_SIZE
from client.encoding import (
    expect_array,
    expect_bytes,
    expect_hash,
    expect_str,
    expect_uint,
)
from client.errors import InvalidEncoding
from client.events import (
    MAX_COMPROMISE_REASON,
    MAX_ISSUER_ID_LENGTH,
    MAX_ISSUER_IDS,
    MAX_NAME_LENGTH,
    RevocationReason,
)
from client.hashes import Hash, sha256
from client.keys import MAX_DID_LENGTH, PUBLIC_KEY_SIZE

RECORD_VERSION = 1
MAX_RECORD_SIZE = 16 * 1024
"""Largest encoded record: an issuer with every key and identity version allowed fits."""
MAX_ISSUER_KEYS = 32
"""Rotations an issuer may make; after that it registers a new DID (keeps records bounded)."""
MAX_ISSUER_IDENTITIES = 6
"""Identity versions (registration plus updates) one issuer record keeps; then a new DID."""
MAX_COMPROMISE_STATEMENTS = 4
"""issuer.compromise statements one record keeps (each moves the start earlier)."""
MAX_PATHWAY_VERSIONS = 16
"""Versions one pathway record keeps; then the owner publishes under a new pathway id."""


def issuer_status_key(issuer: str) -> Hash:
    return sha256(encoding.pack(["vcledger/status/issuer", issuer]))


def credential_status_key(issuer: str, digest: bytes) -> Hash:
    return sha256(encoding.pack(["vcledger/status/credential", issuer, digest]))


def batch_status_key(issuer: str, batch_id: str) -> Hash:
    return sha256(encoding.pack(["vcledger/status/batch", issuer, batch_id]))


def pathway_status_key(owner: str, pathway_id: str) -> Hash:
    return sha256(encoding.pack(["vcledger/status/pathway", owner, pathway_id]))


@dataclass(frozen=True, slots=True)
class Position:
    """Where an event sits: its log index and the height of its block."""

    index: int
    height: int

    def fields(self) -> list[Any]:
        return [self.index, self.height]

    @classmethod
    def from_fields(cls, value: Any, what: str) -> Position:
        index, height = expect_array(value, what, 2)
        return cls(expect_uint(index, f"{what} index"), expect_uint(height, f"{what} height"))


@dataclass(frozen=True, slots=True)
class Revocation:
    """A revocation: where, why, and whether governance (not the issuer) signed it."""

    position: Position
    reason: RevocationReason
    by_governance: bool = False

    def fields(self) -> list[Any]:
        return [*self.position.fields(), int(self.reason), int(self.by_governance)]

    @classmethod
    def from_fields(cls, value: Any, what: str) -> Revocation:
        index, height, reason, by = expect_array(value, what, 4)
        code = expect_uint(reason, f"{what} reason", maximum=255)
        try:
            parsed = RevocationReason(code)
        except ValueError as exc:
            raise InvalidEncoding(f"{what}: unknown reason code {code}") from exc
        return cls(Position.from_fields([index, height], what), parsed,
                   bool(expect_uint(by, f"{what} signer", maximum=1)))


@dataclass(frozen=True, slots=True)
class KeyPeriod:
    """An issuer key and the log indices ``[valid_from, valid_until)`` of events it may sign.

    A key installed by the event at index *i* (register or rotate) is valid from
    *i* + 1; a rotation at index *j* ends the old key at *j* + 1 (the rotation
    itself is the old key's last signature).  ``valid_until`` is None for the
    current key.
    """

    public_key: bytes
    valid_from: int
    valid_until: int | None

    def covers(self, index: int) -> bool:
        return self.valid_from <= index and (self.valid_until is None or index < self.valid_until)

    def fields(self) -> list[Any]:
        return [self.public_key, self.valid_from, self.valid_until]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who governance says the issuer is, for events after log index ``set_at``.

    ``set_at`` is the index of the issuer.register or issuer.update event that
    set it; it names the issuer of every event from ``set_at + 1`` until the
    next version's ``set_at``.
    """

    set_at: int
    name: str
    ids: tuple[str, ...]

    def fields(self) -> list[Any]:
        return [self.set_at, self.name, list(self.ids)]


@dataclass(frozen=True, slots=True)
class Compromise:
    """Governance's statement that the issuer's keys were untrustworthy from ``since_index``."""

    position: Position
    since_index: int
    reason: str

    def fields(self) -> list[Any]:
        return [*self.position.fields(), self.since_index, self.reason]


IssuerStanding: TypeAlias = Literal["active", "retired", "compromised"]


@dataclass(frozen=True, slots=True)
class IssuerRecord:
    """An issuer: its identity history, key periods, registration, retirement, and the
    governance statements that its key was compromised (oldest first, each starting
    earlier than the one before)."""

    issuer: str
    identities: tuple[Identity, ...]
    keys: tuple[KeyPeriod, ...]
    registered: Position
    retired: Position | None
    compromises: tuple[Compromise, ...] = ()

    @property
    def name(self) -> str:
        """The current display name."""
        return self.identities[-1].name

    @property
    def ids(self) -> tuple[str, ...]:
        """The current identifiers."""
        return self.identities[-1].ids

    @property
    def compromise(self) -> Compromise | None:
        """The newest compromise statement: the earliest index the key is untrusted from."""
        return self.compromises[-1] if self.compromises else None

    @property
    def standing(self) -> IssuerStanding:
        if self.compromises:
            return "compromised"
        return "active" if self.retired is None else "retired"

    def identity_at(self, index: int) -> Identity:
        """The identity that named the issuer of an event at log index ``index``."""
        found = self.identities[0]
        for identity in self.identities:
            if identity.set_at < index:
                found = identity
        return found

    @property
    def current_key(self) -> bytes:
        return self.keys[-1].public_key

    def key_valid_at(self, public_key: bytes, index: int) -> bool:
        """Was ``public_key`` this issuer's signing key for an event at ``index``?"""
        return any(p.public_key == public_key and p.covers(index) for p in self.keys)

    def voided(self, index: int) -> bool:
        """Is an event this issuer signed at ``index`` void because its key was compromised?"""
        return self.voided_by(index) is not None

    def voided_by(self, index: int) -> Compromise | None:
        """The first statement that voided an event at ``index`` (its date is when the event
        stopped being valid), or None.  A later statement that moves the start earlier
        voids only the events between the two starts, from its own date."""
        return next((c for c in self.compromises if c.since_index <= index), None)

    @property
    def last_trusted_key(self) -> bytes:
        """The newest key installed before the compromise (the current key if none).

        Keys installed by a rotation at ``since_index`` or later are the thief's.
        A key installed by the event at index *i* is valid from *i* + 1, so the
        trusted ones have ``valid_from <= since_index``.
        """
        if self.compromise is None:
            return self.current_key
        trusted = [p for p in self.keys if p.valid_from <= self.compromise.since_index]
        return (trusted or list(self.keys))[-1].public_key

    def encode(self) -> bytes:
        return encoding.pack([
            RECORD_VERSION, "issuer", self.issuer, [i.fields() for i in self.identities],
            [k.fields() for k in self.keys], self.registered.fields(),
            None if self.retired is None else self.retired.fields(),
            [c.fields() for c in self.compromises],
        ])


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """Status of one credential digest of one issuer.

    ``issued`` is set for a credential issued on its own (credential.issue);
    ``batch`` names the batch and leaf index for an anchored credential that was
    revoked individually (anchored credentials have no record until then).
    """

    issued: Position | None
    batch: tuple[str, int] | None
    revoked: Revocation | None

    def encode(self) -> bytes:
        return encoding.pack([
            RECORD_VERSION, "credential",
            None if self.issued is None else self.issued.fields(),
            None if self.batch is None else list(self.batch),
            None if self.revoked is None else self.revoked.fields(),
        ])


@dataclass(frozen=True, slots=True)
class BatchRecord:
    root: Hash
    size: int
    anchored: Position
    revoked: Revocation | None

    def encode(self) -> bytes:
        return encoding.pack([
            RECORD_VERSION, "batch", self.root, self.size, self.anchored.fields(),
            None if self.revoked is None else self.revoked.fields(),
        ])


@dataclass(frozen=True, slots=True)
class PathwayVersion:
    """One published version of a pathway: its number, the digest of its definition
    document, and where its pathway.define sits."""

    version: int
    definition_digest: Hash
    position: Position

    def fields(self) -> list[Any]:
        return [self.version, self.definition_digest, *self.position.fields()]


@dataclass(frozen=True, slots=True)
class PathwayRecord:
    """Every version of one pathway, oldest first (the last is the current one), and the
    position of its pathway.retire.  The owner and pathway id are in the status key."""

    versions: tuple[PathwayVersion, ...]
    retired: Position | None

    @property
    def current(self) -> PathwayVersion:
        return self.versions[-1]

    def version(self, number: int) -> PathwayVersion | None:
        """The entry of version ``number``, or None if it was never published."""
        return self.versions[number - 1] if 1 <= number <= len(self.versions) else None

    def encode(self) -> bytes:
        return encoding.pack([
            RECORD_VERSION, "pathway", [v.fields() for v in self.versions],
            None if self.retired is None else self.retired.fields(),
        ])


StatusRecord: TypeAlias = IssuerRecord | CredentialRecord | BatchRecord | PathwayRecord


def _optional(value: Any, parse: Any, what: str) -> Any:
    return None if value is None else parse(value, what)


def _key_period(value: Any) -> KeyPeriod:
    key, valid_from, valid_until = expect_array(value, "issuer key period", 3)
    return KeyPeriod(
        expect_bytes(key, "issuer key", size=PUBLIC_KEY_SIZE),
        expect_uint(valid_from, "key valid_from"),
        None if valid_until is None else expect_uint(valid_until, "key valid_until"),
    )


def _identity(value: Any) -> Identity:
    set_at, name, ids = expect_array(value, "issuer identity", 3)
    items = expect_array(ids, "issuer identifiers", max_len=MAX_ISSUER_IDS)
    return Identity(
        expect_uint(set_at, "identity set_at"),
        expect_str(name, "issuer name", max_len=MAX_NAME_LENGTH),
        tuple(expect_str(i, "issuer identifier", max_len=MAX_ISSUER_ID_LENGTH) for i in items),
    )


def _compromise(value: Any, what: str) -> Compromise:
    index, height, since_index, reason = expect_array(value, what, 4)
    return Compromise(
        Position.from_fields([index, height], what),
        expect_uint(since_index, f"{what} since_index"),
        expect_str(reason, f"{what} reason", max_len=MAX_COMPROMISE_REASON, min_len=0),
    )


def decode_record(data: bytes) -> StatusRecord:
    """Decode an untrusted status record (from a node's proof or the database)."""
    fields = expect_array(encoding.unpack(data, max_size=MAX_RECORD_SIZE, what="status record"),
                          "status record")
    if len(fields) < 2 or fields[0] != RECORD_VERSION:
        raise InvalidEncoding("status record: unknown format version")
    kind = fields[1]
    if kind == "issuer":
        (_, _, issuer, identities, keys, registered, retired,
         compromises) = expect_array(fields, "issuer record", 8)
        periods = tuple(_key_period(k) for k in
                        expect_array(keys, "issuer keys", max_len=MAX_ISSUER_KEYS))
        if not periods:
            raise InvalidEncoding("issuer record lists no keys")
        versions = tuple(_identity(i) for i in expect_array(
            identities, "issuer identities", max_len=MAX_ISSUER_IDENTITIES))
        if not versions:
            raise InvalidEncoding("issuer record lists no identity")
        return IssuerRecord(
            expect_str(issuer, "issuer", max_len=MAX_DID_LENGTH),
            versions,
            periods,
            Position.from_fields(registered, "registered"),
            _optional(retired, Position.from_fields, "retired"),
            tuple(_compromise(c, "compromise") for c in expect_array(
                compromises, "compromise statements", max_len=MAX_COMPROMISE_STATEMENTS)),
        )
    if kind == "credential":
        _, _, issued, batch, revoked = expect_array(fields, "credential record", 5)
        batch_ref = None
        if batch is not None:
            batch_id, leaf = expect_array(batch, "credential batch", 2)
            batch_ref = (expect_str(batch_id, "batch id", max_len=128),
                         expect_uint(leaf, "batch index", maximum=MAX_BATCH_SIZE - 1))
        return CredentialRecord(
            _optional(issued, Position.from_fields, "issued"),
            batch_ref,
            _optional(revoked, Revocation.from_fields, "revoked"),
        )
    if kind == "batch":
        _, _, root, size, anchored, revoked = expect_array(fields, "batch record", 6)
        return BatchRecord(
            expect_hash(root, "batch root"),
            expect_uint(size, "batch size", minimum=1, maximum=MAX_BATCH_SIZE),
            Position.from_fields(anchored, "anchored"),
            _optional(revoked, Revocation.from_fields, "revoked"),
        )
    if kind == "pathway":
        _, _, versions, retired = expect_array(fields, "pathway record", 4)
        entries = tuple(_pathway_version(v) for v in expect_array(
            versions, "pathway versions", max_len=MAX_PATHWAY_VERSIONS))
        # One form: versions 1..n in order, each defined after the one before.
        if not entries:
            raise InvalidEncoding("pathway record lists no version")
        for number, entry in enumerate(entries, start=1):
            if entry.version != number:
                raise InvalidEncoding(f"pathway record: entry {number} is version "
                                      f"{entry.version}; versions run 1, 2, ... in order")
        if any(a.position.index >= b.position.index for a, b in itertools.pairwise(entries)):
            raise InvalidEncoding("pathway record: versions must be defined in log order")
        return PathwayRecord(entries, _optional(retired, Position.from_fields, "retired"))
    raise InvalidEncoding(f"status record: unknown kind {kind!r}")


def _pathway_version(value: Any) -> PathwayVersion:
    version, digest, index, height = expect_array(value, "pathway version", 4)
    return PathwayVersion(
        expect_uint(version, "pathway version number", minimum=1,
                    maximum=MAX_PATHWAY_VERSIONS),
        expect_hash(digest, "pathway definition digest"),
        Position.from_fields([index, height], "pathway version"),
    )


def _position_json(position: Position | None) -> dict[str, int] | None:
    return None if position is None else {"index": position.index, "height": position.height}


def _revocation_json(revocation: Revocation | None) -> dict[str, object] | None:
    if revocation is None:
        return None
    return {"index": revocation.position.index, "height": revocation.position.height,
            "reason": revocation.reason.label, "reason_code": int(revocation.reason),
            "by": "governance" if revocation.by_governance else "issuer"}


def record_json(record: StatusRecord) -> dict[str, object]:
    """A status record as JSON for the API and the CLI (hashes and keys as lowercase hex)."""
    if isinstance(record, IssuerRecord):
        return {
            "kind": "issuer",
            "issuer": record.issuer,
            "name": record.name,
            "ids": list(record.ids),
            "standing": record.standing,
            "identities": [{"set_at": i.set_at, "name": i.name, "ids": list(i.ids)}
                           for i in record.identities],
            "keys": [{"public_key": k.public_key.hex(), "valid_from": k.valid_from,
                      "valid_until": k.valid_until} for k in record.keys],
            "registered": _position_json(record.registered),
            "retired": _position_json(record.retired),
            "compromises": [{**_position_json(c.position),  # type: ignore[dict-item]
                             "since_index": c.since_index, "reason": c.reason}
                            for c in record.compromises],
        }
    if isinstance(record, CredentialRecord):
        return {
            "kind": "credential",
            "issued": _position_json(record.issued),
            "batch": None if record.batch is None else {"batch_id": record.batch[0],
                                                        "index": record.batch[1]},
            "revoked": _revocation_json(record.revoked),
        }
    if isinstance(record, PathwayRecord):
        return {
            "kind": "pathway",
            "current_version": record.current.version,
            "versions": [{"version": v.version, "definition_digest": v.definition_digest.hex(),
                          "index": v.position.index, "height": v.position.height}
                         for v in record.versions],
            "retired": _position_json(record.retired),
        }
    return {
        "kind": "batch",
        "root": record.root.hex(),
        "size": record.size,
        "anchored": _position_json(record.anchored),
        "revoked": _revocation_json(record.revoked),
    }
