"""Status-map (sparse Merkle tree) vectors: roots, proofs, and invalid proofs.

Deliberately independent of client/smt.py and node/statemap_tree.py: roots and proofs
are computed here straight from the definition in docs/protocol.md (split the
set of pairs by key bit, one leaf = leaf hash, none = 32 zero bytes) with
hashlib, and proofs are encoded field by field with the canonical msgpack
packer.  The tests then check the real code against these files.

Files:
* ``smt_valid.json``: small maps with their roots and, per listed key, the
  value (or null) and the proof's encoding; ``kind`` is ``membership``,
  ``non_membership_empty`` or ``non_membership_leaf``.
* ``smt_invalid.json``: proofs that must be rejected, each with one mutation,
  the claim checked, the stage that rejects it (``decode`` or ``verify``) and
  the error class.
"""

from __future__ import annotations

import hashlib

from client.encoding import pack

ZERO = bytes(32)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _bit(key: bytes, index: int) -> int:
    return (key[index // 8] >> (7 - index % 8)) & 1


def _leaf(key: bytes, value: bytes) -> bytes:
    return _sha256(b"\x02" + key + _sha256(value))


def _internal(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x03" + left + right)


Pairs = dict[bytes, bytes]


def subtree_hash(pairs: Pairs, depth: int) -> bytes:
    if not pairs:
        return ZERO
    if len(pairs) == 1:
        ((key, value),) = pairs.items()
        return _leaf(key, value)
    left = {k: v for k, v in pairs.items() if _bit(k, depth) == 0}
    right = {k: v for k, v in pairs.items() if _bit(k, depth) == 1}
    return _internal(subtree_hash(left, depth + 1), subtree_hash(right, depth + 1))


def _proof(pairs: Pairs, key: bytes) -> tuple[str, list[bytes], tuple[bytes, bytes] | None]:
    """Walk the definition down ``key``'s path: (kind, siblings, terminal)."""
    siblings: list[bytes] = []
    current = pairs
    depth = 0
    while len(current) > 1:
        same = {k: v for k, v in current.items() if _bit(k, depth) == _bit(key, depth)}
        other = {k: v for k, v in current.items() if _bit(k, depth) != _bit(key, depth)}
        siblings.append(subtree_hash(other, depth + 1))
        current = same
        depth += 1
    if not current:
        return "non_membership_empty", siblings, None
    ((leaf_key, value),) = current.items()
    kind = "membership" if leaf_key == key else "non_membership_leaf"
    return kind, siblings, (leaf_key, _sha256(value))


def encoded_proof(pairs: Pairs, key: bytes) -> bytes:
    """The canonical encoding of the proof for ``key`` in the map ``pairs`` (reference)."""
    _, siblings, terminal = _proof(pairs, key)
    return _encode(siblings, terminal)


def _encode(siblings: list[bytes], terminal: tuple[bytes, bytes] | None) -> bytes:
    depth = len(siblings)
    bitmap = bytearray((depth + 7) // 8)
    for index, sibling in enumerate(siblings):
        if sibling != ZERO:
            bitmap[index // 8] |= 0x80 >> (index % 8)
    listed = [s for s in siblings if s != ZERO]
    return pack([1, depth, bytes(bitmap), listed, None if terminal is None else list(terminal)])


def _key(label: str) -> bytes:
    return _sha256(b"vcledger smt vector key " + label.encode())


def _record(number: int) -> bytes:
    # Values are opaque to the tree; these look like the canonical msgpack
    # status records other modules store, to keep the examples realistic.
    return pack([1, "revoked" if number % 3 == 0 else "issued", number, b"\x00" * (number % 4)])


def _ff(last: int) -> bytes:
    return b"\xff" * 31 + bytes([last])


def _maps() -> list[tuple[str, str, Pairs, list[bytes]]]:
    """(name, description, pairs, keys to prove)."""
    random16 = {_key(str(i)): _record(i) for i in range(16)}
    absent = [_key(f"absent {i}") for i in range(6)]
    return [
        ("empty", "the empty map: root is 32 zero bytes",
         {}, [bytes(32), _key("a")]),
        ("single", "one pair: the root is that leaf's hash (shortcut leaf at depth 0)",
         {_key("0"): _record(0)}, [_key("0"), _key("a")]),
        ("chain",
         "keys 00.. and 01..: an internal node with an empty right child at the root",
         {bytes(32): b"left-left", b"\x40" + bytes(31): b"left-right"},
         [bytes(32), b"\x40" + bytes(31), b"\x80" + bytes(31), b"\x20" + bytes(31),
          b"\x7f" * 32]),
        ("deep", "two keys sharing 255 bits and one far away: depth-256 paths",
         {_ff(0xFF): b"deepest-1", _ff(0xFE): b"deepest-0", bytes(32): b"far"},
         [_ff(0xFF), _ff(0xFE), _ff(0xFC), _ff(0x7F), bytes(31) + b"\x01", b"\x80" + bytes(31)]),
        ("random16", "16 pseudo-random keys with record-like values",
         random16, [*sorted(random16)[:5], *absent]),
    ]


def _valid() -> dict[str, object]:
    maps = []
    for name, description, pairs, keys in _maps():
        proofs = []
        for key in keys:
            kind, siblings, terminal = _proof(pairs, key)
            proofs.append({
                "key": key.hex(),
                "value": pairs[key].hex() if key in pairs else None,
                "kind": kind,
                "depth": len(siblings),
                "proof": _encode(siblings, terminal).hex(),
            })
        maps.append({
            "name": name,
            "description": description,
            "entries": [{"key": k.hex(), "value": v.hex()} for k, v in sorted(pairs.items())],
            "root": subtree_hash(pairs, 0).hex(),
            "proofs": proofs,
        })
    return {
        "description": "Status-map sparse Merkle tree: roots and proofs (docs/protocol.md, "
                       "Status map). Proof bytes: canonical msgpack "
                       "[1, depth, bitmap, [non-empty siblings], terminal].",
        "maps": maps,
    }


def _flip(data: bytes, byte_index: int, mask: int = 0x01) -> bytes:
    mutated = bytearray(data)
    mutated[byte_index] ^= mask
    return bytes(mutated)


def _invalid() -> dict[str, object]:
    cases: list[dict[str, object]] = []

    def add(description: str, root: bytes, key: bytes, value: bytes | None, proof: bytes, *,
            rejected_by: str, error: str) -> None:
        cases.append({
            "description": description,
            "root": root.hex(),
            "key": key.hex(),
            "value": None if value is None else value.hex(),
            "proof": proof.hex(),
            "rejected_by": rejected_by,
            "error": error,
        })

    deep = {_ff(0xFF): b"deepest-1", _ff(0xFE): b"deepest-0", bytes(32): b"far"}
    deep_root = subtree_hash(deep, 0)
    _, siblings, terminal = _proof(deep, _ff(0xFF))
    member = _encode(siblings, terminal)
    assert terminal is not None
    add("membership proof checked with another value", deep_root, _ff(0xFF), b"deepest-2",
        member, rejected_by="verify", error="InvalidProof")
    add("membership proof checked as non-membership", deep_root, _ff(0xFF), None,
        member, rejected_by="verify", error="InvalidProof")
    add("membership proof checked for a key differing in the last bit", deep_root, _ff(0xFE),
        b"deepest-1", member, rejected_by="verify", error="InvalidProof")
    add("membership proof with one bit of a sibling flipped", deep_root, _ff(0xFF),
        b"deepest-1", _encode([_flip(siblings[0], 31), *siblings[1:]], terminal),
        rejected_by="verify", error="RootMismatch")
    add("membership proof with one bit of the value hash flipped", deep_root, _ff(0xFF),
        b"deepest-1", _encode(siblings, (terminal[0], _flip(terminal[1], 0, 0x80))),
        rejected_by="verify", error="InvalidProof")
    add("membership proof with the deepest sibling dropped (depth 255)", deep_root, _ff(0xFF),
        b"deepest-1", _encode(siblings[:-1], terminal), rejected_by="verify", error="RootMismatch")

    chain = {bytes(32): b"left-left", b"\x40" + bytes(31): b"left-right"}
    chain_root = subtree_hash(chain, 0)
    near = b"\x20" + bytes(31)
    _, leaf_siblings, leaf_terminal = _proof(chain, near)
    assert leaf_terminal is not None
    add("non-membership (leaf) proof checked for the leaf's own key", chain_root,
        leaf_terminal[0], None, _encode(leaf_siblings, leaf_terminal),
        rejected_by="verify", error="InvalidProof")
    add("non-membership (leaf) proof with one bit of the leaf's value hash flipped",
        chain_root, near, None,
        _encode(leaf_siblings, (leaf_terminal[0], _flip(leaf_terminal[1], 5, 0x04))),
        rejected_by="verify", error="RootMismatch")
    add("non-membership (leaf) proof with the leaf key changed in a bit past the prefix",
        chain_root, near, None,
        _encode(leaf_siblings, (_flip(leaf_terminal[0], 31), leaf_terminal[1])),
        rejected_by="verify", error="RootMismatch")
    far = b"\x80" + bytes(31)
    _, empty_siblings, _ = _proof(chain, far)
    add("non-membership (empty) proof whose terminal is replaced by a leaf", chain_root, far,
        None, _encode(empty_siblings, (b"\x81" + bytes(31), _sha256(b"x"))),
        rejected_by="verify", error="RootMismatch")
    add("non-membership (empty) proof checked as membership", chain_root, far, b"left-left",
        _encode(empty_siblings, None), rejected_by="verify", error="InvalidProof")

    # A root no honest tree has: leaf B (bit 0 = 1) placed in the LEFT child.
    # The proof folds to this root exactly; only the prefix check rejects it.
    leaf_a, leaf_b = bytes(32), b"\x80" + bytes(31)
    misplaced_root = _internal(_leaf(leaf_b, b"b"), _leaf(leaf_a, b"a"))
    add("non-membership proof ending at a leaf that does not share the key's prefix",
        misplaced_root, b"\x01" + bytes(31), None,
        _encode([_leaf(leaf_a, b"a")], (leaf_b, _sha256(b"b"))),
        rejected_by="verify", error="InvalidProof")

    sib = _sha256(b"sibling")
    decode_cases: list[tuple[str, bytes]] = [
        ("version 2", pack([2, 0, b"", [], None])),
        ("version 0", pack([0, 0, b"", [], None])),
        ("depth 257", pack([1, 257, bytes(33), [], None])),
        ("bitmap marks two siblings, one listed", pack([1, 8, b"\xc0", [sib], None])),
        ("bitmap marks one sibling, two listed", pack([1, 8, b"\x80", [sib, sib], None])),
        ("bitmap bit set past the depth", pack([1, 3, b"\x10", [sib], None])),
        ("bitmap one byte too long", pack([1, 8, b"\x80\x00", [sib], None])),
        ("bitmap one byte too short", pack([1, 9, b"\x80", [sib], None])),
        ("EMPTY sibling listed instead of omitted", pack([1, 1, b"\x80", [ZERO], None])),
        ("sibling of 31 bytes", pack([1, 1, b"\x80", [sib[:31]], None])),
        ("terminal leaf key of 31 bytes", pack([1, 0, b"", [], [bytes(31), sib]])),
        ("terminal with three fields", pack([1, 0, b"", [], [bytes(32), sib, sib]])),
        ("terminal false instead of nil", pack([1, 0, b"", [], False])),
        ("four fields", pack([1, 0, b"", []])),
        ("depth as a non-shortest uint8", b"\x95\x01\xcc\x00\xc4\x00\x90\xc0"),
        ("trailing byte", pack([1, 0, b"", [], None]) + b"\x00"),
        ("truncated", pack([1, 1, b"\x80", [sib], None])[:-1]),
        ("a map instead of an array", b"\x81\x01\x02"),
        ("8816 bytes, over the size cap", b"\xc4\xff" + bytes(8814)),
    ]
    for description, data in decode_cases:
        add(description, ZERO, bytes(32), None, data, rejected_by="decode", error="InvalidEncoding")
    return {
        "description": "Status-map proofs that must be rejected. rejected_by = decode: "
                       "SmtProof.decode raises InvalidEncoding; verify: decoding succeeds "
                       "and checking the claim (value null = non-membership) against root "
                       "raises the named error.",
        "cases": cases,
    }


def generate() -> dict[str, object]:
    return {"smt_valid.json": _valid(), "smt_invalid.json": _invalid()}
