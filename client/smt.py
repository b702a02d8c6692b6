"""The status map's sparse Merkle tree: hashing, proofs and their verification.

The status map is a binary sparse Merkle tree over 256-bit keys with
*shortcut leaves*, the binary form of the Jellyfish Merkle tree of Diem/Aptos:

* bit ``i`` of a key (``i = 0..255``) is ``(key[i // 8] >> (7 - i % 8)) & 1``,
  most significant bit first; bit ``i`` chooses the child at depth ``i``
  (0 = left, 1 = right), so bit 0 chooses the child of the root;
* an empty subtree hashes to :data:`EMPTY` (32 zero bytes) at every depth,
  which is also the root of the empty map;
* a subtree holding exactly one leaf has that leaf's hash, whatever its depth:
  ``leaf_hash(key, value) = SHA-256(0x02 || key || SHA-256(value))``;
* a subtree holding two or more leaves has
  ``internal_hash(left, right) = SHA-256(0x03 || left || right)``.

So the root is a function of the set of ``(key, value)`` pairs only, and a
lookup descends about ``log2(n)`` levels, not 256.  The prefixes 0x02/0x03
differ from RFC 9162 §2.1.1's 0x00/0x01, so a status-map node can never be
taken for a node of the event log.

A proof for key ``K`` (:class:`SmtProof`) is the path from the root down to
where the search for ``K`` ends: the siblings at depths ``0..d-1`` and the
*terminal*, either ``None`` (the path ended in an empty subtree) or the leaf
the path ended at.  This module only computes and compares; building proofs
is the node's job (``node/statemap_tree.py``).  The byte format and the soundness
argument are in docs/protocol.md, "Status map".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from client.encoding import (
    expect_array,
    expect_bytes,
    expect_hash,
    expect_uint,
    fail,
    pack,
    unpack,
)
from client.errors import InvalidEncoding, InvalidProof, RootMismatch, UsageError
from client.hashes import HASH_SIZE, Hash, as_hash

KEY_SIZE = 32
"""Status keys are 256-bit; bit ``i`` chooses the child at depth ``i``."""

KEY_BITS = 8 * KEY_SIZE
"""The deepest a proof can go: below depth 256 every key is fixed."""

MAX_VALUE_SIZE = 16 * 1024
"""Values are canonical msgpack status records (client.status.MAX_RECORD_SIZE)."""

EMPTY = Hash(bytes(HASH_SIZE))
"""The hash of an empty subtree at any depth, and the root of the empty map.

No SHA-256 output is known to be all zeros, so EMPTY can never be taken for
a leaf or an internal node (that would be a SHA-256 preimage of zero).
"""

LEAF_PREFIX = b"\x02"
INTERNAL_PREFIX = b"\x03"

PROOF_VERSION = 1

MAX_PROOF_SIZE = (
    1  # fixarray header of the 5 fields
    + 1  # version, positive fixint
    + 3  # depth up to 256: uint16 (0xcd + 2 bytes)
    + 2 + KEY_BITS // 8  # bitmap: bin8 header + up to 32 bytes
    + 3 + KEY_BITS * (2 + HASH_SIZE)  # array16 header + 256 bin8 hashes
    + 1 + 2 * (2 + HASH_SIZE)  # terminal [leaf key, value hash]
)
"""The largest encoding the proof grammar allows (8815 bytes); checked before parsing."""

_PROOF_WHAT = "status-map proof"


def key_bit(key: bytes, index: int) -> int:
    """Bit ``index`` of ``key``, most significant bit first (0 = left child, 1 = right)."""
    return (key[index >> 3] >> (7 - (index & 7))) & 1


def shares_prefix(a: bytes, b: bytes, bits: int) -> bool:
    """Whether ``a`` and ``b`` agree on their first ``bits`` bits.

    Precondition: both are at least ``ceil(bits / 8)`` bytes long.
    """
    whole, rest = divmod(bits, 8)
    if a[:whole] != b[:whole]:
        return False
    if rest == 0:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return (a[whole] & mask) == (b[whole] & mask)


def value_hash(value: bytes) -> Hash:
    """``SHA-256(value)``: what a leaf commits to, so a proof need not carry the value."""
    return Hash(hashlib.sha256(value).digest())


def leaf_hash_from_value_hash(key: bytes, hashed_value: bytes) -> Hash:
    """``SHA-256(0x02 || key || value_hash)``; preconditions: 32-byte key and hash."""
    return Hash(hashlib.sha256(LEAF_PREFIX + key + hashed_value).digest())


def leaf_hash(key: bytes, value: bytes) -> Hash:
    """``SHA-256(0x02 || key || SHA-256(value))``; precondition: a 32-byte key."""
    return leaf_hash_from_value_hash(key, hashlib.sha256(value).digest())


def internal_hash(left: bytes, right: bytes) -> Hash:
    """``SHA-256(0x03 || left || right)``; precondition: two 32-byte hashes."""
    return Hash(hashlib.sha256(INTERNAL_PREFIX + left + right).digest())


class SmtLeaf(NamedTuple):
    """The leaf a proof's path ends at: its key and the SHA-256 of its value."""

    key: bytes
    value_hash: Hash


@dataclass(frozen=True, slots=True)
class SmtProof:
    """The path from a root down to where the search for one key ends.

    ``siblings[i]`` is the hash of the sibling subtree at depth ``i`` (root
    side first), :data:`EMPTY` where that subtree is empty; the proof's depth
    is ``len(siblings)``.  ``terminal`` is ``None`` when the path ended in an
    empty subtree, or the :class:`SmtLeaf` it ended at.

    The constructor checks the shape (at most 256 siblings of 32 bytes, a
    32-byte leaf key and value hash), so every instance can be encoded; it
    does not check the proof against any key or root.
    """

    siblings: tuple[Hash, ...]
    terminal: SmtLeaf | None

    def __post_init__(self) -> None:
        if len(self.siblings) > KEY_BITS:
            fail(_PROOF_WHAT, f"depth {len(self.siblings)} exceeds {KEY_BITS}")
        for depth, sibling in enumerate(self.siblings):
            as_hash(sibling, f"{_PROOF_WHAT}: sibling at depth {depth}")
        if self.terminal is not None:
            if not isinstance(self.terminal, SmtLeaf):
                fail(_PROOF_WHAT, "terminal must be None or an SmtLeaf")
            expect_bytes(self.terminal.key, f"{_PROOF_WHAT}: leaf key", size=KEY_SIZE)
            as_hash(self.terminal.value_hash, f"{_PROOF_WHAT}: leaf value hash")

    @property
    def depth(self) -> int:
        return len(self.siblings)

    def encode(self) -> bytes:
        """The one canonical byte form:
        ``[1, depth, bitmap, [non-empty siblings], terminal]`` in canonical msgpack.

        ``bitmap`` has ``ceil(depth / 8)`` bytes; bit ``i`` (MSB first) is set
        when the sibling at depth ``i`` is non-empty, and only those siblings
        are listed.  ``terminal`` is nil or ``[leaf key, value hash]``.
        """
        bitmap = bytearray((self.depth + 7) // 8)
        listed: list[bytes] = []
        for depth, sibling in enumerate(self.siblings):
            if sibling != EMPTY:
                bitmap[depth >> 3] |= 0x80 >> (depth & 7)
                listed.append(sibling)
        terminal = None if self.terminal is None else [self.terminal.key, self.terminal.value_hash]
        return pack([PROOF_VERSION, self.depth, bytes(bitmap), listed, terminal])

    @classmethod
    def decode(cls, untrusted: bytes) -> SmtProof:
        """Parse :meth:`encode`'s form strictly; raises :class:`InvalidEncoding`.

        Rejects, before any hashing: input over :data:`MAX_PROOF_SIZE`, any
        non-canonical msgpack, another version, depth over 256, a bitmap of
        the wrong length or with bits set past the depth, a set-bit count
        other than the number of listed siblings, and a listed sibling equal
        to :data:`EMPTY` (it must be omitted), so each proof has exactly one
        accepted encoding.
        """
        fields = expect_array(
            unpack(untrusted, max_size=MAX_PROOF_SIZE, what=_PROOF_WHAT), _PROOF_WHAT, 5
        )
        version = expect_uint(fields[0], f"{_PROOF_WHAT}: version")
        if version != PROOF_VERSION:
            fail(_PROOF_WHAT, f"unsupported version {version}; this client reads {PROOF_VERSION}")
        depth = expect_uint(fields[1], f"{_PROOF_WHAT}: depth", maximum=KEY_BITS)
        bitmap = expect_bytes(fields[2], f"{_PROOF_WHAT}: bitmap", size=(depth + 7) // 8)
        if depth % 8 and bitmap[-1] & (0xFF >> (depth % 8)):
            fail(_PROOF_WHAT, f"bitmap has bits set past depth {depth}")
        listed = expect_array(fields[3], f"{_PROOF_WHAT}: siblings", max_len=depth)
        set_bits = sum(bin(byte).count("1") for byte in bitmap)
        if set_bits != len(listed):
            fail(_PROOF_WHAT, f"bitmap marks {set_bits} siblings but {len(listed)} are listed")
        siblings: list[Hash] = []
        next_listed = 0
        for index in range(depth):
            if bitmap[index >> 3] & (0x80 >> (index & 7)):
                what = f"{_PROOF_WHAT}: sibling at depth {index}"
                sibling = expect_hash(listed[next_listed], what)
                if sibling == EMPTY:
                    fail(_PROOF_WHAT, f"sibling at depth {index} is EMPTY and must be omitted")
                siblings.append(sibling)
                next_listed += 1
            else:
                siblings.append(EMPTY)
        return cls(tuple(siblings), _decode_terminal(fields[4]))

    def to_hex(self) -> str:
        """The encoding as lowercase hex, the form the JSON API and bundles carry."""
        return self.encode().hex()

    @classmethod
    def from_hex(cls, untrusted: str) -> SmtProof:
        """Parse :meth:`to_hex`'s form: lowercase hex of the canonical encoding."""
        if not isinstance(untrusted, str):
            fail(_PROOF_WHAT, f"expected a hex string, got {type(untrusted).__name__}")
        if len(untrusted) > 2 * MAX_PROOF_SIZE:
            fail(_PROOF_WHAT, f"hex is {len(untrusted)} characters; over twice {MAX_PROOF_SIZE}")
        if untrusted != untrusted.lower():
            fail(_PROOF_WHAT, "hex must be lowercase")
        try:
            data = bytes.fromhex(untrusted)
        except ValueError as exc:
            raise InvalidEncoding(f"{_PROOF_WHAT}: not hex") from exc
        return cls.decode(data)


def _decode_terminal(field: Any) -> SmtLeaf | None:
    if field is None:
        return None
    key, hashed_value = expect_array(field, f"{_PROOF_WHAT}: terminal leaf", 2)
    return SmtLeaf(
        expect_bytes(key, f"{_PROOF_WHAT}: leaf key", size=KEY_SIZE),
        expect_hash(hashed_value, f"{_PROOF_WHAT}: leaf value hash"),
    )


def root_from_proof(key: bytes, proof: SmtProof, value: bytes | None) -> Hash:
    """The root a proof leads to under the claim "``key`` maps to ``value``".

    ``value`` is ``None`` for the claim "``key`` is absent".  Raises
    :class:`InvalidProof` when the proof cannot support the claim at all:

    * membership needs a terminal leaf whose key is ``key`` and whose value
      hash is ``SHA-256(value)``;
    * non-membership needs either no terminal leaf (the path ended in an empty
      subtree) or a terminal leaf of *another* key that shares ``key``'s first
      ``depth`` bits, i.e. a leaf that sits where ``key`` would be.

    Then folds the siblings from depth ``d-1`` up to 0.  Computes only; the
    caller compares the result with a root it trusts (see
    :func:`verify_membership`, :func:`verify_non_membership`).
    Precondition checked: ``key`` is 32 bytes (else :class:`UsageError`).
    """
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise UsageError(f"status key must be {KEY_SIZE} bytes")
    assert isinstance(proof, SmtProof), "decode untrusted proofs with SmtProof.decode"
    siblings = proof.siblings
    depth = len(siblings)
    terminal = proof.terminal
    sha256 = hashlib.sha256
    # Bit ``i`` of the key is bit ``255 - i`` of this integer: one conversion, then
    # shifts, where indexing the bytes would cost a call per level.
    key_number = int.from_bytes(key, "big")
    # Cheap checks on the claim and the terminal come before any hashing.
    if value is not None:
        if len(value) > MAX_VALUE_SIZE:
            raise InvalidProof(
                f"status value is {len(value)} bytes; the limit is {MAX_VALUE_SIZE}"
            )
        if terminal is None:
            raise InvalidProof("the proof ends in an empty subtree: it shows the key is absent")
        if terminal.key != key:
            raise InvalidProof(
                f"the proof ends at the leaf of key {terminal.key.hex()}: it shows "
                f"key {key.hex()} is absent"
            )
        if terminal.value_hash != sha256(value).digest():
            raise InvalidProof("the proof's leaf holds another value than the one claimed")
        node: bytes = sha256(LEAF_PREFIX + key + terminal.value_hash).digest()
    elif terminal is None:
        node = EMPTY
    else:
        if terminal.key == key:
            raise InvalidProof(f"the proof ends at the leaf of key {key.hex()}: it is present")
        # A leaf can only sit at depth d on K's path if it shares K's first d
        # bits; without this a prover could present a leaf from anywhere
        # (shares_prefix, on integers: the keys' XOR has no set bit in the first d).
        if (int.from_bytes(terminal.key, "big") ^ key_number) >> (KEY_BITS - depth):
            raise InvalidProof(
                f"the proof's leaf key {terminal.key.hex()} does not share the first "
                f"{depth} bits of key {key.hex()}, so it cannot lie on its path"
            )
        node = sha256(LEAF_PREFIX + terminal.key + terminal.value_hash).digest()
    # Fold from depth d-1 up to 0: the lowest bit of ``path`` is key_bit(key, depth - 1),
    # 1 where the path went right (the sibling is on the left).
    path = key_number >> (KEY_BITS - depth)
    prefix = INTERNAL_PREFIX
    for sibling in reversed(siblings):
        if path & 1:
            node = sha256(prefix + sibling + node).digest()
        else:
            node = sha256(prefix + node + sibling).digest()
        path >>= 1
    return Hash(node)


def verify_membership(root: bytes, key: bytes, value: bytes, proof: SmtProof) -> None:
    """Check that, in the map with trusted ``root``, ``key`` maps to ``value``.

    Raises :class:`InvalidProof` if the proof cannot show this claim and
    :class:`RootMismatch` if it leads to another root.
    """
    trusted_root = as_hash(root, "trusted status root")
    if not isinstance(value, bytes):
        raise UsageError("status value must be bytes")
    calculated = root_from_proof(key, proof, value)
    if calculated != trusted_root:
        raise RootMismatch("status-map membership proof", trusted_root, calculated)


def verify_non_membership(root: bytes, key: bytes, proof: SmtProof) -> None:
    """Check that, in the map with trusted ``root``, ``key`` has no value.

    Raises :class:`InvalidProof` if the proof cannot show this claim and
    :class:`RootMismatch` if it leads to another root.
    """
    trusted_root = as_hash(root, "trusted status root")
    calculated = root_from_proof(key, proof, None)
    if calculated != trusted_root:
        raise RootMismatch("status-map non-membership proof", trusted_root, calculated)
