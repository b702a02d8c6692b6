"""Strict JSON reading for every JSON document the protocol accepts.

``json.loads`` quietly accepts duplicate member names (keeping the last one),
NaN and Infinity.  A trust file with two ``"threshold"`` members or a bundle
with two ``"checkpoint"`` members must be refused, not half-read, so every
JSON edge of vcledger parses through :func:`loads`.

Nesting is capped by a written rule (:data:`MAX_JSON_DEPTH`, docs/protocol.md
§13.1) checked before parsing, not by whatever depth exhausts a parser's stack:
Python's recursion limit and a browser's stack give out at different depths, and
the browser verifier (client/web/verifier.js) must refuse exactly what this
module refuses.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

from client.errors import InvalidEncoding


class JsonError(InvalidEncoding):
    """A JSON document is malformed or uses a form the protocol forbids."""

    code = "bad_json"


MAX_JSON_DEPTH = 128
"""Most arrays and objects open at once in any JSON document the protocol reads.

Protocol documents nest a few levels (a bundle 4, a verifiable credential rarely
10); the cap leaves room for any real credential and keeps every reader, in any
language, far from its stack limit."""

_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
"""A string (to its closing quote, or to the end of an unterminated one) or a bracket.
Strings are matched whole so that brackets inside them do not count; every match
succeeds once started, so the scan is linear."""


def nesting_problem(text: str) -> str | None:
    """Why ``text`` nests too deeply for :func:`loads`, or None.

    The depth is counted before parsing, on any text, valid JSON or not: outside
    strings each ``[`` or ``{`` opens a level and each ``]`` or ``}`` closes one
    (never below zero); a string runs from ``"`` to the next ``"`` not escaped by
    a backslash, or to the end of the text.  More than :data:`MAX_JSON_DEPTH`
    levels open at once is refused.  client/web/verifier.js counts the same way.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None  # the common case: too few openers to nest that deep
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return (f"nests more than {MAX_JSON_DEPTH} arrays and objects deep "
                        f"(at character {match.start()})")
        elif token in "]}":
            depth = max(depth - 1, 0)
    return None


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
    UTF-8, a byte order mark, nesting deeper than :data:`MAX_JSON_DEPTH`
    (:func:`nesting_problem`), duplicate member names, NaN/Infinity, syntax
    errors and integers too long to convert, in that order of checks.
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
    problem = nesting_problem(data)
    if problem is not None:
        raise JsonError(f"{what} {problem}")
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
