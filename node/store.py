"""The node's LevelDB database behind a small interface; the only module that imports plyvel.

One database per node.  Every key starts with a one-byte *family* prefix, and
integers inside keys are 8-byte big-endian, so LevelDB's byte order is numeric
order and a range of heights or indices is one iterator.  The families (the
byte layout is in docs/protocol.md, "Storage"):

====== =========================================== ===========================================
prefix key after the prefix                          value
====== =========================================== ===========================================
``M``  ASCII name (``format``, ``log_size``, ...)    bytes (``format`` = :data:`STORE_FORMAT`)
``T``  level (1 byte) || tile index (8 BE)           1..256 concatenated 32-byte node hashes
``E``  log index (8 BE)                              leaf bytes (the canonical event or header)
``H``  leaf hash (32)                                log index (8 BE) || block height (8 BE)
``B``  block height (8 BE)                           the ledger's block record (opaque here)
``S``  status-map node hash (32)                     node bytes (node/statemap_tree.py's format)
``V``  status key (32)                               the latest status record of that key
``C``  tree size (8 BE)                              cosignature lines (opaque here)
``W``  opaque key                                    consensus write-ahead log (opaque here)
``X``  opaque key                                    evidence of misbehaviour (opaque here)
====== =========================================== ===========================================

Tiles (``T``) are defined by :mod:`node.tlog`.

Writes that belong to a block go through one :class:`StoreBatch`, which is
one LevelDB ``WriteBatch`` written with ``sync=True``: a crash leaves the whole
block or none of it (DESIGN.md, "Storage").  Cosignatures, the write-ahead log
and evidence are written outside block batches, each put synced on its own.

Memory is bounded: LevelDB's own block cache (:data:`BLOCK_CACHE_BYTES`) and
the callers' small :class:`LruCache` instances; nothing grows with the log.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

import plyvel

from client.errors import UsageError
from client.hashes import Hash
from node.errors import NodeError, StoreCorrupted

__all__ = [
    "BLOCK_CACHE_BYTES",
    "STORE_FORMAT",
    "WRITE_BUFFER_BYTES",
    "LruCache",
    "Store",
    "StoreBatch",
    "StoreUnavailable",
]

STORE_FORMAT = b"vcledger-store-1"
"""Value of the ``M`` ``format`` key; a database with another value is refused."""

BLOCK_CACHE_BYTES = 32 * 1024 * 1024
"""LevelDB's LRU cache of uncompressed blocks (hot tiles, top status-map nodes)."""

WRITE_BUFFER_BYTES = 16 * 1024 * 1024
"""LevelDB's memtable size.  Four times the default: a block of a few thousand
entries then rarely forces a flush, which halved commit time in our measurements."""

_FORMAT_NAME = b"format"

# One packer per key shape, with the family byte bound in, so a hot read is a
# C call to build the key and a C call to look it up.
_KEY_U64 = struct.Struct(">cQ")
_KEY_TILE = struct.Struct(">cBQ")
_POSITION = struct.Struct(">QQ")

_meta_key = b"M".__add__
_tile_key = partial(_KEY_TILE.pack, b"T")
_entry_key = partial(_KEY_U64.pack, b"E")
_event_key = b"H".__add__
_block_key = partial(_KEY_U64.pack, b"B")
_node_key = b"S".__add__
_status_key = b"V".__add__
_cosignature_key = partial(_KEY_U64.pack, b"C")
_wal_key = b"W".__add__
_evidence_key = b"X".__add__

_MAX_TILE_LEVEL = 63
"""Levels 0..63 cover every complete subtree of a tree of up to 2**64 - 1 leaves."""

K = TypeVar("K")
V = TypeVar("V")


class StoreUnavailable(NodeError):
    """The database cannot be opened or written: missing, locked, or an I/O failure.

    Unlike :class:`node.errors.StoreCorrupted` the data may be fine; the
    operator fixes the cause (path, a second node process, the disk) and retries.
    """

    code = "store_unavailable"
    http_status = 503


class LruCache(Generic[K, V]):
    """A dict that keeps at most ``capacity`` entries, dropping the least recently used.

    For immutable values only (full tiles, content-addressed nodes): a cached
    value is never invalidated.
    """

    __slots__ = ("_capacity", "_data")

    def __init__(self, capacity: int) -> None:
        assert capacity > 0
        self._capacity = capacity
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)  # values are immutable: the cached one is the same
            return
        data[key] = value
        if len(data) > self._capacity:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _describe(exc: BaseException) -> str:
    """LevelDB's message as text (plyvel passes it on as bytes)."""
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        return detail.decode("utf-8", "replace")
    return str(detail)


class Store:
    """One node's LevelDB database.  Open with :meth:`open`; reads are thread-safe."""

    __slots__ = ("_db", "_get", "path")

    def __init__(self, db: plyvel.DB, path: Path) -> None:
        """Use :meth:`open`; this only wraps an already checked database."""
        self._db = db
        self._get = db.get
        self.path = path

    @classmethod
    def open(cls, path: Path, *, create: bool) -> Store:
        """Open (or with ``create`` make) the database in directory ``path``.

        Raises :class:`StoreUnavailable` if ``path`` holds no database and
        ``create`` is false, or another process (or this one) has it open, or
        LevelDB cannot open it; :class:`node.errors.StoreCorrupted` if LevelDB
        reports corruption or the ``format`` marker is missing or another
        than :data:`STORE_FORMAT`.  Only a directory without a database gets
        a new one: an existing database that LevelDB opens empty lost its files
        (a copy of a running node, say) and is refused, never taken as new.
        """
        path = Path(path)
        existed = (path / "CURRENT").is_file()
        if not create and not existed:
            raise StoreUnavailable(
                f"no vcledger database in {path}; check the data directory, or initialise a "
                "new node there"
            )
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create the data directory {path}: {exc}") from exc
        try:
            db = plyvel.DB(
                str(path),
                create_if_missing=create,
                paranoid_checks=True,
                lru_cache_size=BLOCK_CACHE_BYTES,
                write_buffer_size=WRITE_BUFFER_BYTES,
                # Most event-hash lookups are for events never seen (the replay
                # check on admission); a bloom filter answers those without a disk read.
                bloom_filter_bits=10,
            )
        except plyvel.CorruptionError as exc:
            raise StoreCorrupted(
                f"the database in {path} is corrupted ({_describe(exc)}); restore it from a "
                "backup or re-sync the node into an empty directory"
            ) from exc
        except plyvel.Error as exc:
            message = _describe(exc)
            if "LOCK" in message and ("already held" in message or "unavailable" in message):
                raise StoreUnavailable(
                    f"the database in {path} is locked: is another vcledger-node running on "
                    "this data dir?"
                ) from exc
            raise StoreUnavailable(f"cannot open the database in {path}: {message}") from exc
        try:
            cls._check_format(db, path, create=create and not existed)
        except plyvel.CorruptionError as exc:
            db.close()
            raise StoreCorrupted(
                f"the database in {path} is corrupted ({_describe(exc)}); restore it from a "
                "backup or re-sync the node into an empty directory"
            ) from exc
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    @staticmethod
    def _check_format(db: plyvel.DB, path: Path, *, create: bool) -> None:
        marker = db.get(_meta_key(_FORMAT_NAME))
        if marker == STORE_FORMAT:
            return
        if marker is None:
            with db.iterator(include_value=False) as keys:
                empty = next(keys, None) is None
            if empty and create:
                db.put(_meta_key(_FORMAT_NAME), STORE_FORMAT, sync=True)
                return
            if empty:
                raise StoreCorrupted(
                    f"the database in {path} exists but holds nothing, not even its format "
                    "marker: its files are incomplete (copied from a running node?) or its "
                    "first start was cut short; restore a backup taken while the node was "
                    "stopped, or move the directory away and re-sync into an empty one"
                )
            raise StoreCorrupted(
                f"{path} holds a LevelDB database without a vcledger format marker; it is not "
                "a vcledger data directory"
            )
        raise StoreCorrupted(
            f"the database in {path} has format {marker!r}, but this vcledger-node reads "
            f"{STORE_FORMAT!r}; use a matching vcledger version"
        )

    def close(self) -> None:
        """Close the database; calling it again does nothing."""
        if not self._db.closed:
            self._db.close()

    @property
    def closed(self) -> bool:
        return bool(self._db.closed)

    def _read(self, key: bytes) -> bytes | None:
        try:
            return self._get(key)  # type: ignore[no-any-return]
        except plyvel.CorruptionError as exc:
            raise StoreCorrupted(f"LevelDB reports corruption: {_describe(exc)}") from exc

    def _scan(self, iterator: Any) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` pairs of a plyvel iterator, closed at the end, corruption reported."""
        with iterator as pairs:
            try:
                yield from pairs
            except plyvel.CorruptionError as exc:
                raise StoreCorrupted(f"LevelDB reports corruption: {_describe(exc)}") from exc

    # -- reads ---------------------------------------------------------------------------------

    def get_meta(self, name: bytes) -> bytes | None:
        return self._read(_meta_key(name))

    def get_tile(self, level: int, tile: int) -> bytes | None:
        """Hashes of level ``level``, nodes ``[256 * tile, 256 * tile + 256)`` (node.tlog)."""
        return self._read(_tile_key(level, tile))

    def get_entry(self, index: int) -> bytes | None:
        return self._read(_entry_key(index))

    def iter_entries(self, start: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """``(index, leaf)`` for the stored entries with ``start <= index < stop``, in order."""
        if stop <= start:
            return
        unpack_index = _KEY_U64.unpack
        for key, value in self._scan(
            self._db.iterator(start=_entry_key(start), stop=_entry_key(stop))
        ):
            yield unpack_index(key)[1], value

    def get_event_position(self, leaf_hash: bytes) -> tuple[int, int] | None:
        """``(log index, block height)`` of the leaf with this RFC 9162 leaf hash."""
        raw = self._read(_event_key(leaf_hash))
        if raw is None:
            return None
        if len(raw) != _POSITION.size:
            raise StoreCorrupted(
                f"event position of {leaf_hash.hex()} is {len(raw)} bytes, not {_POSITION.size}"
            )
        index, height = _POSITION.unpack(raw)
        return index, height

    def get_block(self, height: int) -> bytes | None:
        return self._read(_block_key(height))

    def get_node(self, node_hash: bytes) -> bytes | None:
        """Stored bytes of a status-map node (the :class:`node.statemap_tree.NodeReader`
        protocol)."""
        return self._read(_node_key(node_hash))

    def get_status(self, status_key: bytes) -> bytes | None:
        """The latest status record of ``status_key`` (committed blocks only)."""
        return self._read(_status_key(status_key))

    def get_cosignatures(self, tree_size: int) -> bytes | None:
        return self._read(_cosignature_key(tree_size))

    def get_wal(self, key: bytes) -> bytes | None:
        return self._read(_wal_key(key))

    def iter_wal(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` of the write-ahead log entries whose key starts with ``prefix``."""
        for key, value in self._scan(self._db.iterator(prefix=_wal_key(prefix))):
            yield key[1:], value

    def iter_evidence(
        self, start_after: bytes | None, limit: int
    ) -> Iterator[tuple[bytes, bytes]]:
        """Up to ``limit`` evidence entries in key order, after ``start_after`` if given."""
        if limit <= 0:
            return
        if start_after is None:
            iterator = self._db.iterator(prefix=b"X")
        else:
            iterator = self._db.iterator(
                start=_evidence_key(start_after), include_start=False, stop=b"Y"
            )
        for count, (key, value) in enumerate(self._scan(iterator), 1):
            yield key[1:], value
            if count == limit:
                return

    # -- writes outside block batches (each one synced) --------------------------------------

    def _put_synced(self, key: bytes, value: bytes) -> None:
        try:
            self._db.put(key, value, sync=True)
        except plyvel.Error as exc:
            raise StoreUnavailable(f"writing to the database failed: {_describe(exc)}") from exc

    def put_cosignatures(self, tree_size: int, data: bytes) -> None:
        self._put_synced(_cosignature_key(tree_size), data)

    def put_wal(self, key: bytes, value: bytes) -> None:
        self._put_synced(_wal_key(key), value)

    def delete_wal_prefix(self, prefix: bytes) -> None:
        """Delete the write-ahead log entries starting with ``prefix`` (one synced batch)."""
        batch = self._db.write_batch(sync=True)
        with self._db.iterator(prefix=_wal_key(prefix), include_value=False) as keys:
            for key in keys:
                batch.delete(key)
        try:
            batch.write()
        except plyvel.Error as exc:
            raise StoreUnavailable(f"writing to the database failed: {_describe(exc)}") from exc

    def put_evidence(self, key: bytes, value: bytes) -> None:
        self._put_synced(_evidence_key(key), value)

    def batch(self) -> StoreBatch:
        """A new, empty batch of block writes; nothing is visible until its commit."""
        return StoreBatch(self._db.write_batch(sync=True))


class StoreBatch:
    """Puts collected for one block, written by :meth:`commit` as one synced LevelDB batch.

    Nothing is visible to readers before :meth:`commit`, and a batch that is
    dropped without a commit (for instance because staging raised) writes
    nothing.  Later puts of the same key win.
    """

    __slots__ = ("_batch", "_committed", "_put")

    def __init__(self, batch: plyvel.WriteBatch) -> None:
        self._batch = batch
        self._put = batch.put
        self._committed = False

    @staticmethod
    def _refuse_put(key: bytes, value: bytes) -> None:
        raise UsageError("this store batch was already committed; start a new one")

    def put_meta(self, name: bytes, value: bytes) -> None:
        self._put(_meta_key(name), value)

    def put_tile(self, level: int, tile: int, data: bytes) -> None:
        """Store tile ``(level, tile)``: 1..256 hashes, i.e. 32..8192 bytes (node.tlog)."""
        assert 0 <= level <= _MAX_TILE_LEVEL and 0 < len(data) <= 8192 and not len(data) % 32
        self._put(_tile_key(level, tile), data)

    def put_entry(self, index: int, leaf: bytes) -> None:
        self._put(_entry_key(index), leaf)

    def put_entries(self, first_index: int, leaves: Iterable[bytes]) -> None:
        """``put_entry(first_index + i, leaf)`` for the ``i``-th leaf, without a call per leaf."""
        put = self._put
        for index, leaf in enumerate(leaves, first_index):
            put(_entry_key(index), leaf)

    def put_event_position(self, leaf_hash: bytes, index: int, height: int) -> None:
        self._put(_event_key(leaf_hash), _POSITION.pack(index, height))

    def put_block(self, height: int, data: bytes) -> None:
        self._put(_block_key(height), data)

    def put_nodes(self, nodes: Mapping[Hash, bytes] | Mapping[bytes, bytes]) -> None:
        """Status-map nodes by hash (content addressed, so rewriting one is harmless)."""
        put = self._put
        for node_hash, data in nodes.items():
            put(_node_key(node_hash), data)

    def put_status(self, values: Mapping[Hash, bytes] | Mapping[bytes, bytes]) -> None:
        """The new latest status record of each key."""
        put = self._put
        for status_key, value in values.items():
            put(_status_key(status_key), value)

    def commit(self) -> None:
        """Write every put at once (all or nothing) and wait for the disk (``sync=True``).

        A batch commits once; a second call raises :class:`UsageError`.
        """
        if self._committed:
            raise UsageError("this store batch was already committed")
        self._committed = True
        self._put = self._refuse_put
        try:
            self._batch.write()
        except plyvel.Error as exc:
            raise StoreUnavailable(f"writing a block to the database failed: "
                                   f"{_describe(exc)}") from exc
