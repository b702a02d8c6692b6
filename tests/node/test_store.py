"""node/store.py: key families, batches that are all or nothing, opening rules.

The byte layout is checked with plyvel directly, against the key formats that
docs/protocol.md ("Storage") states, so the test does not trust the module's
own key builders.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import plyvel
import pytest

from client.errors import UsageError
from node.errors import StoreCorrupted
from node.store import STORE_FORMAT, LruCache, Store, StoreUnavailable

ROOT = Path(__file__).resolve().parents[2]


def be64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def fill_every_family(store: Store) -> None:
    """One value per family, all under the 'same' suffix where the shapes allow it."""
    same32 = bytes(range(32))
    batch = store.batch()
    batch.put_meta(b"name", b"meta")
    batch.put_tile(1, 1, b"\x11" * 64)
    batch.put_entry(1, b"entry")
    batch.put_event_position(same32, 1, 2)
    batch.put_block(1, b"block")
    batch.put_nodes({same32: b"node"})
    batch.put_status({same32: b"status"})
    batch.commit()
    store.put_cosignatures(1, b"cosignatures")
    store.put_wal(be64(1), b"wal")
    store.put_evidence(be64(1), b"evidence")


# --- batches ------------------------------------------------------------------------------------


def test_batch_is_invisible_until_commit(store: Store) -> None:
    batch = store.batch()
    batch.put_entry(0, b"leaf")
    batch.put_block(1, b"block")
    batch.put_meta(b"head", b"h")
    assert store.get_entry(0) is None
    assert store.get_block(1) is None
    assert store.get_meta(b"head") is None
    batch.commit()
    assert store.get_entry(0) == b"leaf"
    assert store.get_block(1) == b"block"
    assert store.get_meta(b"head") == b"h"


def test_batch_that_raises_before_commit_writes_nothing(db_path: Path) -> None:
    store = Store.open(db_path, create=True)

    def stage_block() -> None:
        batch = store.batch()
        for index in range(100):
            batch.put_entry(index, b"x")
        batch.put_meta(b"head", b"new head")
        raise RuntimeError("a rule failed halfway")

    with pytest.raises(RuntimeError):
        stage_block()
    assert store.get_meta(b"head") is None
    assert list(store.iter_entries(0, 1000)) == []
    store.close()
    # Not even a clean close flushes the abandoned batch.
    store = Store.open(db_path, create=False)
    assert store.get_meta(b"head") is None
    assert list(store.iter_entries(0, 1000)) == []
    store.close()


def test_batch_commits_once(store: Store) -> None:
    batch = store.batch()
    batch.put_entry(0, b"a")
    batch.commit()
    with pytest.raises(UsageError, match="already committed"):
        batch.commit()
    with pytest.raises(UsageError, match="already committed"):
        batch.put_entry(1, b"b")
    assert store.get_entry(1) is None


def test_later_put_in_a_batch_wins(store: Store) -> None:
    batch = store.batch()
    batch.put_status({b"k" * 32: b"old"})
    batch.put_status({b"k" * 32: b"new"})
    batch.commit()
    assert store.get_status(b"k" * 32) == b"new"


def test_put_entries_equals_put_entry(store: Store) -> None:
    batch = store.batch()
    batch.put_entries(10, [b"a", b"b", b"c"])
    batch.commit()
    assert list(store.iter_entries(0, 100)) == [(10, b"a"), (11, b"b"), (12, b"c")]


# --- key families -------------------------------------------------------------------------------


def test_families_do_not_collide(store: Store) -> None:
    fill_every_family(store)
    same32 = bytes(range(32))
    assert store.get_meta(b"name") == b"meta"
    assert store.get_tile(1, 1) == b"\x11" * 64
    assert store.get_entry(1) == b"entry"
    assert store.get_event_position(same32) == (1, 2)
    assert store.get_block(1) == b"block"
    assert store.get_node(same32) == b"node"
    assert store.get_status(same32) == b"status"
    assert store.get_cosignatures(1) == b"cosignatures"
    assert store.get_wal(be64(1)) == b"wal"
    assert list(store.iter_evidence(None, 10)) == [(be64(1), b"evidence")]
    # Nothing leaks into a neighbouring key of the same family.
    assert store.get_entry(0) is None and store.get_entry(2) is None
    assert store.get_tile(0, 1) is None and store.get_tile(1, 0) is None


def test_raw_key_layout_is_the_documented_one(db_path: Path) -> None:
    store = Store.open(db_path, create=True)
    fill_every_family(store)
    store.close()
    same32 = bytes(range(32))
    expected = {
        b"M" + b"format": STORE_FORMAT,
        b"M" + b"name": b"meta",
        b"T" + b"\x01" + be64(1): b"\x11" * 64,
        b"E" + be64(1): b"entry",
        b"H" + same32: be64(1) + be64(2),
        b"B" + be64(1): b"block",
        b"S" + same32: b"node",
        b"V" + same32: b"status",
        b"C" + be64(1): b"cosignatures",
        b"W" + be64(1): b"wal",
        b"X" + be64(1): b"evidence",
    }
    raw = plyvel.DB(str(db_path))
    try:
        assert dict(raw.iterator()) == expected
    finally:
        raw.close()


def test_iter_entries_is_numeric_order(store: Store) -> None:
    rng = random.Random(5)
    indices = [0, 1, 255, 256, 257, 65535, 65536, 2**32 - 1, 2**32, 2**40 + 3, 2**63]
    shuffled = indices[:]
    rng.shuffle(shuffled)
    batch = store.batch()
    for index in shuffled:
        batch.put_entry(index, be64(index % 2**64))
    batch.commit()
    assert [i for i, _ in store.iter_entries(0, 2**64 - 1)] == indices
    assert list(store.iter_entries(256, 65536)) == [(256, be64(256)), (257, be64(257)),
                                                    (65535, be64(65535))]
    assert list(store.iter_entries(5, 5)) == []
    assert list(store.iter_entries(10, 3)) == []


def test_event_position_of_unknown_leaf_is_none(store: Store) -> None:
    assert store.get_event_position(b"\x00" * 32) is None


def test_wal_prefixes_and_deletion(store: Store) -> None:
    for height in (1, 2):
        for step in range(3):
            store.put_wal(be64(height) + bytes([step]), f"{height}.{step}".encode())
    assert [v for _, v in store.iter_wal(be64(1))] == [b"1.0", b"1.1", b"1.2"]
    store.delete_wal_prefix(be64(1))
    assert list(store.iter_wal(be64(1))) == []
    assert [k for k, _ in store.iter_wal(b"")] == [be64(2) + bytes([s]) for s in range(3)]
    assert store.get_wal(be64(2) + b"\x01") == b"2.1"


def test_evidence_pages(store: Store) -> None:
    keys = [be64(i) for i in range(7)]
    for key in reversed(keys):
        store.put_evidence(key, key[::-1])
    store.put_wal(b"\xff", b"not evidence")  # a family after X must not show up
    assert [k for k, _ in store.iter_evidence(None, 3)] == keys[:3]
    assert [k for k, _ in store.iter_evidence(keys[2], 3)] == keys[3:6]
    assert [k for k, _ in store.iter_evidence(keys[5], 3)] == keys[6:]
    assert list(store.iter_evidence(keys[6], 3)) == []
    assert list(store.iter_evidence(None, 0)) == []


# --- opening ------------------------------------------------------------------------------------


def test_reopen_keeps_data(db_path: Path) -> None:
    store = Store.open(db_path, create=True)
    fill_every_family(store)
    store.close()
    store.close()  # idempotent
    assert store.closed
    store = Store.open(db_path, create=False)
    assert store.get_entry(1) == b"entry"
    assert store.get_meta(b"format") == STORE_FORMAT
    store.close()


def test_create_makes_parent_directories(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a" / "b" / "db", create=True)
    store.close()
    assert (tmp_path / "a" / "b" / "db" / "CURRENT").is_file()


def test_missing_directory_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no vcledger database in"):
        Store.open(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_second_open_in_this_process_is_refused(store: Store, db_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="is another vcledger-node running on this data dir"):
        Store.open(db_path, create=True)
    assert store.get_meta(b"format") == STORE_FORMAT  # the first one still works


def test_second_open_from_another_process_is_refused(store: Store, db_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from node.store import Store, StoreUnavailable\n"
        "try:\n"
        "    Store.open(Path(sys.argv[1]), create=False)\n"
        "except StoreUnavailable as exc:\n"
        "    print(exc.diagnostics())\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code, str(db_path)], capture_output=True,
                            text=True, env=env, timeout=60, check=False)
    assert result.returncode == 3, result.stderr
    assert "is another vcledger-node running on this data dir?" in result.stdout


def test_other_format_marker_is_refused(db_path: Path) -> None:
    Store.open(db_path, create=True).close()
    raw = plyvel.DB(str(db_path))
    raw.put(b"Mformat", b"vcledger-store-0")
    raw.close()
    for create in (False, True):
        with pytest.raises(StoreCorrupted, match="vcledger-store-0"):
            Store.open(db_path, create=create)


def test_foreign_leveldb_is_refused(db_path: Path) -> None:
    raw = plyvel.DB(str(db_path), create_if_missing=True)
    raw.put(b"some", b"thing")
    raw.close()
    with pytest.raises(StoreCorrupted, match="without a vcledger format marker"):
        Store.open(db_path, create=True)
    raw = plyvel.DB(str(db_path))
    assert raw.get(b"Mformat") is None  # refused without writing anything
    raw.close()


def test_corrupted_database_is_reported(db_path: Path) -> None:
    store = Store.open(db_path, create=True)
    batch = store.batch()
    batch.put_entries(0, [bytes([i]) * 1000 for i in range(200)])
    batch.commit()
    store.close()
    raw = plyvel.DB(str(db_path))
    raw.compact_range()  # move everything into a table file
    raw.close()
    (table,) = [p for p in db_path.iterdir() if p.suffix in (".ldb", ".sst")]
    data = bytearray(table.read_bytes())
    for offset in range(100, len(data) - 100, 97):
        data[offset] ^= 0xFF
    table.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupted):
        reopened = Store.open(db_path, create=False)
        try:
            # paranoid checks may pass on open; a read of the table then fails
            list(reopened.iter_entries(0, 200))
            for index in range(200):
                reopened.get_entry(index)
        finally:
            reopened.close()


def test_lru_cache_is_bounded_and_keeps_recent() -> None:
    cache: LruCache[int, bytes] = LruCache(3)
    for key in range(3):
        cache.put(key, bytes([key]))
    assert cache.get(0) == b"\x00"  # 0 is now the most recent
    cache.put(3, b"\x03")
    assert len(cache) == 3
    assert cache.get(1) is None
    assert [cache.get(k) for k in (0, 2, 3)] == [b"\x00", b"\x02", b"\x03"]
