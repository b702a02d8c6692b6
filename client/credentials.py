"""Credential digests: SHA-256 of the RFC 8785 (JCS) canonical form of the JSON.

Credentials never go on the ledger, only these digests, so any party holding the
credential file recomputes the digest and looks it up.  The canonical form is
produced by the maintained ``rfc8785`` package; this module only parses the
JSON strictly first, because ``json.loads`` silently accepts things RFC 8785
(via I-JSON, RFC 7493) forbids.
"""

from __future__ import annotations

import math
from typing import Any

import rfc8785

from client import strictjson
from client.errors import InvalidEncoding
from client.hashes import Hash, sha256

MAX_CREDENTIAL_SIZE = 4 * 1024 * 1024
"""Largest credential file accepted, in bytes (checked before parsing)."""

_SAFE_INTEGER = 2**53 - 1


class CredentialError(InvalidEncoding):
    """A credential file is not JSON that RFC 8785 can canonicalise."""

    code = "bad_credential"


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CredentialError(f"number {text} is outside the IEEE 754 double range")
    return value


def _parse_int(text: str) -> int | float:
    # RFC 8785 treats every JSON number as an IEEE 754 double, as JavaScript does.
    # Integers beyond 2^53 therefore canonicalise as the double nearest to them,
    # which is what every other JCS implementation computes.
    value = int(text)
    if abs(value) <= _SAFE_INTEGER:
        return value
    return _parse_float(text)


def parse_credential(credential_json: bytes) -> dict[str, Any]:
    """Parse a credential file strictly: UTF-8 JSON whose top level is an object.

    Raises :class:`CredentialError` for invalid UTF-8 (or a byte order mark),
    duplicate member names, NaN or Infinity, numbers outside double range,
    nesting too deep to process, and anything over :data:`MAX_CREDENTIAL_SIZE`.
    """
    try:
        value = strictjson.loads(
            credential_json,
            what="credential",
            max_size=MAX_CREDENTIAL_SIZE,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except CredentialError:
        raise
    except InvalidEncoding as exc:
        raise CredentialError(exc.diagnostics()) from exc
    if not isinstance(value, dict):
        raise CredentialError("a credential must be a JSON object at the top level")
    return value


def canonical_json(credential: dict[str, Any]) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of an already parsed credential."""
    try:
        return rfc8785.dumps(credential)
    except rfc8785.CanonicalizationError as exc:
        # The library's input-dependent failures that survive strict parsing:
        # strings with lone surrogates, written as \\uD800 escapes ...
        raise CredentialError(f"credential cannot be canonicalised: {exc}") from exc
    except UnicodeEncodeError as exc:
        # ... and member names with them, which it sorts by their UTF-16 form first.
        raise CredentialError("credential cannot be canonicalised: a member name holds a "
                              "lone surrogate (a \\uD800-\\uDFFF escape)") from exc
    except RecursionError as exc:
        raise CredentialError("credential nests too deeply to canonicalise") from exc


def digest(credential_json: bytes) -> Hash:
    """SHA-256 of the RFC 8785 canonical form of ``credential_json``.

    Two files that differ only in whitespace, member order or number spelling
    (``1.0`` vs ``1``, ``1E3`` vs ``1000``) have the same digest.
    """
    return sha256(canonical_json(parse_credential(credential_json)))
