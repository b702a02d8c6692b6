"""Issuer batch trees: one RFC 9162 root for many credential digests.

An issuer anchors a whole batch of credentials (a graduating class of
diplomas) with one ``batch.anchor`` event that carries the root of an RFC 9162
§2.1 Merkle tree over the batch's credential digests.  The leaf data is the
32-byte credential digest itself, so leaf ``i`` hashes to
SHA-256(0x00 || digest_i) and the tree is exactly :mod:`client.merkle`'s.
Each credential gets a :class:`Receipt`: its index, the batch size, its audit
path (RFC 9162 §2.1.3.1, leaf side first) and the batch root.  A verifier
recomputes the root from the credential's digest and the receipt and compares
it with the root anchored on the ledger.

Building keeps every level of the tree in memory (about 2n hashes), so that
all n receipts together cost n log n list reads on top of the 2n - 1 hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from client.errors import InvalidProof, RootMismatch, UsageError
from client.hashes import HASH_SIZE, Hash
from client.merkle import leaf_hash, root_from_inclusion_proof

__all__ = [
    "MAX_BATCH_SIZE",
    "BatchTree",
    "Receipt",
    "build_batch",
    "root_from_receipt",
    "verify_receipt",
]

MAX_BATCH_SIZE = 1_000_000
"""Most digests one batch may hold; receipts then have at most 20 hashes."""

_BLOCK_LEVEL = 12
_BLOCK_LEAVES = 1 << _BLOCK_LEVEL
"""Leaves whose receipts :meth:`BatchTree.receipts` builds at once."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where one credential digest sits in an anchored batch.

    ``audit_path`` is RFC 9162 PATH(index, D[batch_size]), leaf side first,
    byte-identical to :func:`client.merkle.inclusion_proof` over the batch.
    ``batch_root`` and ``batch_size`` name the batch; they are claims until
    compared with a ``batch.anchor`` event the verifier trusts.
    """

    index: int
    batch_size: int
    audit_path: tuple[Hash, ...]
    batch_root: Hash


_object_new = object.__new__
_set_index = vars(Receipt)["index"].__set__
_set_batch_size = vars(Receipt)["batch_size"].__set__
_set_audit_path = vars(Receipt)["audit_path"].__set__
_set_batch_root = vars(Receipt)["batch_root"].__set__


def _new_receipt(index: int, batch_size: int, audit_path: tuple[Hash, ...],
                 batch_root: Hash) -> Receipt:
    """``Receipt(index, batch_size, audit_path, batch_root)``, about twice as fast.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; writing the slots directly skips that, which is
    most of the cost of :meth:`BatchTree.receipts` on large batches.  The
    result is an ordinary, still frozen, Receipt (tests compare the two).
    """
    receipt: Receipt = _object_new(Receipt)
    _set_index(receipt, index)
    _set_batch_size(receipt, batch_size)
    _set_audit_path(receipt, audit_path)
    _set_batch_root(receipt, batch_root)
    return receipt


class BatchTree:
    """Every level of the RFC 9162 tree over one batch; build with :func:`build_batch`."""

    __slots__ = ("_levels",)

    def __init__(self, levels: list[list[Hash]]) -> None:
        """Internal: use :func:`build_batch`.  ``levels[0]`` are the leaf hashes."""
        assert levels and levels[0] and len(levels[-1]) == 1
        self._levels = levels

    @property
    def size(self) -> int:
        """Number of digests in the batch."""
        return len(self._levels[0])

    @property
    def root(self) -> Hash:
        """MTH of the batch (RFC 9162 §2.1.1): what the ``batch.anchor`` event carries."""
        return self._levels[-1][0]

    def leaf_hash(self, index: int) -> Hash:
        """SHA-256(0x00 || digest) of digest ``index``."""
        self._check_index(index)
        return self._levels[0][index]

    def receipt(self, index: int) -> Receipt:
        """The receipt of digest ``index`` (``0 <= index < size``, else :class:`UsageError`)."""
        self._check_index(index)
        return self._receipt(index)

    def receipts(self) -> Iterator[Receipt]:
        """The receipts of all digests, in batch order.

        Neighbouring leaves share the upper part of their audit paths, so the
        paths are built top-down as tuples, each node's path being its sibling
        followed by its parent's path: one short tuple concatenation per node
        instead of a walk up the tree per leaf.  This runs one aligned block of
        :data:`_BLOCK_LEAVES` leaves at a time to bound memory on million-leaf
        batches.
        """
        levels = self._levels
        size = len(levels[0])
        root = levels[-1][0]
        block_level = min(_BLOCK_LEVEL, len(levels) - 1)
        for block in range(len(levels[block_level])):
            paths = [self._path_above(block_level, block)]
            for level in range(block_level - 1, -1, -1):
                row = levels[level]
                lo = block << (block_level - level)
                hi = min(lo + (1 << (block_level - level)), len(row))
                # Only the odd last node of a row lacks a sibling: it was
                # carried up unchanged, so it shares its parent's path.
                carried = hi == len(row) and hi & 1
                end = hi - 1 if carried else hi
                # Left children (even j) get their right sibling, right
                # children their left one; zip pairs each with the parent path.
                # Tuple concatenation, not (sibling, *above): ~15% faster here.
                # Not strict: with a carried node there is one parent path more.
                below: list[tuple[Hash, ...]] = [()] * (end - lo)
                below[0::2] = [(sibling,) + above for sibling, above in zip(  # noqa: RUF005
                    row[lo + 1:end:2], paths, strict=False)]
                below[1::2] = [(sibling,) + above for sibling, above in zip(  # noqa: RUF005
                    row[lo:end:2], paths, strict=False)]
                if carried:
                    below.append(paths[-1])
                paths = below
            first = block << block_level
            for offset, path in enumerate(paths):
                yield _new_receipt(first + offset, size, path, root)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise UsageError(f"no digest {index} in a batch of {self.size}")

    def _path_above(self, level: int, index: int) -> tuple[Hash, ...]:
        """Audit path of node (level, index) up to the root, bottom-up.

        At each level the sibling of the node on the way up, unless the node
        is an odd last one, which was carried up unchanged and so has no
        sibling in the RFC 9162 tree.
        """
        path: list[Hash] = []
        for row in self._levels[level:-1]:
            sibling = index ^ 1
            if sibling < len(row):
                path.append(row[sibling])
            index >>= 1
        return tuple(path)

    def _receipt(self, index: int) -> Receipt:
        return Receipt(index, len(self._levels[0]), self._path_above(0, index),
                       self._levels[-1][0])


def build_batch(digests: Sequence[bytes]) -> BatchTree:
    """Build the batch tree over credential digests, in the order given.

    Preconditions, each a :class:`UsageError` naming the offending position:
    1 to :data:`MAX_BATCH_SIZE` digests, each 32 bytes, no digest twice (a
    second copy would get a receipt of its own for the same credential and
    make a revocation by batch position ambiguous).

    RFC 9162 trees are built bottom-up by pairing nodes left to right and
    carrying an odd last node up unchanged; the result equals the RFC's
    recursive MTH (the split at the largest power of two below the size keeps
    every complete block intact).
    """
    count = len(digests)
    if count == 0:
        raise UsageError("a batch needs at least one digest")
    if count > MAX_BATCH_SIZE:
        raise UsageError(f"a batch holds at most {MAX_BATCH_SIZE} digests, got {count}")
    # C-speed checks first; the slow loop only runs to name the bad digest.
    if set(map(type, digests)) != {bytes} or set(map(len, digests)) != {HASH_SIZE}:
        for position, digest in enumerate(digests):
            if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
                raise UsageError(f"digest {position} is not a {HASH_SIZE}-byte SHA-256 value")
    if len(set(digests)) != count:
        _raise_duplicate(digests)

    sha256 = hashlib.sha256
    leaf_prefix = b"\x00"
    node_prefix = b"\x01"
    row: list[bytes] = [sha256(leaf_prefix + digest).digest() for digest in digests]
    # cast, not Hash(...) per element: NewType is a call at run time, and this
    # is the hot loop of a million-leaf batch.
    levels = [cast(list[Hash], row)]
    while len(row) > 1:
        parents = [
            sha256(node_prefix + left + right).digest()
            for left, right in zip(row[0::2], row[1::2], strict=False)
        ]
        if len(row) & 1:
            parents.append(row[-1])
        levels.append(cast(list[Hash], parents))
        row = parents
    return BatchTree(levels)


def _raise_duplicate(digests: Sequence[bytes]) -> None:
    first_seen: dict[bytes, int] = {}
    for position, digest in enumerate(digests):
        earlier = first_seen.setdefault(digest, position)
        if earlier != position:
            raise UsageError(
                f"digest {position} repeats digest {earlier} ({digest.hex()}); "
                f"each credential appears once in a batch"
            )
    raise AssertionError("a set was smaller than its list but no duplicate was found")


def root_from_receipt(
    digest: bytes, index: int, batch_size: int, audit_path: Sequence[bytes]
) -> Hash:
    """The batch root that ``audit_path`` leads to for ``digest`` at ``index``.

    Computes only (RFC 9162 §2.1.3.2 via :func:`client.merkle.root_from_inclusion_proof`).
    ``batch_size`` must be the trusted size from the ``batch.anchor`` event:
    an RFC 9162 path does not commit to the tree size, so the same path can
    lead to the same root for another (index, size) pair of the same shape.
    Raises :class:`InvalidProof` if ``digest`` is not 32 bytes, ``batch_size`` is
    outside 1..:data:`MAX_BATCH_SIZE`, or the path is malformed for
    ``(index, batch_size)``.
    """
    if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
        raise InvalidProof(f"credential digest must be {HASH_SIZE} bytes")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidProof(f"batch size {batch_size!r} is outside 1..{MAX_BATCH_SIZE}")
    return root_from_inclusion_proof(index, batch_size, leaf_hash(digest), audit_path)


def verify_receipt(
    digest: bytes, receipt: Receipt, trusted_batch_root: bytes, trusted_batch_size: int
) -> None:
    """Check that ``receipt`` places ``digest`` in the anchored batch.

    ``trusted_batch_root`` and ``trusted_batch_size`` come from a
    ``batch.anchor`` event the caller has verified on the ledger; the
    receipt's own ``batch_root`` and ``batch_size`` are only claims and must
    name the same batch.  Both are needed: the audit path alone does not fix
    the batch size (see :func:`root_from_receipt`).  Raises
    :class:`InvalidProof` for a malformed receipt or one that claims another
    size, and :class:`RootMismatch` when it names another root or its path
    leads to another root.
    """
    if not isinstance(trusted_batch_root, bytes) or len(trusted_batch_root) != HASH_SIZE:
        raise InvalidProof(f"trusted batch root must be {HASH_SIZE} bytes")
    # Cheap comparisons first: a receipt for another batch fails before hashing.
    if receipt.batch_root != trusted_batch_root:
        raise RootMismatch("batch receipt names another batch", trusted_batch_root,
                           receipt.batch_root)
    if receipt.batch_size != trusted_batch_size:
        raise InvalidProof(
            f"batch receipt claims {receipt.batch_size} digests; "
            f"the anchored batch has {trusted_batch_size}"
        )
    calculated = root_from_receipt(digest, receipt.index, trusted_batch_size, receipt.audit_path)
    if calculated != trusted_batch_root:
        raise RootMismatch(
            f"batch receipt for digest {receipt.index} of {trusted_batch_size}",
            trusted_batch_root, calculated,
        )
