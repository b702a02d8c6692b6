"""The status map's sparse Merkle tree over a content-addressed node store.

Hashing and proof verification live in :mod:`client.smt`; this module holds
the tree algorithms that read and write nodes: batch updates, lookups and
proof building.  It does no I/O itself: nodes come from a :class:`NodeReader`
and new nodes go back to the caller as a dict, which the block commit writes
in its one LevelDB batch.

Storage layout (content addressed; the storage key of a node is its hash):

* internal node: ``0x03 || left || right`` (65 bytes, exactly its hash preimage);
* leaf: ``0x02 || key || value`` (its hash is ``leaf_hash(key, value)``).

Empty subtrees (:data:`client.smt.EMPTY`) are never stored.  Nodes are never
overwritten or deleted, so every historical root stays readable and proofs
"as of" an old checkpoint start from that checkpoint's root.

Every node read is checked against its key (one SHA-256 of at most ~4 KiB),
which turns silent disk corruption into a :class:`SmtNodeCorrupted` refusal.

Cost: a key's path is as long as the prefix it shares with its nearest
neighbour, about ``log2(n)`` levels for the hash-derived status keys, so an
update of ``k`` keys reads and writes ``O(k log n)`` nodes.  Hot paths use
bytes and tuples only, no per-node objects.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from typing import Protocol

from client.errors import UsageError
from client.hashes import HASH_SIZE, Hash
from client.smt import (
    EMPTY,
    INTERNAL_PREFIX,
    KEY_BITS,
    KEY_SIZE,
    LEAF_PREFIX,
    MAX_VALUE_SIZE,
    SmtLeaf,
    SmtProof,
    key_bit,
    leaf_hash,
    shares_prefix,
    value_hash,
)
from node.errors import StoreCorrupted

_INTERNAL_TAG = INTERNAL_PREFIX[0]
_LEAF_TAG = LEAF_PREFIX[0]
_INTERNAL_SIZE = 1 + 2 * HASH_SIZE
_LEAF_HEADER_SIZE = 1 + KEY_SIZE


class SmtNodeCorrupted(StoreCorrupted):
    """A status-map node is missing from the store or its bytes do not match its hash.

    Not the user's fault and not recoverable by retrying: the node's database
    is damaged (or was written by a buggy version) and must be restored or
    re-synced from peers.  A :class:`node.errors.StoreCorrupted`, so the API's
    and CLI's handling of a corrupt store applies.
    """


class NodeReader(Protocol):
    """Read access to the content-addressed status-map nodes."""

    def get_node(self, node_hash: bytes) -> bytes | None:
        """The stored bytes of the node with this hash, or ``None`` if absent.

        A reader whose answers are already checked against their hash (with
        :func:`check_node`, or computed here) says so with a true class
        attribute ``checks_nodes``, and reads skip the second SHA-256.
        """
        ...


class MemoryNodeStore:
    """A :class:`NodeReader` over a plain dict, for tests and tools."""

    def __init__(self, nodes: Mapping[Hash, bytes] | Mapping[bytes, bytes] | None = None) -> None:
        self.nodes: dict[bytes, bytes] = {}
        if nodes is not None:
            self.put_nodes(nodes)

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)

    def put_nodes(self, new_nodes: Mapping[Hash, bytes] | Mapping[bytes, bytes]) -> None:
        for node_hash, data in new_nodes.items():
            self.nodes[node_hash] = data


def _read_node(reader: NodeReader, node_hash: bytes) -> bytes:
    """The stored bytes of a non-empty node, checked to hash to ``node_hash``."""
    data = reader.get_node(node_hash)
    if getattr(reader, "checks_nodes", False) and data is not None:
        return data  # the reader checked these bytes against node_hash already
    return check_node(node_hash, data)


def check_node(node_hash: bytes, data: bytes | None) -> bytes:
    """``data`` if it is a well-formed node that hashes to ``node_hash``.

    Raises :class:`SmtNodeCorrupted` when it is missing (``None``), malformed,
    or hashes to something else.
    """
    if data is None:
        raise SmtNodeCorrupted(f"status-map node {node_hash.hex()} is missing from the store")
    if len(data) == _INTERNAL_SIZE and data[0] == _INTERNAL_TAG:
        calculated = hashlib.sha256(data).digest()
    elif _LEAF_HEADER_SIZE <= len(data) <= _LEAF_HEADER_SIZE + MAX_VALUE_SIZE and (
        data[0] == _LEAF_TAG
    ):
        calculated = leaf_hash(data[1:_LEAF_HEADER_SIZE], data[_LEAF_HEADER_SIZE:])
    else:
        raise SmtNodeCorrupted(
            f"status-map node {node_hash.hex()} has malformed stored bytes "
            f"({len(data)} bytes, tag {data[:1].hex() or 'none'})"
        )
    if calculated != node_hash:
        raise SmtNodeCorrupted(
            f"status-map node {node_hash.hex()} is corrupted: its bytes hash to {calculated.hex()}"
        )
    return data


def _check_key(key: object) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise UsageError(f"status key must be {KEY_SIZE} bytes")
    return key


def get_value(root: Hash, key: bytes, reader: NodeReader) -> bytes | None:
    """The value of ``key`` in the map with ``root``, or ``None`` if absent."""
    _check_key(key)
    node = root
    depth = 0
    while node != EMPTY:
        data = _read_node(reader, node)
        if data[0] == _LEAF_TAG:
            return data[_LEAF_HEADER_SIZE:] if data[1:_LEAF_HEADER_SIZE] == key else None
        if depth == KEY_BITS:
            raise SmtNodeCorrupted(_too_deep(node))
        start = 1 + HASH_SIZE if key_bit(key, depth) else 1
        node = Hash(data[start : start + HASH_SIZE])
        depth += 1
    return None


def prove(root: Hash, key: bytes, reader: NodeReader) -> tuple[bytes | None, SmtProof]:
    """The value of ``key`` (``None`` if absent) and the proof of it under ``root``.

    The proof is a membership proof when the value is not ``None``, else a
    non-membership proof; check it with :func:`client.smt.verify_membership`
    or :func:`client.smt.verify_non_membership`.
    """
    _check_key(key)
    siblings: list[Hash] = []
    node = root
    depth = 0
    while node != EMPTY:
        data = _read_node(reader, node)
        if data[0] == _LEAF_TAG:
            leaf_key = data[1:_LEAF_HEADER_SIZE]
            value = data[_LEAF_HEADER_SIZE:]
            if leaf_key != key and not shares_prefix(leaf_key, key, depth):
                raise SmtNodeCorrupted(
                    f"status-map leaf {node.hex()} for key {leaf_key.hex()} sits at depth "
                    f"{depth} on the path of key {key.hex()}, off its own path"
                )
            proof = SmtProof(tuple(siblings), SmtLeaf(leaf_key, value_hash(value)))
            return (value if leaf_key == key else None), proof
        if depth == KEY_BITS:
            raise SmtNodeCorrupted(_too_deep(node))
        if key_bit(key, depth):
            siblings.append(Hash(data[1 : 1 + HASH_SIZE]))
            node = Hash(data[1 + HASH_SIZE : _INTERNAL_SIZE])
        else:
            siblings.append(Hash(data[1 + HASH_SIZE : _INTERNAL_SIZE]))
            node = Hash(data[1 : 1 + HASH_SIZE])
        depth += 1
    return None, SmtProof(tuple(siblings), None)


# An item in a batch: (key, value, hash of the already-stored leaf holding
# exactly this pair, or None for a pair that still has to be written).
_Item = tuple[bytes, bytes, Hash | None]


def apply_updates(
    root: Hash, updates: Mapping[bytes, bytes], reader: NodeReader
) -> tuple[Hash, dict[Hash, bytes]]:
    """Set every key of ``updates`` to its value (insert or overwrite).

    Returns the new root and the nodes to persist, ``{node hash: stored
    bytes}``.  Nodes of the old tree that the update leaves unchanged are not
    returned (an update to the value a key already has returns nothing and
    the same root); a returned node may already exist from an older version,
    and writing it again is harmless because keys are content hashes.

    Deletion is not supported: status records are never removed.

    The batch is sorted once and pushed down the tree in one descent, split
    by key bit at each level, so ``k`` updates cost ``O(k log n)`` reads and
    hashes and an untouched subtree is never read.  Raises
    :class:`UsageError` for a key that is not 32 bytes or a value that is not
    bytes of at most 4 KiB; :class:`SmtNodeCorrupted` for a bad store.
    """
    for key, value in updates.items():
        _check_key(key)
        if not isinstance(value, bytes):
            raise UsageError("status value must be bytes")
        if len(value) > MAX_VALUE_SIZE:
            raise UsageError(f"status value is {len(value)} bytes; the limit is {MAX_VALUE_SIZE}")
    if not updates:
        return root, {}
    batch = _Batch(reader)
    keys = sorted(updates)
    run = _Run([(key, updates[key], None) for key in keys])
    new_root = batch.update(root, 0, run, 0, len(keys))
    return new_root, batch.new_nodes


class _Run:
    """Items sorted by key, with each key also as a 256-bit integer for splitting.

    A subtree's share of a batch is a slice ``[lo, hi)`` of one run, so the
    descent copies no lists, and the split of a slice by key bit is one
    :func:`bisect.bisect_left` over integers, in C, with no Python key function.
    """

    __slots__ = ("items", "numbers")

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        self.numbers = [int.from_bytes(item[0], "big") for item in items]

    def split(self, lo: int, hi: int, depth: int) -> int:
        """Index in ``[lo, hi]`` of the first item whose key has bit ``depth`` set.

        Precondition: the keys of ``[lo, hi)`` share their first ``depth`` bits,
        so they are all below this threshold (that prefix, then bit ``depth``
        set, then zeros) exactly when their bit ``depth`` is clear.
        """
        bit = KEY_BITS - 1 - depth
        numbers = self.numbers
        threshold = ((numbers[lo] >> bit) | 1) << bit
        return bisect.bisect_left(numbers, threshold, lo, hi)


class _Batch:
    """One :func:`apply_updates` run: the reader and the new nodes collected so far."""

    __slots__ = ("new_nodes", "reader")

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader
        self.new_nodes: dict[Hash, bytes] = {}

    def update(self, node: Hash, depth: int, run: _Run, lo: int, hi: int) -> Hash:
        """The hash of subtree ``node`` at ``depth`` after applying ``run``'s items ``[lo, hi)``.

        Precondition: ``lo < hi``, and those items' keys (and every leaf under
        ``node``) share the subtree's first ``depth`` bits.
        """
        if node == EMPTY:
            return self.build(depth, run, lo, hi)
        data = _read_node(self.reader, node)
        if data[0] == _LEAF_TAG:
            return self.update_leaf(node, data, depth, run.items[lo:hi])
        if depth == KEY_BITS:
            raise SmtNodeCorrupted(_too_deep(node))
        left = Hash(data[1 : 1 + HASH_SIZE])
        right = Hash(data[1 + HASH_SIZE : _INTERNAL_SIZE])
        split = run.split(lo, hi, depth)
        new_left = left if split == lo else self.update(left, depth + 1, run, lo, split)
        new_right = right if split == hi else self.update(right, depth + 1, run, split, hi)
        if new_left == left and new_right == right:
            return node  # every update below was a no-op; the node is stored already
        return self.put_internal(new_left, new_right)

    def update_leaf(self, node: Hash, data: bytes, depth: int, items: list[_Item]) -> Hash:
        """Merge ``items`` (sorted, non-empty) with the existing leaf ``node`` (bytes ``data``)."""
        leaf_key = data[1:_LEAF_HEADER_SIZE]
        leaf_value = data[_LEAF_HEADER_SIZE:]
        if not shares_prefix(leaf_key, items[0][0], depth):
            raise SmtNodeCorrupted(
                f"status-map leaf {node.hex()} for key {leaf_key.hex()} sits at depth {depth} "
                "off its own path"
            )
        if any(item[0] == leaf_key for item in items):
            # The existing leaf is overwritten; nothing changes if the value is the same.
            if len(items) == 1 and items[0][1] == leaf_value:
                return node
        else:
            # Keep the existing leaf, marked as stored so it is not written again.
            items = sorted([*items, (leaf_key, leaf_value, node)])
        return self.build(depth, _Run(items), 0, len(items))

    def build(self, depth: int, run: _Run, lo: int, hi: int) -> Hash:
        """The hash of a fresh subtree at ``depth`` holding exactly ``run``'s items ``[lo, hi)``.

        Precondition as for :meth:`update`; keys are distinct.
        """
        if hi - lo == 1:
            key, value, stored = run.items[lo]
            if stored is not None:
                return stored
            node = leaf_hash(key, value)
            self.new_nodes[node] = LEAF_PREFIX + key + value
            return node
        # Two distinct keys differ somewhere in bits depth..255, so below depth
        # 256 at most one key is left and we never get here.
        assert depth < KEY_BITS and hi - lo >= 2, "distinct keys split before depth 256"
        split = run.split(lo, hi, depth)
        left = EMPTY if split == lo else self.build(depth + 1, run, lo, split)
        right = EMPTY if split == hi else self.build(depth + 1, run, split, hi)
        return self.put_internal(left, right)

    def put_internal(self, left: Hash, right: Hash) -> Hash:
        # The stored bytes are exactly the hash preimage, 0x03 || left || right.
        data = INTERNAL_PREFIX + left + right
        node = Hash(hashlib.sha256(data).digest())
        self.new_nodes[node] = data
        return node


def _too_deep(node: bytes) -> str:
    return f"status-map node {node.hex()} is an internal node at depth 256, below the last key bit"
