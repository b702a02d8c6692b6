"""Credentials: their digests, and the few claims a verifier reads from them.

Credentials never go on the ledger, only their digests: SHA-256 of the RFC 8785
(JCS) canonical form of the JSON, so any party holding the credential file
recomputes the digest and looks it up.  The canonical form is produced by the
maintained ``rfc8785`` package; this module parses the JSON strictly first,
because ``json.loads`` silently accepts things RFC 8785 (via I-JSON, RFC 7493)
forbids, and refuses numbers that would lose precision as IEEE 754 doubles
(:func:`check_ijson`), because two such numbers can share one digest.

The claims (:func:`named_issuer`, :func:`validity_period`) are pure functions
of a parsed credential: no clock, no network.  The verifier compares them with
the ledger's issuer record and with the moment it is asked about.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

import rfc8785

from client import strictjson
from client.errors import InvalidEncoding
from client.hashes import Hash, sha256

MAX_CREDENTIAL_SIZE = 4 * 1024 * 1024
"""Largest credential file accepted, in bytes (checked before parsing)."""

_SAFE_INTEGER = 2**53 - 1
"""Largest integer the ``rfc8785`` package writes as an integer; beyond it, a double."""

_EXACT_INTEGER = 2**53
"""Every integer of at most this magnitude is exactly an IEEE 754 double."""


class CredentialError(InvalidEncoding):
    """A credential file is not JSON that RFC 8785 can canonicalise, or a claim in it
    (issuer, validity dates) is malformed."""

    code = "bad_credential"


def _parse_float(text: str) -> Decimal:
    # The exact value of the text, so check_ijson can tell whether a double holds it.
    if not math.isfinite(float(text)):
        raise CredentialError(f"number {_shorten(text)} is outside the IEEE 754 double range")
    return Decimal(text)


def _parse_int(text: str) -> int:
    value = int(text)
    if abs(value) > _EXACT_INTEGER and not math.isfinite(float(text)):
        raise CredentialError(f"number {_shorten(text)} is outside the IEEE 754 double range")
    return value


def parse_credential(credential_json: bytes) -> dict[str, Any]:
    """Parse a credential file strictly: UTF-8 JSON whose top level is an object.

    Numbers keep their exact value: an ``int`` for an integer written without
    fraction or exponent, a :class:`~decimal.Decimal` for any other number, so
    :func:`check_ijson` can tell whether a double holds them (a float would
    already have rounded them).

    Raises :class:`CredentialError` for invalid UTF-8 (or a byte order mark),
    duplicate member names, NaN or Infinity, numbers outside double range,
    nesting too deep to process, and anything over :data:`MAX_CREDENTIAL_SIZE`.
    Numbers a double cannot hold are refused later, by :func:`canonical_json`.
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


# -- I-JSON numbers ----------------------------------------------------------------------------

_JsonPath = tuple[Any, str | int] | None
"""A location as (parent location, member name or array index); None is the top level.
Linked rather than a tuple of steps, so walking a deep document stays linear."""

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _format_path(path: _JsonPath) -> str:
    """JSONPath of a location: ``$.credentialSubject.nationalId``, ``$.a[3]["@id"]``."""
    steps: list[str] = []
    while path is not None:
        path, step = path
        if isinstance(step, int):
            steps.append(f"[{step}]")
        elif _PLAIN_NAME.fullmatch(step):
            steps.append(f".{step}")
        else:
            steps.append(f"[{json.dumps(_shorten(step, 64))}]")
    return "$" + "".join(reversed(steps))


def _nearest_double(value: int | float | Decimal) -> float | None:
    """The double a JSON reader makes of ``value``, or None if it would overflow."""
    try:
        nearest = float(value)
    except OverflowError:  # an int beyond the double range, from a caller's dict
        return None
    return nearest if math.isfinite(nearest) else None


def _number_problem(value: int | float | Decimal) -> str | None:
    if isinstance(value, float):  # already a double: nothing to lose
        return None if math.isfinite(value) else "is not a JSON number"
    if isinstance(value, int) and -_EXACT_INTEGER <= value <= _EXACT_INTEGER:
        return None  # the common case, decided without any conversion
    nearest = _nearest_double(value)
    if nearest is None:
        return "is outside the IEEE 754 double range"
    if Decimal(repr(nearest)) == value:
        return None
    return (f"cannot be represented exactly as an IEEE 754 double (I-JSON, RFC 7493 §2.2): "
            f"it would be read as {rfc8785.dumps(nearest).decode()}; write it as a string")


def check_ijson(document: Any) -> None:
    """Refuse a number that an IEEE 754 double cannot carry (I-JSON, RFC 7493 §2.2).

    RFC 8785 reads every number as a double, so ``12345678901234567890`` and
    ``12345678901234568000`` would both canonicalise as ``12345678901234567000``
    and share a digest: a credential with a changed national ID would verify.

    The rule: a number is accepted exactly when its decimal value equals the
    value of the shortest text that reads back as the same double (Python's
    ``repr``, ECMAScript's ``Number::toString``, the digits RFC 8785 writes).
    Every double has one such value, so no two accepted numbers of different
    value share a canonical form, and the rule does not depend on spelling
    (``1E3`` and ``1000.0`` are both 1000).  Accepted: every integer up to
    2**53 in magnitude, ``0.1``, ``3.14``, ``1e21``, ``1e23``, ``5e-324`` and
    anything a JSON library writes from a double.  Refused: ``9007199254740993``,
    ``12345678901234567890`` (and ``12345678901234567890.0``), 17-digit texts
    such as ``0.10000000000000001`` that say more than the double holds, and
    underflow such as ``1e-400``.  ``12345678901234567000`` is accepted: it is
    the canonical text of its double, and no other accepted number shares it.

    ``document`` is what :func:`parse_credential` returns (ints and Decimals
    are exact); a float is a double already and passes if finite.  Raises
    :class:`CredentialError` naming the first offending number and its JSONPath.
    """
    _check_number(document, None)
    # Depth first in document order, so the first offender in the file is named; with a
    # stack of iterators rather than recursion, so a document nested as deep as the parser
    # allows cannot exhaust Python's stack, and with nothing allocated per number.
    stack: list[tuple[Iterator[tuple[Any, Any]], _JsonPath]] = []
    _descend(stack, document, None)
    while stack:
        children, path = stack[-1]
        for step, child in children:
            if type(child) is int and -_EXACT_INTEGER <= child <= _EXACT_INTEGER:
                continue  # the common case, first
            if _descend(stack, child, (path, step)):
                break  # its children next; then back to this iterator
            _check_number(child, (path, step))
        else:
            stack.pop()


def _descend(stack: list[tuple[Iterator[tuple[Any, Any]], _JsonPath]], node: Any,
             path: _JsonPath) -> bool:
    if isinstance(node, dict):
        stack.append((iter(node.items()), path))
    elif isinstance(node, list):
        stack.append((enumerate(node), path))
    else:
        return False
    return True


def _check_number(node: Any, path: _JsonPath) -> None:
    if isinstance(node, int | float | Decimal) and not isinstance(node, bool):
        problem = _number_problem(node)
        if problem is not None:
            raise CredentialError(f"number {_shorten(str(node))} at {_format_path(path)} {problem}")


def _as_doubles(value: Any) -> Any:
    """``value`` with every number as the ``rfc8785`` package expects it: an int
    within ±(2**53 - 1), otherwise a float (the double RFC 8785 reads)."""
    if isinstance(value, dict):
        return {name: _as_doubles(child) for name, child in value.items()}
    if isinstance(value, list):
        return [_as_doubles(child) for child in value]
    if isinstance(value, Decimal) or (
            isinstance(value, int) and not isinstance(value, bool)
            and abs(value) > _SAFE_INTEGER):
        return float(value)
    return value


def canonical_json(credential: dict[str, Any]) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of an already parsed credential.

    Refuses (:class:`CredentialError`) a credential that fails
    :func:`check_ijson`: its canonical form would stand for other numbers too.
    """
    check_ijson(credential)
    try:
        return rfc8785.dumps(_as_doubles(credential))
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
    (``1.0`` vs ``1``, ``1E3`` vs ``1000``) have the same digest.  Files with
    numbers no double holds exactly are refused (:func:`check_ijson`), so two
    files with different numbers never have the same digest; issuing, anchoring
    and verifying all go through here, so all of them refuse such a file.
    """
    return digest_document(parse_credential(credential_json))


def digest_document(credential: dict[str, Any]) -> Hash:
    """:func:`digest` of an already parsed credential (checked by :func:`canonical_json`)."""
    return sha256(canonical_json(credential))


# -- claims --------------------------------------------------------------------------------


def named_issuer(document: dict[str, Any]) -> str | None:
    """The issuer a credential names: ``issuer`` if a string, else the ``id`` of an
    ``issuer`` object (VC Data Model 1.1 and 2.0 allow both forms).

    None when there is no ``issuer`` or it has neither form, so the caller
    decides how to report a credential that names nobody.  The value is
    untrusted: the verifier compares it with the identifiers the ledger
    recorded for the issuer that signed the event, which is what binds a
    credential to the institution a person recognises.
    """
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


# XML Schema 1.1 dateTime: VC 2.0 requires dateTimeStamp (the same with a zone), VC 1.1
# dateTime.  ASCII digits only: \d would also match other scripts' digits.
_DATE_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<zone>Z|[+-](?P<zone_hour>[0-9]{2}):(?P<zone_minute>[0-9]{2}))?"
)
_EPOCH = dt.datetime(1970, 1, 1)  # naive: offsets are applied by hand


def _date_time_problem(match: re.Match[str]) -> str | None:
    hour, minute, second = (int(match[name]) for name in ("hour", "minute", "second"))
    if hour == 24:
        if minute or second or (match["fraction"] or "0").strip("0"):
            return "24 is only allowed as 24:00:00, the end of the day"
    elif hour > 23 or minute > 59 or second > 59:
        return "the time of day is out of range (a leap second is not allowed)"
    if match["zone_hour"] is not None:
        zone_hour, zone_minute = int(match["zone_hour"]), int(match["zone_minute"])
        if zone_minute > 59 or zone_hour > 14 or (zone_hour == 14 and zone_minute):
            return "the time zone offset is outside -14:00..+14:00"
    return None


def _parse_date_time(member: str, value: object) -> Decimal:
    """POSIX seconds, exactly, of an XML Schema ``dateTime`` (RFC 3339 ``date-time``).

    Accepts ``2026-12-05T09:30:00Z``, an offset (``+01:00``, ``-05:30``; at most
    14 hours), any number of fractional-second digits, and ``24:00:00`` for the
    end of a day.  A date-time without a zone (VC 1.1 allows it; VC 2.0 does
    not) is read as UTC, so every verifier reaches the same moment whatever its
    own time zone.  Years are 0001..9999.  Lower-case ``t``/``z``, spaces for
    ``T``, leap seconds and dates without a time are refused: XML Schema, which
    the VC data model names, has none of them.

    Raises :class:`CredentialError` naming ``member`` and the text.
    """
    if not isinstance(value, str):
        shown = _shorten(json.dumps(value, default=str))
        raise CredentialError(f"{member} must be a date-time string such as "
                              f"2026-12-05T09:30:00Z, not {shown}")
    match = _DATE_TIME.fullmatch(value)
    quoted = json.dumps(_shorten(value))
    if match is None:
        raise CredentialError(f"{member} {quoted} is not an XML Schema date-time such as "
                              f"2026-12-05T09:30:00Z")
    problem = _date_time_problem(match)
    if problem is not None:
        raise CredentialError(f"{member} {quoted} is not a valid date-time: {problem}")
    try:
        day = dt.datetime(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError as exc:
        raise CredentialError(f"{member} {quoted} is not a valid date-time: {exc}") from exc
    delta = day - _EPOCH
    seconds = (delta.days * 86400 + int(match["hour"]) * 3600 + int(match["minute"]) * 60
               + int(match["second"]))
    if match["zone_hour"] is not None:
        offset = int(match["zone_hour"]) * 3600 + int(match["zone_minute"]) * 60
        seconds -= offset if match["zone"].startswith("+") else -offset
    return seconds + Decimal(f"0.{match['fraction'] or '0'}")


@dataclass(frozen=True)
class ValidityPeriod:
    """When a credential says it may be relied on, in POSIX seconds.

    ``valid_from`` is the first second and ``valid_until`` the second the
    credential ceases to be valid (VC 2.0: "ceases to be valid"), so it is
    valid at ``t`` when ``valid_from <= t < valid_until``.  None means the
    credential sets no such bound.  Fractional seconds are rounded inward
    (``valid_from`` up, ``valid_until`` down): the period never grows.  The
    ``*_member`` fields name the members the bounds came from, for messages.
    """

    valid_from: int | None
    valid_until: int | None
    valid_from_member: str | None = None
    valid_until_member: str | None = None

    def status_at(self, at: int) -> Literal["valid", "expired", "not_yet_valid"]:
        """The credential's own verdict at POSIX second ``at`` (the verdict's status names)."""
        if self.valid_until is not None and at >= self.valid_until:
            return "expired"
        if self.valid_from is not None and at < self.valid_from:
            return "not_yet_valid"
        return "valid"


def _date_member(document: dict[str, Any], member: str) -> tuple[Decimal, str] | None:
    if member not in document:
        return None
    return _parse_date_time(member, document[member]), member


def validity_period(document: dict[str, Any]) -> ValidityPeriod:
    """The validity period a credential states (VC Data Model 2.0 §4.9, 1.1 §4.6-4.7).

    Each bound comes from the VC 2.0 member (``validFrom``, ``validUntil``) or,
    if that is absent, the VC 1.1 one (``issuanceDate``, ``expirationDate``).
    Every one of the four that is present must be a well-formed date-time, even
    one a VC 2.0 member overrides: a verifier reading either version of the
    data model must not see a different credential.

    Raises :class:`CredentialError` for a malformed date (:func:`_parse_date_time`)
    and for an end before the start, which VC 2.0 forbids ("MUST express a
    datetime that is temporally the same or earlier"): such a credential
    contradicts itself, and saying so is more useful than calling it expired.
    """
    members = {name: _date_member(document, name)
               for name in ("validFrom", "issuanceDate", "validUntil", "expirationDate")}
    start = members["validFrom"] or members["issuanceDate"]
    end = members["validUntil"] or members["expirationDate"]
    if start is not None and end is not None and end[0] < start[0]:
        raise CredentialError(
            f"{end[1]} {json.dumps(_shorten(document[end[1]]))} is before {start[1]} "
            f"{json.dumps(_shorten(document[start[1]]))}: the credential is never valid")
    return ValidityPeriod(
        valid_from=None if start is None else int(start[0].to_integral_value(ROUND_CEILING)),
        valid_until=None if end is None else int(end[0].to_integral_value(ROUND_FLOOR)),
        valid_from_member=None if start is None else start[1],
        valid_until_member=None if end is None else end[1],
    )
