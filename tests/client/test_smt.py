"""The status map's sparse Merkle tree: client/smt.py (proofs) and node/statemap_tree.py (tree).

Everything is checked against a naive reference kept here, computed straight
from the definition (split the set of pairs by key bit; one pair = its leaf
hash; none = 32 zero bytes), and against tests/vectors/smt_*.json, which
scripts/vectorgen/smt.py derives with its own independent reference.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.encoding import pack
from client.errors import InvalidEncoding, InvalidProof, RootMismatch, UsageError, VerificationError
from client.hashes import Hash
from client.smt import (
    EMPTY,
    MAX_PROOF_SIZE,
    MAX_VALUE_SIZE,
    SmtLeaf,
    SmtProof,
    internal_hash,
    key_bit,
    leaf_hash,
    root_from_proof,
    shares_prefix,
    verify_membership,
    verify_non_membership,
)
from node.errors import StoreCorrupted
from node.statemap_tree import MemoryNodeStore, SmtNodeCorrupted, apply_updates, get_value, prove

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


# --- naive reference: the definition, with no shortcuts of its own ----------------------------


def naive_bit(key: bytes, index: int) -> int:
    return (key[index // 8] >> (7 - index % 8)) & 1


def naive_root(pairs: dict[bytes, bytes], depth: int = 0) -> bytes:
    if not pairs:
        return bytes(32)
    if len(pairs) == 1:
        ((key, value),) = pairs.items()
        return hashlib.sha256(b"\x02" + key + hashlib.sha256(value).digest()).digest()
    left = {k: v for k, v in pairs.items() if naive_bit(k, depth) == 0}
    right = {k: v for k, v in pairs.items() if naive_bit(k, depth) == 1}
    return hashlib.sha256(
        b"\x03" + naive_root(left, depth + 1) + naive_root(right, depth + 1)
    ).digest()


# --- helpers -----------------------------------------------------------------------------------


def build(pairs: dict[bytes, bytes], store: MemoryNodeStore | None = None,
          root: Hash = EMPTY) -> tuple[Hash, MemoryNodeStore]:
    store = store if store is not None else MemoryNodeStore()
    new_root, new_nodes = apply_updates(root, pairs, store)
    store.put_nodes(new_nodes)
    return new_root, store


def check_claim(root: bytes, key: bytes, value: bytes | None, proof: SmtProof) -> None:
    if value is None:
        verify_non_membership(root, key, proof)
    else:
        verify_membership(root, key, value, proof)


def key_of(label: object) -> bytes:
    return hashlib.sha256(f"test key {label}".encode()).digest()


def with_bits_flipped(key: bytes, bits: Iterable[int]) -> bytes:
    mutated = bytearray(key)
    for bit in bits:
        mutated[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(mutated)


BASES = [bytes(32), b"\xff" * 32, key_of("base")]

# Keys that often share long prefixes (deep paths, leaf terminals) mixed with random ones.
keys_strategy = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.builds(
        with_bits_flipped,
        st.sampled_from(BASES),
        st.lists(st.integers(0, 255), max_size=2),
    ),
)
values_strategy = st.binary(max_size=40)


# --- hashing and bit order ---------------------------------------------------------------------


def test_bit_order_is_most_significant_bit_first() -> None:
    key = b"\x80" + bytes(30) + b"\x01"
    assert key_bit(key, 0) == 1
    assert [key_bit(key, i) for i in range(1, 8)] == [0] * 7
    assert key_bit(key, 255) == 1
    assert key_bit(key, 254) == 0


def test_hashes_follow_the_definition() -> None:
    key, value = key_of(1), b"record"
    assert leaf_hash(key, value) == hashlib.sha256(
        b"\x02" + key + hashlib.sha256(value).digest()
    ).digest()
    assert internal_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(
        b"\x03" + b"a" * 32 + b"b" * 32
    ).digest()
    assert bytes(32) == EMPTY


def test_shares_prefix() -> None:
    a = b"\xf0" + bytes(31)
    assert shares_prefix(a, b"\xf7" + bytes(31), 4)
    assert not shares_prefix(a, b"\xf8" + bytes(31), 5)
    assert shares_prefix(a, b"\x00" * 32, 0)
    assert shares_prefix(a, a, 256)
    assert not shares_prefix(a, a[:31] + b"\x01", 256)


# --- the tree against the reference ------------------------------------------------------------


def test_small_maps_against_reference() -> None:
    rng = random.Random(7)
    for size in range(33):
        pairs = {rng.randbytes(32): rng.randbytes(rng.randrange(8)) for _ in range(size)}
        root, _ = build(pairs)
        assert root == naive_root(pairs), size


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.dictionaries(keys_strategy, values_strategy, max_size=24),
    overwrites=st.dictionaries(keys_strategy, values_strategy, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_root_is_independent_of_order_and_batching(
    pairs: dict[bytes, bytes], overwrites: dict[bytes, bytes], seed: int
) -> None:
    rng = random.Random(seed)
    final = {**pairs, **overwrites}
    # Apply everything in random batches, the overwrites (some new keys,
    # some existing ones) in a later batch.
    order = list(pairs.items())
    rng.shuffle(order)
    store = MemoryNodeStore()
    root = EMPTY
    applied: dict[bytes, bytes] = {}
    while order:
        cut = rng.randint(1, len(order))
        batch, order = dict(order[:cut]), order[cut:]
        root, store = build(batch, store, root)
        applied.update(batch)
        assert root == naive_root(applied)
    root, store = build(overwrites, store, root)
    assert root == naive_root(final)
    one_batch, _ = build(final)
    assert one_batch == root
    for key, value in final.items():
        assert get_value(root, key, store) == value


@settings(max_examples=40, deadline=None)
@given(pairs=st.dictionaries(keys_strategy, values_strategy, max_size=20),
       absent=st.lists(keys_strategy, max_size=6))
def test_proofs_verify_for_present_and_absent_keys(
    pairs: dict[bytes, bytes], absent: list[bytes]
) -> None:
    root, store = build(pairs)
    for key in [*pairs, *absent]:
        value, proof = prove(root, key, store)
        assert value == pairs.get(key)
        assert root_from_proof(key, proof, value) == root
        check_claim(root, key, value, proof)
        assert SmtProof.decode(proof.encode()) == proof


def test_both_kinds_of_non_membership_proof() -> None:
    far, near = bytes(32), b"\x40" + bytes(31)
    pairs = {far: b"a", near: b"b"}
    root, store = build(pairs)
    # 0x80.. goes right at the root: an empty subtree.
    value, proof = prove(root, b"\x80" + bytes(31), store)
    assert value is None and proof.terminal is None and proof.depth == 1
    verify_non_membership(root, b"\x80" + bytes(31), proof)
    # 0x20.. shares 2 bits with 0x00..: the path ends at that leaf.
    value, proof = prove(root, b"\x20" + bytes(31), store)
    assert value is None and proof.terminal is not None and proof.terminal.key == far
    assert proof.depth == 2
    verify_non_membership(root, b"\x20" + bytes(31), proof)


def test_keys_sharing_255_bits() -> None:
    x, y = b"\xff" * 32, b"\xff" * 31 + b"\xfe"
    pairs = {x: b"x", y: b"y", bytes(32): b"far"}
    root, store = build(pairs)
    assert root == naive_root(pairs)
    for key in (x, y):
        value, proof = prove(root, key, store)
        assert proof.depth == 256 and value == pairs[key]
        assert sum(s != EMPTY for s in proof.siblings) == 2  # depth 0 and depth 255
        verify_membership(root, key, pairs[key], proof)
        assert len(proof.encode()) < 200  # EMPTY siblings cost one bitmap bit each
    absent = b"\xff" * 31 + b"\xfc"
    value, proof = prove(root, absent, store)
    assert value is None and proof.terminal is None and proof.depth == 255
    verify_non_membership(root, absent, proof)


def test_old_roots_keep_their_proofs() -> None:
    first = {key_of(i): b"issued" for i in range(50)}
    old_root, store = build(first)
    new_root, store = build({key_of(3): b"revoked", **{key_of(i): b"x" for i in range(50, 90)}},
                            store, old_root)
    assert new_root != old_root
    assert get_value(old_root, key_of(3), store) == b"issued"
    assert get_value(new_root, key_of(3), store) == b"revoked"
    value, proof = prove(old_root, key_of(3), store)
    verify_membership(old_root, key_of(3), b"issued", proof)
    value, proof = prove(old_root, key_of(60), store)
    assert value is None
    verify_non_membership(old_root, key_of(60), proof)
    with pytest.raises(RootMismatch):
        verify_non_membership(new_root, key_of(60), proof)


def test_no_op_update_writes_nothing() -> None:
    pairs = {key_of(i): bytes([i]) for i in range(20)}
    root, store = build(pairs)
    assert apply_updates(root, {key_of(5): bytes([5])}, store) == (root, {})
    assert apply_updates(root, {}, store) == (root, {})
    # A no-op next to a real change writes only the path of the change.
    changed, nodes = apply_updates(root, {key_of(5): bytes([5]), key_of(6): b"new"}, store)
    assert changed == naive_root({**pairs, key_of(6): b"new"})
    assert leaf_hash(key_of(5), bytes([5])) not in nodes


def test_stored_nodes_are_content_addressed() -> None:
    pairs = {key_of(i): b"v" * i for i in range(30)}
    _, store = build(pairs)
    leaves = 0
    for node_hash, data in store.nodes.items():
        if data[0] == 0x03:
            assert len(data) == 65 and hashlib.sha256(data).digest() == node_hash
        else:
            assert data[0] == 0x02 and leaf_hash(data[1:33], data[33:]) == node_hash
            assert pairs[data[1:33]] == data[33:]
            leaves += 1
    assert leaves == len(pairs)


class CountingStore(MemoryNodeStore):
    reads = 0

    def get_node(self, node_hash: bytes) -> bytes | None:
        self.reads += 1
        return super().get_node(node_hash)


@pytest.fixture(scope="module")
def big_map() -> tuple[Hash, CountingStore]:
    pairs = {key_of(i): pack([1, "issued", i]) for i in range(10_000)}
    root, new_nodes = apply_updates(EMPTY, pairs, MemoryNodeStore())
    store = CountingStore(new_nodes)
    assert root == naive_root(pairs)
    return root, store


def test_one_update_into_10000_keys_writes_about_log2_n_nodes(
    big_map: tuple[Hash, CountingStore],
) -> None:
    root, store = big_map
    for label in ("new key", 17):  # an insert and an overwrite
        store.reads = 0
        new_root, nodes = apply_updates(root, {key_of(label): b"revoked"}, store)
        assert new_root != root
        assert len(nodes) < 40, len(nodes)
        assert store.reads < 40, store.reads
        store.reads = 0
        assert get_value(root, key_of(label), store) in (None, pack([1, "issued", 17]))
        assert store.reads < 40


def test_batch_update_matches_one_by_one(big_map: tuple[Hash, CountingStore]) -> None:
    root, store = big_map
    updates = {key_of(i): b"revoked" for i in range(0, 10_000, 97)}
    updates.update({key_of(f"fresh {i}"): b"issued" for i in range(20)})
    batch_root, batch_nodes = apply_updates(root, updates, store)
    step_store = MemoryNodeStore(store.nodes)
    step_root = root
    for key, value in updates.items():
        step_root, step_store = build({key: value}, step_store, step_root)
    assert batch_root == step_root
    # Sharing the upper levels, the batch writes fewer nodes than one path per key.
    assert len(batch_nodes) < len(updates) * 20


# --- proof encoding and rejection --------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> tuple[Hash, MemoryNodeStore, dict[bytes, bytes]]:
    x, y = b"\xff" * 32, b"\xff" * 31 + b"\xfe"
    pairs = {x: b"x", y: b"y", **{key_of(i): bytes([i]) * 3 for i in range(12)}}
    root, store = build(pairs)
    return root, store, pairs


def sample_claims(pairs: dict[bytes, bytes]) -> list[tuple[bytes, bytes | None]]:
    """A deep membership, a shallow one, and both kinds of non-membership."""
    return [
        (b"\xff" * 32, b"x"),
        (key_of(0), pairs[key_of(0)]),
        (b"\xff" * 31 + b"\xfc", None),
        (key_of("absent 1"), None),
        (key_of("absent 2"), None),
    ]


def test_every_single_bit_flip_is_rejected(
    sample: tuple[Hash, MemoryNodeStore, dict[bytes, bytes]],
) -> None:
    root, store, pairs = sample
    kinds = set()
    for key, value in sample_claims(pairs):
        found, proof = prove(root, key, store)
        assert found == value
        kinds.add("member" if value is not None else
                  "empty" if proof.terminal is None else "leaf")
        encoded = proof.encode()
        check_claim(root, key, value, proof)
        for bit in range(8 * len(encoded)):
            mutated = bytearray(encoded)
            mutated[bit // 8] ^= 0x80 >> (bit % 8)
            with pytest.raises(VerificationError):
                check_claim(root, key, value, SmtProof.decode(bytes(mutated)))
    assert kinds == {"member", "empty", "leaf"}


def test_membership_proof_binds_key_value_and_claim(
    sample: tuple[Hash, MemoryNodeStore, dict[bytes, bytes]],
) -> None:
    root, store, pairs = sample
    key = key_of(4)
    _, proof = prove(root, key, store)
    verify_membership(root, key, pairs[key], proof)
    with pytest.raises(InvalidProof):
        verify_membership(root, key, pairs[key] + b"!", proof)
    with pytest.raises(InvalidProof):
        verify_membership(root, key_of(5), pairs[key], proof)
    with pytest.raises(InvalidProof):
        verify_non_membership(root, key, proof)
    with pytest.raises(RootMismatch):
        verify_membership(internal_hash(root, EMPTY), key, pairs[key], proof)
    with pytest.raises(InvalidProof):
        verify_membership(root, key, b"v" * (MAX_VALUE_SIZE + 1), proof)


def test_non_membership_leaf_must_share_the_prefix() -> None:
    # A root no honest tree produces: leaf 0x80.. placed in the left child.
    a, b = bytes(32), b"\x80" + bytes(31)
    misplaced_root = internal_hash(leaf_hash(b, b"b"), leaf_hash(a, b"a"))
    key = b"\x01" + bytes(31)
    proof = SmtProof((leaf_hash(a, b"a"),), SmtLeaf(b, Hash(hashlib.sha256(b"b").digest())))
    assert shares_prefix(key, a, 1) and not shares_prefix(key, b, 1)
    with pytest.raises(InvalidProof, match="does not share the first 1 bits"):
        verify_non_membership(misplaced_root, key, proof)


def test_decode_rejects_malformed_shapes() -> None:
    sib = hashlib.sha256(b"s").digest()
    bad = [
        pack([1, 257, bytes(33), [], None]),
        pack([1, 8, b"\xc0", [sib], None]),
        pack([1, 8, b"\x80", [sib, sib], None]),
        pack([1, 3, b"\x10", [sib], None]),
        pack([1, 1, b"\x80", [bytes(32)], None]),
        pack([1, 0, b"", [], [bytes(32), sib, sib]]),
        b"\x95" + bytes(MAX_PROOF_SIZE),
    ]
    for data in bad:
        with pytest.raises(InvalidEncoding):
            SmtProof.decode(data)
    with pytest.raises(InvalidEncoding):
        SmtProof(tuple([Hash(sib)] * 257), None)
    with pytest.raises(InvalidEncoding):
        SmtProof((Hash(sib[:31]),), None)


def test_largest_proof_fits_the_cap_exactly() -> None:
    sib = Hash(hashlib.sha256(b"s").digest())
    largest = SmtProof(tuple([sib] * 256), SmtLeaf(bytes(32), sib))
    encoded = largest.encode()
    assert len(encoded) == MAX_PROOF_SIZE
    assert SmtProof.decode(encoded) == largest
    assert SmtProof.from_hex(largest.to_hex()) == largest
    with pytest.raises(InvalidEncoding):
        SmtProof.from_hex(largest.to_hex().upper())


def test_usage_errors() -> None:
    store = MemoryNodeStore()
    with pytest.raises(UsageError):
        apply_updates(EMPTY, {b"short": b"v"}, store)
    with pytest.raises(UsageError):
        apply_updates(EMPTY, {key_of(1): b"v" * (MAX_VALUE_SIZE + 1)}, store)
    with pytest.raises(UsageError):
        get_value(EMPTY, b"short", store)
    with pytest.raises(UsageError):
        root_from_proof(b"short", SmtProof((), None), None)


# --- storage corruption ------------------------------------------------------------------------


def test_missing_or_tampered_nodes_are_refused() -> None:
    pairs = {key_of(i): b"value" for i in range(8)}
    root, store = build(pairs)
    # Tamper with the root node (internal) and with one leaf.
    tampered = MemoryNodeStore(store.nodes)
    tampered.nodes[root] = tampered.nodes[root][:-1] + b"\x00"
    leaf = leaf_hash(key_of(0), b"value")
    leafy = MemoryNodeStore(store.nodes)
    leafy.nodes[leaf] = leafy.nodes[leaf] + b"!"
    missing = MemoryNodeStore(store.nodes)
    del missing.nodes[leaf]
    for bad in (tampered, leafy, missing):
        with pytest.raises(SmtNodeCorrupted):
            get_value(root, key_of(0), bad)
        with pytest.raises(SmtNodeCorrupted):
            prove(root, key_of(0), bad)
        with pytest.raises(StoreCorrupted):  # the node-wide class catches it
            apply_updates(root, {key_of(0): b"other"}, bad)


# --- vectors -----------------------------------------------------------------------------------


def load(name: str) -> dict[str, object]:
    data = json.loads((VECTORS / name).read_text())
    assert isinstance(data, dict)
    return data


def test_valid_vectors() -> None:
    maps = load("smt_valid.json")["maps"]
    assert isinstance(maps, list)
    kinds = set()
    for case in maps:
        pairs = {bytes.fromhex(e["key"]): bytes.fromhex(e["value"]) for e in case["entries"]}
        root = bytes.fromhex(case["root"])
        assert naive_root(pairs) == root, case["name"]
        built, store = build(pairs)
        assert built == root, case["name"]
        for item in case["proofs"]:
            key = bytes.fromhex(item["key"])
            value = None if item["value"] is None else bytes.fromhex(item["value"])
            found, proof = prove(built, key, store)
            assert found == value
            assert proof.to_hex() == item["proof"]
            decoded = SmtProof.from_hex(item["proof"])
            assert decoded.depth == item["depth"]
            check_claim(root, key, value, decoded)
            kinds.add(item["kind"])
    assert kinds == {"membership", "non_membership_empty", "non_membership_leaf"}


def test_invalid_vectors() -> None:
    cases = load("smt_invalid.json")["cases"]
    assert isinstance(cases, list)
    errors = {"InvalidEncoding": InvalidEncoding, "InvalidProof": InvalidProof,
              "RootMismatch": RootMismatch}
    for case in cases:
        data = bytes.fromhex(case["proof"])
        expected = errors[case["error"]]
        if case["rejected_by"] == "decode":
            with pytest.raises(expected):
                SmtProof.decode(data)
            continue
        proof = SmtProof.decode(data)
        value = None if case["value"] is None else bytes.fromhex(case["value"])
        with pytest.raises(expected) as info:
            check_claim(bytes.fromhex(case["root"]), bytes.fromhex(case["key"]), value, proof)
        assert type(info.value) is expected, case["description"]
