"""The status map of one node: the sparse Merkle tree of :mod:`node.statemap_tree` over the store.

Two views of the same data, written in the same block batch:

* the tree, content addressed in the ``S`` family: every version ever
  committed stays readable, so a proof "as of" any block starts from that
  block's status root (nodes are never overwritten or deleted);
* the current value of every key in the ``V`` family, so a rule check is one
  read instead of a walk of about log2(n) nodes.

The ``V`` family is a cache of the tree at the newest committed root, kept in
step by :meth:`StatusMap.stage` putting both into one batch; the tree is what
the header commits to and what proofs come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from client.hashes import Hash
from client.smt import EMPTY, SmtProof
from node.errors import StoreCorrupted
from node.statemap_tree import apply_updates, check_node, get_value, prove
from node.store import LruCache, Store, StoreBatch

__all__ = ["NODE_CACHE_SIZE", "StatusMap"]

NODE_CACHE_SIZE = 2**17
"""Status-map nodes kept in memory (~270 bytes each with the LRU's entry: ~35 MiB at most).

As many as a full tree has above depth 17, so the levels every update and proof reads stay
in memory up to a million keys, and a tree of up to ~60k keys (the ingest benchmark's
20k) is not read from LevelDB at all.  32k nodes held less than the benchmark's tree:
each update then read one or two nodes back (status-map stage 10.1 -> 8.2 us per event at
20k keys, docs/performance.md "Ingest").  Bounded, so the heap does not grow with the log."""


class _CachedNodes:
    """A :class:`node.statemap_tree.NodeReader` over the store with a bounded LRU in front.

    Nodes are content addressed and immutable, so a cached node never goes
    stale.  A node read from the store is checked against its hash before it
    is cached or returned, and the cache holds nothing else but nodes this
    process computed, so node.statemap_tree need not hash a node again on every read
    (the top levels are read by every block and every proof).
    """

    __slots__ = ("_cache", "_get")

    checks_nodes = True

    def __init__(self, store: Store, capacity: int) -> None:
        self._cache: LruCache[bytes, bytes] = LruCache(capacity)
        self._get = store.get_node

    def get_node(self, node_hash: bytes) -> bytes | None:
        data = self._cache.get(node_hash)
        if data is None:
            data = self._get(node_hash)
            if data is not None:
                data = check_node(node_hash, data)
                self._cache.put(node_hash, data)
        return data

    def remember(self, nodes: Mapping[Hash, bytes]) -> None:
        for node_hash, data in nodes.items():
            self._cache.put(node_hash, data)


class StatusMap:
    """The status map at the newest committed root, plus proofs at any earlier root.

    Not thread-safe for writers: one task stages and applies updates.
    """

    __slots__ = ("_nodes", "_staged", "_store", "root")

    def __init__(self, store: Store, root: Hash, *, cache_size: int = NODE_CACHE_SIZE) -> None:
        """``root`` is the status root of the newest committed block header.

        Raises :class:`node.errors.StoreCorrupted` if that root's node is not stored.
        """
        self._store = store
        self._nodes = _CachedNodes(store, cache_size)
        # The nodes of the newest staged update, handed to the cache once it is applied.
        self._staged: tuple[Hash, dict[Hash, bytes]] | None = None
        if root != EMPTY and self._nodes.get_node(root) is None:
            raise StoreCorrupted(f"the status map's root node {root.hex()} is missing")
        self.root = root

    def get(self, status_key: bytes) -> bytes | None:
        """The current (newest committed) value of ``status_key``: one ``V`` read."""
        return self._store.get_status(status_key)

    def stage(
        self, updates: Mapping[Hash, bytes] | Mapping[bytes, bytes], batch: StoreBatch
    ) -> Hash:
        """Put the new tree nodes and ``V`` values for ``updates`` into ``batch``.

        Returns the status root after the updates; :attr:`root` stays as it is
        until :meth:`applied`.  Raises :class:`client.errors.UsageError` for a
        key that is not 32 bytes or a value that is not bytes of at most 4 KiB
        (:func:`node.statemap_tree.apply_updates`), before anything is put.
        """
        # Only read, so a mapping keyed by Hash (a bytes NewType) is a mapping keyed by bytes.
        readable = cast(Mapping[bytes, bytes], updates)
        new_root, new_nodes = apply_updates(self.root, readable, self._nodes)
        batch.put_nodes(new_nodes)
        batch.put_status(updates)
        self._staged = (new_root, new_nodes)
        return new_root

    def applied(self, new_root: Hash) -> None:
        """Adopt ``new_root`` after the batch that :meth:`stage` filled was committed."""
        staged = self._staged
        if staged is not None and staged[0] == new_root:
            # The fresh nodes are the top of the tree the next block reads.
            self._nodes.remember(staged[1])
        self._staged = None
        self.root = new_root

    def prove(self, status_key: bytes, root: Hash | None = None) -> tuple[bytes | None, SmtProof]:
        """The value of ``status_key`` under ``root`` (default: the current root) and its proof.

        Any root of a committed block works: old versions of the tree are
        never deleted.  Check the proof with :mod:`client.smt`.
        """
        return prove(self.root if root is None else root, status_key, self._nodes)

    def value_at(self, status_key: bytes, root: Hash) -> bytes | None:
        """The value of ``status_key`` in the map with ``root`` (a tree walk)."""
        return get_value(root, status_key, self._nodes)
