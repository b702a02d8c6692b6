"""Canonical msgpack: the one module that makes the bytes that get hashed or signed.

The protocol's binary structures are msgpack *arrays* with a fixed order of
fields, built from four value kinds only: unsigned or signed integers that fit
64 bits, byte strings, UTF-8 strings and nil.  Maps, floats, extension types
and booleans never appear, so there is nothing whose order or width an encoder
could choose — and ``true`` can never pass for the integer 1 (Python's
``True == 1``), which would give one signed structure a second encoding.

msgpack allows several encodings of the same value (``0x01`` and ``0xcc 0x01``
are both the integer 1).  The canonical form is the shortest one, which is what
msgpack-python's packer writes.  :func:`unpack` therefore decodes, re-encodes
and compares, so exactly one byte string is accepted for each value and hashes
and signatures are stable across implementations.

The strict base64 codec lives here too: JSON bodies, bundles, notes and
checkpoints carry those same bytes as text, and it holds them to the same rule
of exactly one accepted form.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any, NoReturn, TypeAlias

import msgpack

from client.errors import InvalidEncoding
from client.hashes import HASH_SIZE, Hash

Packable: TypeAlias = "int | bytes | str | Sequence[Packable] | None"

MAX_DEPTH = 8
"""Deepest array nesting any protocol structure uses, with room to spare."""

UINT64_MAX = 2**64 - 1
INT64_MIN = -(2**63)

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

ARRAYS_COUNTED_ABOVE = 64 * 1024
"""Inputs larger than this may hold at most one array per 16 bytes (and 64 more), counted
while they are decoded.  An empty array is one byte: 4 MiB of them are four million Python
lists, 300 MB and seconds of garbage collection in the caller's thread before any field is
looked at.  No protocol structure is nearly that dense."""


def pack(value: Packable) -> bytes:
    """Encode ``value`` canonically.

    Precondition: ``value`` is built from the five allowed kinds and tuples or
    lists of them; the typed encoders of the protocol modules guarantee this.
    """
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes, *, max_size: int, what: str) -> Any:
    """Decode untrusted canonical msgpack.

    Rejects, with an :class:`InvalidEncoding` naming ``what``: input over
    ``max_size`` bytes (checked before any parsing), truncated input, trailing
    bytes, maps, floats, booleans, extension types, invalid UTF-8, nesting deeper than
    :data:`MAX_DEPTH`, integers outside 64 bits, any non-shortest encoding, and
    input over :data:`ARRAYS_COUNTED_ABOVE` bytes with more than one array per
    16 bytes (counted while decoding, so refusing it costs little).
    Arrays come back as lists.
    """
    if not isinstance(data, bytes):
        raise InvalidEncoding(f"{what} must be bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise InvalidEncoding(f"{what} is {len(data)} bytes; the limit is {max_size}")
    if not data:
        raise InvalidEncoding(f"{what} is empty")
    budget = (None if len(data) <= ARRAYS_COUNTED_ABOVE
              else _ArrayBudget(len(data) // 16 + 64, what))
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_map_len=0,
            max_ext_len=0,
            list_hook=budget,
        )
    except msgpack.ExtraData as exc:
        raise InvalidEncoding(f"{what} has trailing bytes after the value") from exc
    except (ValueError, msgpack.UnpackException) as exc:
        raise InvalidEncoding(f"{what} is not valid msgpack: {_describe(exc)}") from exc
    _check_kinds(value, what, depth=0)
    if pack(value) != data:
        raise InvalidEncoding(f"{what} is not in canonical (shortest) msgpack form")
    return value


class _ArrayBudget:
    """A msgpack ``list_hook`` that stops decoding once ``budget`` arrays were made."""

    __slots__ = ("left", "what")

    def __init__(self, budget: int, what: str) -> None:
        self.left = budget
        self.what = what

    def __call__(self, items: list[Any]) -> list[Any]:
        self.left -= 1
        if self.left < 0:
            raise InvalidEncoding(f"{self.what} holds more arrays than any protocol structure "
                                  "of its size")
        return items


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if "exceeds max_map_len" in text:
        return "maps are not allowed"
    if "exceeds max_ext_len" in text:
        return "extension types are not allowed"
    if isinstance(exc, UnicodeDecodeError):
        return "a string is not valid UTF-8"
    if isinstance(exc, msgpack.StackError):
        return "nesting is too deep"
    return text or type(exc).__name__


def _check_kinds(value: Any, what: str, depth: int) -> None:
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise InvalidEncoding(f"{what} nests arrays deeper than {MAX_DEPTH}")
        for item in value:
            # Scalars are checked here rather than by a call each: this walk runs
            # over every event a node admits.  msgpack returns exact types.
            kind = type(item)
            if kind is bytes or kind is str or item is None:
                continue
            if kind is int and INT64_MIN <= item <= UINT64_MAX:
                continue
            _check_kinds(item, what, depth + 1)
    elif isinstance(value, float):
        raise InvalidEncoding(f"{what} contains a float; floats are not allowed")
    elif isinstance(value, bool):
        raise InvalidEncoding(f"{what} contains a boolean; booleans are not allowed")
    elif value is None or isinstance(value, (bytes, str)):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= UINT64_MAX:
            raise InvalidEncoding(f"{what} contains an integer outside 64 bits")
    else:  # pragma: no cover - the unpacker only returns the kinds above
        raise InvalidEncoding(f"{what} contains a {type(value).__name__}")


# Field readers for decoders: each checks one field of an untrusted structure
# and names it in the error, so a rejection says exactly what was wrong.


def fail(what: str, problem: str) -> NoReturn:
    raise InvalidEncoding(f"{what}: {problem}")


def expect_array(
    value: Any, what: str, length: int | None = None, *, max_len: int | None = None
) -> list[Any]:
    if not isinstance(value, list):
        fail(what, f"expected an array, got {_kind(value)}")
    if length is not None and len(value) != length:
        fail(what, f"expected {length} fields, got {len(value)}")
    if max_len is not None and len(value) > max_len:
        fail(what, f"at most {max_len} items allowed, got {len(value)}")
    return value


def expect_uint(value: Any, what: str, *, maximum: int = UINT64_MAX, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(what, f"expected an unsigned integer, got {_kind(value)}")
    if not minimum <= value <= maximum:
        fail(what, f"{value} is outside {minimum}..{maximum}")
    return value


def expect_bytes(
    value: Any, what: str, *, size: int | None = None, max_size: int | None = None
) -> bytes:
    if not isinstance(value, bytes):
        fail(what, f"expected bytes, got {_kind(value)}")
    if size is not None and len(value) != size:
        fail(what, f"expected {size} bytes, got {len(value)}")
    if max_size is not None and len(value) > max_size:
        fail(what, f"at most {max_size} bytes allowed, got {len(value)}")
    return value


def expect_hash(value: Any, what: str) -> Hash:
    return Hash(expect_bytes(value, what, size=HASH_SIZE))


def expect_str(value: Any, what: str, *, max_len: int, min_len: int = 1) -> str:
    """A UTF-8 string of ``min_len``..``max_len`` bytes with no control characters."""
    if not isinstance(value, str):
        fail(what, f"expected a string, got {_kind(value)}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if not min_len <= size <= max_len:
        fail(what, f"must be {min_len}..{max_len} bytes of UTF-8, got {size}")
    if _CONTROL_CHARACTERS.search(value):
        fail(what, "control characters are not allowed")
    return value


# Base64 for the text forms (JSON, notes, checkpoints, tlog proofs).


def decode_base64(text: str, what: str) -> bytes:
    """Decode standard base64 (RFC 4648 §4) in its one canonical form.

    Rejects characters outside the alphabet, missing or extra padding, and
    non-zero trailing bits (the decoded bytes are re-encoded and compared).
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEncoding(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise InvalidEncoding(f"{what} is not canonical base64")
    return raw


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    return {bool: "boolean", int: "integer", bytes: "bytes", str: "string", list: "array"}.get(
        type(value), type(value).__name__
    )
