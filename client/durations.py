"""Durations as people type and read them: ``90s``, ``15m``, ``24h``, ``7d``; "9 days".

Used for the freshness policy (``--max-age``, the trust file's
``max_age_seconds``) and for saying how old a checkpoint is.  Seconds are
integers throughout, as in checkpoint timestamps.  One unit per text (no
``1h30m``): a policy is a round number, and one form is easier to check by
eye.  Weeks and months are left out on purpose: a month has no fixed length,
and ``7d`` says the same as a week with one unit fewer to learn.
"""

from __future__ import annotations

import re

from client.errors import UsageError

__all__ = [
    "MAX_DURATION_SECONDS",
    "UNITS",
    "describe_age",
    "describe_duration",
    "format_duration",
    "parse_duration",
    "parse_max_age",
]

UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}
"""Unit suffix to seconds, largest last."""

MAX_DURATION_SECONDS = 100 * 365 * 86400
"""A century: longer is a typo, and "none" says "no bound" explicitly."""

_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
_DURATION = re.compile(r"([0-9]{1,12})([smhd])")
_EXAMPLES = "e.g. 90s, 15m, 24h or 7d"


def parse_duration(text: str) -> int:
    """Seconds in ``text``: a positive decimal number and one unit, ``s``, ``m``, ``h`` or ``d``.

    Raises :class:`UsageError` naming the text for anything else: no unit (is
    ``90`` seconds or days?), upper case, spaces, signs, fractions, zero, or
    more than :data:`MAX_DURATION_SECONDS`.
    """
    if not isinstance(text, str):
        raise UsageError(f"a duration must be text such as 7d, got {type(text).__name__}")
    match = _DURATION.fullmatch(text)
    shown = text if len(text) <= 40 else text[:37] + "..."
    if match is None:
        hint = ""
        if text.strip().isdigit():
            hint = "; add a unit"
        elif _DURATION.fullmatch(text.lower()):
            hint = "; units are lower case"
        elif text.strip() != text:
            hint = "; remove the spaces"
        raise UsageError(
            f"duration {shown!r} is not a whole number followed by s, m, h or d "
            f"({_EXAMPLES}){hint}"
        )
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds == 0:
        raise UsageError(f"duration {shown!r} is zero; give a positive one ({_EXAMPLES})")
    if seconds > MAX_DURATION_SECONDS:
        raise UsageError(f"duration {shown!r} is longer than a century")
    return seconds


def parse_max_age(text: str) -> int | None:
    """A ``--max-age`` value: seconds from :func:`parse_duration`, or None for ``none``.

    ``none`` (any case) disables the age bound; verdicts then say that no
    bound was applied.
    """
    if isinstance(text, str) and text.lower() == "none":
        return None
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise UsageError(f"max age: {exc.diagnostics()}; or none for no age bound") from None


def format_duration(seconds: int) -> str:
    """The shortest exact text :func:`parse_duration` reads back: 604800 -> ``7d``."""
    _check_seconds(seconds)
    if seconds <= 0:
        raise UsageError(f"cannot write {seconds} s as a duration; durations are positive")
    for unit, size in reversed(UNITS.items()):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("every whole number of seconds divides by 1")


def describe_duration(seconds: int) -> str:
    """``seconds`` in words, in its largest whole unit, rounded down: "9 days", "1 hour".

    Seconds under a minute, minutes under an hour, hours under a day, days
    beyond (so 47 hours is "1 day": never more than the truth).  Negative
    input is a :class:`UsageError`; see :func:`describe_age` for ages.
    """
    _check_seconds(seconds)
    if seconds < 0:
        raise UsageError(f"cannot describe a negative duration ({seconds} s)")
    size = max(size for size in UNITS.values() if size <= max(seconds, 1))
    count = seconds // size
    name = _NAMES[size]
    return f"{count} {name}" if count == 1 else f"{count} {name}s"


def describe_age(seconds: int) -> str:
    """How old something dated ``seconds`` ago is, in words, to two units: "9 days",
    "7 days 3 hours", "5 minutes 12 seconds".

    Two units, so that an age just past a bound never reads as the bound itself
    ("5 minutes old; allows 5 minutes").  A checkpoint dated slightly after the
    verifier's clock (cosigners' clocks may run up to a minute ahead) has a negative
    age; it reads "0 seconds".
    """
    _check_seconds(seconds)
    seconds = max(seconds, 0)
    first = describe_duration(seconds)
    size = max(size for size in UNITS.values() if size <= max(seconds, 1))
    rest = seconds % size
    if rest == 0 or size == 1:
        return first
    smaller = max(unit for unit in UNITS.values() if unit < size)
    count = rest // smaller
    if count == 0:
        return first
    return f"{first} {count} {_NAMES[smaller]}{'' if count == 1 else 's'}"


def _check_seconds(seconds: int) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise UsageError(f"seconds must be an int, got {type(seconds).__name__}")
