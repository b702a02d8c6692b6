"""client.batch: issuer batch trees and receipts, checked against client.merkle."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client import batch, merkle
from client.errors import InvalidProof, RootMismatch, UsageError, VerificationError
from client.hashes import Hash


def _digests(count: int, salt: bytes = b"") -> list[bytes]:
    return [hashlib.sha256(b"credential %d %s" % (i, salt)).digest() for i in range(count)]


DIGESTS = _digests(3000)
DIGEST_LEAF_HASHES = [merkle.leaf_hash(d) for d in DIGESTS]


def _error_of(
    digest: bytes, receipt: batch.Receipt, root: bytes, size: int
) -> type[Exception] | None:
    try:
        batch.verify_receipt(digest, receipt, root, size)
    except VerificationError as exc:
        return type(exc)
    return None


def test_leaf_is_the_digest_itself() -> None:
    # SHA-256(0x00 || digest), computed here without client code.
    tree = batch.build_batch(DIGESTS[:1])
    expected = hashlib.sha256(b"\x00" + DIGESTS[0]).digest()
    assert tree.leaf_hash(0) == expected
    assert tree.root == expected  # a one-leaf tree's root is its leaf hash
    assert tree.receipt(0) == batch.Receipt(0, 1, (), Hash(expected))
    # Two leaves: SHA-256(0x01 || leaf0 || leaf1).
    pair = batch.build_batch(DIGESTS[:2])
    left = hashlib.sha256(b"\x00" + DIGESTS[0]).digest()
    right = hashlib.sha256(b"\x00" + DIGESTS[1]).digest()
    assert pair.root == hashlib.sha256(b"\x01" + left + right).digest()


def test_receipts_equal_merkle_inclusion_proofs_for_every_small_batch() -> None:
    for size in range(1, 71):
        tree = batch.build_batch(DIGESTS[:size])
        leaves = DIGEST_LEAF_HASHES[:size]
        root = merkle.root_hash(leaves)
        assert tree.size == size and tree.root == root
        receipts = list(tree.receipts())
        assert len(receipts) == size
        for index, receipt in enumerate(receipts):
            assert receipt == tree.receipt(index)
            assert receipt.index == index and receipt.batch_size == size
            assert receipt.batch_root == root
            assert list(receipt.audit_path) == merkle.inclusion_proof(leaves, index)
            batch.verify_receipt(DIGESTS[index], receipt, root, size)
            assert batch.root_from_receipt(
                DIGESTS[index], index, size, receipt.audit_path) == root


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_property_receipts_equal_inclusion_proofs(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(DIGESTS)), label="size")
    indices = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5), label="idx")
    tree = batch.build_batch(DIGESTS[:size])
    leaves = DIGEST_LEAF_HASHES[:size]
    assert tree.root == merkle.root_hash(leaves)
    for index in indices:
        receipt = tree.receipt(index)
        assert list(receipt.audit_path) == merkle.inclusion_proof(leaves, index)
        batch.verify_receipt(DIGESTS[index], receipt, tree.root, size)


def test_verify_receipt_rejects_tampering() -> None:
    size = 37
    tree = batch.build_batch(DIGESTS[:size])
    root = tree.root
    other_root = batch.build_batch(DIGESTS[1:size + 1]).root
    roots_by_size = {n: batch.build_batch(DIGESTS[:n]).root for n in (size - 1, size + 1, size * 2)}
    for index in range(size):
        digest, receipt = DIGESTS[index], tree.receipt(index)
        # Another credential, or the right one against another batch.
        assert _error_of(DIGESTS[(index + 1) % size], receipt, root, size) is RootMismatch
        assert _error_of(digest, receipt, other_root, size) is RootMismatch
        forged = dataclasses.replace(receipt, batch_root=other_root)
        assert _error_of(digest, forged, other_root, size) is RootMismatch
        # Every bit of every audit path hash matters.
        for element in range(len(receipt.audit_path)):
            for bit in range(256):
                flipped = bytearray(receipt.audit_path[element])
                flipped[bit // 8] ^= 1 << (bit % 8)
                path = (*receipt.audit_path[:element], Hash(bytes(flipped)),
                        *receipt.audit_path[element + 1:])
                bad = dataclasses.replace(receipt, audit_path=path)
                assert _error_of(digest, bad, root, size) is RootMismatch
        # Wrong position: another path shape or another root.
        for other in range(size + 1):
            if other != index:
                moved = dataclasses.replace(receipt, index=other)
                assert _error_of(digest, moved, root, size) is not None
        # A receipt that claims another batch size, or is checked against one.
        for other_size in (size - 1, size + 1, size * 2):
            if index < other_size:
                resized = dataclasses.replace(receipt, batch_size=other_size)
                assert _error_of(digest, resized, root, size) is InvalidProof
                # Against the batch of that size the path leads elsewhere.
                resized = dataclasses.replace(resized, batch_root=roots_by_size[other_size])
                assert _error_of(digest, resized, roots_by_size[other_size], other_size) \
                    is not None
        # Truncated and extended paths are malformed, not merely wrong.
        for short_or_long in (receipt.audit_path[:-1], (*receipt.audit_path, root)):
            reshaped = dataclasses.replace(receipt, audit_path=short_or_long)
            assert _error_of(digest, reshaped, root, size) is InvalidProof


def test_paths_do_not_bind_the_batch_size() -> None:
    # Why verify_receipt needs the anchored size: leaf 0 of 37 and leaf 0 of
    # 36 have paths of the same shape, so root_from_receipt gives the same root
    # for both sizes.  The size must come from the trusted batch.anchor event.
    tree = batch.build_batch(DIGESTS[:37])
    path = tree.receipt(0).audit_path
    assert batch.root_from_receipt(DIGESTS[0], 0, 36, path) == tree.root
    lying = dataclasses.replace(tree.receipt(0), batch_size=36)
    assert _error_of(DIGESTS[0], lying, tree.root, 37) is InvalidProof


def test_receipt_checks_before_hashing() -> None:
    tree = batch.build_batch(DIGESTS[:5])
    receipt = tree.receipt(2)
    with pytest.raises(InvalidProof, match="digest must be 32 bytes"):
        batch.verify_receipt(DIGESTS[2][:31], receipt, tree.root, 5)
    with pytest.raises(InvalidProof, match="trusted batch root"):
        batch.verify_receipt(DIGESTS[2], receipt, tree.root[:31], 5)
    too_big = dataclasses.replace(receipt, batch_size=batch.MAX_BATCH_SIZE + 1)
    with pytest.raises(InvalidProof, match="outside 1"):
        batch.verify_receipt(DIGESTS[2], too_big, tree.root, batch.MAX_BATCH_SIZE + 1)
    for size in (0, -1):
        with pytest.raises(InvalidProof, match="outside 1"):
            batch.root_from_receipt(DIGESTS[2], 0, size, [])
    with pytest.raises(InvalidProof, match="limit is 64"):
        batch.root_from_receipt(DIGESTS[2], 2, 5, [DIGESTS[0]] * 65)


def test_build_batch_rejects_bad_batches() -> None:
    with pytest.raises(UsageError, match="at least one"):
        batch.build_batch([])
    # Only the length is looked at: the same object a million times is cheap.
    with pytest.raises(UsageError, match="at most 1000000"):
        batch.build_batch([DIGESTS[0]] * (batch.MAX_BATCH_SIZE + 1))
    with pytest.raises(UsageError, match="digest 2 is not a 32-byte"):
        batch.build_batch([DIGESTS[0], DIGESTS[1], DIGESTS[2][:16]])
    with pytest.raises(UsageError, match="digest 1 is not a 32-byte"):
        batch.build_batch([DIGESTS[0], bytearray(DIGESTS[1])])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="digest 7 repeats digest 3"):
        batch.build_batch([*DIGESTS[:7], DIGESTS[3], *DIGESTS[8:20]])


def test_batch_tree_accessors() -> None:
    tree = batch.build_batch(DIGESTS[:6])
    for bad in (-1, 6):
        with pytest.raises(UsageError, match="no digest"):
            tree.receipt(bad)
        with pytest.raises(UsageError, match="no digest"):
            tree.leaf_hash(bad)
    receipt = tree.receipt(5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        receipt.index = 4  # type: ignore[misc]
    assert [tree.leaf_hash(i) for i in range(6)] == DIGEST_LEAF_HASHES[:6]


def test_receipts_iterator_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # receipts() builds paths top-down one aligned block at a time; with
    # 4-leaf blocks every small size crosses block edges and odd last nodes.
    monkeypatch.setattr(batch, "_BLOCK_LEVEL", 2)
    for size in range(1, 71):
        tree = batch.build_batch(DIGESTS[:size])
        assert list(tree.receipts()) == [tree.receipt(i) for i in range(size)], size
    fast = next(batch.build_batch(DIGESTS[:9]).receipts())
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.batch_size = 8  # type: ignore[misc]


def test_hundred_thousand_digests() -> None:
    # Larger than the property test reaches; spot-check receipts across the batch.
    digests = _digests(100_003, b"big")
    tree = batch.build_batch(digests)
    leaves = [merkle.leaf_hash(d) for d in digests]
    compact = merkle.CompactRange()
    compact.extend(leaves)
    assert tree.root == compact.root()
    receipts = list(tree.receipts())
    assert len(receipts) == len(digests)
    for index in (0, 1, 4095, 4096, 65_535, 65_536, 99_999, 100_000, 100_002):
        receipt = receipts[index]
        assert receipt == tree.receipt(index)
        ranges = merkle.inclusion_proof_ranges(index, len(digests))
        assert len(receipt.audit_path) == len(ranges)
        batch.verify_receipt(digests[index], receipt, tree.root, tree.size)
    for index in range(0, len(digests), 97):
        assert receipts[index] == tree.receipt(index)


def test_batch_vectors() -> None:
    vectors = json.loads((Path(__file__).parents[1] / "vectors" / "merkle_batch.json").read_text())
    size, root = vectors["batch_size"], bytes.fromhex(vectors["batch_root"])
    digests = [bytes.fromhex(r["digest"]) for r in vectors["receipts"]]
    assert size == len(digests) == 5
    # Independent of client code: the RFC 9162 tree over five leaves is
    # H(H(H(l0, l1), H(l2, l3)), l4) with l_i = SHA-256(0x00 || digest_i).
    leaves = [hashlib.sha256(b"\x00" + d).digest() for d in digests]

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    assert root == node(node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])), leaves[4])
    tree = batch.build_batch(digests)
    assert tree.root == root
    for entry, leaf in zip(vectors["receipts"], leaves, strict=True):
        assert bytes.fromhex(entry["leaf_hash"]) == leaf
        receipt = batch.Receipt(entry["index"], size,
                                tuple(Hash(bytes.fromhex(h)) for h in entry["audit_path"]),
                                Hash(root))
        assert receipt == tree.receipt(entry["index"])
        batch.verify_receipt(bytes.fromhex(entry["digest"]), receipt, root, size)
