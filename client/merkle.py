"""RFC 9162 §2.1 Merkle trees: hashing, proof building, proof verification.

The log of every vcledger node and each issuer batch are the Merkle trees of
RFC 9162 §2.1 (identical to RFC 6962 §2.1): SHA-256, a 0x00 prefix for leaf
hashes and 0x01 for interior nodes (domain separation is always on), leaves
numbered from 0, and the tree over ``n`` leaves split at the largest power of
two smaller than ``n``.

The module has three layers and no I/O:

* hashing: :func:`leaf_hash`, :func:`node_hash`, :data:`EMPTY_ROOT`,
  :func:`root_hash`, :func:`subtree_hash` and :class:`CompactRange`;
* proof *building*, split in two as in transparency-dev/merkle:
  :func:`inclusion_proof_ranges` and :func:`consistency_proof_ranges` only
  pick the nodes, as half-open leaf ranges ``(lo, hi)`` whose Merkle Tree Hash
  MTH(D[lo:hi]) is the proof element; :func:`inclusion_proof` and
  :func:`consistency_proof` hash those ranges over an in-memory list, and the
  node does the same over LevelDB with :func:`subtree_hash`;
* proof *verification*: :func:`root_from_inclusion_proof` and
  :func:`roots_from_consistency_proof` compute, :func:`verify_inclusion` and
  :func:`verify_consistency` compare (RFC 9162 §2.1.3.2 and §2.1.4.2).

Rules chosen where RFC 9162 is silent (docs/protocol.md repeats them):

* the root of the empty tree is SHA-256 of the empty string (MTH({}) in §2.1.1);
* an inclusion proof in a tree of size 0 is always invalid;
* a consistency proof from size 0 must be empty, and the old root must be
  :data:`EMPTY_ROOT` (the empty tree is a prefix of every tree);
* a consistency proof between equal sizes must be empty and the two roots
  equal (as Go sumdb/tlog and transparency-dev/merkle do);
* a consistency proof from a larger to a smaller size is invalid;
* tree sizes are unsigned 64-bit integers and proofs hold at most
  :data:`MAX_PROOF_HASHES` hashes; both are checked before any hashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from client.errors import InvalidProof, RootMismatch, UsageError
from client.hashes import HASH_SIZE, Hash

__all__ = [
    "EMPTY_ROOT",
    "MAX_PROOF_HASHES",
    "MAX_TREE_SIZE",
    "CompactRange",
    "consistency_proof",
    "consistency_proof_ranges",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "root_hash",
    "roots_from_consistency_proof",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes are uint64, as RFC 9162 tree heads encode them (TreeHeadDataV2.tree_size)."""

MAX_PROOF_HASHES = 64
"""No proof in a tree of at most 2**64 - 1 leaves needs more hashes than this."""

EMPTY_ROOT = Hash(_sha256(b"").digest())
"""MTH({}) = SHA-256() (RFC 9162 §2.1.1): the root of the tree with no leaves."""

Range = tuple[int, int]
"""A half-open leaf range ``(lo, hi)``: the leaves ``D[lo:hi]``."""

CompleteHash = Callable[[int, int], Hash]
"""``complete_hash(level, index)``: hash of the complete subtree over the leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hash."""

OnNode = Callable[[int, int, Hash], None]
"""``on_node(level, index, hash)``: told about each new complete subtree."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> Hash:
    """SHA-256(0x00 || data): the hash of one leaf (RFC 9162 §2.1.1)."""
    return Hash(_sha256(_LEAF_PREFIX + data).digest())


def node_hash(left: Hash, right: Hash) -> Hash:
    """SHA-256(0x01 || left || right): an interior node (RFC 9162 §2.1.1)."""
    return Hash(_sha256(_NODE_PREFIX + left + right).digest())


def _check_leaf_hashes(leaf_hashes: Sequence[bytes]) -> None:
    for position, value in enumerate(leaf_hashes):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise UsageError(f"leaf hash {position} is not a {HASH_SIZE}-byte hash")


def _mth(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> Hash:
    """MTH(D[lo:hi]) from leaf hashes, level by level; ``lo < hi`` is given.

    Pairing left to right and carrying an odd last node up unchanged builds
    exactly the RFC 9162 tree: its split at the largest power of two below the
    size keeps every complete power-of-two block intact, and the carried node is
    the right edge that the RFC's recursion reaches later.
    """
    level = list(leaf_hashes[lo:hi])
    sha256 = _sha256
    prefix = _NODE_PREFIX
    while len(level) > 1:
        paired = [
            sha256(prefix + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return Hash(level[0])


def root_hash(leaf_hashes: Sequence[bytes]) -> Hash:
    """MTH(D[n]) (RFC 9162 §2.1.1) of the tree whose leaf hashes are given.

    Precondition: every element is a 32-byte leaf hash (:func:`leaf_hash` of the
    entry), checked with :class:`UsageError`.  The empty list gives
    :data:`EMPTY_ROOT`.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    _check_leaf_hashes(leaf_hashes)
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _check_subtree_range(lo: int, hi: int) -> int:
    """Return the size of ``[lo, hi)`` after checking it is a left-aligned range."""
    size = hi - lo
    if lo < 0 or size <= 0 or hi > MAX_TREE_SIZE:
        raise UsageError(f"leaf range [{lo}, {hi}) is empty or out of bounds")
    if lo & ((1 << (size.bit_length() - 1)) - 1):
        raise UsageError(
            f"leaf range [{lo}, {hi}) does not start at a multiple of the largest "
            f"power of two not above its size, so it is not a subtree of any tree"
        )
    return size


def subtree_hash(lo: int, hi: int, complete_hash: CompleteHash) -> Hash:
    """MTH(D[lo:hi]) assembled from stored complete subtrees.

    Precondition (:class:`UsageError` otherwise): ``0 <= lo < hi`` and ``lo`` is
    a multiple of the largest power of two not above ``hi - lo``.  Every range
    the ``*_ranges`` functions return satisfies this, and so does ``(0, size)``
    for the root of any earlier tree size.

    The range splits into complete subtrees along the binary digits of
    ``hi - lo``, largest first, each aligned on its own size; the RFC 9162 tree
    over ``D[lo:hi]`` joins them right to left, because its split point (the
    largest power of two below the size) is exactly the first block.  That is
    one ``complete_hash`` call per set bit of ``hi - lo``, O(log n) reads.
    """
    size = _check_subtree_range(lo, hi)
    blocks: list[tuple[int, int]] = []
    start = lo
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            blocks.append((level, start >> level))
            start += 1 << level
    level, index = blocks.pop()
    result = complete_hash(level, index)
    while blocks:
        level, index = blocks.pop()
        result = node_hash(complete_hash(level, index), result)
    return result


class CompactRange:
    """The right edge of a growing tree: one hash per set bit of its size.

    A tree of ``size`` leaves is the run of complete subtrees ("peaks") given
    by the binary digits of ``size``, largest (leftmost) first.  Appending a
    leaf merges equal-sized peaks, as binary addition carries.  The node keeps
    its log this way: O(log n) memory, and :meth:`append` reports every new
    complete node through ``on_node`` so storage can persist it.  Nothing here
    does I/O.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[Hash] = []

    @staticmethod
    def peak_nodes(size: int) -> list[tuple[int, int]]:
        """``(level, index)`` of each peak of a tree of ``size`` leaves, left to right.

        A restarting node reads these complete nodes from storage and passes
        their hashes to :meth:`from_peaks`.
        """
        if not 0 <= size <= MAX_TREE_SIZE:
            raise UsageError(f"tree size {size} is outside 0..2**64-1")
        nodes: list[tuple[int, int]] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                nodes.append((level, start >> level))
                start += 1 << level
        return nodes

    @classmethod
    def from_peaks(cls, size: int, peak_hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild the range of a tree of ``size`` leaves from its peak hashes.

        ``peak_hashes`` are the hashes of :meth:`peak_nodes` ``(size)`` in that
        order; their count and lengths are checked (:class:`UsageError`).
        """
        expected = cls.peak_nodes(size)
        if len(peak_hashes) != len(expected):
            raise UsageError(
                f"a tree of {size} leaves has {len(expected)} peaks, got {len(peak_hashes)} hashes"
            )
        for position, value in enumerate(peak_hashes):
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise UsageError(f"peak hash {position} is not a {HASH_SIZE}-byte hash")
        compact = cls()
        compact._size = size
        compact._peaks = [Hash(value) for value in peak_hashes]
        return compact

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> tuple[Hash, ...]:
        """Hashes of :meth:`peak_nodes` ``(self.size)``, left to right."""
        return tuple(self._peaks)

    def append(self, leaf_hash: bytes, on_node: OnNode | None = None) -> None:
        """Append one leaf hash (a 32-byte :func:`leaf_hash`, else :class:`UsageError`).

        ``on_node(level, index, hash)`` is called for the leaf itself
        (level 0, index = its position) and then for every complete node the
        append closes, bottom-up.  These are all the nodes that became complete;
        storing them is enough for :func:`subtree_hash` to answer any proof.
        """
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise UsageError(f"leaf hash must be {HASH_SIZE} bytes")
        if self._size == MAX_TREE_SIZE:
            raise UsageError("the tree is full (2**64 - 1 leaves)")
        peaks = self._peaks
        index = self._size
        current = Hash(leaf_hash)
        level = 0
        if on_node is not None:
            on_node(0, index, current)
        # Each trailing one bit of the old size is a peak of the same height as
        # the node we carry: merge, like a carry in binary addition.
        while index & 1:
            current = node_hash(peaks.pop(), current)
            index >>= 1
            level += 1
            if on_node is not None:
                on_node(level, index, current)
        peaks.append(current)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes], on_node: OnNode | None = None) -> None:
        """Append each leaf hash in order (see :meth:`append`)."""
        for value in leaf_hashes:
            self.append(value, on_node)

    def root(self) -> Hash:
        """MTH of the tree so far: peaks joined right to left; EMPTY_ROOT when empty."""
        peaks = self._peaks
        if not peaks:
            return EMPTY_ROOT
        result = peaks[-1]
        for peak in reversed(peaks[:-1]):
            result = node_hash(peak, result)
        return result


# ------------------------------------------------------------------ proof building


def _path_lengths(index: int, size: int) -> tuple[int, int]:
    """``(inner, border)`` for the path of node ``index`` in a row of ``size`` nodes.

    ``inner`` is the number of levels where the path's sibling lies inside the
    tree below the point where the node's path and the right edge meet (the
    bit length of ``index ^ (size - 1)``); ``border`` is the number of higher
    levels where the node is a right child, i.e. has a left sibling.  Above
    the meeting point the path runs along the right edge, where a left child
    has no sibling and is carried up unchanged (RFC 9162 §2.1.3.1).
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _path_ranges(index: int, level: int, size: int) -> list[Range]:
    """Sibling ranges, bottom-up, on the path from node (level, index) to the root.

    The node must exist in the tree of ``size`` leaves; the ranges are those of
    RFC 9162 PATH generalised to a node at ``level`` (level 0: a leaf).
    """
    inner, border = _path_lengths(index, ((size - 1) >> level) + 1)
    ranges: list[Range] = []
    for height in range(level, level + inner):
        sibling = (index >> (height - level)) ^ 1
        # Only the last inner sibling can reach past the tree's right edge,
        # where it is the partial subtree that ends at ``size``.
        ranges.append((sibling << height, min((sibling + 1) << height, size)))
    node = index >> inner
    height = level + inner
    while node:
        if node & 1:
            sibling = node ^ 1
            ranges.append((sibling << height, (sibling + 1) << height))
        node >>= 1
        height += 1
    assert len(ranges) == inner + border
    return ranges


def inclusion_proof_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges of the audit path PATH(index, D[size]), leaf side first.

    RFC 9162 §2.1.3.1.  Precondition (:class:`UsageError`): ``0 <= index < size``.
    Element ``i`` of the inclusion proof is MTH(D[lo:hi]) of range ``i``.
    """
    if not 0 <= index < size <= MAX_TREE_SIZE:
        raise UsageError(f"no leaf {index} in a tree of {size} leaves")
    return _path_ranges(index, 0, size)


def consistency_proof_ranges(old_size: int, new_size: int) -> list[Range]:
    """Leaf ranges of PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1), deepest first.

    Precondition (:class:`UsageError`): ``0 <= old_size <= new_size``.  Old size
    0 and equal sizes give the empty proof.  Otherwise the proof is the
    largest complete subtree that ends at ``old_size`` (left out when it is the
    whole old tree, i.e. ``old_size`` is a power of two, because the verifier
    holds it as the old root) followed by that subtree's path to the new root.
    """
    if not 0 <= old_size <= new_size <= MAX_TREE_SIZE:
        raise UsageError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    ranges: list[Range] = []
    if index:
        ranges.append((old_size - (1 << level), old_size))
    ranges.extend(_path_ranges(index, level, new_size))
    return ranges


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[Hash]:
    """The audit path of leaf ``index`` in the tree over ``leaf_hashes`` (§2.1.3.1).

    Preconditions (:class:`UsageError`): ``0 <= index < len(leaf_hashes)`` and
    32-byte leaf hashes.  Costs O(n) hashes; for every leaf of a batch at once
    use :mod:`client.batch`.
    """
    ranges = inclusion_proof_ranges(index, len(leaf_hashes))
    _check_leaf_hashes(leaf_hashes)
    return [_mth(leaf_hashes, lo, hi) for lo, hi in ranges]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[Hash]:
    """PROOF(old_size, D[n]) for the tree over ``leaf_hashes`` (§2.1.4.1).

    Preconditions (:class:`UsageError`): ``0 <= old_size <= len(leaf_hashes)`` and
    32-byte leaf hashes.
    """
    ranges = consistency_proof_ranges(old_size, len(leaf_hashes))
    _check_leaf_hashes(leaf_hashes)
    return [_mth(leaf_hashes, lo, hi) for lo, hi in ranges]


# -------------------------------------------------------------- proof verification


def _check_proof_hashes(proof: Sequence[bytes], what: str) -> None:
    # The cap comes first so that an attacker's huge list costs one len() call.
    if len(proof) > MAX_PROOF_HASHES:
        raise InvalidProof(f"{what} has {len(proof)} hashes; the limit is {MAX_PROOF_HASHES}")
    for position, value in enumerate(proof):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise InvalidProof(f"{what} element {position} is not a {HASH_SIZE}-byte hash")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InvalidProof(f"{what} is not a {HASH_SIZE}-byte hash")


def _check_size(value: int, what: str) -> None:
    if type(value) is int and 0 <= value <= MAX_TREE_SIZE:
        return  # the common case first; the full rule below admits int subclasses but bool
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TREE_SIZE:
        raise InvalidProof(f"{what} {value!r} is not an integer in 0..2**64-1")


def root_from_inclusion_proof(
    index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> Hash:
    """The root that ``proof`` leads to for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2).

    Computes only; the caller compares (see :func:`verify_inclusion`).  Raises
    :class:`InvalidProof`, before hashing anything, if the proof has more than
    :data:`MAX_PROOF_HASHES` hashes, a size or index is not a uint64,
    ``index >= tree_size`` (so always for size 0), a hash is not 32 bytes, or
    the proof length is not the one that ``(index, tree_size)`` fixes.
    """
    _check_size(tree_size, "tree size")
    _check_size(index, "leaf index")
    if len(proof) > MAX_PROOF_HASHES:
        raise InvalidProof(
            f"inclusion proof has {len(proof)} hashes; the limit is {MAX_PROOF_HASHES}"
        )
    if index >= tree_size:
        raise InvalidProof(f"leaf index {index} is not below the tree size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_proof_hashes(proof, "inclusion proof")
    inner, border = _path_lengths(index, tree_size)
    if len(proof) != inner + border:
        raise InvalidProof(
            f"inclusion proof for leaf {index} of {tree_size} must have "
            f"{inner + border} hashes, got {len(proof)}"
        )
    return _chain_inclusion(index, inner, leaf_hash, proof)


def _chain_inclusion(index: int, inner: int, leaf_hash: bytes, proof: Sequence[bytes]) -> Hash:
    """Steps 2-5 of RFC 9162 §2.1.3.2 for a proof whose length the caller has checked.

    The RFC's loop walks ``fn``/``sn`` up the tree; split at the level where the
    path meets the tree's right edge (:func:`_path_lengths`), it is two plain
    loops, as transparency-dev/merkle chains them: below, bit ``i`` of ``index``
    says which side the sibling is on; above, the path runs along the right
    edge, where only right children have siblings, so every remaining proof
    hash is a left sibling.
    """
    sha256 = _sha256
    prefix = _NODE_PREFIX
    node = leaf_hash
    path = index
    for sibling in proof[:inner]:
        if path & 1:
            node = sha256(prefix + sibling + node).digest()
        else:
            node = sha256(prefix + node + sibling).digest()
        path >>= 1
    for sibling in proof[inner:]:
        node = sha256(prefix + sibling + node).digest()
    return Hash(node)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` shows ``leaf_hash`` at ``index`` in the tree with ``root``.

    ``root`` is the trusted root of a tree of ``tree_size`` leaves (e.g. from a
    cosigned checkpoint).  Raises :class:`InvalidProof` for a malformed proof
    (see :func:`root_from_inclusion_proof`) and :class:`RootMismatch` if the
    proof leads elsewhere.
    """
    _check_hash(root, "trusted root")
    calculated = root_from_inclusion_proof(index, tree_size, leaf_hash, proof)
    if calculated != root:
        raise RootMismatch(f"inclusion proof for leaf {index} of {tree_size}", root, calculated)


def roots_from_consistency_proof(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[Hash, Hash]:
    """The ``(old root, new root)`` that ``proof`` leads to (RFC 9162 §2.1.4.2).

    Precondition on the sizes: ``0 < old_size < new_size`` (the rules for the
    other cases are in :func:`verify_consistency`).  ``old_root`` is only used
    as the starting node when ``old_size`` is a power of two, where the RFC
    prepends it to the path; the returned old root then is ``old_root``.
    Raises :class:`InvalidProof`, before hashing, for a proof over
    :data:`MAX_PROOF_HASHES` hashes, a hash that is not 32 bytes, or a proof
    length other than the one ``(old_size, new_size)`` fixes.
    """
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if len(proof) > MAX_PROOF_HASHES:
        raise InvalidProof(
            f"consistency proof has {len(proof)} hashes; the limit is {MAX_PROOF_HASHES}"
        )
    if not 0 < old_size < new_size:
        raise InvalidProof(f"no consistency proof path from size {old_size} to {new_size}")
    _check_hash(old_root, "old root")
    _check_proof_hashes(proof, "consistency proof")
    # Step 4 of §2.1.4.2 shifts off the trailing one bits of old_size - 1, i.e.
    # climbs to the largest complete subtree that ends at old_size.
    level = (old_size & -old_size).bit_length() - 1
    fn = (old_size - 1) >> level
    sn = (new_size - 1) >> level
    inner, border = _path_lengths(fn, sn + 1)
    seeded = fn != 0  # old_size is not a power of two: the proof names the subtree
    expected = inner + border + (1 if seeded else 0)
    if len(proof) != expected:
        raise InvalidProof(
            f"consistency proof from {old_size} to {new_size} must have "
            f"{expected} hashes, got {len(proof)}"
        )
    path: list[bytes] = list(proof) if seeded else [old_root, *proof]
    fr = sr = path[0]
    sha256 = _sha256
    prefix = _NODE_PREFIX
    for c in path[1:]:
        assert sn != 0, "proof longer than its sizes allow"
        if fn & 1 or fn == sn:
            fr = sha256(prefix + c + fr).digest()
            sr = sha256(prefix + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(prefix + sr + c).digest()
        fn >>= 1
        sn >>= 1
    assert sn == 0, "proof shorter than its sizes require"
    return Hash(fr), Hash(sr)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2, plus the rules of the module docstring for the cases
    the RFC leaves open: from size 0 the proof must be empty and ``old_root``
    must be :data:`EMPTY_ROOT`; between equal sizes the proof must be empty and
    the roots equal; a shrinking tree is never consistent.  Raises
    :class:`InvalidProof` for a malformed proof and :class:`RootMismatch` when a
    computed root differs from the given one.
    """
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if len(proof) > MAX_PROOF_HASHES:
        raise InvalidProof(
            f"consistency proof has {len(proof)} hashes; the limit is {MAX_PROOF_HASHES}"
        )
    if old_size > new_size:
        raise InvalidProof(f"a tree cannot shrink from size {old_size} to {new_size}")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if old_size in (0, new_size):
        if proof:
            raise InvalidProof(
                f"consistency proof from size {old_size} to {new_size} must be empty, "
                f"got {len(proof)} hashes"
            )
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise RootMismatch("old root of the empty tree", EMPTY_ROOT, Hash(old_root))
        if old_size == new_size and old_root != new_root:
            raise RootMismatch(f"roots of two trees of size {new_size}", new_root, old_root)
        return
    calculated_old, calculated_new = roots_from_consistency_proof(
        old_size, new_size, old_root, proof
    )
    if calculated_old != old_root:
        raise RootMismatch(
            f"consistency proof from {old_size} to {new_size} (old root)", old_root, calculated_old
        )
    if calculated_new != new_root:
        raise RootMismatch(
            f"consistency proof from {old_size} to {new_size} (new root)", new_root, calculated_new
        )
