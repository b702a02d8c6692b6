"""client.merkle against RFC 9162 §2.1: a naive reference, published vectors, mutations."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client import merkle
from client.errors import InvalidProof, RootMismatch, UsageError, VerificationError
from client.hashes import Hash

VECTORS = Path(__file__).parents[1] / "vectors"

# ----------------------------------------------------------------------------
# Naive reference: RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH), §2.1.4.1 (PROOF,
# SUBPROOF), transcribed literally from the RFC's recursive definitions over
# the leaf *data*.  It shares no code with client.merkle.
# ----------------------------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@functools.cache
def ref_mth(d: tuple[bytes, ...]) -> bytes:
    n = len(d)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + d[0])
    k = _k(n)
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    return ref_subproof(m, d, True)


# Leaf data for the exhaustive tests: 70 distinct entries of varying length.
DATA: tuple[bytes, ...] = tuple(
    hashlib.sha256(b"vcledger test leaf %d" % i).digest()[: 1 + i % 40] for i in range(70)
)
LEAF_HASHES = [merkle.leaf_hash(x) for x in DATA]
ROOTS = [ref_mth(DATA[:n]) for n in range(len(DATA) + 1)]

ALL_SIZES = range(1, 65)
# Sizes where every single-bit flip of every proof hash is tried (the rest get
# one seeded random bit per proof hash, to keep the file at a few seconds).
FLIP_SIZES = [*range(1, 18), 31, 32, 33, 63, 64]


def _flip_positions(n: int) -> list[int]:
    """Indices (or old sizes) whose proofs get every bit flipped in size n."""
    if n <= 17:
        return list(range(n))
    return sorted({x for x in (0, 1, 2, 3, n // 2 - 1, n // 2, n - 3, n - 2, n - 1)})


def _other_sizes(n: int) -> list[int]:
    """Wrong tree sizes to try instead of n: neighbours, halves, doubles, the extremes."""
    candidates = {n - 2, n - 1, n + 1, n + 2, n // 2, n * 2, (n + 1) // 2, 1, len(DATA)}
    return sorted(m for m in candidates if 1 <= m <= len(DATA) and m != n)


def _flipped(value: bytes, bit: int) -> bytes:
    as_list = bytearray(value)
    as_list[bit // 8] ^= 1 << (bit % 8)
    return bytes(as_list)


def _error_of(check: Callable[..., None], *args: object) -> type[Exception] | None:
    """The class of the VerificationError ``check(*args)`` raises, or None.

    A bare try/except rather than pytest.raises: the mutation loops below make
    hundreds of thousands of calls, and this keeps the file at a few seconds.
    """
    try:
        check(*args)
    except VerificationError as exc:
        return type(exc)
    return None


def _stored_nodes(n: int) -> Callable[[int, int], Hash]:
    """complete_hash over DATA[:n] that refuses nodes that are not complete yet."""

    def complete_hash(level: int, index: int) -> Hash:
        lo, hi = index << level, (index + 1) << level
        assert hi <= n, f"asked for incomplete node ({level}, {index}) in size {n}"
        return Hash(ref_mth(DATA[lo:hi]))

    return complete_hash


# ----------------------------------------------------------------------------
# Published vectors, kept as independent constants.
# Source: github.com/transparency-dev/merkle, proof/verify_test.go (roots,
# leaves, inclusionProofs, consistencyProofs) and rfc6962/rfc6962_test.go
# (hasher vectors).  The same values appear in certificate-transparency-go.
# ----------------------------------------------------------------------------

PUBLISHED_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
PUBLISHED_ROOTS = [  # MTH of the first 1..8 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path); the Go file numbers leaves from 1.
PUBLISHED_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
PUBLISHED_CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_published_hasher_vectors() -> None:
    # rfc6962_test.go: `echo -n | sha256sum`, the empty leaf, "L123456", "N123"/"N456".
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert merkle.leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    assert merkle.node_hash(Hash(b"N123"), Hash(b"N456")).hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")


def test_published_roots() -> None:
    hashes = [merkle.leaf_hash(x) for x in PUBLISHED_LEAVES]
    for size, expected in enumerate(PUBLISHED_ROOTS, start=1):
        assert merkle.root_hash(hashes[:size]).hex() == expected
        compact = merkle.CompactRange()
        compact.extend(hashes[:size])
        assert compact.root().hex() == expected
        # The naive reference agrees with the published values too.
        assert ref_mth(tuple(PUBLISHED_LEAVES[:size])).hex() == expected


@pytest.mark.parametrize(("index", "size", "path"), PUBLISHED_INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    hashes = [merkle.leaf_hash(x) for x in PUBLISHED_LEAVES[:size]]
    assert [h.hex() for h in merkle.inclusion_proof(hashes, index)] == path
    root = _h(PUBLISHED_ROOTS[size - 1])
    merkle.verify_inclusion(hashes[index], index, size, [_h(p) for p in path], root)


@pytest.mark.parametrize(("old", "new", "proof"), PUBLISHED_CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    hashes = [merkle.leaf_hash(x) for x in PUBLISHED_LEAVES[:new]]
    assert [h.hex() for h in merkle.consistency_proof(hashes, old)] == proof
    merkle.verify_consistency(
        old, new, _h(PUBLISHED_ROOTS[old - 1]), _h(PUBLISHED_ROOTS[new - 1]),
        [_h(p) for p in proof],
    )


# ----------------------------------------------------------------------------
# Exhaustive: every size 1..64 against the reference.
# ----------------------------------------------------------------------------


def test_roots_match_reference_for_every_size() -> None:
    assert merkle.root_hash([]) == merkle.EMPTY_ROOT == ROOTS[0]
    compact = merkle.CompactRange()
    assert compact.root() == merkle.EMPTY_ROOT
    for size in range(1, len(DATA) + 1):
        assert merkle.root_hash(LEAF_HASHES[:size]) == ROOTS[size]
        compact.append(LEAF_HASHES[size - 1])
        assert compact.size == size
        assert compact.root() == ROOTS[size]
        assert merkle.subtree_hash(0, size, _stored_nodes(size)) == ROOTS[size]


def test_inclusion_proofs_match_reference_for_every_size_and_index() -> None:
    for size in ALL_SIZES:
        leaves = LEAF_HASHES[:size]
        root = ROOTS[size]
        complete_hash = _stored_nodes(size)
        for index in range(size):
            expected = ref_path(index, DATA[:size])
            proof = merkle.inclusion_proof(leaves, index)
            assert proof == expected, (index, size)
            ranges = merkle.inclusion_proof_ranges(index, size)
            assert [merkle.subtree_hash(lo, hi, complete_hash) for lo, hi in ranges] == expected
            assert merkle.root_from_inclusion_proof(index, size, leaves[index], proof) == root
            merkle.verify_inclusion(leaves[index], index, size, proof, root)


def _assert_inclusion_rejected(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    error = _error_of(merkle.verify_inclusion, leaf, index, size, proof, root)
    assert error is not None, (index, size)


def test_inclusion_rejects_truncation_extension_and_wrong_position() -> None:
    zero = bytes(32)
    for size in ALL_SIZES:
        root = ROOTS[size]
        for index in range(size):
            leaf = LEAF_HASHES[index]
            proof = merkle.inclusion_proof(LEAF_HASHES[:size], index)
            for cut in range(len(proof)):
                error = _error_of(merkle.verify_inclusion, leaf, index, size, proof[:cut], root)
                assert error is InvalidProof, (index, size, cut)
            for extra in (zero, root, leaf):
                for longer in ([*proof, extra], [extra, *proof]):
                    error = _error_of(merkle.verify_inclusion, leaf, index, size, longer, root)
                    assert error is InvalidProof, (index, size)
            # Every other index in the same tree: the path's left/right
            # pattern differs or its length does.
            for other in range(size + 2):
                if other != index:
                    _assert_inclusion_rejected(leaf, other, size, proof, root)
            # Every other size, against that size's own root.  (Against the
            # *same* root a different size can pass when the path has the same
            # shape: RFC 9162 proofs do not commit to the size, the signed
            # checkpoint does.  See docs/protocol.md, "Merkle trees".)
            for other_size in _other_sizes(size):
                if index < other_size:
                    _assert_inclusion_rejected(leaf, index, other_size, proof, ROOTS[other_size])
            # Another leaf at the same position, and the wrong root.
            _assert_inclusion_rejected(LEAF_HASHES[-1], index, size, proof, root)
            _assert_inclusion_rejected(leaf, index, size, proof, ROOTS[size - 1])


def test_inclusion_rejects_every_bit_flip() -> None:
    rng = random.Random(9162)
    for size in ALL_SIZES:
        root = ROOTS[size]
        every = size in FLIP_SIZES
        positions = _flip_positions(size) if every else range(size)
        for index in positions:
            leaf = LEAF_HASHES[index]
            proof = merkle.inclusion_proof(LEAF_HASHES[:size], index)
            for element in range(len(proof)):
                bits = range(256) if every else [rng.randrange(256)]
                for bit in bits:
                    bad: list[bytes] = list(proof)
                    bad[element] = _flipped(proof[element], bit)
                    error = _error_of(merkle.verify_inclusion, leaf, index, size, bad, root)
                    assert error is RootMismatch, (index, size, element, bit)
            if every and size <= 17:
                for bit in range(256):
                    error = _error_of(
                        merkle.verify_inclusion, _flipped(leaf, bit), index, size, proof, root)
                    assert error is RootMismatch, (index, size, bit)


def test_consistency_proofs_match_reference_for_every_size_pair() -> None:
    for new in ALL_SIZES:
        leaves = LEAF_HASHES[:new]
        complete_hash = _stored_nodes(new)
        for old in range(new + 1):
            proof = merkle.consistency_proof(leaves, old)
            ranges = merkle.consistency_proof_ranges(old, new)
            if old in (0, new):
                assert proof == [] and ranges == []
            else:
                expected = ref_proof(old, DATA[:new])
                assert proof == expected, (old, new)
                assert [merkle.subtree_hash(lo, hi, complete_hash) for lo, hi in ranges] == expected
                calculated = merkle.roots_from_consistency_proof(old, new, ROOTS[old], proof)
                assert calculated == (ROOTS[old], ROOTS[new])
            merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def _assert_consistency_rejected(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    error = _error_of(merkle.verify_consistency, old, new, old_root, new_root, proof)
    assert error is not None, (old, new)


def test_consistency_rejects_truncation_extension_and_wrong_sizes() -> None:
    zero = bytes(32)
    for new in ALL_SIZES:
        for old in range(1, new):
            old_root, new_root = ROOTS[old], ROOTS[new]
            proof = merkle.consistency_proof(LEAF_HASHES[:new], old)
            for cut in range(len(proof)):
                error = _error_of(
                    merkle.verify_consistency, old, new, old_root, new_root, proof[:cut])
                assert error is InvalidProof, (old, new, cut)
            for extra in (zero, old_root, new_root, proof[0]):
                for longer in ([*proof, extra], [extra, *proof]):
                    error = _error_of(
                        merkle.verify_consistency, old, new, old_root, new_root, longer)
                    assert error is InvalidProof, (old, new)
            # Wrong sizes, each with the true root of the size claimed.
            for other in _other_sizes(old):
                if other <= new:
                    _assert_consistency_rejected(other, new, ROOTS[other], new_root, proof)
            for other in _other_sizes(new):
                if other >= old:
                    _assert_consistency_rejected(old, other, old_root, ROOTS[other], proof)
            _assert_consistency_rejected(old, new, new_root, old_root, proof)  # swapped
            _assert_consistency_rejected(old, new, ROOTS[old - 1], new_root, proof)
            _assert_consistency_rejected(old, new, old_root, ROOTS[new - 1], proof)


def test_consistency_rejects_every_bit_flip() -> None:
    rng = random.Random(6962)
    for new in ALL_SIZES:
        every = new in FLIP_SIZES
        olds = _flip_positions(new) if every else range(new)
        for old in olds:
            if old == 0:
                continue
            old_root, new_root = ROOTS[old], ROOTS[new]
            proof = merkle.consistency_proof(LEAF_HASHES[:new], old)
            for element in range(len(proof)):
                bits = range(256) if every else [rng.randrange(256)]
                for bit in bits:
                    bad: list[bytes] = list(proof)
                    bad[element] = _flipped(proof[element], bit)
                    error = _error_of(merkle.verify_consistency, old, new, old_root, new_root, bad)
                    assert error is RootMismatch, (old, new, element, bit)


# ----------------------------------------------------------------------------
# The rules where RFC 9162 is silent, and the cheap checks.
# ----------------------------------------------------------------------------


def test_inclusion_edge_rules() -> None:
    leaf = LEAF_HASHES[0]
    # Size 0 holds no leaf, whatever the root.
    for root in (merkle.EMPTY_ROOT, leaf):
        with pytest.raises(InvalidProof, match="not below the tree size 0"):
            merkle.verify_inclusion(leaf, 0, 0, [], root)
    # A one-leaf tree: the empty path and root == leaf hash.
    merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(RootMismatch):
        merkle.verify_inclusion(leaf, 0, 1, [], LEAF_HASHES[1])
    for index, size in [(1, 1), (-1, 5), (5, 5), (0, 2**64), (2**64, 2**64 - 1)]:
        with pytest.raises(InvalidProof) as info:
            merkle.verify_inclusion(leaf, index, size, [], leaf)
        assert type(info.value) is InvalidProof
    # Sizes up to 2**64 - 1 are fine: the deepest possible proof has 64 hashes.
    size = 2**64 - 1
    proof = [bytes([i]) * 32 for i in range(64)]
    calculated = merkle.root_from_inclusion_proof(0, size, leaf, proof)
    merkle.verify_inclusion(leaf, 0, size, proof, calculated)


def test_hashes_must_be_32_bytes() -> None:
    proof = merkle.inclusion_proof(LEAF_HASHES[:5], 2)
    root, leaf = ROOTS[5], LEAF_HASHES[2]
    cases: list[tuple[bytes, Sequence[bytes], bytes]] = [
        (leaf[:31], proof, root),
        (leaf + b"\x00", proof, root),
        (leaf, [proof[0][:31], *proof[1:]], root),
        (leaf, [*proof[:-1], bytearray(proof[-1])], root),  # type: ignore[list-item]
        (leaf, proof, b""),
    ]
    for bad_leaf, bad_proof, bad_root in cases:
        with pytest.raises(InvalidProof, match="32-byte hash") as info:
            merkle.verify_inclusion(bad_leaf, 2, 5, bad_proof, bad_root)
        assert type(info.value) is InvalidProof
    old_proof = merkle.consistency_proof(LEAF_HASHES[:5], 3)
    with pytest.raises(InvalidProof, match="32-byte hash"):
        merkle.verify_consistency(3, 5, ROOTS[3][:16], ROOTS[5], old_proof)
    with pytest.raises(InvalidProof, match="32-byte hash"):
        merkle.verify_consistency(3, 5, ROOTS[3], ROOTS[5], [*old_proof[:-1], b"x"])


def test_proof_length_is_capped_before_anything_else() -> None:
    # 65 things that are not even hashes: the cap fires first, no hashing.
    huge: list[bytes] = [b""] * 65
    with pytest.raises(InvalidProof, match="limit is 64"):
        merkle.verify_inclusion(LEAF_HASHES[0], 0, 2**64 - 1, huge, ROOTS[1])
    with pytest.raises(InvalidProof, match="limit is 64"):
        merkle.root_from_inclusion_proof(0, 2**64 - 1, b"", huge)
    with pytest.raises(InvalidProof, match="limit is 64"):
        merkle.verify_consistency(1, 2**64 - 1, ROOTS[1], ROOTS[2], huge)
    with pytest.raises(InvalidProof, match="limit is 64"):
        merkle.roots_from_consistency_proof(1, 2**64 - 1, b"", huge)


def test_consistency_edge_rules() -> None:
    empty, r3, r5 = merkle.EMPTY_ROOT, ROOTS[3], ROOTS[5]
    # From the empty tree: valid iff the proof is empty and the old root is MTH({}).
    merkle.verify_consistency(0, 0, empty, empty, [])
    merkle.verify_consistency(0, 5, empty, r5, [])
    merkle.verify_consistency(0, 5, empty, bytes(32), [])  # any tree extends the empty one
    with pytest.raises(InvalidProof, match="must be empty"):
        merkle.verify_consistency(0, 5, empty, r5, [r5])
    with pytest.raises(RootMismatch):
        merkle.verify_consistency(0, 5, r3, r5, [])
    with pytest.raises(RootMismatch):
        merkle.verify_consistency(0, 0, empty, r3, [])
    # Equal sizes: empty proof and equal roots.
    merkle.verify_consistency(3, 3, r3, r3, [])
    with pytest.raises(RootMismatch):
        merkle.verify_consistency(3, 3, r3, r5, [])
    with pytest.raises(InvalidProof, match="must be empty"):
        merkle.verify_consistency(3, 3, r3, r3, [r3])
    # A tree never shrinks; proper prefixes need a non-empty proof.
    for old, new in [(5, 3), (1, 0)]:
        with pytest.raises(InvalidProof, match="cannot shrink") as info:
            merkle.verify_consistency(old, new, r5, r3, [])
        assert type(info.value) is InvalidProof
    with pytest.raises(InvalidProof, match="must have"):
        merkle.verify_consistency(3, 5, r3, r5, [])
    for old, new in [(-1, 3), (3, 2**64)]:
        with pytest.raises(InvalidProof, match=r"0\.\.2"):
            merkle.verify_consistency(old, new, r3, r5, [])
    with pytest.raises(InvalidProof, match="no consistency proof path"):
        merkle.roots_from_consistency_proof(3, 3, r3, [])


def test_builders_reject_impossible_requests() -> None:
    with pytest.raises(UsageError):
        merkle.inclusion_proof_ranges(3, 3)
    with pytest.raises(UsageError):
        merkle.inclusion_proof_ranges(-1, 3)
    with pytest.raises(UsageError):
        merkle.inclusion_proof([], 0)
    with pytest.raises(UsageError):
        merkle.consistency_proof_ranges(4, 3)
    with pytest.raises(UsageError):
        merkle.consistency_proof(LEAF_HASHES[:3], 4)
    with pytest.raises(UsageError, match="leaf hash 1"):
        merkle.root_hash([LEAF_HASHES[0], b"short"])
    with pytest.raises(UsageError, match="leaf hash 2"):
        merkle.inclusion_proof([*LEAF_HASHES[:2], b"short"], 0)
    nodes = _stored_nodes(64)
    for lo, hi in [(3, 3), (5, 4), (-1, 2), (1, 3), (2, 6), (4, 12)]:
        with pytest.raises(UsageError):
            merkle.subtree_hash(lo, hi, nodes)


def test_subtree_hash_fetches_one_node_per_set_bit() -> None:
    fetched: list[tuple[int, int]] = []
    inner = _stored_nodes(64)

    def recording(level: int, index: int) -> Hash:
        fetched.append((level, index))
        return inner(level, index)

    # [8, 15) = 4 + 2 + 1 leaves: nodes (2, 2), (1, 6), (0, 14).
    assert merkle.subtree_hash(8, 15, recording) == ref_mth(DATA[8:15])
    assert sorted(fetched) == [(0, 14), (1, 6), (2, 2)]
    # Every left-aligned range of a 64-leaf tree.
    for lo in range(64):
        for hi in range(lo + 1, 65):
            size = hi - lo
            if lo % (1 << (size.bit_length() - 1)) == 0:
                assert merkle.subtree_hash(lo, hi, inner) == ref_mth(DATA[lo:hi])


# ----------------------------------------------------------------------------
# CompactRange: appends, reported nodes, restore from peaks.
# ----------------------------------------------------------------------------


def _complete_nodes(size: int) -> set[tuple[int, int]]:
    return {
        (level, index)
        for level in range(size.bit_length())
        for index in range(size >> level)
    }


def test_compact_range_reports_each_complete_node_once() -> None:
    seen: dict[tuple[int, int], Hash] = {}

    def on_node(level: int, index: int, value: Hash) -> None:
        assert (level, index) not in seen, "node reported twice"
        seen[(level, index)] = value

    compact = merkle.CompactRange()
    for size in range(1, len(DATA) + 1):
        compact.append(LEAF_HASHES[size - 1], on_node)
        assert set(seen) == _complete_nodes(size)
        assert compact.peaks == tuple(
            seen[node] for node in merkle.CompactRange.peak_nodes(size))
    for (level, index), value in seen.items():
        assert value == ref_mth(DATA[index << level:(index + 1) << level])


def test_compact_range_random_appends_and_restarts() -> None:
    rng = random.Random(20240601)
    data = [rng.randbytes(rng.randrange(0, 20)) for _ in range(300)]
    hashes = [merkle.leaf_hash(x) for x in data]
    stored: dict[tuple[int, int], Hash] = {}

    def store(level: int, index: int, value: Hash) -> None:
        stored[(level, index)] = value

    compact = merkle.CompactRange()
    position = 0
    while position < len(hashes):
        step = rng.randrange(1, 40)
        compact.extend(hashes[position:position + step], store)
        position = min(position + step, len(hashes))
        assert compact.root() == ref_mth(tuple(data[:position]))
        # A restarted node reads only the peaks and carries on identically.
        restored = merkle.CompactRange.from_peaks(
            position, [stored[node] for node in merkle.CompactRange.peak_nodes(position)])
        assert restored.size == position and restored.root() == compact.root()
        if position < len(hashes):
            restored.append(hashes[position])
            twin = merkle.CompactRange.from_peaks(compact.size, compact.peaks)
            twin.append(hashes[position])
            assert restored.root() == twin.root() == ref_mth(tuple(data[:position + 1]))


def test_compact_range_rejects_bad_input() -> None:
    with pytest.raises(UsageError, match="3 peaks"):
        merkle.CompactRange.from_peaks(7, [LEAF_HASHES[0]] * 2)
    with pytest.raises(UsageError, match="peak hash 1"):
        merkle.CompactRange.from_peaks(3, [LEAF_HASHES[0], b"short"])
    with pytest.raises(UsageError):
        merkle.CompactRange.peak_nodes(-1)
    with pytest.raises(UsageError):
        merkle.CompactRange().append(b"short")
    assert merkle.CompactRange.from_peaks(0, []).root() == merkle.EMPTY_ROOT
    full = merkle.CompactRange.from_peaks(2**64 - 1, [LEAF_HASHES[0]] * 64)
    with pytest.raises(UsageError, match="full"):
        full.append(LEAF_HASHES[1])


# ----------------------------------------------------------------------------
# Property tests on larger trees (reference still the RFC recursion).
# ----------------------------------------------------------------------------

BIG = tuple(b"%d" % i for i in range(3000))
BIG_HASHES = [merkle.leaf_hash(x) for x in BIG]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_property_large_trees(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(BIG)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old")
    leaves = BIG_HASHES[:size]
    root = ref_mth(BIG[:size])
    assert merkle.root_hash(leaves) == root

    proof = merkle.inclusion_proof(leaves, index)
    assert proof == ref_path(index, BIG[:size])
    merkle.verify_inclusion(leaves[index], index, size, proof, root)

    old_root = ref_mth(BIG[:old])
    consistency = merkle.consistency_proof(leaves, old)
    if 0 < old < size:
        assert consistency == ref_proof(old, BIG[:size])
    merkle.verify_consistency(old, size, old_root, root, consistency)

    # The node's way: nodes persisted by CompactRange, proofs via subtree_hash.
    stored: dict[tuple[int, int], Hash] = {}
    compact = merkle.CompactRange()
    compact.extend(leaves, lambda level, i, value: stored.__setitem__((level, i), value))
    assert compact.root() == root

    def complete_hash(level: int, i: int) -> Hash:
        return stored[(level, i)]

    ranges = merkle.inclusion_proof_ranges(index, size)
    assert [merkle.subtree_hash(lo, hi, complete_hash) for lo, hi in ranges] == proof
    ranges = merkle.consistency_proof_ranges(old, size)
    assert [merkle.subtree_hash(lo, hi, complete_hash) for lo, hi in ranges] == consistency
    assert merkle.subtree_hash(0, size, complete_hash) == root


# ----------------------------------------------------------------------------
# The committed vectors (scripts/vectorgen/merkle.py), checked against the
# reference above and the verifier.
# ----------------------------------------------------------------------------


def _load(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((VECTORS / name).read_text())
    return loaded


def _error_class(code: str | None) -> type[Exception] | None:
    return {None: None, "bad_proof": InvalidProof, "root_mismatch": RootMismatch}[code]


def test_inclusion_vectors() -> None:
    vectors = _load("merkle_inclusion.json")
    leaves = tuple(bytes.fromhex(x) for x in vectors["leaves"])  # type: ignore[attr-defined]
    for size, expected in enumerate(PUBLISHED_ROOTS, start=1):
        assert ref_mth(leaves[:size]).hex() == expected  # the first 8 are the published leaves
    cases = vectors["cases"]
    assert isinstance(cases, list) and len(cases) > 50
    valid = 0
    for case in cases:
        index, size = case["leaf_index"], case["tree_size"]
        leaf, root = _h(case["leaf_hash"]), _h(case["root"])
        proof = [_h(x) for x in case["proof"]]
        error = _error_class(case["error"])
        if case["valid"]:
            valid += 1
            assert error is None
            assert leaf == _sha(b"\x00" + leaves[index])
            assert root == ref_mth(leaves[:size])
            assert proof == ref_path(index, leaves[:size]), case["name"]
            merkle.verify_inclusion(leaf, index, size, proof, root)
        else:
            assert error is not None
            with pytest.raises(error) as info:
                merkle.verify_inclusion(leaf, index, size, proof, root)
            assert info.value.code == case["error"], case["name"]  # type: ignore[attr-defined]
    assert 5 < valid < len(cases)


def test_consistency_vectors() -> None:
    vectors = _load("merkle_consistency.json")
    leaves = tuple(bytes.fromhex(x) for x in vectors["leaves"])  # type: ignore[attr-defined]
    cases = vectors["cases"]
    assert isinstance(cases, list) and len(cases) > 50
    valid = 0
    for case in cases:
        old, new = case["old_size"], case["new_size"]
        old_root, new_root = _h(case["old_root"]), _h(case["new_root"])
        proof = [_h(x) for x in case["proof"]]
        error = _error_class(case["error"])
        if case["valid"]:
            valid += 1
            assert error is None
            assert old_root == ref_mth(leaves[:old]) and new_root == ref_mth(leaves[:new])
            expected = [] if old in (0, new) else ref_proof(old, leaves[:new])
            assert proof == expected, case["name"]
            merkle.verify_consistency(old, new, old_root, new_root, proof)
        else:
            assert error is not None
            with pytest.raises(error) as info:
                merkle.verify_consistency(old, new, old_root, new_root, proof)
            assert info.value.code == case["error"], case["name"]  # type: ignore[attr-defined]
    assert 5 < valid < len(cases)
