"""node/statemap.py: the status map over the store.

Proofs are checked with client.smt's verifiers and values with node.statemap_tree's tree
walk, so the ``V`` family (the one-read shortcut) is compared with the tree it
must mirror.  Each block's expected contents are kept as a plain dict.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from client.errors import UsageError
from client.hashes import Hash
from client.smt import EMPTY, MAX_VALUE_SIZE, verify_membership, verify_non_membership
from node.errors import StoreCorrupted
from node.statemap import StatusMap
from node.statemap_tree import MemoryNodeStore, apply_updates
from node.store import Store


def status_key(n: int) -> bytes:
    return hashlib.sha256(b"key" + n.to_bytes(4, "big")).digest()


def commit(status: StatusMap, store: Store, updates: dict[bytes, bytes]) -> Hash:
    batch = store.batch()
    new_root = status.stage(updates, batch)
    batch.commit()
    status.applied(new_root)
    return new_root


def check_proof(status: StatusMap, key: bytes, root: Hash, expected: bytes | None) -> None:
    value, proof = status.prove(key, root)
    assert value == expected
    if expected is None:
        verify_non_membership(root, key, proof)
    else:
        verify_membership(root, key, expected, proof)


History = list[tuple[Hash, dict[bytes, bytes]]]


def run_blocks(status: StatusMap, store: Store, blocks: int) -> History:
    """Commit ``blocks`` random blocks (new keys and overwrites); return each (root, contents)."""
    rng = random.Random(blocks)
    contents: dict[bytes, bytes] = {}
    history: History = []
    next_key = 0
    for height in range(blocks):
        updates: dict[bytes, bytes] = {}
        for _ in range(rng.randint(1, 40)):
            if contents and rng.random() < 0.3:
                key = rng.choice(sorted(contents))  # a revocation overwrites an issuance
            else:
                key, next_key = status_key(next_key), next_key + 1
            updates[key] = f"record {height} {rng.random()}".encode()
        root = commit(status, store, updates)
        contents.update(updates)
        history.append((root, dict(contents)))
    return history


def test_stage_changes_nothing_until_applied(store: Store) -> None:
    status = StatusMap(store, EMPTY)
    updates = {status_key(1): b"issued", status_key(2): b"anchored"}
    batch = store.batch()
    new_root = status.stage(updates, batch)
    # The root is the map's root over exactly these pairs, computed independently.
    assert new_root == apply_updates(EMPTY, updates, MemoryNodeStore())[0]
    assert status.root == EMPTY
    assert status.get(status_key(1)) is None  # not committed yet
    assert store.get_node(new_root) is None
    batch.commit()
    assert status.root == EMPTY
    status.applied(new_root)
    assert status.root == new_root
    assert status.get(status_key(1)) == b"issued"
    check_proof(status, status_key(2), new_root, b"anchored")
    check_proof(status, status_key(3), new_root, None)


def test_uncommitted_stage_leaves_the_store_untouched(store: Store) -> None:
    status = StatusMap(store, EMPTY)
    root = commit(status, store, {status_key(1): b"a"})
    abandoned = store.batch()
    other_root = status.stage({status_key(2): b"b"}, abandoned)
    del abandoned
    # The next block is staged from the committed root, not the abandoned one.
    batch = store.batch()
    next_root = status.stage({status_key(3): b"c"}, batch)
    batch.commit()
    status.applied(next_root)
    assert store.get_node(other_root) is None
    assert status.get(status_key(2)) is None
    check_proof(status, status_key(2), next_root, None)
    check_proof(status, status_key(1), root, b"a")


def test_invalid_update_puts_nothing(store: Store) -> None:
    status = StatusMap(store, EMPTY)
    batch = store.batch()
    with pytest.raises(UsageError, match="status key must be 32 bytes"):
        status.stage({status_key(1): b"fine", b"short": b"bad"}, batch)
    batch.commit()
    assert store.get_status(status_key(1)) is None
    with pytest.raises(UsageError, match=f"limit is {MAX_VALUE_SIZE}"):
        status.stage({status_key(1): bytes(MAX_VALUE_SIZE + 1)}, store.batch())


def test_historical_proofs_and_the_v_family(db_path: Path, store: Store) -> None:
    status = StatusMap(store, EMPTY)
    history = run_blocks(status, store, 25)
    every_key = sorted(history[-1][1])
    absent = [status_key(10_000 + n) for n in range(5)]
    rng = random.Random(7)
    # Every earlier root still proves what it held then, after all later updates.
    for root, contents in history:
        for key in rng.sample(every_key, 8) + absent[:1]:
            check_proof(status, key, root, contents.get(key))
            assert status.value_at(key, root) == contents.get(key)
    # The V family is exactly the tree at the newest root.
    final_root, final = history[-1]
    for key in every_key + absent:
        assert status.get(key) == status.value_at(key, final_root) == final.get(key)
    # Default root of prove is the current one.
    value, _ = status.prove(every_key[0])
    assert value == final[every_key[0]]

    store.close()
    reopened = Store.open(db_path, create=False)
    try:
        status = StatusMap(reopened, final_root)
        for root, contents in history[::6]:
            for key in rng.sample(every_key, 5):
                check_proof(status, key, root, contents.get(key))
        for key in rng.sample(every_key, 10):
            assert status.get(key) == final[key]
        # And it keeps updating correctly after the restart.
        key = every_key[3]
        new_root = commit(status, reopened, {key: b"revoked"})
        check_proof(status, key, new_root, b"revoked")
        check_proof(status, key, final_root, final[key])
        expected = {**final, key: b"revoked"}
        assert new_root == apply_updates(EMPTY, expected, MemoryNodeStore())[0]
    finally:
        reopened.close()


def test_missing_root_node_is_refused(store: Store) -> None:
    status = StatusMap(store, EMPTY)
    root = commit(status, store, {status_key(1): b"a"})
    StatusMap(store, root)  # fine
    with pytest.raises(StoreCorrupted, match=r"root node [0-9a-f]{64} is missing"):
        StatusMap(store, Hash(hashlib.sha256(b"never stored").digest()))


def test_small_cache_reads_through_to_the_store(store: Store) -> None:
    status = StatusMap(store, EMPTY, cache_size=2)
    history = run_blocks(status, store, 8)
    root, contents = history[-1]
    for key, value in contents.items():
        check_proof(status, key, root, value)
