"""node/tlog.py: the persistent RFC 9162 log over hash tiles.

Every root and proof is compared with client.merkle's list-based functions
(themselves checked against a naive RFC 9162 reference in test_merkle.py) and
verified with client.merkle.verify_*.  Tile contents are checked against the
C2SP tlog-tiles definition, including the spec's own 70,000-leaf example.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import plyvel
import pytest

from client import merkle
from client.errors import UsageError
from client.hashes import Hash
from node.errors import StoreCorrupted
from node.store import Store
from node.tlog import LOG_SIZE_META, PersistentLog

BOUNDARY_SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 600]


def make_leaves(rng: random.Random, count: int, start: int) -> list[bytes]:
    # Distinct leaves of varying length, so a swapped or dropped leaf changes the root.
    return [start.to_bytes(8, "big") + rng.randbytes(rng.randrange(0, 24)) for start in
            range(start, start + count)]


def append(store: Store, log: PersistentLog, leaves: list[bytes]) -> None:
    batch = store.batch()
    staged = log.stage_append(leaves, batch)
    batch.commit()
    log.applied(staged)


def raw_db(path: Path) -> plyvel.DB:
    return plyvel.DB(str(path))


def tile_key(level: int, tile: int) -> bytes:
    return b"T" + bytes([level]) + tile.to_bytes(8, "big")


def check_against_reference(
    log: PersistentLog, leaf_hashes: list[Hash], rng: random.Random, pairs: int
) -> None:
    """Random (index, size) and (old, new) pairs over all sizes up to the log's."""
    size_now = len(leaf_hashes)
    for _ in range(pairs):
        size = rng.randint(1, size_now)
        index = rng.randrange(size)
        root = merkle.root_hash(leaf_hashes[:size])
        assert log.root_at(size) == root
        proof = log.inclusion_proof(index, size)
        assert proof == merkle.inclusion_proof(leaf_hashes[:size], index)
        merkle.verify_inclusion(leaf_hashes[index], index, size, proof, root)
        old = rng.randint(0, size)
        consistency = log.consistency_proof(old, size)
        assert consistency == merkle.consistency_proof(leaf_hashes[:size], old)
        merkle.verify_consistency(old, size, merkle.root_hash(leaf_hashes[:old]), root,
                                  consistency)


# --- appends against the list-based reference -------------------------------------------------


def test_random_blocks_match_the_list_reference(db_path: Path, store: Store) -> None:
    rng = random.Random(9162)
    log = PersistentLog(store)
    leaf_hashes: list[Hash] = []
    sizes = [*BOUNDARY_SIZES, *(rng.randint(1, 600) for _ in range(6))]
    rng.shuffle(sizes)
    for count in sizes:
        leaves = make_leaves(rng, count, len(leaf_hashes))
        batch = store.batch()
        staged = log.stage_append(leaves, batch)
        assert staged.leaf_hashes == tuple(merkle.leaf_hash(leaf) for leaf in leaves)
        assert staged.new_size == len(leaf_hashes) + count
        batch.commit()
        log.applied(staged)
        leaf_hashes.extend(staged.leaf_hashes)
        assert log.size == len(leaf_hashes)
        assert log.root() == staged.new_root == merkle.root_hash(leaf_hashes)
        check_against_reference(log, leaf_hashes, rng, pairs=6)
    assert log.size > 3000
    # Every leaf reads back, and its leaf hash is the stored level-0 node.
    probe = rng.sample(range(log.size), 50)
    for index in probe:
        assert merkle.leaf_hash(log.leaf(index)) == log.node_hash(0, index) == leaf_hashes[index]

    # Restart: the rebuilt log answers exactly as before, and keeps appending correctly.
    store.close()
    reopened = Store.open(db_path, create=False)
    try:
        log = PersistentLog(reopened)
        assert log.size == len(leaf_hashes)
        assert log.root() == merkle.root_hash(leaf_hashes)
        check_against_reference(log, leaf_hashes, rng, pairs=10)
        for count in (1, 257):
            leaves = make_leaves(rng, count, len(leaf_hashes))
            append(reopened, log, leaves)
            leaf_hashes.extend(merkle.leaf_hash(leaf) for leaf in leaves)
            assert log.root() == merkle.root_hash(leaf_hashes)
        check_against_reference(log, leaf_hashes, rng, pairs=5)
    finally:
        reopened.close()


def test_one_leaf_at_a_time_every_size(store: Store) -> None:
    """Sizes 1..300 one by one: every root, and every proof at the last size."""
    rng = random.Random(1)
    log = PersistentLog(store)
    leaf_hashes: list[Hash] = []
    for size in range(1, 301):
        leaves = make_leaves(rng, 1, size)
        append(store, log, leaves)
        leaf_hashes.append(merkle.leaf_hash(leaves[0]))
        assert log.root() == merkle.root_hash(leaf_hashes)
    for size in range(0, 301):
        assert log.root_at(size) == merkle.root_hash(leaf_hashes[:size])
    for index in range(300):
        assert log.inclusion_proof(index, 300) == merkle.inclusion_proof(leaf_hashes, index)
    for old in range(301):
        assert log.consistency_proof(old, 300) == merkle.consistency_proof(leaf_hashes, old)


def test_staged_append_changes_nothing_until_applied(store: Store) -> None:
    rng = random.Random(2)
    log = PersistentLog(store)
    first = make_leaves(rng, 300, 0)
    append(store, log, first)
    root = log.root()
    proof = log.inclusion_proof(299, 300)

    abandoned = store.batch()
    staged = log.stage_append(make_leaves(rng, 500, 300), abandoned)
    assert staged.new_size == 800
    assert (log.size, log.root(), log.inclusion_proof(299, 300)) == (300, root, proof)
    del abandoned  # never committed: the block was not decided

    # A different block on the same parent, as after a consensus round change.
    second = make_leaves(rng, 10, 300)
    batch = store.batch()
    other = log.stage_append(second, batch)
    batch.commit()
    log.applied(other)
    expected = [merkle.leaf_hash(leaf) for leaf in first + second]
    assert log.root() == merkle.root_hash(expected)
    assert store.get_entry(310) is None  # nothing of the abandoned block reached the disk
    with pytest.raises(UsageError, match="starts at size 300"):
        log.applied(staged)
    with pytest.raises(UsageError, match="starts at size 300"):
        log.applied(other)  # applying twice


def test_empty_append_is_a_no_op(store: Store) -> None:
    log = PersistentLog(store)
    batch = store.batch()
    staged = log.stage_append([], batch)
    batch.commit()
    log.applied(staged)
    assert (log.size, log.root()) == (0, merkle.EMPTY_ROOT)
    assert store.get_meta(LOG_SIZE_META) is None


def test_proof_bounds_are_usage_errors(store: Store) -> None:
    log = PersistentLog(store)
    with pytest.raises(UsageError, match="size 0 has no leaves"):
        log.inclusion_proof(0, 0)
    append(store, log, make_leaves(random.Random(3), 10, 0))
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: log.inclusion_proof(10, 10), "not below the tree size"),
        (lambda: log.inclusion_proof(-1, 5), "not below the tree size"),
        (lambda: log.inclusion_proof(0, 11), "outside the log's sizes 0..10"),
        (lambda: log.consistency_proof(3, 11), "outside the log's sizes 0..10"),
        (lambda: log.consistency_proof(6, 5), "not in 0..5"),
        (lambda: log.consistency_proof(-1, 5), "not in 0..5"),
        (lambda: log.root_at(11), "outside the log's sizes"),
        (lambda: log.root_at(-1), "outside the log's sizes"),
        (lambda: log.node_hash(1, 5), "not a complete subtree"),
        (lambda: log.node_hash(4, 0), "not a complete subtree"),
        (lambda: log.node_hash(64, 0), "not a complete subtree"),
        (lambda: log.leaf(10), "outside the log"),
    ]
    for call, message in cases:
        with pytest.raises(UsageError, match=message):
            call()
    not_bytes: list[bytes] = [b"ok", "text"]  # type: ignore[list-item]
    with pytest.raises(UsageError, match="leaf 1 is str, not bytes"):
        log.stage_append(not_bytes, store.batch())
    assert log.consistency_proof(0, 10) == []
    assert log.consistency_proof(10, 10) == []
    assert log.root_at(0) == merkle.EMPTY_ROOT


# --- tiles: the C2SP tlog-tiles layout ------------------------------------------------------------


def test_tiles_are_c2sp_tiles_at_levels_0_8_16(db_path: Path) -> None:
    """C2SP tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0
    tiles, one partial level 0 tile of width 112, one full level 1 tile, one partial
    level 1 tile of width 17, and one partial level 2 tile of width 1"."""
    store = Store.open(db_path, create=True)
    rng = random.Random(4)
    log = PersistentLog(store)
    leaf_hashes: list[Hash] = []
    for start in range(0, 70_000, 7_000):
        leaves = [start.to_bytes(8, "big") + bytes([i & 0xFF]) for i in range(7_000)]
        append(store, log, leaves)
        leaf_hashes.extend(merkle.leaf_hash(leaf) for leaf in leaves)
    store.close()

    raw = raw_db(db_path)
    try:
        tiles: dict[tuple[int, int], bytes] = {
            (key[1], int.from_bytes(key[2:], "big")): value
            for key, value in raw.iterator(prefix=b"T")
        }
        assert raw.get(b"Mlog_size") == (70_000).to_bytes(8, "big")
    finally:
        raw.close()

    def widths(level: int) -> list[int]:
        return [len(tiles[level, t]) // 32 for t in range(len(tiles)) if (level, t) in tiles]

    assert widths(0) == [256] * 273 + [112]
    assert widths(8) == [256, 17]
    assert widths(16) == [1]
    # Our in-between levels: level L holds the 70000 >> L complete nodes of height L.
    for level in range(17):
        assert sum(widths(level)) == 70_000 >> level
    assert all((level, 0) not in tiles for level in range(17, 64))

    # Content: C2SP tile l/n, hash i is MTH(D[(256n + i) * 256**l : (256n + i + 1) * 256**l]).
    for level, tile in [(0, 0), (0, 273), (8, 0), (8, 1), (16, 0), (3, 5), (1, 136), (11, 0)]:
        data = tiles[level, tile]
        for i in rng.sample(range(len(data) // 32), min(5, len(data) // 32)):
            lo = ((256 * tile + i) << level)
            expected = merkle.root_hash(leaf_hashes[lo : lo + (1 << level)])
            assert data[32 * i : 32 * i + 32] == expected


# --- corruption -----------------------------------------------------------------------------------


def build(db_path: Path, size: int) -> list[Hash]:
    store = Store.open(db_path, create=True)
    log = PersistentLog(store)
    rng = random.Random(size)
    leaves = make_leaves(rng, size, 0)
    append(store, log, leaves[: size // 2])
    append(store, log, leaves[size // 2 :])
    store.close()
    return [merkle.leaf_hash(leaf) for leaf in leaves]


def test_missing_peak_tile_is_refused_on_open(db_path: Path) -> None:
    build(db_path, 1000)  # 1000 = 512 + 256 + 128 + 64 + 32 + 8: peaks at levels 9, 8, 7, 6, 5, 3
    raw = raw_db(db_path)
    raw.delete(tile_key(7, 0))
    raw.close()
    store = Store.open(db_path, create=False)
    try:
        with pytest.raises(StoreCorrupted, match="log tile 7/0 is missing"):
            PersistentLog(store)
    finally:
        store.close()


def test_truncated_edge_tile_is_refused_on_open(db_path: Path) -> None:
    build(db_path, 1000)
    raw = raw_db(db_path)
    raw.put(tile_key(0, 3), raw.get(tile_key(0, 3))[:-32])  # 1000 - 768 = 232 hashes there
    raw.close()
    store = Store.open(db_path, create=False)
    try:
        with pytest.raises(StoreCorrupted, match=r"log tile 0/3 is 7392 bytes; .* must be 7424"):
            PersistentLog(store)
    finally:
        store.close()


def test_deleted_or_truncated_full_tile_is_refused_when_read(db_path: Path) -> None:
    leaf_hashes = build(db_path, 1000)
    raw = raw_db(db_path)
    raw.delete(tile_key(0, 1))
    raw.put(tile_key(1, 0), raw.get(tile_key(1, 0))[:100])
    raw.close()
    store = Store.open(db_path, create=False)
    try:
        log = PersistentLog(store)  # the right edge is intact, so the log opens
        assert log.root() == merkle.root_hash(leaf_hashes)
        with pytest.raises(StoreCorrupted, match="log tile 0/1 is missing"):
            log.inclusion_proof(300, 1000)
        with pytest.raises(StoreCorrupted, match="log tile 1/0 is 100 bytes"):
            log.inclusion_proof(3, 1000)
        assert log.inclusion_proof(900, 1000) == merkle.inclusion_proof(leaf_hashes, 900)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw.delete(b"Mlog_size"), "stored leaves but no recorded log size"),
        (lambda raw: raw.put(b"Mlog_size", b"\x00"), "log size is 1 bytes"),
        (lambda raw: raw.put(b"Mlog_size", (999).to_bytes(8, "big")), "of 999 leaves it must be"),
        (lambda raw: raw.delete(b"E" + (999).to_bytes(8, "big")), "log entry 999, the newest"),
        (lambda raw: raw.put(b"E" + (999).to_bytes(8, "big"), b"x"), "does not match its"),
        (lambda raw: raw.put(b"E" + (1000).to_bytes(8, "big"), b"x"), "beyond the log size"),
    ],
)
def test_inconsistent_log_metadata_is_refused(db_path: Path, damage: object, message: str) -> None:
    build(db_path, 1000)
    raw = raw_db(db_path)
    damage(raw)  # type: ignore[operator]
    raw.close()
    store = Store.open(db_path, create=False)
    try:
        with pytest.raises(StoreCorrupted, match=message):
            PersistentLog(store)
    finally:
        store.close()


# --- scale ----------------------------------------------------------------------------------------


def test_scale_200k_leaves_in_blocks_of_1000(db_path: Path, store: Store) -> None:
    log = PersistentLog(store)
    leaf_hashes: list[Hash] = []
    for block in range(200):
        leaves = [(block * 1000 + i).to_bytes(8, "big") for i in range(1000)]
        batch = store.batch()
        staged = log.stage_append(leaves, batch)
        batch.commit()
        log.applied(staged)
        leaf_hashes.extend(staged.leaf_hashes)
    assert log.size == 200_000
    assert log.root() == merkle.root_hash(leaf_hashes)
    rng = random.Random(6)
    for size in (131_072, 199_999, 200_000):
        root = merkle.root_hash(leaf_hashes[:size])
        assert log.root_at(size) == root
        for index in rng.sample(range(size), 20):
            merkle.verify_inclusion(leaf_hashes[index], index, size,
                                    log.inclusion_proof(index, size), root)
        old = rng.randrange(1, size)
        merkle.verify_consistency(old, size, merkle.root_hash(leaf_hashes[:old]), root,
                                  log.consistency_proof(old, size))


def test_worked_example_of_the_storage_draft(db_path: Path) -> None:
    """The three-leaf example of docs/protocol.md ("Storage"), byte for byte, from hashlib."""
    leaves = [b"event 0", b"event 1", b"header 1"]
    store = Store.open(db_path, create=True)
    append(store, PersistentLog(store), leaves)
    store.close()
    h = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    n01 = hashlib.sha256(b"\x01" + h[0] + h[1]).digest()
    expected = {
        b"Mformat": b"vcledger-store-1",
        b"Mlog_size": bytes.fromhex("0000000000000003"),
        tile_key(0, 0): h[0] + h[1] + h[2],
        tile_key(1, 0): n01,
        **{b"E" + i.to_bytes(8, "big"): leaf for i, leaf in enumerate(leaves)},
    }
    raw = raw_db(db_path)
    try:
        assert dict(raw.iterator()) == expected
    finally:
        raw.close()
    assert h[0].hex() == "a344deda6399e079700f18caccc174ed11ef1b1d164271e3a95d82c734466977"
    root = hashlib.sha256(b"\x01" + n01 + h[2]).hexdigest()
    assert root == "41990c641e03d22623c09d3cbab3b037b5fb2524137cd5990c5e67bad7c69753"
