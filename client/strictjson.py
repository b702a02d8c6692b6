"""Strict JSON reading for every JSON document the protocol accepts.

``json.loads`` quietly accepts duplicate member names (keeping the last one),
NaN and Infinity.  A trust file with two ``"threshold"`` members or a bundle
with two ``"checkpoint"`` members must be refused, not half-read, so every
JSON edge of vcledger parses through :func:`loads`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from client.errors import InvalidEncoding


class JsonError(InvalidEncoding):
    """A JSON document is malformed or uses a form the protocol forbids."""

    code = "bad_json"


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Called once per JSON object of every document read: build the dict in C and
    # compare sizes, and only walk the members in Python to name a duplicate.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonError(f"duplicate member name {key!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON number")


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates,
                                   parse_constant=_reject_constant)
"""The decoder of :func:`loads` with the default number types, made once."""


def loads(
    data: bytes | str,
    *,
    what: str,
    max_size: int,
    parse_float: Callable[[str], Any] | None = None,
    parse_int: Callable[[str], Any] | None = None,
) -> Any:
    """Parse untrusted JSON: size cap first, then strict UTF-8 and strict JSON.

    Raises :class:`JsonError` naming ``what`` for oversized input, invalid
    UTF-8, a byte order mark, duplicate member names, NaN/Infinity, syntax
    errors, integers too long to convert and nesting too deep to parse.
    """
    if len(data) > max_size:
        raise JsonError(f"{what} is {len(data)} bytes; the limit is {max_size}")
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            raise JsonError(f"{what} starts with a UTF-8 byte order mark; remove it")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError(f"{what} is not valid UTF-8 (byte {exc.start})") from exc
    try:
        if type(data) is str and parse_float is None and parse_int is None:
            # What json.loads does for a str, minus building a decoder per call.
            if data.startswith("\ufeff"):
                raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)",
                                           data, 0)
            return _STRICT_DECODER.decode(data)
        return json.loads(
            data,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
            parse_float=parse_float,
            parse_int=parse_int,
        )
    except JsonError as exc:
        raise JsonError(f"{what}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise JsonError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:
        # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        # (4300 by default) with a plain ValueError, which json passes through.
        raise JsonError(f"{what} has a number too long to read (over "
                        f"{sys.get_int_max_str_digits()} digits)") from exc
    except RecursionError as exc:
        raise JsonError(f"{what} nests too deeply") from exc
