"""node/ledger.py over a real LevelDB store: blocks, heads, proofs, reopening, corruption.

Roots and proofs are checked with client.merkle and client.smt against roots
recomputed here from the stored leaves (client.merkle.root_hash over every
leaf), so the test does not trust the persistent log's own bookkeeping.  Damage
is done with plyvel directly, at the key layout docs/protocol.md ("Storage")
states.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import plyvel
import pytest

from client.block import decode_header, decode_leaf
from client.checkpoint import parse_checkpoint
from client.errors import UsageError
from client.events import CredentialRevoke, RevocationReason, SignedEvent
from client.hashes import Hash
from client.merkle import leaf_hash, root_hash, verify_consistency, verify_inclusion
from client.smt import verify_membership, verify_non_membership
from client.status import (
    CredentialRecord,
    IssuerRecord,
    credential_status_key,
    decode_record,
    issuer_status_key,
)
from node.config import Genesis
from node.errors import NotFound, RuleViolation, StoreCorrupted
from node.ledger import Head, Ledger, PreparedBlock
from node.store import Store
from tests.nodeutil import TestIssuer, digest, fixed_key, write_network

CREATED = 1_780_000_000
GOVERNANCE = fixed_key("governance")
ISSUER = TestIssuer(fixed_key("issuer"))
PROPOSER = fixed_key("validator")


def block_time(height: int) -> int:
    return (CREATED + 60) * 1000 + height


@pytest.fixture
def genesis(tmp_path: Path) -> Genesis:
    return write_network(tmp_path / "net", governance=GOVERNANCE,
                         validator_keys=[PROPOSER]).genesis


@pytest.fixture
def ledger(db_path: Path, genesis: Genesis) -> Iterator[Ledger]:
    store = Store.open(db_path, create=True)
    yield Ledger(store, genesis)
    store.close()


def prepare(ledger: Ledger, events: Sequence[SignedEvent], *, drop_invalid: bool = False,
            time_ms: int | None = None) -> PreparedBlock:
    return ledger.prepare_block(events, time_ms=time_ms or block_time(ledger.head.height + 1),
                                proposer=PROPOSER.public_key, drop_invalid=drop_invalid)


def commit(ledger: Ledger, events: Sequence[SignedEvent]) -> Head:
    return ledger.commit(prepare(ledger, events))


def issue_events(count: int, start: int = 0) -> list[SignedEvent]:
    return [ISSUER.issue(i, created=CREATED) for i in range(start, start + count)]


def revoke(label: int, created: int = CREATED) -> SignedEvent:
    return ISSUER.sign(CredentialRevoke(ISSUER.did, digest(label), RevocationReason.FRAUD),
                       created)


def build_chain(ledger: Ledger) -> list[Head]:
    """Block 1 registers the issuer, block 2 issues 5 credentials, block 3 revokes one."""
    return [
        commit(ledger, [ISSUER.register(GOVERNANCE, created=CREATED)]),
        commit(ledger, issue_events(5)),
        commit(ledger, [revoke(2)]),
    ]


def all_leaf_hashes(ledger: Ledger) -> list[Hash]:
    return [leaf_hash(ledger.leaf(i)) for i in range(ledger.head.tree_size)]


# -- blocks, roots and proofs -------------------------------------------------------------


def test_blocks_commit_and_every_proof_verifies(ledger: Ledger, genesis: Genesis) -> None:
    heads = build_chain(ledger)
    assert [h.height for h in heads] == [1, 2, 3]
    assert [h.tree_size for h in heads] == [2, 8, 10]  # events + one header leaf per block
    assert ledger.head == heads[-1]

    hashes = all_leaf_hashes(ledger)
    for head in heads:
        # The head's root is the RFC 9162 root of the stored leaves, recomputed here.
        assert head.log_root == root_hash(hashes[: head.tree_size])
        assert head.header is not None
        assert decode_header(ledger.leaf(head.tree_size - 1)) == head.header
        assert ledger.header(head.height) == head.header
        body = parse_checkpoint(ledger.checkpoint_body(head.tree_size))
        assert (body.origin, body.tree_size, body.root) == (
            genesis.origin, head.tree_size, head.log_root)
        for index in range(head.tree_size):
            verify_inclusion(hashes[index], index, head.tree_size,
                             ledger.inclusion_proof(index, head.tree_size), head.log_root)
    for old in heads:
        for new in heads:
            if old.tree_size <= new.tree_size:
                verify_consistency(old.tree_size, new.tree_size, old.log_root, new.log_root,
                                   ledger.consistency_proof(old.tree_size, new.tree_size))

    # The headers chain: block 1 names the genesis hash, each later one its parent.
    headers = [h.header for h in heads]
    assert headers[0] is not None and headers[0].previous == genesis.hash
    for parent, child in itertools.pairwise(headers):
        assert parent is not None and child is not None and child.previous == parent.hash
    # A block's events are the leaves before its header.
    block2 = ledger.header(2)
    assert ledger.event_hashes(block2) == [e.hash for e in issue_events(5)]
    assert [decode_leaf(ledger.leaf(i)).hash for i in range(block2.first_index, block2.index)] \
        == ledger.event_hashes(block2)


def test_status_proofs_verify_at_every_block(ledger: Ledger) -> None:
    heads = build_chain(ledger)
    key = credential_status_key(ISSUER.did, digest(2))

    # At block 2 the credential is issued and not revoked; at block 3 revoked; at 1 absent.
    at_1 = ledger.status_proof(key, heads[0].tree_size)
    assert at_1.value is None
    verify_non_membership(at_1.header.status_root, key, at_1.proof)

    at_2 = ledger.status_proof(key, heads[1].tree_size)
    assert at_2.value is not None
    verify_membership(at_2.header.status_root, key, at_2.value, at_2.proof)
    record = decode_record(at_2.value)
    assert isinstance(record, CredentialRecord) and record.revoked is None
    assert record.issued is not None and record.issued.height == 2

    now = ledger.status_proof(key)
    assert now.header == heads[2].header and now.value is not None
    verify_membership(now.header.status_root, key, now.value, now.proof)
    revoked = decode_record(now.value)
    assert isinstance(revoked, CredentialRecord) and revoked.revoked is not None
    assert revoked.revoked.reason == RevocationReason.FRAUD
    assert revoked.revoked.position.index == heads[1].tree_size  # first leaf of block 3
    assert revoked.issued == record.issued  # the history is kept

    issuer = ledger.status_proof(issuer_status_key(ISSUER.did))
    assert issuer.value is not None
    assert isinstance(decode_record(issuer.value), IssuerRecord)
    verify_membership(issuer.header.status_root, issuer_status_key(ISSUER.did), issuer.value,
                      issuer.proof)


def test_status_proof_needs_a_block_boundary(ledger: Ledger) -> None:
    heads = build_chain(ledger)
    with pytest.raises(UsageError, match="not a block boundary"):
        ledger.status_proof(issuer_status_key(ISSUER.did), heads[1].tree_size - 2)
    with pytest.raises(UsageError, match="outside"):
        ledger.status_proof(issuer_status_key(ISSUER.did), heads[-1].tree_size + 1)


def test_empty_ledger_has_no_blocks(ledger: Ledger) -> None:
    assert ledger.head.height == 0 and ledger.head.tree_size == 0 and ledger.head.header is None
    with pytest.raises(NotFound):
        ledger.status_proof(issuer_status_key(ISSUER.did))
    with pytest.raises(NotFound):
        ledger.leaf(0)
    with pytest.raises(NotFound):
        ledger.block_record(1)


def test_empty_block_is_just_a_header(ledger: Ledger) -> None:
    build_chain(ledger)
    before = ledger.head
    head = commit(ledger, [])
    assert head.height == before.height + 1 and head.tree_size == before.tree_size + 1
    assert head.header is not None and head.header.event_count == 0
    assert head.status_root == before.status_root


# -- prepare, seal, commit ---------------------------------------------------------------


def test_prepare_changes_nothing_until_commit(ledger: Ledger) -> None:
    build_chain(ledger)
    head = ledger.head
    first = prepare(ledger, issue_events(3, start=100))
    second = prepare(ledger, issue_events(2, start=200))
    # Both staged on the same head; neither is visible.
    assert ledger.head == head and ledger.log.size == head.tree_size
    assert ledger.log.root() == head.log_root and ledger.status.root == head.status_root
    for event in first.events + second.events:
        assert ledger.event_position(event.hash) is None
        assert not ledger.has_event(event.hash)
        assert ledger.get_record(credential_status_key(ISSUER.did, event.payload.digest)) is None  # type: ignore[union-attr]
    assert ledger.store.get_entry(head.tree_size) is None
    with pytest.raises(NotFound):
        ledger.leaf(head.tree_size)

    new_head = ledger.commit(second)
    assert new_head.tree_size == head.tree_size + 3
    # The other block was prepared on a parent that is no longer the head.
    with pytest.raises(UsageError, match="no longer the head"):
        ledger.commit(first)
    assert ledger.head == new_head
    for event in first.events:
        assert ledger.event_position(event.hash) is None
    for offset, event in enumerate(second.events):
        position = ledger.event_position(event.hash)
        assert position is not None and position.index == head.tree_size + offset
        # Read (and remembered) as absent above: adopting the block must forget that.
        assert ledger.has_event(event.hash)
        status_key = credential_status_key(ISSUER.did, event.payload.digest)  # type: ignore[union-attr]
        assert ledger.get_record(status_key) is not None
    assert new_head.log_root == root_hash(all_leaf_hashes(ledger))


def test_readers_see_the_old_head_until_adopt(ledger: Ledger) -> None:
    """seal() + the batch written off the event loop: nothing shows before adopt()."""
    build_chain(ledger)
    head = ledger.head
    block = prepare(ledger, issue_events(2, start=300))
    new_head = ledger.seal(block)
    block.batch.commit()  # durable now, but not adopted
    assert ledger.head == head
    for event in block.events:
        assert ledger.event_position(event.hash) is None
    with pytest.raises(NotFound):
        ledger.leaf(head.tree_size)
    ledger.adopt(block, new_head)
    assert ledger.head == new_head
    assert ledger.event_position(block.events[0].hash) is not None


def test_bad_block_time_and_strict_judging(ledger: Ledger) -> None:
    build_chain(ledger)
    assert ledger.head.header is not None
    with pytest.raises(RuleViolation) as caught:
        prepare(ledger, [], time_ms=ledger.head.header.time_ms)
    assert caught.value.code == "bad_block_time"
    # Judging someone else's block: the first violation raises.
    with pytest.raises(RuleViolation) as caught:
        prepare(ledger, [revoke(999)])
    assert caught.value.code == "unknown_credential"
    # Building one's own: the bad event is left out and reported.
    block = prepare(ledger, [revoke(999), *issue_events(1, start=400)], drop_invalid=True)
    assert [e.hash for e, _ in block.rejected] == [revoke(999).hash]
    assert block.header.event_count == 1


def test_conflicting_events_in_one_block(ledger: Ledger) -> None:
    build_chain(ledger)
    first, second = revoke(3, CREATED), revoke(3, CREATED + 1)
    block = prepare(ledger, [first, second], drop_invalid=True)
    assert block.events == [first]
    assert [(e.hash, v.code) for e, v in block.rejected] == [(second.hash, "already_revoked")]


# -- reopening, crashes and corruption ---------------------------------------------------


def reopen(db_path: Path, genesis: Genesis) -> tuple[Store, Ledger]:
    store = Store.open(db_path, create=False)
    try:
        return store, Ledger(store, genesis)
    except BaseException:
        store.close()
        raise


def test_reopen_gives_the_same_head(db_path: Path, genesis: Genesis) -> None:
    store = Store.open(db_path, create=True)
    ledger = Ledger(store, genesis)
    heads = build_chain(ledger)
    proof = ledger.inclusion_proof(3, heads[-1].tree_size)
    store.close()

    store, again = reopen(db_path, genesis)
    try:
        assert again.head == heads[-1]
        assert again.log.root() == heads[-1].log_root
        assert again.status.root == heads[-1].status_root
        assert again.inclusion_proof(3, heads[-1].tree_size) == proof
        # And it keeps going where it stopped.
        head = commit(again, issue_events(2, start=500))
        assert head.height == 4 and head.header is not None
        assert head.header.previous == heads[-1].header.hash  # type: ignore[union-attr]
    finally:
        store.close()


def test_block_built_but_never_written_leaves_the_previous_head(
        db_path: Path, genesis: Genesis) -> None:
    store = Store.open(db_path, create=True)
    ledger = Ledger(store, genesis)
    heads = build_chain(ledger)
    block = prepare(ledger, issue_events(4, start=600))
    ledger.seal(block)  # head record and block record in the batch too, never committed
    store.close()  # "the process died"

    store, again = reopen(db_path, genesis)
    try:
        assert again.head == heads[-1]
        assert all(again.event_position(e.hash) is None for e in block.events)
        # The same block can be built again and committed.
        assert commit(again, block.events).height == heads[-1].height + 1
    finally:
        store.close()


def damage(db_path: Path, *keys: bytes) -> None:
    db = plyvel.DB(str(db_path))
    try:
        for key in keys:
            assert db.get(key) is not None, f"nothing stored under {key!r}"
            db.delete(key, sync=True)
    finally:
        db.close()


@pytest.fixture
def committed(db_path: Path, genesis: Genesis) -> Head:
    store = Store.open(db_path, create=True)
    heads = build_chain(Ledger(store, genesis))
    store.close()
    return heads[-1]


def test_missing_newest_entry_is_refused(db_path: Path, genesis: Genesis,
                                         committed: Head) -> None:
    damage(db_path, b"E" + (committed.tree_size - 1).to_bytes(8, "big"))
    with pytest.raises(StoreCorrupted, match=f"entry {committed.tree_size - 1}"):
        reopen(db_path, genesis)


def test_missing_head_record_is_refused(db_path: Path, genesis: Genesis,
                                        committed: Head) -> None:
    damage(db_path, b"Mhead")
    with pytest.raises(StoreCorrupted, match="no block"):
        reopen(db_path, genesis)


def test_missing_status_root_node_is_refused(db_path: Path, genesis: Genesis,
                                             committed: Head) -> None:
    damage(db_path, b"S" + committed.status_root)
    with pytest.raises(StoreCorrupted, match="status map's root node"):
        reopen(db_path, genesis)


def test_head_naming_another_log_root_is_refused(db_path: Path, genesis: Genesis,
                                                 committed: Head) -> None:
    # A head record whose root is not the root of the stored tiles (tampering,
    # or a torn write that LevelDB's batches rule out).
    db = plyvel.DB(str(db_path))
    try:
        forged = Head(committed.height, committed.tree_size, Hash(bytes(32)),
                      committed.status_root, committed.header)
        db.put(b"Mhead", forged.encode(), sync=True)
    finally:
        db.close()
    with pytest.raises(StoreCorrupted, match=r"inconsistent database.*log root"):
        reopen(db_path, genesis)


def test_another_networks_database_is_refused(db_path: Path, tmp_path: Path,
                                              committed: Head) -> None:
    other = write_network(tmp_path / "other", governance=GOVERNANCE,
                          validator_keys=[PROPOSER], origin="vcledger.example/other").genesis
    with pytest.raises(StoreCorrupted, match="different network"):
        reopen(db_path, other)
