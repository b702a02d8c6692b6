"""The node's RFC 9162 log, persisted as hash tiles in the store.

The log is one RFC 9162 §2.1 Merkle tree over every leaf ever appended
(events and block headers; see :mod:`client.block`).  Only *complete*
subtrees are stored: the node at ``(level, index)`` is the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``, and it exists once the log has
that many leaves.  Nodes are grouped 256 to a *tile*: tile ``(level, t)`` holds
the hashes of nodes ``256 t .. 256 t + 255`` of ``level``, concatenated, and
holds exactly ``min(256, (size >> level) - 256 t)`` of them for a log of
``size`` leaves (a *partial* tile is the rightmost one of its level).

Tiles at levels 0, 8, 16, ... are byte for byte the tiles ``L/8`` of C2SP
tlog-tiles ("Merkle Tree" section), whose level-``l`` tile ``n`` holds
``MTH(D[(256 n + i) * 256**l : (256 n + i + 1) * 256**l])``; we also keep the
seven levels in between, so every complete node is one read and no proof
rehashes a tile.

Costs: appending ``k`` leaves hashes ``k`` leaves and at most ``k + log2 n``
interior nodes and writes O(k/256 + levels) tiles; the root of any size and any
inclusion or consistency proof reads O(log n) nodes (:func:`client.merkle.subtree_hash`
over :meth:`PersistentLog.node_hash`).  Memory: the compact range (one hash per
level), the partial tile of each level (at most 8 KiB per level) and a
bounded LRU of full tiles, which never change once written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from client.errors import UsageError
from client.hashes import HASH_SIZE, Hash
from client.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    CompactRange,
    consistency_proof_ranges,
    inclusion_proof_ranges,
    leaf_hash,
    node_hash,
    subtree_hash,
)
from node.errors import StoreCorrupted
from node.store import LruCache, Store, StoreBatch

__all__ = ["LOG_SIZE_META", "TILE_BYTES", "TILE_WIDTH", "PersistentLog", "StagedAppend"]

TILE_WIDTH = 256
"""Hashes in a full tile (C2SP tlog-tiles)."""

TILE_BYTES = TILE_WIDTH * HASH_SIZE

LOG_SIZE_META = b"log_size"
"""``M`` key holding the log size as 8 bytes big-endian, written in each append's batch."""

MAX_LEVEL = 63
"""The highest level a complete node can have in a tree of at most 2**64 - 1 leaves."""

FULL_TILE_CACHE = 1024
"""Full tiles kept in memory (8 MiB): the upper levels of every proof, and the newest tiles."""

_RECENT_FULL_TILES = 64
"""Full tiles a :class:`StagedAppend` hands to the cache when applied (the newest ones)."""


@dataclass(frozen=True, slots=True)
class StagedAppend:
    """An append whose writes are in a :class:`StoreBatch` but not yet adopted by the log.

    ``new_size`` and ``new_root`` describe the log after the append;
    ``leaf_hashes`` are the RFC 9162 leaf hashes of the appended leaves, in
    order.  The other fields are the log's private state for
    :meth:`PersistentLog.applied`.
    """

    new_size: int
    new_root: Hash
    leaf_hashes: tuple[Hash, ...]
    base_size: int = field(repr=False)
    peaks: tuple[Hash, ...] = field(repr=False)
    edges: dict[int, bytes | None] = field(repr=False, compare=False)
    full_tiles: tuple[tuple[tuple[int, int], bytes], ...] = field(repr=False, compare=False)


class PersistentLog:
    """The append-only RFC 9162 log of one node, over a :class:`Store`.

    Not thread-safe for writers: one task stages and applies appends.  The
    log's size only changes in :meth:`applied`, after the caller committed
    the batch that :meth:`stage_append` filled.
    """

    __slots__ = ("_edges", "_full_tiles", "_range", "_root", "_size", "_store")

    def __init__(self, store: Store, *, tile_cache_size: int = FULL_TILE_CACHE) -> None:
        """Load the log from ``store``: O(log n) reads, no rehashing of the tree.

        Reads the size (``M`` ``log_size``) and the rightmost tile of every
        level, which holds that level's peak of the compact range, and checks
        the newest entry against its leaf hash.  Raises
        :class:`node.errors.StoreCorrupted` if a tile is missing or has the
        wrong length for the size, or entries and tiles disagree.
        """
        self._store = store
        self._full_tiles: LruCache[tuple[int, int], bytes] = LruCache(tile_cache_size)
        self._edges: dict[int, bytes] = {}
        size = self._load_size()
        self._range = CompactRange.from_peaks(size, self._load_right_edge(size))
        self._size = size
        self._root = self._range.root()
        self._check_entries(size)

    def _load_size(self) -> int:
        raw = self._store.get_meta(LOG_SIZE_META)
        if raw is None:
            if self._store.get_tile(0, 0) is not None or self._store.get_entry(0) is not None:
                raise StoreCorrupted("the log has stored leaves but no recorded log size")
            return 0
        if len(raw) != 8:
            raise StoreCorrupted(f"the recorded log size is {len(raw)} bytes, not 8")
        return int.from_bytes(raw, "big")

    def _load_right_edge(self, size: int) -> list[Hash]:
        """Read the rightmost tile of each level; return the peaks of a log of ``size``.

        The peak at ``level`` (present when bit ``level`` of ``size`` is set) is
        node ``(size >> level) - 1``, the last hash of that level's rightmost tile.
        """
        peaks: list[Hash] = []
        for level in range(size.bit_length() - 1, -1, -1):
            count = size >> level
            tile = (count - 1) >> 8
            width = ((count - 1) & 0xFF) + 1
            data = self._store.get_tile(level, tile)
            self._check_tile(level, tile, data, width * HASH_SIZE, size)
            assert data is not None
            if width < TILE_WIDTH:
                self._edges[level] = data
            else:
                self._full_tiles.put((level, tile), data)
            if count & 1:
                peaks.append(Hash(data[-HASH_SIZE:]))
        return peaks

    def _check_entries(self, size: int) -> None:
        if size == 0:
            return
        newest = self._store.get_entry(size - 1)
        if newest is None:
            raise StoreCorrupted(f"log entry {size - 1}, the newest of {size}, is missing")
        if leaf_hash(newest) != self.node_hash(0, size - 1):
            raise StoreCorrupted(f"log entry {size - 1} does not match its stored leaf hash")
        if self._store.get_entry(size) is not None:
            raise StoreCorrupted(f"the store holds log entry {size} beyond the log size {size}")

    @staticmethod
    def _check_tile(level: int, tile: int, data: bytes | None, expected: int, size: int) -> None:
        if data is None:
            raise StoreCorrupted(
                f"log tile {level}/{tile} is missing; a log of {size} leaves has it"
            )
        if len(data) != expected:
            raise StoreCorrupted(
                f"log tile {level}/{tile} is {len(data)} bytes; in a log of {size} leaves it "
                f"must be {expected}"
            )

    # -- state -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of leaves in the log (adopted appends only)."""
        return self._size

    def root(self) -> Hash:
        """MTH of the whole log (RFC 9162 §2.1.1); :data:`client.merkle.EMPTY_ROOT` if empty."""
        return self._root

    def root_after(self, leaves: Sequence[bytes]) -> Hash:
        """MTH of the log with ``leaves`` appended, staging nothing (checks a claimed root)."""
        extended = CompactRange.from_peaks(self.size, self._range.peaks)
        for leaf in leaves:
            extended.append(leaf_hash(leaf))
        return extended.root()

    # -- appending -------------------------------------------------------------------------

    def stage_append(self, leaves: Sequence[bytes], batch: StoreBatch) -> StagedAppend:
        """Put the writes that append ``leaves`` into ``batch``; change nothing else.

        Puts each entry, every tile that gains a node, and the new
        ``log_size`` into ``batch``.  After ``batch.commit()`` call
        :meth:`applied` with the result; until then the log, its root and its
        proofs are unchanged, and a staged append that is never committed is
        simply dropped.  Precondition: no other append is staged into the
        same batch.

        New nodes are computed a level at a time: level 0 is the new leaf
        hashes; the new nodes of level ``L + 1`` pair up the new nodes of
        level ``L``, preceded by the old peak at ``L`` when the first new node
        is a right child.  That is the same tree :class:`CompactRange` builds
        one leaf at a time, with at most ``k + log2 n`` hashes for ``k`` leaves.
        """
        old_size = self.size
        if not leaves:
            return StagedAppend(old_size, self._root, (), old_size, self._range.peaks, {}, ())
        new_size = old_size + len(leaves)
        if new_size > MAX_TREE_SIZE:
            raise UsageError(f"appending {len(leaves)} leaves would pass 2**64 - 1 leaves")
        for position, leaf in enumerate(leaves):
            if not isinstance(leaf, bytes):
                raise UsageError(f"leaf {position} is {type(leaf).__name__}, not bytes")
        hashes = [leaf_hash(leaf) for leaf in leaves]
        batch.put_entries(old_size, leaves)

        old_peaks = dict(
            zip((level for level, _ in CompactRange.peak_nodes(old_size)), self._range.peaks,
                strict=True)
        )
        new_peaks: dict[int, Hash] = {}
        edges: dict[int, bytes | None] = {}
        full_tiles: deque[tuple[tuple[int, int], bytes]] = deque(maxlen=_RECENT_FULL_TILES)
        level, lo, hi, row = 0, old_size, new_size, hashes
        while True:
            # ``row`` holds the new nodes lo..hi-1 of ``level``.
            self._stage_tiles(level, lo, row, batch, edges=edges, full_tiles=full_tiles)
            if hi & 1:
                new_peaks[level] = row[-1]
            if lo >> 1 == hi >> 1:
                break  # no node above this level is new
            if lo & 1:
                # The first new node is a right child; its left sibling is
                # the old peak at this level.
                row = [old_peaks[level], *row]
            # An odd last node waits for its right sibling (a later append).
            row = [
                node_hash(left, right)
                for left, right in zip(row[0::2], row[1::2], strict=False)
            ]
            level, lo, hi = level + 1, lo >> 1, hi >> 1
            assert len(row) == hi - lo
        for peak_level, peak in old_peaks.items():
            if peak_level > level:
                new_peaks[peak_level] = peak  # above the changes, the peaks stay
        peaks = tuple(new_peaks[peak_level] for peak_level in sorted(new_peaks, reverse=True))
        new_root = CompactRange.from_peaks(new_size, peaks).root()
        batch.put_meta(LOG_SIZE_META, new_size.to_bytes(8, "big"))
        return StagedAppend(new_size, new_root, tuple(hashes), old_size, peaks, edges,
                            tuple(full_tiles))

    def _stage_tiles(
        self,
        level: int,
        lo: int,
        row: list[Hash],
        batch: StoreBatch,
        *,
        edges: dict[int, bytes | None],
        full_tiles: deque[tuple[tuple[int, int], bytes]],
    ) -> None:
        """Merge the new nodes ``row`` (``lo`` onwards) of ``level`` into its tiles."""
        kept = lo & 0xFF
        if kept:
            existing = self._edges[level]
            assert len(existing) == kept * HASH_SIZE, "partial tile out of step with the size"
            data = existing + b"".join(row)
        else:
            data = b"".join(row)
        tile = lo >> 8
        chunk = b""
        for start in range(0, len(data), TILE_BYTES):
            chunk = data[start : start + TILE_BYTES]
            batch.put_tile(level, tile, chunk)
            if len(chunk) == TILE_BYTES:
                full_tiles.append(((level, tile), chunk))
            tile += 1
        edges[level] = chunk if len(chunk) < TILE_BYTES else None

    def applied(self, staged: StagedAppend) -> None:
        """Adopt ``staged`` after its batch was committed: size, root and proofs move on.

        Raises :class:`UsageError` if ``staged`` was not staged on the log's
        current size (a second writer, or applying twice).
        """
        if staged.base_size != self.size:
            raise UsageError(
                f"the staged append starts at size {staged.base_size}, but the log has "
                f"{self.size} leaves"
            )
        if staged.new_size == staged.base_size:
            return
        self._range = CompactRange.from_peaks(staged.new_size, staged.peaks)
        self._size = staged.new_size
        self._root = staged.new_root
        for level, edge in staged.edges.items():
            if edge is None:
                self._edges.pop(level, None)
            else:
                self._edges[level] = edge
        for key, data in staged.full_tiles:
            self._full_tiles.put(key, data)

    # -- reading ---------------------------------------------------------------------------

    def leaf(self, index: int) -> bytes:
        """The bytes of leaf ``index``; :class:`UsageError` unless ``0 <= index < size``."""
        if not 0 <= index < self.size:
            raise UsageError(f"log index {index} is outside the log of {self.size} leaves")
        data = self._store.get_entry(index)
        if data is None:
            raise StoreCorrupted(f"log entry {index} is missing")
        return data

    def node_hash(self, level: int, index: int) -> Hash:
        """Hash of the complete subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``.

        Level 0 is the leaf hash.  :class:`UsageError` unless the subtree is
        complete in the current log; :class:`StoreCorrupted` if its tile is
        missing or has the wrong length.
        """
        size = self._size
        if not (0 <= level <= MAX_LEVEL and index >= 0 and (index + 1) << level <= size):
            raise UsageError(
                f"node {index} of level {level} is not a complete subtree of the log of "
                f"{size} leaves"
            )
        return self._node(level, index)

    def _node(self, level: int, index: int) -> Hash:
        """:meth:`node_hash` without the bounds check: the hot path of every proof.

        Precondition: node ``(level, index)`` is complete in the current log.
        """
        tile_index = index >> 8
        if tile_index == self._size >> level >> 8:
            # The rightmost, partial tile of the level (the node exists, so
            # the level's node count is not a multiple of 256): in memory.
            tile = self._edges[level]
        else:
            tile = self._full_tile(level, tile_index)
        offset = (index & 0xFF) * HASH_SIZE
        return Hash(tile[offset : offset + HASH_SIZE])

    def _full_tile(self, level: int, tile_index: int) -> bytes:
        """A full tile, from the cache or the store.  Precondition: it is full in the log."""
        key = (level, tile_index)
        cached = self._full_tiles.get(key)
        if cached is None:
            cached = self._store.get_tile(level, tile_index)
            self._check_tile(level, tile_index, cached, TILE_BYTES, self._size)
            assert cached is not None
            self._full_tiles.put(key, cached)
        return cached

    def tile(self, level: int, tile_index: int, width: int) -> bytes:
        """The first ``width`` hashes of tile ``(level, tile_index)``, concatenated.

        Those are the nodes ``256 tile_index .. 256 tile_index + width - 1`` of
        ``level``; a tile's hashes never change once they exist, so a prefix of
        today's tile is the partial tile of every earlier size.  :class:`UsageError`
        unless ``1 <= width <= 256`` and all ``width`` nodes are complete in the log.
        """
        if not (0 <= level <= MAX_LEVEL and tile_index >= 0 and 1 <= width <= TILE_WIDTH):
            raise UsageError(f"there is no tile {level}/{tile_index} of width {width}")
        if (tile_index * TILE_WIDTH + width) << level > self._size:
            raise UsageError(
                f"tile {level}/{tile_index} of width {width} is not complete in the log of "
                f"{self._size} leaves"
            )
        if tile_index == self._size >> level >> 8:
            data = self._edges[level]
        else:
            data = self._full_tile(level, tile_index)
        return data[: width * HASH_SIZE]

    def leaves(self, start: int, stop: int) -> list[bytes]:
        """The bytes of leaves ``start .. stop - 1``, in order; one store scan.

        :class:`UsageError` unless ``0 <= start <= stop <= size``.
        """
        if not 0 <= start <= stop <= self._size:
            raise UsageError(
                f"log indices {start}..{stop - 1} are outside the log of {self._size} leaves"
            )
        found = list(self._store.iter_entries(start, stop))
        if len(found) != stop - start:
            missing = next((i for i, (index, _) in enumerate(found, start) if index != i),
                           start + len(found))
            raise StoreCorrupted(f"log entry {missing} is missing")
        return [leaf for _, leaf in found]

    def _range_hashes(self, ranges: list[tuple[int, int]]) -> list[Hash]:
        """MTH(D[lo:hi]) of each proof range; one read for a complete subtree.

        Precondition: every range lies inside the current log and satisfies
        :func:`client.merkle.subtree_hash`'s alignment rule, as the ranges of
        :func:`client.merkle.inclusion_proof_ranges` and
        :func:`client.merkle.consistency_proof_ranges` do.
        """
        node = self._node
        hashes: list[Hash] = []
        for lo, hi in ranges:
            width = hi - lo
            if width & (width - 1):
                # Only the range that reaches the tree's right edge is not a
                # complete subtree: at most one per proof.
                hashes.append(subtree_hash(lo, hi, node))
            else:
                level = width.bit_length() - 1
                hashes.append(node(level, lo >> level))
        return hashes

    def _check_tree_size(self, size: int, what: str) -> None:
        if not 0 <= size <= self.size:
            raise UsageError(f"{what} {size} is outside the log's sizes 0..{self.size}")

    def root_at(self, size: int) -> Hash:
        """MTH of the first ``size`` leaves (``0 <= size <= self.size``), O(log n) reads."""
        self._check_tree_size(size, "tree size")
        if size == self.size:
            return self._root
        if size == 0:
            return EMPTY_ROOT
        return subtree_hash(0, size, self._node)

    def inclusion_proof(self, index: int, size: int) -> list[Hash]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf side first.

        :class:`UsageError` unless ``0 <= index < size <= self.size``.  Equal to
        :func:`client.merkle.inclusion_proof` over the first ``size`` leaf hashes.
        """
        self._check_tree_size(size, "tree size")
        if size == 0:
            raise UsageError("the tree of size 0 has no leaves to prove")
        if not 0 <= index < size:
            raise UsageError(f"leaf index {index} is not below the tree size {size}")
        return self._range_hashes(inclusion_proof_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[Hash]:
        """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1.

        :class:`UsageError` unless ``0 <= old_size <= new_size <= self.size``.
        Sizes 0 and equal sizes give the empty proof, as in
        :func:`client.merkle.consistency_proof`.
        """
        self._check_tree_size(new_size, "new tree size")
        if not 0 <= old_size <= new_size:
            raise UsageError(
                f"old tree size {old_size} is not in 0..{new_size} (the new tree size)"
            )
        return self._range_hashes(consistency_proof_ranges(old_size, new_size))
