"""RFC 9162 inclusion and consistency proof vectors, each with mutated variants.

Writes tests/vectors/merkle_inclusion.json and merkle_consistency.json, and
merkle_batch.json: an issuer batch (client.batch) of five credential digests
with every receipt, where the leaf data is the 32-byte digest itself.  The
leaves are the eight standard RFC 6962 test leaves of transparency-dev/merkle
and certificate-transparency-go ("", 00, 10, 2021, ...), so the roots of sizes
1..8 are the published ones, followed by leaves derived from a fixed seed.
Every case says whether it must verify and, if not, the error ``code`` of
client.errors that vcledger raises (``bad_proof`` for a malformed proof,
``root_mismatch`` for a well-formed one that leads to another root).  The
generator runs client.merkle on every case and refuses to write a vector
whose outcome differs; tests/client/test_merkle.py checks the valid ones against an
independent RFC reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from client import batch, merkle
from client.errors import VerificationError

STANDARD_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
LEAF_COUNT = 40
LEAVES = STANDARD_LEAVES + [
    hashlib.sha256(b"vcledger merkle vector leaf %d" % i).digest()[: 1 + i % 32]
    for i in range(len(STANDARD_LEAVES), LEAF_COUNT)
]
LEAF_HASHES = [merkle.leaf_hash(x) for x in LEAVES]
ROOTS = [merkle.root_hash(LEAF_HASHES[:n]) for n in range(LEAF_COUNT + 1)]

INCLUSION = [
    (0, 1), (0, 2), (1, 2), (2, 3), (0, 4), (3, 4), (2, 5), (4, 5), (6, 7),
    (0, 8), (5, 8), (7, 8), (9, 13), (12, 13), (0, 16), (15, 17), (16, 17),
    (20, 31), (30, 31), (0, 32), (33, 39),
]
CONSISTENCY = [
    (1, 2), (1, 8), (2, 5), (3, 7), (4, 8), (6, 7), (6, 8), (5, 13), (7, 16),
    (8, 17), (15, 31), (16, 32), (17, 39), (31, 32),
]

ZERO = bytes(32)


def _hex(values: Sequence[bytes]) -> list[str]:
    return [v.hex() for v in values]


def _flip(value: bytes) -> bytes:
    # Bit 3 of the first byte, as transparency-dev/merkle's mutations do.
    return bytes([value[0] ^ 0x08]) + value[1:]


def _outcome(check: Callable[[], None]) -> str | None:
    try:
        check()
    except VerificationError as exc:
        return exc.code
    return None


def _inclusion_case(
    name: str, *, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes,
    valid: bool,
) -> dict[str, object]:
    error = _outcome(lambda: merkle.verify_inclusion(leaf, index, size, proof, root))
    assert (error is None) == valid, f"vector {name!r}: verifier says {error}, want valid={valid}"
    return {
        "name": name, "leaf_index": index, "tree_size": size, "leaf_hash": leaf.hex(),
        "proof": _hex(proof), "root": root.hex(), "valid": valid, "error": error,
    }


def _inclusion_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for index, size in INCLUSION:
        leaf, root = LEAF_HASHES[index], ROOTS[size]
        proof = merkle.inclusion_proof(LEAF_HASHES[:size], index)
        tag = f"leaf {index} of {size}"

        # One mutation per call: keyword arguments replace the valid case's values.
        def add(what: str, *, i: int = index, n: int = size, lh: bytes = leaf,
                p: Sequence[bytes] = proof, r: bytes = root, valid: bool = False,
                tag: str = tag) -> None:
            cases.append(_inclusion_case(
                f"{tag}: {what}", index=i, size=n, leaf=lh, proof=p, root=r, valid=valid))

        add("valid", valid=True)
        for k in range(len(proof)):
            add(f"proof[{k}] bit 3 flipped", p=[*proof[:k], _flip(proof[k]), *proof[k + 1:]])
        add("leaf hash bit 3 flipped", lh=_flip(leaf))
        if proof:
            add("last hash removed", p=proof[:-1])
        add("zero hash appended", p=[*proof, ZERO])
        add("root prepended", p=[root, *proof])
        add("leaf index + 1", i=index + 1)
        if index > 0:
            add("leaf index - 1", i=index - 1)
        add("tree size + 1 (with that tree's root)", n=size + 1, r=ROOTS[size + 1])
        if size > 1 and index < size - 1:
            add("tree size - 1 (with that tree's root)", n=size - 1, r=ROOTS[size - 1])
        add("root of the tree one leaf smaller", r=ROOTS[size - 1])
    cases.append(_inclusion_case("empty tree: no leaf 0", index=0, size=0, leaf=LEAF_HASHES[0],
                                 proof=[], root=merkle.EMPTY_ROOT, valid=False))
    return cases


def _consistency_case(
    name: str, *, old: int, new: int, old_root: bytes, new_root: bytes,
    proof: Sequence[bytes], valid: bool,
) -> dict[str, object]:
    error = _outcome(lambda: merkle.verify_consistency(old, new, old_root, new_root, proof))
    assert (error is None) == valid, f"vector {name!r}: verifier says {error}, want valid={valid}"
    return {
        "name": name, "old_size": old, "new_size": new, "old_root": old_root.hex(),
        "new_root": new_root.hex(), "proof": _hex(proof), "valid": valid, "error": error,
    }


def _consistency_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for old, new in CONSISTENCY:
        r1, r2 = ROOTS[old], ROOTS[new]
        proof = merkle.consistency_proof(LEAF_HASHES[:new], old)
        tag = f"{old} to {new}"

        def add(what: str, *, m: int = old, n: int = new, r1: bytes = r1, r2: bytes = r2,
                p: Sequence[bytes] = proof, valid: bool = False, tag: str = tag) -> None:
            cases.append(_consistency_case(
                f"{tag}: {what}", old=m, new=n, old_root=r1, new_root=r2, proof=p, valid=valid))

        add("valid", valid=True)
        for k in range(len(proof)):
            add(f"proof[{k}] bit 3 flipped", p=[*proof[:k], _flip(proof[k]), *proof[k + 1:]])
        add("last hash removed", p=proof[:-1])
        add("zero hash appended", p=[*proof, ZERO])
        add("first hash repeated in front", p=[proof[0], *proof])
        add("empty proof", p=[])
        add("roots swapped", r1=r2, r2=r1)
        add("old root bit 3 flipped", r1=_flip(r1))
        add("new root bit 3 flipped", r2=_flip(r2))
        add("old size + 1 (with that tree's root)", m=old + 1, r1=ROOTS[old + 1])
        if old > 1:
            add("old size - 1 (with that tree's root)", m=old - 1, r1=ROOTS[old - 1])
        add("new size + 1 (with that tree's root)", n=new + 1, r2=ROOTS[new + 1])
        add("new size - 1 (with that tree's root)", n=new - 1, r2=ROOTS[new - 1])

    # The rules where RFC 9162 is silent (see docs/protocol.md).
    empty = merkle.EMPTY_ROOT
    for name, old, new, r1, r2, proof, valid in [
        ("0 to 0: valid", 0, 0, empty, empty, [], True),
        ("0 to 5: valid, empty proof", 0, 5, empty, ROOTS[5], [], True),
        ("0 to 5: proof not empty", 0, 5, empty, ROOTS[5], [ROOTS[5]], False),
        ("0 to 5: old root is not the empty-tree hash", 0, 5, ROOTS[1], ROOTS[5], [], False),
        ("5 to 5: valid", 5, 5, ROOTS[5], ROOTS[5], [], True),
        ("5 to 5: roots differ", 5, 5, ROOTS[5], ROOTS[4], [], False),
        ("5 to 5: proof not empty", 5, 5, ROOTS[5], ROOTS[5], [ROOTS[5]], False),
        ("5 to 3: tree shrank", 5, 3, ROOTS[5], ROOTS[3], [], False),
    ]:
        cases.append(_consistency_case(
            name, old=old, new=new, old_root=r1, new_root=r2, proof=proof, valid=valid))
    return cases


def _batch_vectors() -> dict[str, object]:
    digests = [hashlib.sha256(b"vcledger example credential %d" % i).digest() for i in range(5)]
    tree = batch.build_batch(digests)
    receipts = []
    for digest, receipt in zip(digests, tree.receipts(), strict=True):
        batch.verify_receipt(digest, receipt, tree.root, tree.size)
        receipts.append({
            "digest": digest.hex(),
            "leaf_hash": tree.leaf_hash(receipt.index).hex(),
            "index": receipt.index,
            "audit_path": _hex(receipt.audit_path),
        })
    return {
        "description": "An issuer batch: RFC 9162 tree whose leaf data are the 32-byte "
                       "credential digests (leaf hash = H(0x00 || digest)); each receipt's "
                       "audit path is the RFC 9162 inclusion proof of its digest",
        "batch_size": tree.size,
        "batch_root": tree.root.hex(),
        "receipts": receipts,
    }


def generate() -> dict[str, object]:
    common = {
        "hash": "SHA-256; leaf hash = H(0x00 || leaf); node hash = H(0x01 || left || right)",
        "leaves": _hex(LEAVES),
        "roots": _hex(ROOTS),
    }
    return {
        "merkle_inclusion.json": {
            "description": "RFC 9162 §2.1.3 inclusion proofs over the first tree_size leaves; "
                           "'roots'[n] is the root of the first n leaves; 'error' is the "
                           "vcledger error code of an invalid case",
            **common,
            "cases": _inclusion_cases(),
        },
        "merkle_consistency.json": {
            "description": "RFC 9162 §2.1.4 consistency proofs between the trees over the "
                           "first old_size and new_size leaves; 'roots'[n] is the root of the "
                           "first n leaves; 'error' is the vcledger error code of an invalid case",
            **common,
            "cases": _consistency_cases(),
        },
        "merkle_batch.json": _batch_vectors(),
    }
