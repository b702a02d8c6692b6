"""The protocol's one hash function and its fixed-size value type."""

from __future__ import annotations

import hashlib
from typing import NewType

from client.errors import InvalidEncoding

HASH_SIZE = 32

Hash = NewType("Hash", bytes)
"""A 32-byte SHA-256 output."""


def sha256(data: bytes) -> Hash:
    return Hash(hashlib.sha256(data).digest())


def as_hash(value: bytes, what: str = "hash") -> Hash:
    """Return ``value`` as a :data:`Hash`, or raise if it is not exactly 32 bytes."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise InvalidEncoding(f"{what} must be {HASH_SIZE} bytes, got {size}")
    return Hash(value)


def hash_from_hex(text: str, what: str = "hash") -> Hash:
    """Parse a lowercase hex hash as used in the JSON API and the CLI."""
    if len(text) != 2 * HASH_SIZE or text != text.lower():
        raise InvalidEncoding(f"{what} must be {2 * HASH_SIZE} lowercase hex digits")
    try:
        value = bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidEncoding(f"{what} is not hex: {text!r}") from exc
    if len(value) != HASH_SIZE:
        # bytes.fromhex skips whitespace, so 64 characters may hold fewer hex digits.
        raise InvalidEncoding(f"{what} is not hex: {text!r}")
    return Hash(value)
