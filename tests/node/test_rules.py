"""Ledger rules, driven through an in-memory state: every rule accepts and rejects."""

from __future__ import annotations

import pytest

from client.events import (
    BatchAnchor,
    BatchMembership,
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
    Payload,
    RevocationReason,
    SignedEvent,
    sign_event,
)
from client.hashes import Hash
from client.keys import KeyPair
from client.status import (
    MAX_COMPROMISE_STATEMENTS,
    MAX_ISSUER_IDENTITIES,
    MAX_PATHWAY_VERSIONS,
    BatchRecord,
    CredentialRecord,
    IssuerRecord,
    PathwayRecord,
    PathwayVersion,
    Position,
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
    pathway_status_key,
)
from node.errors import DuplicateEvent, RuleViolation
from node.rules import LedgerContext, execute_events
from tests.protocol_fixtures import (
    BATCH,
    BATCH_DIGESTS,
    CREATED,
    GOVERNANCE,
    ISSUER,
    ISSUER_NEXT,
    ORIGIN,
    OTHER_ISSUER,
    fixed_digest,
    fixed_key,
)

CONTEXT = LedgerContext(ORIGIN, frozenset({GOVERNANCE.public_key}), max_clock_skew_ms=60_000)
BLOCK_TIME_MS = (CREATED + 100) * 1000


class Ledger:
    """A toy committed state: each `submit` is one block holding one event."""

    def __init__(self) -> None:
        self.records: dict[Hash, bytes] = {}
        self.events: set[Hash] = set()
        self.size = 0
        self.height = 0
        self.counter = 0

    def get_record(self, status_key: Hash) -> bytes | None:
        return self.records.get(status_key)

    def has_event(self, event_hash: Hash) -> bool:
        return event_hash in self.events

    def sign(self, payload: Payload, key: KeyPair, origin: str = ORIGIN) -> SignedEvent:
        self.counter += 1
        return sign_event(payload, origin=origin, key=key, created=CREATED + self.counter)

    def apply(self, event: SignedEvent) -> None:
        result = execute_events(CONTEXT, self, [event], first_index=self.size,
                                height=self.height + 1, block_time_ms=BLOCK_TIME_MS,
                                drop_invalid=False)
        self.height += 1
        self.records.update(result.updates)
        self.events.add(event.hash)
        self.size += 2  # the event and its block header

    def submit(self, payload: Payload, key: KeyPair) -> SignedEvent:
        event = self.sign(payload, key)
        self.apply(event)
        return event

    def rejects(self, payload: Payload, key: KeyPair, rule: str) -> RuleViolation:
        with pytest.raises(RuleViolation) as caught:
            self.submit(payload, key)
        assert caught.value.code == rule, caught.value.diagnostics()
        return caught.value

    def record(self, key: Hash) -> object:
        data = self.records.get(key)
        return None if data is None else decode_record(data)


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger()
    ledger.submit(IssuerRegister(ISSUER.did, "Example University", ISSUER.public_key), GOVERNANCE)
    return ledger


def test_register_needs_a_governance_key() -> None:
    ledger = Ledger()
    ledger.rejects(IssuerRegister(ISSUER.did, "Self", ISSUER.public_key), ISSUER, "not_governance")
    ledger.submit(IssuerRegister(ISSUER.did, "Uni", ISSUER.public_key), GOVERNANCE)
    record = ledger.record(issuer_status_key(ISSUER.did))
    assert isinstance(record, IssuerRecord)
    assert record.current_key == ISSUER.public_key and record.registered == Position(0, 1)
    assert record.keys[0].valid_from == 1


def test_register_twice_or_with_a_foreign_key_is_rejected(ledger: Ledger) -> None:
    ledger.rejects(IssuerRegister(ISSUER.did, "Again", ISSUER.public_key), GOVERNANCE,
                   "issuer_exists")
    ledger.rejects(IssuerRegister(OTHER_ISSUER.did, "X", ISSUER.public_key), GOVERNANCE,
                   "key_mismatch")


def test_issue_then_revoke_keeps_history(ledger: Ledger) -> None:
    digest = fixed_digest("d1")
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    ledger.submit(CredentialRevoke(ISSUER.did, digest, RevocationReason.SUPERSEDED), ISSUER)
    record = ledger.record(credential_status_key(ISSUER.did, digest))
    assert isinstance(record, CredentialRecord)
    assert record.issued == Position(2, 2)
    assert record.revoked is not None
    assert record.revoked.position == Position(4, 3)
    assert record.revoked.reason is RevocationReason.SUPERSEDED


def test_issue_once_per_issuer(ledger: Ledger) -> None:
    digest = fixed_digest("d1")
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    ledger.rejects(CredentialIssue(ISSUER.did, digest), ISSUER, "already_issued")


def test_unregistered_issuer_cannot_issue(ledger: Ledger) -> None:
    ledger.rejects(CredentialIssue(OTHER_ISSUER.did, fixed_digest("x")), OTHER_ISSUER,
                   "unknown_issuer")


def test_nobody_can_issue_or_revoke_in_another_issuers_namespace(ledger: Ledger) -> None:
    ledger.submit(IssuerRegister(OTHER_ISSUER.did, "Other", OTHER_ISSUER.public_key), GOVERNANCE)
    digest = fixed_digest("d1")
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    # The other issuer signs an event naming ISSUER's DID: its key is not ISSUER's key.
    ledger.rejects(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), OTHER_ISSUER,
                   "wrong_key")
    ledger.rejects(CredentialIssue(ISSUER.did, fixed_digest("d2")), OTHER_ISSUER, "wrong_key")
    # Naming its own DID, it only reaches its own (empty) namespace.
    ledger.rejects(CredentialRevoke(OTHER_ISSUER.did, digest, RevocationReason.FRAUD),
                   OTHER_ISSUER, "unknown_credential")


def test_revoking_twice_or_the_unknown_is_rejected(ledger: Ledger) -> None:
    digest = fixed_digest("d1")
    ledger.rejects(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), ISSUER,
                   "unknown_credential")
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    ledger.submit(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), ISSUER)
    violation = ledger.rejects(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD),
                               ISSUER, "already_revoked")
    assert "log index" in violation.diagnostics()


def test_rotation_retires_the_old_key(ledger: Ledger) -> None:
    ledger.submit(CredentialIssue(ISSUER.did, fixed_digest("before")), ISSUER)
    rotation = ledger.submit(IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER)
    ledger.rejects(CredentialIssue(ISSUER.did, fixed_digest("old key")), ISSUER, "wrong_key")
    ledger.submit(CredentialIssue(ISSUER.did, fixed_digest("new key")), ISSUER_NEXT)
    record = ledger.record(issuer_status_key(ISSUER.did))
    assert isinstance(record, IssuerRecord)
    rotation_index = 4
    assert record.key_valid_at(ISSUER.public_key, rotation_index)
    assert not record.key_valid_at(ISSUER.public_key, rotation_index + 1)
    assert record.key_valid_at(ISSUER_NEXT.public_key, rotation_index + 1)
    assert rotation.kind.value == "issuer.rotate"
    # the revocation of an old credential needs the current key as well
    ledger.rejects(CredentialRevoke(ISSUER.did, fixed_digest("before"), RevocationReason.FRAUD),
                   ISSUER, "wrong_key")
    ledger.submit(CredentialRevoke(ISSUER.did, fixed_digest("before"), RevocationReason.FRAUD),
                  ISSUER_NEXT)


def test_rotation_rules(ledger: Ledger) -> None:
    ledger.rejects(IssuerRotate(ISSUER.did, ISSUER.public_key), ISSUER, "key_reused")
    ledger.rejects(IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER_NEXT, "wrong_key")
    ledger.submit(IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER)
    ledger.rejects(IssuerRotate(ISSUER.did, ISSUER.public_key), ISSUER_NEXT, "key_reused")


def test_rotation_count_is_bounded(ledger: Ledger) -> None:
    from client.status import MAX_ISSUER_KEYS

    current = ISSUER
    for i in range(MAX_ISSUER_KEYS - 1):
        following = fixed_key(f"rotation {i}")
        ledger.submit(IssuerRotate(ISSUER.did, following.public_key), current)
        current = following
    ledger.rejects(IssuerRotate(ISSUER.did, fixed_key("one too many").public_key), current,
                   "too_many_rotations")


def test_retired_issuer_issues_nothing_but_may_still_revoke(ledger: Ledger) -> None:
    digest = fixed_digest("d1")
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    ledger.submit(BatchAnchor(ISSUER.did, "b1", BATCH.root, BATCH.size), ISSUER)
    ledger.submit(IssuerRetire(ISSUER.did), ISSUER)
    ledger.rejects(CredentialIssue(ISSUER.did, fixed_digest("d2")), ISSUER, "issuer_retired")
    ledger.rejects(BatchAnchor(ISSUER.did, "b2", BATCH.root, BATCH.size), ISSUER,
                   "issuer_retired")
    ledger.rejects(IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER, "issuer_retired")
    ledger.rejects(IssuerRetire(ISSUER.did), ISSUER, "issuer_retired")
    ledger.submit(CredentialRevoke(ISSUER.did, digest, RevocationReason.WITHDRAWN), ISSUER)
    ledger.submit(BatchRevoke(ISSUER.did, "b1", RevocationReason.WITHDRAWN), ISSUER)


def test_governance_can_retire_an_issuer_but_others_cannot(ledger: Ledger) -> None:
    ledger.rejects(IssuerRetire(ISSUER.did), OTHER_ISSUER, "wrong_key")
    ledger.submit(IssuerRetire(ISSUER.did), GOVERNANCE)


def test_batch_anchor_and_member_revocation(ledger: Ledger) -> None:
    ledger.submit(BatchAnchor(ISSUER.did, "b1", BATCH.root, BATCH.size), ISSUER)
    ledger.rejects(BatchAnchor(ISSUER.did, "b1", BATCH.root, BATCH.size), ISSUER, "batch_exists")
    receipt = BATCH.receipt(2)
    member = BatchMembership("b1", 2, receipt.audit_path)
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[3], RevocationReason.FRAUD, member),
                   ISSUER, "not_in_batch")
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[2], RevocationReason.FRAUD,
                                    BatchMembership("b1", 7, receipt.audit_path)),
                   ISSUER, "not_in_batch")
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[2], RevocationReason.FRAUD,
                                    BatchMembership("nope", 2, receipt.audit_path)),
                   ISSUER, "unknown_batch")
    ledger.submit(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[2], RevocationReason.FRAUD, member),
                  ISSUER)
    record = ledger.record(credential_status_key(ISSUER.did, BATCH_DIGESTS[2]))
    assert isinstance(record, CredentialRecord)
    assert record.batch == ("b1", 2) and record.issued is None and record.revoked is not None
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[2], RevocationReason.FRAUD, member),
                   ISSUER, "already_revoked")


def test_batch_revocation(ledger: Ledger) -> None:
    ledger.rejects(BatchRevoke(ISSUER.did, "b1", RevocationReason.FRAUD), ISSUER, "unknown_batch")
    ledger.submit(BatchAnchor(ISSUER.did, "b1", BATCH.root, BATCH.size), ISSUER)
    ledger.submit(BatchRevoke(ISSUER.did, "b1", RevocationReason.ISSUED_IN_ERROR), ISSUER)
    record = ledger.record(batch_status_key(ISSUER.did, "b1"))
    assert isinstance(record, BatchRecord) and record.revoked is not None
    ledger.rejects(BatchRevoke(ISSUER.did, "b1", RevocationReason.FRAUD), ISSUER,
                   "already_revoked")
    member = BatchMembership("b1", 0, BATCH.receipt(0).audit_path)
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[0], RevocationReason.FRAUD, member),
                   ISSUER, "already_revoked")


def test_replay_is_rejected(ledger: Ledger) -> None:
    event = ledger.submit(CredentialIssue(ISSUER.did, fixed_digest("d1")), ISSUER)
    with pytest.raises(DuplicateEvent):
        ledger.apply(event)


def test_replay_inside_one_block_is_rejected(ledger: Ledger) -> None:
    event = ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("d1")), ISSUER)
    result = execute_events(CONTEXT, ledger, [event, event], first_index=2, height=2,
                            block_time_ms=BLOCK_TIME_MS, drop_invalid=True)
    assert result.accepted == [event]
    assert isinstance(result.rejected[0][1], DuplicateEvent)


def test_events_for_another_network_are_rejected(ledger: Ledger) -> None:
    event = ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("d1")), ISSUER,
                        origin="another.example/net")
    with pytest.raises(RuleViolation) as caught:
        ledger.apply(event)
    assert caught.value.code == "bad_signature"


def test_event_far_in_the_future_is_rejected(ledger: Ledger) -> None:
    event = sign_event(CredentialIssue(ISSUER.did, fixed_digest("d1")), origin=ORIGIN, key=ISSUER,
                       created=BLOCK_TIME_MS // 1000 + 3600)
    with pytest.raises(RuleViolation) as caught:
        ledger.apply(event)
    assert caught.value.code == "created_in_future"


def test_events_in_one_block_see_each_other(ledger: Ledger) -> None:
    digest = fixed_digest("d1")
    issue = ledger.sign(CredentialIssue(ISSUER.did, digest), ISSUER)
    revoke = ledger.sign(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), ISSUER)
    again = ledger.sign(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), ISSUER)
    result = execute_events(CONTEXT, ledger, [issue, revoke, again], first_index=2, height=2,
                            block_time_ms=BLOCK_TIME_MS, drop_invalid=True)
    assert result.accepted == [issue, revoke]
    assert [v.code for _, v in result.rejected] == ["already_revoked"]
    record = decode_record(result.updates[credential_status_key(ISSUER.did, digest)])
    assert isinstance(record, CredentialRecord)
    assert record.issued == Position(2, 2) and record.revoked is not None
    assert record.revoked.position == Position(3, 2)
    with pytest.raises(RuleViolation):
        execute_events(CONTEXT, ledger, [issue, revoke, again], first_index=2, height=2,
                       block_time_ms=BLOCK_TIME_MS, drop_invalid=False)


def test_a_rejected_event_changes_nothing(ledger: Ledger) -> None:
    before = dict(ledger.records)
    ledger.rejects(CredentialIssue(ISSUER.did, fixed_digest("x")), ISSUER_NEXT, "wrong_key")
    assert ledger.records == before


# -- issuer identity, compromise and governance revocation (issue 10) ----------------------

UNI_IDS = ("did:web:uni.example", "https://uni.example/issuers/1")


def _issuer_record(ledger: Ledger, did: str = ISSUER.did) -> IssuerRecord:
    record = ledger.record(issuer_status_key(did))
    assert isinstance(record, IssuerRecord)
    return record


def test_register_records_the_identifiers_and_update_keeps_their_history() -> None:
    ledger = Ledger()
    ledger.submit(IssuerRegister(OTHER_ISSUER.did, "Uni", OTHER_ISSUER.public_key, UNI_IDS),
                  GOVERNANCE)
    issued = ledger.size + 1  # an event after the register, before the update
    ledger.submit(CredentialIssue(OTHER_ISSUER.did, fixed_digest("before")), OTHER_ISSUER)
    update_index = ledger.size
    ledger.submit(IssuerUpdate(OTHER_ISSUER.did, "Uni of Science", ("https://uni.example",)),
                  GOVERNANCE)
    record = _issuer_record(ledger, OTHER_ISSUER.did)
    assert (record.name, record.ids) == ("Uni of Science", ("https://uni.example",))
    assert record.identity_at(issued).ids == UNI_IDS
    assert record.identity_at(update_index).name == "Uni"
    assert record.identity_at(update_index + 1).name == "Uni of Science"


def test_only_governance_updates_an_issuer_and_updates_are_bounded(ledger: Ledger) -> None:
    ledger.rejects(IssuerUpdate(ISSUER.did, "Evil U", ()), ISSUER, "not_governance")
    ledger.rejects(IssuerUpdate(OTHER_ISSUER.did, "Nobody", ()), GOVERNANCE, "unknown_issuer")
    for n in range(MAX_ISSUER_IDENTITIES - 1):
        ledger.submit(IssuerUpdate(ISSUER.did, f"Name {n}", ()), GOVERNANCE)
    ledger.rejects(IssuerUpdate(ISSUER.did, "One too many", ()), GOVERNANCE, "too_many_updates")


def test_compromise_retires_voids_and_lets_the_real_issuer_and_governance_revoke(
        ledger: Ledger) -> None:
    before = fixed_digest("issued before the theft")
    ledger.submit(CredentialIssue(ISSUER.did, before), ISSUER)
    since = ledger.size
    thief = fixed_key("thief")
    stolen = fixed_digest("minted by the thief")
    ledger.submit(CredentialIssue(ISSUER.did, stolen), ISSUER)  # the thief, with the real key
    ledger.submit(IssuerRotate(ISSUER.did, thief.public_key), ISSUER)
    # The thief now holds the current key; the real issuer's revoke is refused ...
    ledger.rejects(CredentialRevoke(ISSUER.did, stolen, RevocationReason.FRAUD), ISSUER,
                   "wrong_key")
    ledger.rejects(IssuerCompromise(ISSUER.did, since, "stolen"), ISSUER, "not_governance")
    ledger.submit(IssuerCompromise(ISSUER.did, since, "key found on a public server"),
                  GOVERNANCE)
    record = _issuer_record(ledger)
    assert record.standing == "compromised" and record.retired is not None
    assert record.voided(since) and not record.voided(since - 1)
    assert record.last_trusted_key == ISSUER.public_key
    # ... until the compromise: then the last trusted key may revoke again.
    ledger.submit(CredentialRevoke(ISSUER.did, stolen, RevocationReason.KEY_COMPROMISE), ISSUER)
    ledger.rejects(CredentialIssue(ISSUER.did, fixed_digest("more")), thief, "issuer_retired")
    ledger.rejects(IssuerRotate(ISSUER.did, fixed_key("another").public_key), thief,
                   "issuer_retired")
    # A later statement may only move the start earlier, and never before registration.
    ledger.rejects(IssuerCompromise(ISSUER.did, since + 1, ""), GOVERNANCE,
                   "already_compromised")
    ledger.rejects(IssuerCompromise(ISSUER.did, 0, ""), GOVERNANCE, "bad_compromise_index")
    ledger.submit(IssuerCompromise(ISSUER.did, since - 1, "earlier than we thought"), GOVERNANCE)
    assert _issuer_record(ledger).compromise.since_index == since - 1  # type: ignore[union-attr]


def test_compromise_cannot_start_after_itself(ledger: Ledger) -> None:
    ledger.rejects(IssuerCompromise(ISSUER.did, ledger.size + 1, ""), GOVERNANCE,
                   "bad_compromise_index")


def test_governance_revokes_any_issuers_credential_and_batch(ledger: Ledger) -> None:
    digest = fixed_digest("doctor of medicine")
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    ledger.rejects(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), OTHER_ISSUER,
                   "wrong_key")
    ledger.submit(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD), GOVERNANCE)
    record = ledger.record(credential_status_key(ISSUER.did, digest))
    assert isinstance(record, CredentialRecord) and record.revoked is not None
    assert record.revoked.by_governance
    ledger.submit(BatchAnchor(ISSUER.did, "b1", BATCH.root, BATCH.size), ISSUER)
    ledger.submit(BatchRevoke(ISSUER.did, "b1", RevocationReason.WITHDRAWN), GOVERNANCE)
    batch = ledger.record(batch_status_key(ISSUER.did, "b1"))
    assert isinstance(batch, BatchRecord) and batch.revoked is not None
    assert batch.revoked.by_governance
    own = fixed_digest("own revocation")
    ledger.submit(CredentialIssue(ISSUER.did, own), ISSUER)
    ledger.submit(CredentialRevoke(ISSUER.did, own, RevocationReason.SUPERSEDED), ISSUER)
    mine = ledger.record(credential_status_key(ISSUER.did, own))
    assert isinstance(mine, CredentialRecord) and mine.revoked is not None
    assert not mine.revoked.by_governance


def test_compromise_statements_are_kept_bounded_and_may_have_no_reason(ledger: Ledger) -> None:
    for _ in range(6):
        ledger.submit(CredentialIssue(ISSUER.did, fixed_digest(f"c{ledger.size}")), ISSUER)
    start = ledger.size
    for n in range(MAX_COMPROMISE_STATEMENTS):
        ledger.submit(IssuerCompromise(ISSUER.did, start - 2 * n, ""), GOVERNANCE)
    record = _issuer_record(ledger)
    assert [c.since_index for c in record.compromises] == [
        start - 2 * n for n in range(MAX_COMPROMISE_STATEMENTS)]
    assert record.voided_by(start).position == record.compromises[0].position  # type: ignore[union-attr]
    ledger.rejects(IssuerCompromise(ISSUER.did, 1 + 0, ""), GOVERNANCE,
                   "too_many_compromise_statements")


# -- pathways -------------------------------------------------------------------------------

PATHWAY = "https://uni.example/pathways/data-analyst"


def _define(version: int, owner: str = ISSUER.did, pathway_id: str = PATHWAY) -> PathwayDefine:
    return PathwayDefine(owner, pathway_id, version, fixed_digest(f"{pathway_id} v{version}"))


def _pathway_record(ledger: Ledger, owner: str = ISSUER.did,
                    pathway_id: str = PATHWAY) -> PathwayRecord:
    record = ledger.record(pathway_status_key(owner, pathway_id))
    assert isinstance(record, PathwayRecord)
    return record


def test_pathway_versions_supersede_and_the_record_keeps_them_all(ledger: Ledger) -> None:
    ledger.rejects(_define(2), ISSUER, "pathway_version")  # a new pathway starts at 1
    first = ledger.size
    ledger.submit(_define(1), ISSUER)
    assert _pathway_record(ledger) == PathwayRecord(
        (PathwayVersion(1, _define(1).definition_digest, Position(first, ledger.height)),), None)
    ledger.rejects(_define(1), ISSUER, "pathway_version")  # no second version 1
    violation = ledger.rejects(_define(3), ISSUER, "pathway_version")  # no gap
    assert "at version 1" in violation.diagnostics() and "must be version 2" in \
        violation.diagnostics()
    second = ledger.size
    ledger.submit(_define(2), ISSUER)
    record = _pathway_record(ledger)
    assert [v.version for v in record.versions] == [1, 2]
    assert record.current.position.index == second and record.retired is None
    assert record.version(1) == record.versions[0] and record.version(3) is None


def test_pathway_define_needs_the_owners_current_key_and_standing(ledger: Ledger) -> None:
    ledger.rejects(_define(1, owner=OTHER_ISSUER.did), OTHER_ISSUER, "unknown_issuer")
    ledger.rejects(_define(1), OTHER_ISSUER, "wrong_key")  # nobody defines in another's name
    ledger.rejects(_define(1), GOVERNANCE, "wrong_key")  # not even governance
    ledger.submit(IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER)
    ledger.rejects(_define(1), ISSUER, "wrong_key")  # rotated out
    ledger.submit(_define(1), ISSUER_NEXT)
    ledger.submit(IssuerRetire(ISSUER.did), ISSUER_NEXT)
    violation = ledger.rejects(_define(2), ISSUER_NEXT, "issuer_retired")
    assert "can no longer define pathways" in violation.diagnostics()


def test_a_compromised_owner_defines_nothing_more(ledger: Ledger) -> None:
    ledger.submit(_define(1), ISSUER)
    ledger.submit(IssuerCompromise(ISSUER.did, ledger.size, "stolen"), GOVERNANCE)
    ledger.rejects(_define(2), ISSUER, "issuer_retired")


def test_pathway_ids_live_in_their_owners_namespace(ledger: Ledger) -> None:
    ledger.submit(IssuerRegister(OTHER_ISSUER.did, "Other", OTHER_ISSUER.public_key), GOVERNANCE)
    ledger.submit(_define(1), ISSUER)
    ledger.submit(_define(1, owner=OTHER_ISSUER.did), OTHER_ISSUER)  # its own pathway
    ledger.rejects(PathwayRetire(ISSUER.did, PATHWAY), OTHER_ISSUER, "wrong_key")
    assert _pathway_record(ledger) != _pathway_record(ledger, OTHER_ISSUER.did)
    assert pathway_status_key(ISSUER.did, PATHWAY) != pathway_status_key(OTHER_ISSUER.did,
                                                                         PATHWAY)


def test_pathway_retire_is_final(ledger: Ledger) -> None:
    ledger.rejects(PathwayRetire(ISSUER.did, PATHWAY), ISSUER, "unknown_pathway")
    ledger.submit(_define(1), ISSUER)
    retired_at = ledger.size
    ledger.submit(PathwayRetire(ISSUER.did, PATHWAY), ISSUER)
    record = _pathway_record(ledger)
    assert record.retired == Position(retired_at, ledger.height)
    assert [v.version for v in record.versions] == [1]  # history stays
    ledger.rejects(PathwayRetire(ISSUER.did, PATHWAY), ISSUER, "pathway_retired")
    ledger.rejects(PathwayRetire(ISSUER.did, PATHWAY), GOVERNANCE, "pathway_retired")
    ledger.rejects(_define(2), ISSUER, "pathway_retired")


def test_governance_and_a_retired_owner_may_retire_a_pathway(ledger: Ledger) -> None:
    ledger.submit(_define(1), ISSUER)
    ledger.submit(_define(1, pathway_id=PATHWAY + "-2"), ISSUER)
    ledger.submit(PathwayRetire(ISSUER.did, PATHWAY), GOVERNANCE)
    ledger.submit(IssuerRetire(ISSUER.did), ISSUER)
    # Retiring only takes trust away: allowed after the owner's own retirement.
    ledger.submit(PathwayRetire(ISSUER.did, PATHWAY + "-2"), ISSUER)


def test_pathway_versions_are_bounded(ledger: Ledger) -> None:
    for version in range(1, MAX_PATHWAY_VERSIONS + 1):
        ledger.submit(_define(version), ISSUER)
    ledger.rejects(_define(MAX_PATHWAY_VERSIONS + 1), ISSUER, "too_many_versions")
    assert len(_pathway_record(ledger).versions) == MAX_PATHWAY_VERSIONS
