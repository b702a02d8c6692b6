"""client.merkle and client.smt against deliberately plain reference implementations.

The verifiers in ``client`` are written for speed (integer bit paths, locally bound
hashing, the RFC's walk split at the right edge).  The references here are written
for reading: RFC 9162 §2.1 step by step (MTH and PATH by recursion, §2.1.3.2 and
§2.1.4.2 with ``fn``/``sn`` exactly as the RFC words them) and the status map of
docs/protocol.md §7.3-7.5 (bit by bit, the tree by recursion over the key set).
Hypothesis draws random trees, honest proofs and corrupted ones; for every input the
fast verifier must reject exactly when the reference does, and otherwise compute
the same root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.errors import InvalidProof
from client.hashes import Hash
from client.merkle import root_from_inclusion_proof, roots_from_consistency_proof
from client.smt import SmtLeaf, SmtProof, root_from_proof


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Rejected(Exception):
    """The reference refuses the proof."""


# ---------------------------------------------------------------- RFC 9162 §2.1, plainly


def rfc_leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of §2.1.1, by its recursive definition, over leaf *hashes*."""
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = split_point(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split_point(n)
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def reference_inclusion_root(index: int, size: int, leaf: bytes, proof: Sequence[bytes]
                             ) -> bytes:
    """§2.1.3.2, step by step; raises Rejected where the RFC says the proof fails."""
    if index >= size:
        raise Rejected("index >= tree_size")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Rejected("sn reached 0 before the path ended")
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = sha256(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    if sn != 0:
        raise Rejected("sn is not 0 after the path")
    return r


def reference_consistency_roots(first: int, second: int, first_hash: bytes,
                                proof: Sequence[bytes]) -> tuple[bytes, bytes]:
    """§2.1.4.2 steps 2-7 for 0 < first < second; raises Rejected where the RFC fails."""
    path_ = list(proof)
    if first & (first - 1) == 0:  # a power of two: prepend first_hash
        path_ = [first_hash, *path_]
    if not path_:
        raise Rejected("empty path")
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path_[0]
    for c in path_[1:]:
        if sn == 0:
            raise Rejected("sn reached 0 before the path ended")
        if fn % 2 == 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            sr = sha256(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    if sn != 0:
        raise Rejected("sn is not 0 after the path")
    return fr, sr


# ------------------------------------------------------- the status map of §7, plainly


EMPTY = bytes(32)


def bit(key: bytes, i: int) -> int:
    return (key[i // 8] >> (7 - i % 8)) & 1


def smt_leaf(key: bytes, value: bytes) -> bytes:
    return sha256(b"\x02" + key + sha256(value))


def smt_root(items: dict[bytes, bytes], depth: int = 0) -> bytes:
    """The shape rule of §7.3: EMPTY, the one leaf, or the two children joined."""
    if not items:
        return EMPTY
    if len(items) == 1:
        ((key, value),) = items.items()
        return smt_leaf(key, value)
    left = {k: v for k, v in items.items() if bit(k, depth) == 0}
    right = {k: v for k, v in items.items() if bit(k, depth) == 1}
    return sha256(b"\x03" + smt_root(left, depth + 1) + smt_root(right, depth + 1))


def smt_prove(items: dict[bytes, bytes], key: bytes) -> SmtProof:
    """The path of §7.4: descend by ``key``'s bits until at most one leaf is left."""
    siblings: list[bytes] = []
    depth = 0
    here = items
    while len(here) > 1:
        side = {k: v for k, v in here.items() if bit(k, depth) == bit(key, depth)}
        other = {k: v for k, v in here.items() if bit(k, depth) != bit(key, depth)}
        siblings.append(smt_root(other, depth + 1))
        here = side
        depth += 1
    terminal = None
    if here:
        ((leaf_key, value),) = here.items()
        terminal = SmtLeaf(leaf_key, Hash(sha256(value)))
    return SmtProof(tuple(map(Hash, siblings)), terminal)


def reference_smt_root(key: bytes, proof: SmtProof, value: bytes | None) -> bytes:
    """§7.5 steps 2-4, bit by bit; raises Rejected where InvalidProof is due."""
    depth = len(proof.siblings)
    terminal = proof.terminal
    if value is not None:
        if terminal is None or terminal.key != key or terminal.value_hash != sha256(value):
            raise Rejected("membership needs the key's own leaf with H(value)")
        h = smt_leaf(key, value)
    elif terminal is None:
        h = EMPTY
    else:
        if terminal.key == key:
            raise Rejected("the key is present")
        if any(bit(terminal.key, i) != bit(key, i) for i in range(depth)):
            raise Rejected("the leaf is not on the key's path")
        h = sha256(b"\x02" + terminal.key + terminal.value_hash)
    for i in range(depth - 1, -1, -1):
        sibling = proof.siblings[i]
        h = sha256(b"\x03" + sibling + h) if bit(key, i) else sha256(b"\x03" + h + sibling)
    return h


# ------------------------------------------------------------------------- strategies


hashes = st.binary(min_size=32, max_size=32)


@st.composite
def corrupted_path(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """``proof`` unchanged, with one bit flipped, one hash dropped, added or replaced."""
    kind = draw(st.sampled_from(["none", "flip", "drop", "add", "replace", "swap"]))
    proof = list(proof)
    if kind == "flip" and proof:
        at = draw(st.integers(0, len(proof) - 1))
        position = draw(st.integers(0, 255))
        changed = bytearray(proof[at])
        changed[position // 8] ^= 0x80 >> (position % 8)
        proof[at] = bytes(changed)
    elif kind == "drop" and proof:
        del proof[draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        proof.insert(draw(st.integers(0, len(proof))), draw(hashes))
    elif kind == "replace" and proof:
        proof[draw(st.integers(0, len(proof) - 1))] = draw(hashes)
    elif kind == "swap" and len(proof) > 1:
        at = draw(st.integers(0, len(proof) - 2))
        proof[at], proof[at + 1] = proof[at + 1], proof[at]
    return proof


def fast_or_rejected(compute: Callable[[], object]) -> object:
    """What the fast verifier computes, or Rejected where it raises InvalidProof."""
    try:
        return compute()
    except InvalidProof:
        return Rejected


def reference_or_rejected(compute: Callable[[], object]) -> object:
    try:
        return compute()
    except Rejected:
        return Rejected


# ------------------------------------------------------------------------ RFC 9162 tests


@pytest.mark.parametrize("size", range(1, 65))
def test_honest_inclusion_proofs_match_the_reference(size: int) -> None:
    leaves = [rfc_leaf(b"leaf %d" % i) for i in range(size)]
    root = mth(leaves)
    for index in range(size):
        proof = path(index, leaves)
        assert reference_inclusion_root(index, size, leaves[index], proof) == root
        assert root_from_inclusion_proof(index, size, leaves[index], proof) == root


@settings(max_examples=400, deadline=None)
@given(st.data(), st.integers(1, 300))
def test_inclusion_agrees_with_the_reference_on_any_proof(data: st.DataObject, size: int
                                                          ) -> None:
    leaves = [rfc_leaf(b"leaf %d" % i) for i in range(size)]
    index = data.draw(st.integers(0, size - 1))
    proof = data.draw(corrupted_path(path(index, leaves)))
    # The verifier may also be asked about another index or size than the proof's.
    claimed_index = data.draw(st.sampled_from([index, index ^ 1, index + 1, max(0, index - 1)]))
    claimed_size = data.draw(st.sampled_from([size, size + 1, max(1, size - 1), 2 * size]))
    leaf = data.draw(st.sampled_from([leaves[index], rfc_leaf(b"other")]))
    fast = fast_or_rejected(lambda: root_from_inclusion_proof(claimed_index, claimed_size,
                                                              leaf, proof))
    reference = reference_or_rejected(lambda: reference_inclusion_root(
        claimed_index, claimed_size, leaf, proof))
    assert fast == reference


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(2, 200))
def test_consistency_agrees_with_the_reference_on_any_proof(data: st.DataObject, second: int
                                                            ) -> None:
    leaves = [rfc_leaf(b"leaf %d" % i) for i in range(second)]
    first = data.draw(st.integers(1, second - 1))
    first_hash = mth(leaves[:first])
    honest = subproof(first, leaves, True)
    assert roots_from_consistency_proof(first, second, first_hash, honest) == (
        first_hash, mth(leaves))
    proof = data.draw(corrupted_path(honest))
    fast = fast_or_rejected(lambda: roots_from_consistency_proof(first, second, first_hash,
                                                                 proof))
    reference = reference_or_rejected(lambda: reference_consistency_roots(
        first, second, first_hash, proof))
    assert fast == reference


# ------------------------------------------------------------------------ status map tests


@st.composite
def status_maps(draw: st.DrawFn) -> dict[bytes, bytes]:
    """Random keys, and keys one bit away from others, so paths run deep."""
    keys = draw(st.lists(hashes, min_size=0, max_size=24, unique=True))
    for base in list(keys[:4]):
        position = draw(st.integers(0, 255))
        near = bytearray(base)
        near[position // 8] ^= 0x80 >> (position % 8)
        keys.append(bytes(near))
    return {key: draw(st.binary(max_size=40)) for key in dict.fromkeys(keys)}


@st.composite
def corrupted_smt_proof(draw: st.DrawFn, proof: SmtProof, items: dict[bytes, bytes]
                        ) -> SmtProof:
    kind = draw(st.sampled_from(["none", "siblings", "terminal", "no terminal"]))
    siblings: list[bytes] = list(proof.siblings)
    terminal = proof.terminal
    if kind == "siblings":
        siblings = draw(corrupted_path(siblings))
        if draw(st.booleans()) and siblings:
            siblings[draw(st.integers(0, len(siblings) - 1))] = EMPTY
    elif kind == "terminal" and items:
        other = draw(st.sampled_from(sorted(items)))
        terminal = SmtLeaf(other, Hash(sha256(items[other])))
    elif kind == "no terminal":
        terminal = None
    return SmtProof(tuple(map(Hash, siblings)), terminal)


@settings(max_examples=400, deadline=None)
@given(st.data(), status_maps())
def test_status_proofs_agree_with_the_reference(data: st.DataObject,
                                                items: dict[bytes, bytes]) -> None:
    root = smt_root(items)
    present = sorted(items)
    pick_present = bool(present) and data.draw(st.booleans())
    key = data.draw(st.sampled_from(present) if pick_present else hashes)
    honest = smt_prove(items, key)
    claim = items.get(key)
    assert root_from_proof(key, honest, claim) == root
    assert reference_smt_root(key, honest, claim) == root
    proof = data.draw(corrupted_smt_proof(honest, items))
    # Claims beside the truth too: another value, absence of a present key, presence
    # of an absent one.
    value = data.draw(st.sampled_from([claim, None, b"", b"another value"]))
    fast = fast_or_rejected(lambda: root_from_proof(key, proof, value))
    reference = reference_or_rejected(lambda: reference_smt_root(key, proof, value))
    assert fast == reference
