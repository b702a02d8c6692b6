"""Ledger rules: which events the ledger accepts, and what each one changes.

Pure: the rules read state through :class:`StateReader` and return status-map
updates; they never touch the database, the network or the clock (the block
time is an argument).  The same functions decide mempool admission, build a
proposer's block, and judge a peer's proposal, so every node applies exactly
the same rules.

Who may sign what:

=====================  ==========================================================
issuer.register        a governance key listed in the genesis file
issuer.update          a governance key
issuer.compromise      a governance key (also retires the issuer)
issuer.rotate          the issuer's current key; not after retirement
issuer.retire          the issuer's current key, or a governance key
credential.issue       the issuer's current key; not after retirement
batch.anchor           the issuer's current key; not after retirement
credential.revoke      the issuer's current key, its last key before a compromise,
                       or a governance key (also after retirement)
batch.revoke           as credential.revoke
pathway.define         the owner's current key; not after retirement
pathway.retire         as credential.revoke (also after the owner's retirement)
=====================  ==========================================================

A revocation only ever takes trust away, so after a compromise both the thief's
key and the issuer's last trusted key may still revoke: neither can make a
credential valid again.  Retiring a pathway is the same kind of act.

Every event is also checked for replay (an event hash is accepted once, ever)
and for a creation time not far ahead of the block time.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from client.batch import root_from_receipt
from client.errors import InvalidEncoding, InvalidProof, SignatureError
from client.events import (
    BatchAnchor,
    BatchRevoke,
    CredentialIssue,
    CredentialRevoke,
    IssuerCompromise,
    IssuerRegister,
    IssuerRetire,
    IssuerRotate,
    IssuerUpdate,
    PathwayDefine,
    PathwayRetire,
    SignedEvent,
)
from client.hashes import Hash
from client.keys import public_key_from_did
from client.status import (
    MAX_COMPROMISE_STATEMENTS,
    MAX_ISSUER_IDENTITIES,
    MAX_ISSUER_KEYS,
    MAX_PATHWAY_VERSIONS,
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
    StatusRecord,
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
    pathway_status_key,
)
from node.errors import DuplicateEvent, RuleViolation, StoreCorrupted


class StateReader(Protocol):
    """Committed state the rules consult (the latest block's state)."""

    def get_record(self, status_key: Hash) -> bytes | None:
        """The encoded status record under ``status_key``, or None."""

    def has_event(self, event_hash: Hash) -> bool:
        """Whether an event with this hash is already in the log."""


# Every event of an issuer reads its issuer record: decode each distinct record
# once (records are immutable values, so sharing one object is safe).
_decode_record = functools.lru_cache(maxsize=1024)(decode_record)
_issuer_key = functools.lru_cache(maxsize=4096)(issuer_status_key)
# An event's credential key is derived at admission and again when its block is
# built, usually a few thousand events later: remember that many (~4 MiB).
_credential_key = functools.lru_cache(maxsize=16_384)(credential_status_key)


@dataclass(frozen=True)
class LedgerContext:
    """The network constants the rules need, from the genesis file."""

    origin: str
    governance_keys: frozenset[bytes]
    max_clock_skew_ms: int


@dataclass
class BlockState:
    """Committed state plus the changes of the events accepted so far in this block.

    Events in one block see the effects of the events before them, exactly as
    if each were in its own block.
    """

    reader: StateReader
    changes: dict[Hash, StatusRecord] = field(default_factory=dict)
    accepted_hashes: set[Hash] = field(default_factory=set)
    # Committed records read so far: a block of one issuer's events reads its
    # issuer record once, not once per event.
    committed: dict[Hash, StatusRecord | None] = field(default_factory=dict)

    def record(self, key: Hash) -> StatusRecord | None:
        if key in self.changes:
            return self.changes[key]
        if key in self.committed:
            return self.committed[key]
        encoded = self.reader.get_record(key)
        try:
            record = None if encoded is None else _decode_record(encoded)
        except InvalidEncoding as exc:
            raise StoreCorrupted(f"status record {key.hex()} in the database is unreadable: "
                                 f"{exc.diagnostics()}") from exc
        self.committed[key] = record
        return record

    def seen(self, event_hash: Hash) -> bool:
        return event_hash in self.accepted_hashes or self.reader.has_event(event_hash)

    def encoded_changes(self) -> dict[Hash, bytes]:
        return {key: record.encode() for key, record in self.changes.items()}


def _issuer(state: BlockState, issuer: str) -> IssuerRecord:
    record = state.record(_issuer_key(issuer))
    if record is None:
        raise RuleViolation("unknown_issuer", f"issuer {issuer} is not registered")
    if not isinstance(record, IssuerRecord):
        raise StoreCorrupted(f"issuer status key of {issuer} holds a {type(record).__name__}")
    return record


def _require_current_key(record: IssuerRecord, signer: bytes) -> None:
    if signer != record.current_key:
        raise RuleViolation(
            "wrong_key",
            f"event is signed by a key that is not the current key of {record.issuer} "
            "(a rotated-out key, or another party's key)",
        )


def _require_governance(context: LedgerContext, signer: bytes, kind: str) -> None:
    if signer not in context.governance_keys:
        raise RuleViolation("not_governance",
                            f"{kind} must be signed by a governance key named in the genesis file")


def _require_revoker(context: LedgerContext, record: IssuerRecord, signer: bytes,
                     what: str = "a revocation") -> bool:
    """Check who may revoke; True when governance signed (the verdict says so)."""
    if signer in context.governance_keys:
        return True
    if signer not in (record.current_key, record.last_trusted_key):
        raise RuleViolation(
            "wrong_key",
            f"{what} must be signed by the current key of {record.issuer}, its last key "
            "before a compromise, or a governance key",
        )
    return False


def _require_active(record: IssuerRecord, action: str = "issue") -> None:
    if record.retired is not None:
        raise RuleViolation(
            "issuer_retired",
            f"issuer {record.issuer} retired at log index {record.retired.index}; "
            f"it can no longer {action}",
        )


def _credential(state: BlockState, key: Hash) -> CredentialRecord | None:
    record = state.record(key)
    if record is not None and not isinstance(record, CredentialRecord):
        raise StoreCorrupted(f"credential status key {key.hex()} holds a {type(record).__name__}")
    return record


def _batch(state: BlockState, issuer: str, batch_id: str) -> BatchRecord:
    record = state.record(batch_status_key(issuer, batch_id))
    if record is None:
        raise RuleViolation("unknown_batch", f"issuer {issuer} anchored no batch {batch_id!r}")
    if not isinstance(record, BatchRecord):
        raise StoreCorrupted(f"batch status key of {batch_id!r} holds a {type(record).__name__}")
    return record


def _pathway(state: BlockState, owner: str, pathway_id: str) -> PathwayRecord | None:
    record = state.record(pathway_status_key(owner, pathway_id))
    if record is not None and not isinstance(record, PathwayRecord):
        raise StoreCorrupted(f"pathway status key of {pathway_id!r} holds a "
                             f"{type(record).__name__}")
    return record


def _require_not_retired(record: PathwayRecord, pathway_id: str) -> None:
    if record.retired is not None:
        raise RuleViolation("pathway_retired",
                            f"pathway {pathway_id} was retired at log index "
                            f"{record.retired.index}")


def apply_event(
    context: LedgerContext,
    state: BlockState,
    event: SignedEvent,
    position: Position,
    block_time_ms: int,
    *,
    signature_checked: bool = False,
) -> None:
    """Check ``event`` against the rules and, if it passes, record its changes in ``state``.

    ``position`` is where the event will sit (log index, block height).  Raises
    :class:`RuleViolation` (or :class:`DuplicateEvent`) and leaves ``state``
    unchanged when the event is not acceptable.  With ``signature_checked`` the
    caller vouches that it already verified the signature for this network
    (e.g. in a process pool); otherwise it is verified here, last, after the
    cheap checks.
    """
    if state.seen(event.hash):
        raise DuplicateEvent(f"event {event.hash.hex()} is already in the ledger (replay)")
    if event.created * 1000 > block_time_ms + context.max_clock_skew_ms:
        raise RuleViolation(
            "created_in_future",
            f"event claims to be created at {event.created}, after the block time "
            f"{block_time_ms // 1000} plus the allowed clock skew",
        )
    updates = _rule_for(context, state, event, position)
    if not signature_checked:
        try:
            event.verify_signature(context.origin)
        except SignatureError as exc:
            raise RuleViolation("bad_signature", exc.diagnostics()) from exc
    state.changes.update(updates)
    state.accepted_hashes.add(event.hash)


def _rule_for(
    context: LedgerContext, state: BlockState, event: SignedEvent, position: Position
) -> dict[Hash, StatusRecord]:
    payload = event.payload
    signer = event.signer
    if isinstance(payload, IssuerRegister):
        _require_governance(context, signer, "issuer.register")
        key = issuer_status_key(payload.issuer)
        if state.record(key) is not None:
            raise RuleViolation("issuer_exists", f"issuer {payload.issuer} is already registered")
        if payload.public_key != public_key_from_did(payload.issuer):
            raise RuleViolation("key_mismatch",
                                "the registered public key must be the key of the issuer's did:key")
        return {key: IssuerRecord(payload.issuer,
                                  (Identity(position.index, payload.name, payload.ids),),
                                  (KeyPeriod(payload.public_key, position.index + 1, None),),
                                  position, None)}

    if isinstance(payload, IssuerUpdate):
        _require_governance(context, signer, "issuer.update")
        record = _issuer(state, payload.issuer)
        if len(record.identities) >= MAX_ISSUER_IDENTITIES:
            raise RuleViolation("too_many_updates",
                                f"an issuer record keeps at most {MAX_ISSUER_IDENTITIES} identity "
                                "versions; register a new issuer")
        identity = Identity(position.index, payload.name, payload.ids)
        return {issuer_status_key(payload.issuer):
                dataclasses.replace(record, identities=(*record.identities, identity))}

    if isinstance(payload, IssuerCompromise):
        _require_governance(context, signer, "issuer.compromise")
        record = _issuer(state, payload.issuer)
        if not record.registered.index < payload.since_index <= position.index:
            raise RuleViolation(
                "bad_compromise_index",
                f"the compromise of {payload.issuer} must start after its registration at "
                f"index {record.registered.index} and not after this event at {position.index}; "
                f"got {payload.since_index}")
        if record.compromise is not None and payload.since_index >= record.compromise.since_index:
            raise RuleViolation(
                "already_compromised",
                f"{payload.issuer} is already marked compromised since index "
                f"{record.compromise.since_index}; a new statement may only move that earlier")
        if len(record.compromises) >= MAX_COMPROMISE_STATEMENTS:
            raise RuleViolation("too_many_compromise_statements",
                                f"an issuer record keeps at most {MAX_COMPROMISE_STATEMENTS} "
                                "compromise statements")
        # Appended, never replaced: what an earlier statement voided keeps its date.
        compromise = Compromise(position, payload.since_index, payload.reason)
        return {issuer_status_key(payload.issuer): dataclasses.replace(
            record, compromises=(*record.compromises, compromise),
            retired=record.retired if record.retired is not None else position)}

    if isinstance(payload, IssuerRotate):
        record = _issuer(state, payload.issuer)
        _require_active(record)
        _require_current_key(record, signer)
        if any(p.public_key == payload.new_public_key for p in record.keys):
            raise RuleViolation("key_reused",
                                "the new key was already used by this issuer; choose a fresh key")
        if len(record.keys) >= MAX_ISSUER_KEYS:
            raise RuleViolation("too_many_rotations",
                                f"an issuer may use at most {MAX_ISSUER_KEYS} keys; register a new "
                                "issuer")
        ended = dataclasses.replace(record.keys[-1], valid_until=position.index + 1)
        new = KeyPeriod(payload.new_public_key, position.index + 1, None)
        return {issuer_status_key(payload.issuer):
                dataclasses.replace(record, keys=(*record.keys[:-1], ended, new))}

    if isinstance(payload, IssuerRetire):
        record = _issuer(state, payload.issuer)
        _require_active(record)
        if signer not in context.governance_keys:
            _require_current_key(record, signer)
        return {issuer_status_key(payload.issuer): dataclasses.replace(record, retired=position)}

    if isinstance(payload, CredentialIssue):
        record = _issuer(state, payload.issuer)
        _require_active(record)
        _require_current_key(record, signer)
        key = _credential_key(payload.issuer, payload.digest)
        if _credential(state, key) is not None:
            raise RuleViolation("already_issued",
                                f"{payload.issuer} already has credential {payload.digest.hex()} "
                                "on the ledger")
        return {key: CredentialRecord(position, None, None)}

    if isinstance(payload, BatchAnchor):
        record = _issuer(state, payload.issuer)
        _require_active(record)
        _require_current_key(record, signer)
        key = batch_status_key(payload.issuer, payload.batch_id)
        if state.record(key) is not None:
            raise RuleViolation("batch_exists",
                                f"{payload.issuer} already anchored a batch {payload.batch_id!r}")
        return {key: BatchRecord(payload.root, payload.size, position, None)}

    if isinstance(payload, CredentialRevoke):
        record = _issuer(state, payload.issuer)
        by_governance = _require_revoker(context, record, signer)
        key = _credential_key(payload.issuer, payload.digest)
        existing = _credential(state, key)
        if existing is not None and existing.revoked is not None:
            raise RuleViolation("already_revoked",
                                f"credential {payload.digest.hex()} was revoked at log index "
                                f"{existing.revoked.position.index}")
        revocation = Revocation(position, payload.reason, by_governance)
        if payload.batch is None:
            if existing is None or existing.issued is None:
                raise RuleViolation(
                    "unknown_credential",
                    f"{payload.issuer} never issued credential {payload.digest.hex()} on its own; "
                    "for a credential of an anchored batch include its batch receipt",
                )
            return {key: dataclasses.replace(existing, revoked=revocation)}
        membership = payload.batch
        batch = _batch(state, payload.issuer, membership.batch_id)
        if batch.revoked is not None:
            raise RuleViolation("already_revoked",
                                f"batch {membership.batch_id!r} was revoked as a whole at log "
                                f"index {batch.revoked.position.index}")
        if membership.index >= batch.size:
            raise RuleViolation("not_in_batch", f"batch {membership.batch_id!r} has {batch.size} "
                                f"credentials; index {membership.index} is outside it")
        try:
            root = root_from_receipt(payload.digest, membership.index, batch.size,
                                     membership.audit_path)
        except (InvalidEncoding, InvalidProof) as exc:
            # A path of the wrong length is an InvalidProof: still this event's fault, so a
            # rule violation, never an error that fails the whole submission.
            raise RuleViolation("not_in_batch", f"batch receipt is malformed: {exc}") from exc
        if root != batch.root:
            raise RuleViolation("not_in_batch",
                                f"the receipt does not prove credential {payload.digest.hex()} is "
                                f"in batch {membership.batch_id!r}")
        issued = None if existing is None else existing.issued
        return {key: CredentialRecord(issued, (membership.batch_id, membership.index), revocation)}

    if isinstance(payload, BatchRevoke):
        record = _issuer(state, payload.issuer)
        by_governance = _require_revoker(context, record, signer)
        batch = _batch(state, payload.issuer, payload.batch_id)
        if batch.revoked is not None:
            raise RuleViolation("already_revoked",
                                f"batch {payload.batch_id!r} was revoked at log index "
                                f"{batch.revoked.position.index}")
        return {batch_status_key(payload.issuer, payload.batch_id):
                dataclasses.replace(batch, revoked=Revocation(position, payload.reason,
                                                              by_governance))}

    if isinstance(payload, PathwayDefine):
        record = _issuer(state, payload.owner)
        _require_active(record, "define pathways")
        _require_current_key(record, signer)
        pathway = _pathway(state, payload.owner, payload.pathway_id)
        entry = PathwayVersion(payload.version, payload.definition_digest, position)
        if pathway is None:
            if payload.version != 1:
                raise RuleViolation("pathway_version",
                                    f"{payload.owner} has no pathway {payload.pathway_id}; its "
                                    f"first definition must be version 1, not "
                                    f"{payload.version}")
            return {pathway_status_key(payload.owner, payload.pathway_id):
                    PathwayRecord((entry,), None)}
        _require_not_retired(pathway, payload.pathway_id)
        current = pathway.current.version
        if payload.version != current + 1:
            raise RuleViolation("pathway_version",
                                f"pathway {payload.pathway_id} is at version {current} (log "
                                f"index {pathway.current.position.index}); the next definition "
                                f"must be version {current + 1}, not {payload.version}")
        if len(pathway.versions) >= MAX_PATHWAY_VERSIONS:
            raise RuleViolation("too_many_versions",
                                f"a pathway keeps at most {MAX_PATHWAY_VERSIONS} versions; "
                                "publish the next under a new pathway id")
        return {pathway_status_key(payload.owner, payload.pathway_id):
                dataclasses.replace(pathway, versions=(*pathway.versions, entry))}

    if isinstance(payload, PathwayRetire):
        record = _issuer(state, payload.owner)
        _require_revoker(context, record, signer, "a pathway.retire")
        pathway = _pathway(state, payload.owner, payload.pathway_id)
        if pathway is None:
            raise RuleViolation("unknown_pathway",
                                f"{payload.owner} defined no pathway {payload.pathway_id}")
        _require_not_retired(pathway, payload.pathway_id)
        return {pathway_status_key(payload.owner, payload.pathway_id):
                dataclasses.replace(pathway, retired=position)}

    raise AssertionError(f"no rule for {type(payload).__name__}")  # decode_event guarantees a kind


@dataclass
class ExecutedEvents:
    """The outcome of running a sequence of events through the rules."""

    accepted: list[SignedEvent]
    rejected: list[tuple[SignedEvent, RuleViolation]]
    updates: dict[Hash, bytes]


def execute_events(
    context: LedgerContext,
    reader: StateReader,
    events: Iterable[SignedEvent],
    *,
    first_index: int,
    height: int,
    block_time_ms: int,
    drop_invalid: bool,
    signatures_checked: frozenset[Hash] | set[Hash] = frozenset(),
) -> ExecutedEvents:
    """Run ``events`` in order as block ``height``'s body, starting at log index ``first_index``.

    A proposer passes ``drop_invalid=True``: events that no longer pass (the
    state moved since they were admitted to the mempool) are left out and
    reported in ``rejected``.  A validator judging someone else's block passes
    ``drop_invalid=False``: the first violation is raised and the block is invalid.
    """
    state = BlockState(reader)
    accepted: list[SignedEvent] = []
    rejected: list[tuple[SignedEvent, RuleViolation]] = []
    for event in events:
        position = Position(first_index + len(accepted), height)
        try:
            apply_event(context, state, event, position, block_time_ms,
                        signature_checked=event.hash in signatures_checked)
        except RuleViolation as violation:
            if not drop_invalid:
                raise
            rejected.append((event, violation))
            continue
        accepted.append(event)
    return ExecutedEvents(accepted, rejected, state.encoded_changes())


def admit_event(
    context: LedgerContext,
    reader: StateReader,
    event: SignedEvent,
    *,
    next_index: int,
    next_height: int,
    now_ms: int,
    signature_checked: bool = False,
) -> None:
    """Mempool admission: would ``event`` pass on top of the committed state now?"""
    apply_event(context, BlockState(reader), event, Position(next_index, next_height), now_ms,
                signature_checked=signature_checked)
